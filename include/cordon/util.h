/* SPDX-License-Identifier: MIT */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "cordon/err.h"

struct stat;

/* @a + @b, or UINT64_MAX where that overflows. */
static inline uint64_t cd_sat_add(uint64_t a, uint64_t b)
{
        uint64_t n;

        return __builtin_add_overflow(a, b, &n) ? UINT64_MAX : n;
}

/*
 * Parse a decimal unsigned integer. Rejects an empty string, a sign,
 * whitespace, overflow and trailing junk. Returns 0 or -EINVAL/-ERANGE.
 */
int cd_parse_u64(const char *s, uint64_t *ret);

/*
 * Parse a size: digits with an optional binary suffix K, M, G or T (also
 * KiB, MiB, ...; B alone means bytes). "1G" = 1073741824. Returns 0,
 * -EINVAL (junk) or -ERANGE (overflow).
 */
int cd_parse_size(const char *s, uint64_t *ret);

/*
 * Parse a duration into milliseconds: digits with a suffix ms, s, m or h;
 * bare digits are seconds. "300s" = 300000. Returns 0, -EINVAL or -ERANGE.
 */
int cd_parse_duration_ms(const char *s, uint64_t *ret);

/*
 * Parse a CPU count with up to three decimals ("0.5", "2", "1.125") into
 * thousandths of a CPU. Returns 0, -EINVAL or -ERANGE.
 */
int cd_parse_millicpus(const char *s, uint64_t *ret);

/*
 * True if @name holds '"', or %22, %0A or %0D in any case: the HTML5 form
 * encoding (curl, browsers) sends '"', LF and CR in a multipart file name
 * that way, and does not encode '%' itself, so a server cannot tell such
 * a name from the literal one. Context: any.
 */
bool cd_name_is_form_ambiguous(const char *name);

/* Monotonic clock in milliseconds / nanoseconds. */
uint64_t cd_now_ms(void);
uint64_t cd_now_ns(void);
/* Wall-clock time (CLOCK_REALTIME) in milliseconds since the epoch: for
 * timestamps that are stored or shown, never for intervals. */
uint64_t cd_wall_ms(void);

/* A condition variable whose timed waits take CLOCK_MONOTONIC deadlines
 * (cd_monotonic_after): a step of the wall clock neither stretches nor
 * cuts a wait. Returns 0 or -errno. */
int cd_cond_init_monotonic(pthread_cond_t *cond);

/* pthread_create() of a thread that takes no signal (all blocked from its
 * start): signals are for the threads that wait for them. Returns 0 or a
 * positive error number, as pthread_create(). */
int cd_thread_start_unsignalled(pthread_t *t, void *(*fn)(void *), void *arg);

/* The CLOCK_MONOTONIC time @ms from now, for pthread_cond_timedwait(). */
struct timespec cd_monotonic_after(uint64_t ms);

/*
 * Write @data to @name relative to @dirfd (a cgroup or /proc file): opened
 * O_WRONLY|O_NOFOLLOW|O_CLOEXEC, one write(2). Returns 0 or -errno.
 * Context: any, child included (no allocation).
 */
int cd_write_at(int dirfd, const char *name, const char *data);

/*
 * Read up to @size-1 bytes of @name relative to @dirfd into @buf,
 * NUL-terminated. Returns the length or -errno. For small kernel files.
 */
ssize_t cd_read_at(int dirfd, const char *name, char *buf, size_t size);

/*
 * Open directory @sub of directory @dir (absolute), each made when missing
 * (@dir 0755, @sub @mode). Both must be root's and writable by nobody
 * else: directories whose entries decide whose jobs hold what
 * (/run/cordon/slots, /run/cordon/runs). @sub is not followed if it is a
 * symlink. Returns the fd (O_CLOEXEC) or -errno with @err naming the
 * directory.
 */
int cd_open_root_subdir(const char *dir, const char *sub, mode_t mode, struct cd_err *err);

/* Owned by root or by whoever runs cordon (tests run as a user), and not
 * writable by group or others. Context: any. */
bool cd_owned_alone(const struct stat *st);

/*
 * Open the directory @path (relative: to the working directory) whose
 * files decide how loose jobs' sandboxes are: profiles, cordond.json
 * (common/trusted.c). Walked from "/" one component at a time, never
 * following a symlink (ELOOP); each directory checked with fstat on its
 * fd. @path and every directory above must be cd_owned_alone(); a
 * directory above may be writable by others when sticky (/tmp), since only
 * its owner and root may then rename the root-owned entry below it.
 * Returns the fd (O_RDONLY|O_DIRECTORY|O_CLOEXEC), or -errno with @err
 * naming the directory and what is wrong (EPERM: its owner and mode).
 * Context: any but the post-clone child.
 */
