/* offload — the worker's helper thread (see serve_offload.h): a mutex-protected FIFO of
 * submitted jobs, another of finished ones, a condition variable to wake the thread and an
 * eventfd to wake the event loop. */
#include "serve/serve_offload.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/memory.h"

struct queue {
    struct serve_offload_job *head, *tail;
};

struct serve_offload {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct queue pending, finished;
    bool stopping;
    int event_fd;
};

static void push(struct queue *q, struct serve_offload_job *job)
{
    job->next = NULL;
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
}

static struct serve_offload_job *take_all(struct queue *q)
{
    struct serve_offload_job *all = q->head;
    q->head = q->tail = NULL;
    return all;
}

static void *thread_main(void *arg)
{
    struct serve_offload *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        while (!o->pending.head && !o->stopping)
            pthread_cond_wait(&o->wake, &o->lock);
        if (o->stopping)
            break;
        struct serve_offload_job *job = o->pending.head;
        o->pending.head = job->next;
        if (!o->pending.head)
            o->pending.tail = NULL;
        pthread_mutex_unlock(&o->lock);
        job->run(job);
        pthread_mutex_lock(&o->lock);
        push(&o->finished, job);
        uint64_t one = 1;
        while (write(o->event_fd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

int serve_offload_start(struct serve_offload **out, struct error *err)
{
    *out = NULL;
    struct serve_offload *o = xcalloc(1, sizeof *o);
    o->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (o->event_fd < 0) {
        int e = errno;
        free(o);
        return error_errno(err, e, "eventfd");
    }
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->wake, NULL);
    int rc = pthread_create(&o->thread, NULL, thread_main, o);
    if (rc != 0) {
        close(o->event_fd);
        pthread_cond_destroy(&o->wake);
        pthread_mutex_destroy(&o->lock);
        free(o);
        return error_errno(err, rc, "starting the request helper thread");
    }
    *out = o;
    return 0;
}

int serve_offload_fd(const struct serve_offload *offload)
{
    return offload->event_fd;
}

void serve_offload_submit(struct serve_offload *offload, struct serve_offload_job *job)
{
    pthread_mutex_lock(&offload->lock);
    push(&offload->pending, job);
    pthread_cond_signal(&offload->wake);
    pthread_mutex_unlock(&offload->lock);
}

struct serve_offload_job *serve_offload_finished(struct serve_offload *offload)
{
    uint64_t count;
    while (read(offload->event_fd, &count, sizeof count) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&offload->lock);
    struct serve_offload_job *all = take_all(&offload->finished);
    pthread_mutex_unlock(&offload->lock);
    return all;
}

struct serve_offload_job *serve_offload_stop(struct serve_offload *offload)
{
    if (!offload)
        return NULL;
    pthread_mutex_lock(&offload->lock);
    offload->stopping = true;
    pthread_cond_signal(&offload->wake);
    pthread_mutex_unlock(&offload->lock);
    pthread_join(offload->thread, NULL);
    /* the thread is gone: no lock needed */
    struct serve_offload_job *all = take_all(&offload->finished);
    struct serve_offload_job *pending = take_all(&offload->pending);
    if (!all) {
        all = pending;
    } else {
        struct serve_offload_job *t = all;
        while (t->next)
            t = t->next;
        t->next = pending;
    }
    close(offload->event_fd);
    pthread_cond_destroy(&offload->wake);
    pthread_mutex_destroy(&offload->lock);
    free(offload);
    return all;
}
