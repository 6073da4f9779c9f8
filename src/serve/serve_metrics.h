/* serve_metrics — Prometheus counters for /metrics, shared by every worker process.
 *
 * The counters live in one anonymous MAP_SHARED mapping created before the workers fork, and are
 * bumped with relaxed atomic adds, so any worker can answer /metrics with totals for the whole
 * server without IPC. Labels come from fixed sets (route id, status code), so the mapping has a
 * fixed size and a hostile client cannot grow it. */
#ifndef AIRFACTORY_SERVE_METRICS_H
#define AIRFACTORY_SERVE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"
#include "serve/serve_routes.h"

/* Create the shared mapping (call once, before fork). */
int serve_metrics_init(struct error *err);
void serve_metrics_request(enum serve_route_id route, int status, uint64_t bytes_sent);
void serve_metrics_connection_opened(void);
void serve_metrics_connection_closed(void);
void serve_metrics_timeout(void);
/* A connection closed at accept: its client held --max-conns-per-client already. */
void serve_metrics_connection_refused(void);
/* One pass of an event loop, between two epoll waits, took wall_ns and used cpu_ns of its
 * thread's CPU (kept: the longest of each, across workers). */
void serve_metrics_loop_iteration(uint64_t wall_ns, uint64_t cpu_ns);
/* The bundle served: its freshness (gauges, and what a restarted worker must not go below). */
void serve_metrics_bundle_served(uint64_t generation, int64_t built_at);
void serve_metrics_bundle_get(uint64_t *generation, int64_t *built_at);
/* A worker switched to a new bundle (accepted) or refused the one at the path. */
void serve_metrics_bundle_switch(bool accepted);
/* The refused bundle is gone from the path again: nothing is refused any more. */
void serve_metrics_bundle_unrefused(void);
/* The label of a route ("image", "registry_blob", …). */
const char *serve_metrics_route_name(enum serve_route_id route);
/* Prometheus text exposition format 0.0.4. */
void serve_metrics_render(struct buffer *out);

#endif
