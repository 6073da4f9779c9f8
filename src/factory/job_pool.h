/* job_pool — the factory's ordered job pool: N jobs built by worker threads, committed in order.
 *
 * Owns: the worker threads, which take pending jobs in index order; the commit loop, which runs on
 * the calling thread and commits job 0, 1, 2, ... each as soon as it is built, so what is
 * committed (and in which order) does not depend on the number of threads or on timing; the
 * failure rule — the first failure (a run or a commit) stops new starts, running jobs finish, and
 * that failure is the one reported; once-steps (work several jobs need, done by the first that
 * asks while the others wait for it, its failure handed to every waiter); and the split of a
 * compressor-thread budget between the jobs working right now.
 * It knows nothing about assets: the factory's stage driver (factory.c) is its one user. */
#ifndef AIRFACTORY_FACTORY_JOB_POOL_H
#define AIRFACTORY_FACTORY_JOB_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "airfactory/error.h"

#define JOB_POOL_NONE ((size_t)-1)

struct job_pool;

struct job_pool_ops {
    /* build job i, on a worker thread; 0, or -1 with err (the pool stops starting jobs) */
    int (*run)(void *ctx, size_t index, struct error *err);
    /* commit job i (built or skipped), on the thread in job_pool_run, in index order */
    int (*commit)(void *ctx, size_t index, struct error *err);
};

/* count jobs, at most `threads` (>= 1) workers; the budget for job_pool_threads is `threads`. */
struct job_pool *job_pool_new(size_t count, unsigned threads, const struct job_pool_ops *ops, void *ctx);
void job_pool_free(struct job_pool *p);
/* Job i needs no build (reused): job_pool_run only commits it. Before job_pool_run. */
void job_pool_skip(struct job_pool *p, size_t index);
/* Run every job and commit them in order. 0, or -1 with the first failure (in time) in err. */
int job_pool_run(struct job_pool *p, struct error *err);

/* A once-step keyed by `key`: the first caller runs fn(arg) while later callers with the same key
 * wait for it (their thread does not count as working meanwhile); every caller gets its result,
 * the error included. Any thread. */
int job_pool_once(struct job_pool *p, const char *key, int (*fn)(void *arg, struct error *err), void *arg,
                  struct error *err);
/* Compressor threads for a step starting now: the budget split between the threads working. */
int job_pool_threads(struct job_pool *p);
/* The job the calling thread is running for p, or JOB_POOL_NONE. */
size_t job_pool_current(const struct job_pool *p);
/* Seconds job i ran (a finished job) or has been running; 0 before it starts. */
double job_pool_seconds(struct job_pool *p, size_t index);
/* Call fn for each running job (index order), with the pool's lock held: a display's snapshot. */
void job_pool_each_running(struct job_pool *p, void (*fn)(void *arg, size_t index, double seconds), void *arg);

#endif
