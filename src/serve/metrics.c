/* metrics — see serve_metrics.h. */
#include "serve/serve_metrics.h"

#include <stddef.h>
#include <sys/mman.h>

#include "core/memory.h"

static const int tracked_status[] = {200, 201, 204, 206, 304, 400, 402, 404, 405,
                                     408, 413, 414, 416, 431, 500, 501, 503, 505};
#define STATUS_SLOTS (sizeof tracked_status / sizeof tracked_status[0] + 1) /* + "other" */

static const char *const route_names[SERVE_ROUTE_COUNT] = {
    [SERVE_ROUTE_NOT_FOUND] = "not_found",
    [SERVE_ROUTE_IMAGE] = "image",
    [SERVE_ROUTE_PXE] = "pxe",
    [SERVE_ROUTE_SCHEMATICS] = "schematics",
    [SERVE_ROUTE_VERSIONS] = "versions",
    [SERVE_ROUTE_CATALOG] = "catalog",
    [SERVE_ROUTE_KEYS] = "keys",
    [SERVE_ROUTE_REGISTRY_PING] = "registry_ping",
    [SERVE_ROUTE_REGISTRY_MANIFEST] = "registry_manifest",
    [SERVE_ROUTE_REGISTRY_BLOB] = "registry_blob",
    [SERVE_ROUTE_REGISTRY_TAGS] = "registry_tags",
    [SERVE_ROUTE_REGISTRY_REFERRERS] = "registry_referrers",
    [SERVE_ROUTE_REGISTRY_OTHER] = "registry_other",
    [SERVE_ROUTE_HEALTH] = "health",
    [SERVE_ROUTE_METRICS] = "metrics",
    [SERVE_ROUTE_PAGE] = "page",
    [SERVE_ROUTE_TALOSCTL] = "talosctl",
    [SERVE_ROUTE_BAD_REQUEST] = "bad_request",
};

struct shared_counters {
    uint64_t requests[SERVE_ROUTE_COUNT][STATUS_SLOTS];
    uint64_t bytes[SERVE_ROUTE_COUNT];
    int64_t open_connections;
    uint64_t connections_total;
    uint64_t timeouts_total;
    uint64_t refused_total;
    uint64_t longest_iteration_ns;
    uint64_t longest_iteration_cpu_ns;
    uint64_t bundle_generation;
    int64_t bundle_built_at;
    uint64_t bundle_switches_total, bundle_refusals_total;
    int64_t bundle_refused;
};

static struct shared_counters *counters;
static struct shared_counters local_fallback; /* before init (unit tests) */

