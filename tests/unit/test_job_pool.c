/* test_job_pool — the factory's ordered job pool (src/factory/job_pool.c) on its own: jobs with
 * random delays commit in index order whatever the thread count; the first failure stops new
 * starts and is the one reported; skipped jobs are committed without running; a once-step runs
 * once under contention and hands its result, an error included, to every caller. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/memory.h"
#include "factory/job_pool.h"
#include "test.h"

#define N 64

struct ctx {
    struct job_pool *pool;
    unsigned delay_us[N];
    atomic_int ran[N];
    atomic_int started;
    size_t commits[N + 1];
    size_t commit_count;
    bool skipped[N];
    bool ran_before_commit;       /* every job committed had run exactly once (or was skipped) */
    size_t fail_run, fail_commit; /* JOB_POOL_NONE: none */
    unsigned run_after_fail;      /* jobs started after the failing one returned */
    atomic_bool failed;
};

static int run(void *arg, size_t i, struct error *err)
{
    struct ctx *c = arg;
    atomic_fetch_add(&c->started, 1);
    if (atomic_load(&c->failed))
        c->run_after_fail++; /* benign race on the count: only its being 0 matters */
    if (job_pool_current(c->pool) != i)
        return error_set(err, ERROR_RUNTIME, "job_pool_current says %zu in job %zu", job_pool_current(c->pool), i);
    usleep(c->delay_us[i]);
    atomic_fetch_add(&c->ran[i], 1);
    if (i == c->fail_run) {
        atomic_store(&c->failed, true);
        return error_set(err, ERROR_INPUT, "job %zu failed", i);
    }
    return 0;
}

static int commit(void *arg, size_t i, struct error *err)
{
    struct ctx *c = arg;
    c->commits[c->commit_count++] = i;
    if (atomic_load(&c->ran[i]) != (c->skipped[i] ? 0 : 1))
        c->ran_before_commit = false;
    if (i == c->fail_commit)
        return error_set(err, ERROR_RUNTIME, "commit %zu failed", i);
    return 0;
}

static const struct job_pool_ops ops = {run, commit};

static void ctx_init(struct ctx *c, unsigned seed)
{
    memset(c, 0, sizeof *c);
    srand(seed);
    for (size_t i = 0; i < N; i++)
        c->delay_us[i] = (unsigned)(rand() % 3000);
    c->fail_run = c->fail_commit = JOB_POOL_NONE;
    c->ran_before_commit = true;
}

static void jobs_commit_in_order_whatever_the_threads(void)
{
    static const unsigned threads[] = {1, 3, 8};
    for (size_t t = 0; t < 3; t++) {
        struct ctx c;
        ctx_init(&c, 7 + (unsigned)t);
        c.pool = job_pool_new(N, threads[t], &ops, &c);
        struct error err = {0};
        CHECK_INT(job_pool_run(c.pool, &err), 0);
        CHECK_INT(c.commit_count, N);
        for (size_t i = 0; i < c.commit_count; i++)
            CHECK_INT(c.commits[i], i);
        for (size_t i = 0; i < N; i++)
            CHECK_INT(atomic_load(&c.ran[i]), 1);
        CHECK(c.ran_before_commit);
        CHECK(job_pool_seconds(c.pool, N - 1) > 0);
        job_pool_free(c.pool);
    }
}

static void skipped_jobs_commit_without_running(void)
{
    struct ctx c;
    ctx_init(&c, 3);
    c.pool = job_pool_new(N, 4, &ops, &c);
    for (size_t i = 0; i < N; i += 2) {
        job_pool_skip(c.pool, i);
        c.skipped[i] = true;
    }
    struct error err = {0};
    CHECK_INT(job_pool_run(c.pool, &err), 0);
    CHECK_INT(c.commit_count, N);
    for (size_t i = 0; i < N; i++) {
        CHECK_INT(c.commits[i], i);
        CHECK_INT(atomic_load(&c.ran[i]), i % 2);
    }
    CHECK(c.ran_before_commit);
    job_pool_free(c.pool);
}

