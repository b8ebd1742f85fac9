/* SPDX-License-Identifier: MIT */
/* Libraries loaded at run time (util.h: cd_dl_load). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>

#include "cordon/util.h"

int cd_dl_load(const char *soname, const struct cd_dl_sym *syms, size_t n, struct cd_err *err)
{
        void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
        const char *why;

        for (size_t i = 0; h && i < n; i++) {
                *syms[i].slot = dlsym(h, syms[i].name);
                if (!*syms[i].slot)
                        break;
                if (i + 1 == n)
                        return 0; /* the handle stays open: the functions are used until exit */
        }
        why = dlerror();
        (void) cd_err_set(err, ELIBACC, "%s", why ? why : "no symbols to resolve");
        if (h)
                (void) dlclose(h);
        return -ELIBACC;
}