int cd_open_trusted_dir(const char *path, struct cd_err *err);

/*
 * Read all of the regular file @name in directory @dirfd (from
 * cd_open_trusted_dir; @shown names the file in messages), at most
 * @max_bytes. Opened O_NOFOLLOW|O_NONBLOCK (a FIFO does not block), then
 * checked with fstat on the fd: a regular file (else CD_E_INVALID),
 * cd_owned_alone() (else EPERM). Returns 0 with a NUL-terminated copy in
 * *@ret (the caller frees it) and its length in *@ret_len, or -errno with
 * @err naming @shown.
 */
int cd_read_trusted_at(int dirfd, const char *name, const char *shown, size_t max_bytes, char **ret,
                       size_t *ret_len, struct cd_err *err);

/* cd_open_trusted_dir() of the directory of @path ("." when @path has no
 * '/'); *@ret_name is set to @path's last component. */
int cd_open_trusted_parent(const char *path, const char **ret_name, struct cd_err *err);

/* write(2) all of @buf, retrying on EINTR and short writes. Returns 0 or -errno. */
int cd_write_all(int fd, const void *buf, size_t len);

/* read(2) exactly @len bytes. Returns 1 when read, 0 on EOF before any byte, -errno otherwise
 * (-EPIPE on EOF after a partial read). */
int cd_read_exact(int fd, void *buf, size_t len);

/* Number of strings in a NULL-terminated array. */
size_t cd_strv_length(char *const *v);

/* Deep copy of a NULL-terminated string array, or NULL on ENOMEM. */
char **cd_strv_copy(char *const *v);

/* Append a copy of @s to *@v (NULL-terminated, may be NULL). Returns 0 or -ENOMEM. */
int cd_strv_push(char ***v, const char *s);

/* @n bytes of @data as lowercase hex into @out (2*@n+1 bytes, NUL-terminated).
 * Context: any. */
void cd_hex(const void *data, size_t n, char *out);

/* Random bytes as lowercase hex into @buf (2*@nbytes+1 bytes). Returns 0 or -errno. */
int cd_random_hex(char *buf, size_t nbytes);

/* A job's bytes made safe for a terminal (common/ttyesc.c): ASCII controls
 * but tab, newline and CR as ^X, C1 controls and every byte that is not
 * well-formed UTF-8 as '?'; with @ascii_only (a terminal whose locale is
 * not UTF-8: cd_tty_locale_utf8) every byte from 0x80 on as '?'.
 * Zero-initialised but for @ascii_only; holds a sequence split across
 * calls. */
struct cd_tty_escape {
        bool ascii_only;
        bool cr; /* a carriage return held: shown as is only before a newline */
        unsigned char seq[4];
        unsigned char have, need;
};

/* Decode one UTF-8 sequence at @s (at most @n bytes). Returns its length
 * and the code point, or 0 for an invalid, overlong or surrogate sequence. */
size_t cd_utf8_decode(const unsigned char *s, size_t n, unsigned int *cp);

/* Whether the locale of the environment (LC_ALL, LC_CTYPE, LANG) is UTF-8. */
bool cd_tty_locale_utf8(void);

/* Room cd_tty_escape() needs for @n bytes (a held sequence comes out too). */
#define CD_TTY_ESCAPE_MAX(n) (2 * (n) + 3)

/* Escape @n bytes of @data into @out; returns the bytes written. */
size_t cd_tty_escape(struct cd_tty_escape *st, const void *data, size_t n, char *out);

/* At the end of the stream: a sequence cut short, as '?', or a carriage
 * return held, as ^M (at most CD_TTY_ESCAPE_END_MAX bytes). */
#define CD_TTY_ESCAPE_END_MAX 2
size_t cd_tty_escape_end(struct cd_tty_escape *st, char *out);

/* One function of a library loaded at run time, and where its address goes. */
struct cd_dl_sym {
        const char *name;
        void **slot;
};

/* A struct cd_dl_sym for function @name, whose address goes to @fn (a
 * function pointer of the caller's, of that function's type). */
#define CD_DL_SYM(fn, name)                                                                        \
        {                                                                                          \
                (name), (void **) &(fn)                                                            \
        }

/* dlopen @soname (RTLD_NOW, RTLD_LOCAL) and resolve each of @syms (n >= 1).
 * 0, with the library open for the life of the process; or -ELIBACC, the
 * library closed again, and @err holding the loader's reason (which names
 * the file or the missing symbol). Callers serialize their own loads. */
int cd_dl_load(const char *soname, const struct cd_dl_sym *syms, size_t n, struct cd_err *err);