int serve_metrics_init(struct error *err)
{
    void *p = mmap(NULL, sizeof(struct shared_counters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return error_errno(err, 0, "metrics: cannot map shared counters");
    counters = p;
    return 0;
}

static struct shared_counters *c(void)
{
    return counters ? counters : &local_fallback;
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i < STATUS_SLOTS - 1; i++)
        if (tracked_status[i] == status)
            return i;
    return STATUS_SLOTS - 1;
}

void serve_metrics_request(enum serve_route_id route, int status, uint64_t bytes_sent)
{
    if ((int)route < 0 || route >= SERVE_ROUTE_COUNT)
        route = SERVE_ROUTE_NOT_FOUND;
    __atomic_add_fetch(&c()->requests[route][status_slot(status)], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&c()->bytes[route], bytes_sent, __ATOMIC_RELAXED);
}

void serve_metrics_connection_opened(void)
{
    __atomic_add_fetch(&c()->open_connections, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&c()->connections_total, 1, __ATOMIC_RELAXED);
}

void serve_metrics_connection_closed(void)
{
    __atomic_sub_fetch(&c()->open_connections, 1, __ATOMIC_RELAXED);
}

void serve_metrics_connection_refused(void)
{
    __atomic_add_fetch(&c()->refused_total, 1, __ATOMIC_RELAXED);
}

static void atomic_max(uint64_t *max, uint64_t v)
{
    uint64_t seen = __atomic_load_n(max, __ATOMIC_RELAXED);
    while (v > seen && !__atomic_compare_exchange_n(max, &seen, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

void serve_metrics_loop_iteration(uint64_t wall_ns, uint64_t cpu_ns)
{
    atomic_max(&c()->longest_iteration_ns, wall_ns);
    atomic_max(&c()->longest_iteration_cpu_ns, cpu_ns);
}

void serve_metrics_timeout(void)
{
    __atomic_add_fetch(&c()->timeouts_total, 1, __ATOMIC_RELAXED);
}

void serve_metrics_bundle_served(uint64_t generation, int64_t built_at)
{
    __atomic_store_n(&c()->bundle_generation, generation, __ATOMIC_RELAXED);
    __atomic_store_n(&c()->bundle_built_at, built_at, __ATOMIC_RELAXED);
}

void serve_metrics_bundle_get(uint64_t *generation, int64_t *built_at)
{
    *generation = __atomic_load_n(&c()->bundle_generation, __ATOMIC_RELAXED);
    *built_at = __atomic_load_n(&c()->bundle_built_at, __ATOMIC_RELAXED);
}

void serve_metrics_bundle_switch(bool accepted)
{
    __atomic_add_fetch(accepted ? &c()->bundle_switches_total : &c()->bundle_refusals_total, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&c()->bundle_refused, accepted ? 0 : 1, __ATOMIC_RELAXED);
}

void serve_metrics_bundle_unrefused(void)
{
    __atomic_store_n(&c()->bundle_refused, 0, __ATOMIC_RELAXED);
}

const char *serve_metrics_route_name(enum serve_route_id route)
{
    if ((int)route < 0 || route >= SERVE_ROUTE_COUNT)
        return "not_found";
    return route_names[route];
}

void serve_metrics_render(struct buffer *out)
{
    struct shared_counters *s = c();
    buffer_append_str(out, "# HELP airfactory_http_requests_total HTTP requests answered, by route and status.\n"
                           "# TYPE airfactory_http_requests_total counter\n");
    for (int r = 0; r < SERVE_ROUTE_COUNT; r++) {
        for (size_t i = 0; i < STATUS_SLOTS; i++) {
            uint64_t v = __atomic_load_n(&s->requests[r][i], __ATOMIC_RELAXED);
            if (v == 0)
                continue;
            if (i == STATUS_SLOTS - 1)
                buffer_appendf(out, "airfactory_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                               route_names[r], (unsigned long long)v);
            else
                buffer_appendf(out, "airfactory_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", route_names[r],
                               tracked_status[i], (unsigned long long)v);
        }
    }
    buffer_append_str(out, "# HELP airfactory_http_response_bytes_total Bytes sent (headers and bodies), by route.\n"
                           "# TYPE airfactory_http_response_bytes_total counter\n");
    for (int r = 0; r < SERVE_ROUTE_COUNT; r++) {
        uint64_t v = __atomic_load_n(&s->bytes[r], __ATOMIC_RELAXED);
        if (v)
            buffer_appendf(out, "airfactory_http_response_bytes_total{route=\"%s\"} %llu\n", route_names[r],
                           (unsigned long long)v);
    }
    buffer_appendf(out,
                   "# HELP airfactory_http_open_connections Client connections currently open.\n"
                   "# TYPE airfactory_http_open_connections gauge\n"
                   "airfactory_http_open_connections %lld\n"
                   "# HELP airfactory_http_connections_total Client connections accepted.\n"
                   "# TYPE airfactory_http_connections_total counter\n"
                   "airfactory_http_connections_total %llu\n"
                   "# HELP airfactory_http_timeouts_total Connections closed by a read, idle or write timeout.\n"
                   "# TYPE airfactory_http_timeouts_total counter\n"
                   "airfactory_http_timeouts_total %llu\n"
                   "# HELP airfactory_http_connections_refused_total Connections closed at accept: the client "
                   "held --max-conns-per-client.\n"
                   "# TYPE airfactory_http_connections_refused_total counter\n"
                   "airfactory_http_connections_refused_total %llu\n"
                   "# HELP airfactory_event_loop_longest_iteration_seconds The longest time an event loop spent "
                   "between two waits since start (any worker): how long a client could wait on the others.\n"
                   "# TYPE airfactory_event_loop_longest_iteration_seconds gauge\n"
                   "airfactory_event_loop_longest_iteration_seconds %.6f\n"
                   "# HELP airfactory_event_loop_longest_iteration_cpu_seconds The most CPU time one pass of an "
                   "event loop used (the loop's own work; the wall-clock figure adds time the machine gave "
                   "to others).\n"
                   "# TYPE airfactory_event_loop_longest_iteration_cpu_seconds gauge\n"
                   "airfactory_event_loop_longest_iteration_cpu_seconds %.6f\n",
                   (long long)__atomic_load_n(&s->open_connections, __ATOMIC_RELAXED),
                   (unsigned long long)__atomic_load_n(&s->connections_total, __ATOMIC_RELAXED),
                   (unsigned long long)__atomic_load_n(&s->timeouts_total, __ATOMIC_RELAXED),
                   (unsigned long long)__atomic_load_n(&s->refused_total, __ATOMIC_RELAXED),
                   (double)__atomic_load_n(&s->longest_iteration_ns, __ATOMIC_RELAXED) / 1e9,
                   (double)__atomic_load_n(&s->longest_iteration_cpu_ns, __ATOMIC_RELAXED) / 1e9);
    buffer_appendf(out,
                   "# HELP airfactory_bundle_generation Generation of the bundle served (meta generation).\n"
                   "# TYPE airfactory_bundle_generation gauge\n"
                   "airfactory_bundle_generation %llu\n"
                   "# HELP airfactory_bundle_built_at_seconds When the bundle served was built (meta built_at).\n"
                   "# TYPE airfactory_bundle_built_at_seconds gauge\n"
                   "airfactory_bundle_built_at_seconds %lld\n"
                   "# HELP airfactory_bundle_switches_total Live switches to a new bundle, counted per worker.\n"
                   "# TYPE airfactory_bundle_switches_total counter\n"
                   "airfactory_bundle_switches_total %llu\n"
                   "# HELP airfactory_bundle_refusals_total New bundles at the path refused (signature, format or "
                   "downgrade), counted per worker.\n"
                   "# TYPE airfactory_bundle_refusals_total counter\n"
                   "airfactory_bundle_refusals_total %llu\n"
                   "# HELP airfactory_bundle_refused 1 while the bundle at the path is refused and the previous one "
                   "is served.\n"
                   "# TYPE airfactory_bundle_refused gauge\n"
                   "airfactory_bundle_refused %lld\n",
                   (unsigned long long)__atomic_load_n(&s->bundle_generation, __ATOMIC_RELAXED),
                   (long long)__atomic_load_n(&s->bundle_built_at, __ATOMIC_RELAXED),
                   (unsigned long long)__atomic_load_n(&s->bundle_switches_total, __ATOMIC_RELAXED),
                   (unsigned long long)__atomic_load_n(&s->bundle_refusals_total, __ATOMIC_RELAXED),
                   (long long)__atomic_load_n(&s->bundle_refused, __ATOMIC_RELAXED));
}