static void a_failing_job_stops_new_starts_and_is_reported(void)
{
    struct ctx c;
    ctx_init(&c, 11);
    for (size_t i = 0; i < N; i++)
        c.delay_us[i] = i == 10 ? 0 : 20000; /* job 10 fails while the others still run */
    c.fail_run = 10;
    c.pool = job_pool_new(N, 3, &ops, &c);
    struct error err = {0};
    CHECK_INT(job_pool_run(c.pool, &err), -1);
    CHECK_STR(err.message, "job 10 failed");
    CHECK_INT(c.run_after_fail, 0);
    /* jobs start in order: 0..10 and at most the two other workers' next jobs */
    CHECK(atomic_load(&c.started) <= 13);
    for (size_t i = 0; i < c.commit_count; i++)
        CHECK(c.commits[i] < 10);
    job_pool_free(c.pool);
}

static void a_failing_commit_stops_the_pool_and_is_reported(void)
{
    struct ctx c;
    ctx_init(&c, 5);
    c.fail_commit = 4;
    c.pool = job_pool_new(N, 2, &ops, &c);
    struct error err = {0};
    CHECK_INT(job_pool_run(c.pool, &err), -1);
    CHECK_STR(err.message, "commit 4 failed");
    CHECK_INT(c.commit_count, 5);
    CHECK(atomic_load(&c.started) < N);
    job_pool_free(c.pool);
}

/* ---- once-steps ---- */

struct once_ctx {
    struct job_pool *pool;
    atomic_int calls;
    bool fails;
    atomic_int ok, errors;
    atomic_int right_message;
};

static int once_fn(void *arg, struct error *err)
{
    struct once_ctx *c = arg;
    atomic_fetch_add(&c->calls, 1);
    usleep(20000); /* long enough for every other job to arrive and wait */
    if (c->fails)
        return error_set(err, ERROR_INPUT, "the step failed");
    return 0;
}

static int once_run(void *arg, size_t i, struct error *err)
{
    (void)i;
    struct once_ctx *c = arg;
    struct error e = {0};
    if (job_pool_once(c->pool, "shared", once_fn, c, &e) == 0) {
        atomic_fetch_add(&c->ok, 1);
        return 0;
    }
    atomic_fetch_add(&c->errors, 1);
    if (!strcmp(e.message, "the step failed"))
        atomic_fetch_add(&c->right_message, 1);
    (void)err;
    return 0; /* the test counts; the pool goes on */
}

static int once_commit(void *arg, size_t i, struct error *err)
{
    (void)arg;
    (void)i;
    (void)err;
    return 0;
}

static void a_once_step_runs_once_under_contention(void)
{
    static const struct job_pool_ops once_ops = {once_run, once_commit};
    for (int fails = 0; fails < 2; fails++) {
        struct once_ctx c = {.fails = fails};
        c.pool = job_pool_new(16, 8, &once_ops, &c);
        struct error err = {0};
        CHECK_INT(job_pool_run(c.pool, &err), 0);
        CHECK_INT(atomic_load(&c.calls), 1);
        CHECK_INT(atomic_load(&c.ok), fails ? 0 : 16);
        CHECK_INT(atomic_load(&c.errors), fails ? 16 : 0);
        CHECK_INT(atomic_load(&c.right_message), fails ? 16 : 0);
        /* the budget: one thread working gets all of it */
        CHECK_INT(job_pool_threads(c.pool), 8);
        job_pool_free(c.pool);
    }
}

int main(void)
{
    RUN(jobs_commit_in_order_whatever_the_threads);
    RUN(skipped_jobs_commit_without_running);
    RUN(a_failing_job_stops_new_starts_and_is_reported);
    RUN(a_failing_commit_stops_the_pool_and_is_reported);
    RUN(a_once_step_runs_once_under_contention);
    return TEST_MAIN_END();
}
