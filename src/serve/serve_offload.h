/* serve_offload — one helper thread per worker for request work too slow for the event loop.
 *
 * Decoding a POST /schematics body is the only such work: up to 4 MiB of YAML whose aliases may
 * expand to 4 MiB more and 200 000 nodes (yaml_document's limits) costs up to about a second of
 * CPU, and the loop must answer every other client within milliseconds meanwhile. The loop
 * submits a job and forgets it; the thread runs jobs one at a time in submission order and
 * hands each back through an eventfd the loop polls. A job belongs to its submitter: the module
 * only links it into its queues and never frees it. */
#ifndef AIRFACTORY_SERVE_OFFLOAD_H
#define AIRFACTORY_SERVE_OFFLOAD_H

#include "airfactory/error.h"

struct serve_offload_job {
    void (*run)(struct serve_offload_job *job); /* called on the helper thread */
    void *owner;                                /* the submitter's (a connection) */
    struct serve_offload_job *next;             /* the module's queue link */
};

struct serve_offload;

/* Start the thread. Signals should already be blocked (it inherits the mask). */
int serve_offload_start(struct serve_offload **out, struct error *err);
/* Readable (EPOLLIN) when finished jobs wait in serve_offload_finished. */
int serve_offload_fd(const struct serve_offload *offload);
void serve_offload_submit(struct serve_offload *offload, struct serve_offload_job *job);
/* Every finished job, oldest first, linked by next; NULL when none. Clears the fd's readiness. */
struct serve_offload_job *serve_offload_finished(struct serve_offload *offload);
/* Stop: the running job completes, queued ones never run. Returns every job not yet handed
 * back (finished or not, linked by next) and frees the module. */
struct serve_offload_job *serve_offload_stop(struct serve_offload *offload);

#endif
