/* SPDX-License-Identifier: MIT */
/* GET /metrics: Prometheus text format 0.0.4 (service.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "cordon/service.h"

/* Upper bounds in seconds; the last bucket is +Inf. */
static const double bounds[CD_METRIC_BUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                  0.5,   1,    2.5,   10,   60,  300 };

void cd_metrics_init(struct cd_metrics *m)
{
        *m = (struct cd_metrics){ 0 };
        pthread_mutex_init(&m->lock, NULL);
}

static void observe(struct cd_histogram *h, double v)
{
        size_t i = 0;

        while (i < CD_METRIC_BUCKETS && v > bounds[i])
                i++;
        h->counts[i]++;
        h->sum += v;
        h->n++;
}

void cd_metrics_job(struct cd_metrics *m, enum cd_verdict v, double launch_s, double run_s)
{
        pthread_mutex_lock(&m->lock);
        if (v < _CD_VERDICT_MAX)
                m->jobs[v]++;
        if (launch_s > 0)
                observe(&m->launch, launch_s);
        if (run_s > 0)
                observe(&m->run, run_s);
        pthread_mutex_unlock(&m->lock);
}

/* @code is one of the API's static problem codes, kept by pointer. */
void cd_metrics_refused(struct cd_metrics *m, const char *code)
{
        pthread_mutex_lock(&m->lock);
        for (size_t i = 0; i < CD_MAX_REFUSAL_CODES; i++) {
                if (!m->refused_codes[i])
                        m->refused_codes[i] = code;
                if (!strcmp(m->refused_codes[i], code)) {
                        m->refused[i]++;
                        break;
                }
        }
        pthread_mutex_unlock(&m->lock);
}

static void histogram(FILE *f, const char *name, const char *help, const struct cd_histogram *h)
{
        uint64_t cum = 0;

        fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
        for (size_t i = 0; i < CD_METRIC_BUCKETS; i++) {
                cum += h->counts[i];
                fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                        (unsigned long long) cum);
        }
        cum += h->counts[CD_METRIC_BUCKETS];
        fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                (unsigned long long) cum, name, h->sum, name, (unsigned long long) h->n);
}

static void body(FILE *f, struct cd_service *s)
{
        struct cd_metrics *m = &s->metrics;
        size_t queued, running;

        cd_queue_counts(s->queue, &queued, &running);
        fprintf(f,
                "# HELP cordon_queue_length Jobs waiting for a slot.\n"
                "# TYPE cordon_queue_length gauge\ncordon_queue_length %zu\n"
                "# HELP cordon_jobs_running Jobs in a sandbox now.\n"
                "# TYPE cordon_jobs_running gauge\ncordon_jobs_running %zu\n"
                "# HELP cordon_slots Concurrent job slots.\n"
                "# TYPE cordon_slots gauge\ncordon_slots %u\n",
                queued, running, s->cfg->slots);
        pthread_mutex_lock(&m->lock);
        fprintf(f, "# HELP cordon_jobs_total Jobs finished since start, by verdict.\n"
                   "# TYPE cordon_jobs_total counter\n");
        for (int v = 0; v < _CD_VERDICT_MAX; v++)
                fprintf(f, "cordon_jobs_total{verdict=\"%s\"} %llu\n",
                        cd_verdict_to_string((enum cd_verdict) v), (unsigned long long) m->jobs[v]);
        histogram(f, "cordon_launch_seconds",
                  "From a slot taking the job to its first instruction.", &m->launch);
        histogram(f, "cordon_run_seconds", "From a slot taking the job to its verdict.", &m->run);
        fprintf(f, "# HELP cordon_requests_refused_total Requests refused, by problem code.\n"
                   "# TYPE cordon_requests_refused_total counter\n");
        for (size_t i = 0; i < CD_MAX_REFUSAL_CODES && m->refused_codes[i]; i++)
                fprintf(f, "cordon_requests_refused_total{code=\"%s\"} %llu\n", m->refused_codes[i],
                        (unsigned long long) m->refused[i]);
        pthread_mutex_unlock(&m->lock);
}

char *cd_metrics_render(struct cd_service *s)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        body(f, s);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}
