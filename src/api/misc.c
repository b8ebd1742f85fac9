/* SPDX-License-Identifier: MIT */
/* /v1/profiles, /v1/health, /metrics (docs/api.md). */
#define _GNU_SOURCE
#include <string.h>

#include "cordon/api.h"

/* The profiles the caller may submit jobs of: another client's profile
 * (its mounts, its environment) is not this one's to read. */
void api_profiles_list(const struct cd_api_request *req, struct cd_api_response *resp)
{
        struct cd_service *svc = req->svc;
        json_t *list = json_array();

        pthread_rwlock_rdlock(&svc->profiles_lock);
        for (size_t i = 0; list && i < svc->profiles.n; i++)
                if (cd_peer_may_use(svc->cfg, req->peer, svc->profiles.items[i]->name) &&
                    json_array_append_new(list, cd_profile_to_json(svc->profiles.items[i])) < 0)
                        list = (json_decref(list), NULL);
        pthread_rwlock_unlock(&svc->profiles_lock);
        cd_api_json(resp, 200, list ? json_pack("{s:o}", "profiles", list) : NULL);
}

/* Submitters get the status and version only: the slots and the queue
 * would show them other clients' activity, and the cgroup mode the host's. */
void api_health(const struct cd_api_request *req, struct cd_api_response *resp)
{
        struct cd_service *svc = req->svc;
        bool stopping = atomic_load(&svc->stopping);
        size_t queued, running;

        if (req->peer->role != CD_ROLE_ADMIN) {
                cd_api_json(resp, 200,
                            json_pack("{s:s, s:s}", "status", stopping ? "stopping" : "ok",
                                      "version", CORDON_VERSION));
                return;
        }
        cd_queue_counts(svc->queue, &queued, &running);
        cd_api_json(resp, 200,
                    json_pack("{s:s, s:s, s:s, s:{s:I, s:I}, s:{s:I, s:I}}", "status",
                              stopping ? "stopping" : "ok", "version", CORDON_VERSION,
                              "cgroup_mode", svc->cgroup_mode, "slots", "total",
                              (json_int_t) svc->cfg->slots, "busy", (json_int_t) running, "queue",
                              "length", (json_int_t) queued, "max",
                              (json_int_t) svc->cfg->max_queued));
}

void api_metrics(const struct cd_api_request *req, struct cd_api_response *resp)
{
        char *text = cd_metrics_render(req->svc);

        if (!text) {
                cd_api_problem(resp, 500, "internal", "out of memory");
                return;
        }
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp->text = text;
        resp->text_len = strlen(text);
}
