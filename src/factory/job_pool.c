/* job_pool — the ordered job pool: see job_pool.h.
 *
 * One mutex guards the job states, the once-steps and the counters; one condition variable is
 * broadcast whenever a job or a once-step finishes. Workers scan forward from where they were, so
 * jobs start in index order; the committing thread waits for job i, then commits it outside the
 * lock. */
#include "factory/job_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/memory.h"

enum job_state { JOB_PENDING, JOB_RUNNING, JOB_BUILT, JOB_FAILED, JOB_SKIPPED };

struct pool_job {
    enum job_state state;
    struct timespec started;
    double seconds;
};

enum once_state { ONCE_RUNNING, ONCE_DONE, ONCE_FAILED };

struct once_step {
    char *key;
    enum once_state state;
    struct error err;
};

struct job_pool {
    struct job_pool_ops ops;
    void *ctx;
    unsigned threads;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct pool_job *jobs;
    size_t count;
    unsigned busy;     /* threads working right now (not waiting) */
    bool stopping;     /* a job failed: start nothing new */
    bool have_failure; /* failure holds the first one, in time */
    struct error failure;
    struct once_step **once;
    size_t once_count;
};

/* the job the calling worker thread runs */
static _Thread_local const struct job_pool *current_pool;
static _Thread_local size_t current_index = JOB_POOL_NONE;

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

struct job_pool *job_pool_new(size_t count, unsigned threads, const struct job_pool_ops *ops, void *ctx)
{
    struct job_pool *p = xcalloc(1, sizeof *p);
    p->ops = *ops;
    p->ctx = ctx;
    p->threads = threads ? threads : 1;
    p->count = count;
    p->jobs = xcalloc(count ? count : 1, sizeof *p->jobs);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    return p;
}

void job_pool_free(struct job_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->once_count; i++) {
        free(p->once[i]->key);
        free(p->once[i]);
    }
    free(p->once);
    free(p->jobs);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void job_pool_skip(struct job_pool *p, size_t index)
{
    if (index < p->count)
        p->jobs[index].state = JOB_SKIPPED;
}

/* Record a failure (the first one wins) and stop. Called with p->lock held. */
static void fail(struct job_pool *p, const struct error *err)
{
    if (!p->have_failure) {
        p->failure = *err;
        p->have_failure = true;
    }
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
}

static void *worker_main(void *arg)
{
    struct job_pool *p = arg;
    size_t next = 0; /* jobs before it are taken: every worker scans forward from where it was */
    pthread_mutex_lock(&p->lock);
    for (;;) {
        size_t i = JOB_POOL_NONE;
        for (; !p->stopping && next < p->count && i == JOB_POOL_NONE; next++)
            if (p->jobs[next].state == JOB_PENDING)
                i = next;
        if (i == JOB_POOL_NONE)
            break;
        struct pool_job *j = &p->jobs[i];
        j->state = JOB_RUNNING;
        clock_gettime(CLOCK_MONOTONIC, &j->started);
        p->busy++;
        pthread_mutex_unlock(&p->lock);

        current_pool = p;
        current_index = i;
        struct error err = {0};
        int rc = p->ops.run(p->ctx, i, &err);
        current_pool = NULL;
        current_index = JOB_POOL_NONE;

        pthread_mutex_lock(&p->lock);
        p->busy--;
        j->seconds = seconds_since(&j->started);
        j->state = rc == 0 ? JOB_BUILT : JOB_FAILED;
        if (rc != 0)
            fail(p, &err);
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int job_pool_run(struct job_pool *p, struct error *err)
{
    size_t buildable = 0;
    for (size_t i = 0; i < p->count; i++)
        buildable += p->jobs[i].state == JOB_PENDING;
    size_t workers = buildable < p->threads ? buildable : p->threads;
    pthread_t *threads = xcalloc(workers + 1, sizeof *threads);
    size_t started = 0;
    for (; started < workers; started++)
        if ((errno = pthread_create(&threads[started], NULL, worker_main, p)) != 0)
            break;
    int rc = 0;
    if (workers > 0 && started == 0)
        rc = error_errno(err, errno, "cannot start a build thread");
    /* (fewer threads than asked for only means less parallelism) */

    for (size_t i = 0; rc == 0 && i < p->count; i++) {
        struct pool_job *j = &p->jobs[i];
        pthread_mutex_lock(&p->lock);
        while (!p->stopping && (j->state == JOB_PENDING || j->state == JOB_RUNNING))
            pthread_cond_wait(&p->cond, &p->lock);
        bool stop = p->stopping;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        struct error commit_err = {0};
        if (p->ops.commit(p->ctx, i, &commit_err) != 0) {
            pthread_mutex_lock(&p->lock);
            fail(p, &commit_err);
            pthread_mutex_unlock(&p->lock);
        }
    }
    /* on failure: running jobs finish, nothing new starts; then nobody touches the jobs but us */
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    if (rc == 0 && p->have_failure) {
        *err = p->failure;
        rc = -1;
    }
    return rc;
}

/* Waiting is not working: while a thread sleeps its compressor threads belong to the others
 * (job_pool_threads). Called with p->lock held. */
static void pool_wait(struct job_pool *p)
{
    if (p->busy > 0)
        p->busy--;
    pthread_cond_wait(&p->cond, &p->lock);
    p->busy++;
}

int job_pool_threads(struct job_pool *p)
{
    pthread_mutex_lock(&p->lock);
    unsigned busy = p->busy ? p->busy : 1;
    pthread_mutex_unlock(&p->lock);
    unsigned n = p->threads / busy;
    return n ? (int)n : 1;
}

int job_pool_once(struct job_pool *p, const char *key, int (*fn)(void *arg, struct error *err), void *arg,
                  struct error *err)
{
    pthread_mutex_lock(&p->lock);
    struct once_step *s = NULL;
    for (size_t i = 0; i < p->once_count && !s; i++)
        if (strcmp(p->once[i]->key, key) == 0)
            s = p->once[i];
    if (s) {
        while (s->state == ONCE_RUNNING)
            pool_wait(p);
        int rc = s->state == ONCE_DONE ? 0 : -1;
        if (rc != 0 && err)
            *err = s->err;
        pthread_mutex_unlock(&p->lock);
        return rc;
    }
    s = xcalloc(1, sizeof *s);
    s->key = xstrdup(key);
    s->state = ONCE_RUNNING;
    p->once = xrealloc(p->once, (p->once_count + 1) * sizeof *p->once);
    p->once[p->once_count++] = s;
    pthread_mutex_unlock(&p->lock);

    struct error mine = {0};
    int rc = fn(arg, &mine);

    pthread_mutex_lock(&p->lock);
    s->state = rc == 0 ? ONCE_DONE : ONCE_FAILED;
    s->err = mine;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (rc != 0 && err)
        *err = mine;
    return rc;
}

size_t job_pool_current(const struct job_pool *p)
{
    return current_pool == p ? current_index : JOB_POOL_NONE;
}

double job_pool_seconds(struct job_pool *p, size_t index)
{
    pthread_mutex_lock(&p->lock);
    const struct pool_job *j = &p->jobs[index];
    double s = j->state == JOB_RUNNING ? seconds_since(&j->started) : j->seconds;
    pthread_mutex_unlock(&p->lock);
    return s;
}

void job_pool_each_running(struct job_pool *p, void (*fn)(void *arg, size_t index, double seconds), void *arg)
{
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->count; i++)
        if (p->jobs[i].state == JOB_RUNNING)
            fn(arg, i, seconds_since(&p->jobs[i].started));
    pthread_mutex_unlock(&p->lock);
}
