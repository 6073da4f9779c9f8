/* serve_routes — what an HTTP route handler sees and produces, and the route handlers.
 *
 * Handlers are pure functions of (bundle index, request) -> response description: they never
 * touch sockets. The event loop (serve_server) owns I/O and applies the generic parts every file
 * body gets: HEAD, ETag/If-None-Match, Range, Content-Length. That split keeps each route small
 * and lets unit tests call a handler without a network.
 *
 * Sources: routes.c (dispatch, error helpers, CORS), ui.c + ui_html.c (the web wizard), api.c (schematics, versions,
 * catalogs, keys), image.c (/image/ and the asset path grammar), pxe.c (/pxe/ iPXE scripts),
 * registry.c (/v2/ read-only OCI distribution), talosctl.c (/talosctl/), llms.c (/llms.txt). Bodies, status codes and headers follow Image
 * Factory (siderolabs/image-factory internal/frontend/http; docs/serving.md lists each route); /v2/ follows CNCF
 * distribution. */
#ifndef AIRFACTORY_SERVE_ROUTES_H
#define AIRFACTORY_SERVE_ROUTES_H

#include <stdbool.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"
#include "airfactory/schematic.h"
#include "serve/http_parser.h"
#include "airfactory/bundle.h"

#define SERVE_PATH_MAX 4096

/* Metric label of the route that answered (fixed set, see serve_metrics.h). */
enum serve_route_id {
    SERVE_ROUTE_NOT_FOUND = 0,
    SERVE_ROUTE_IMAGE,
    SERVE_ROUTE_PXE,
    SERVE_ROUTE_SCHEMATICS,
    SERVE_ROUTE_VERSIONS,
    SERVE_ROUTE_CATALOG,
    SERVE_ROUTE_KEYS,
    SERVE_ROUTE_REGISTRY_PING,
    SERVE_ROUTE_REGISTRY_MANIFEST,
    SERVE_ROUTE_REGISTRY_BLOB,
    SERVE_ROUTE_REGISTRY_TAGS,
    SERVE_ROUTE_REGISTRY_REFERRERS,
    SERVE_ROUTE_REGISTRY_OTHER,
    SERVE_ROUTE_HEALTH,
    SERVE_ROUTE_METRICS,
    SERVE_ROUTE_PAGE,
    SERVE_ROUTE_TALOSCTL,
    SERVE_ROUTE_BAD_REQUEST, /* refused by the parser or the limits */
    SERVE_ROUTE_COUNT
};

/* Per-worker state shared by all handlers. */
struct serve_context {
    struct bundle *index; /* the bundle served: its index.db, opened in place (bundle_open_in_place) */
    int blobs_fd;         /* directory blobs/sha256 of the bundle served (changes on a live switch) */
    int bundle_fd;        /* that bundle's directory: st_nlink 0 once a writer removed its tree */
    /* Set by serve_response_blob and serve_blob_read when a listed blob file is missing or has
     * the wrong size, instead of logging: the server first checks whether the bundle was
     * replaced (and answers from the new one); only if not is the bundle called damaged. */
    bool blob_trouble;
    char blob_trouble_detail[192];
    /* /readyz: NULL while the bundle at the path is the one served, else why it is refused */
    const char *refused;
    /* NULL, or why downloads cannot be answered: the bundle served lost its files (a writer swapped
     * a refused bundle in and removed the old tree); /readyz and blob downloads answer 503 */
    const char *unavailable;
    const char *external_url; /* overrides the request's scheme://host in generated URLs, or NULL */
    const char *server_name;  /* "Server" header value */
    const char *requests_dir; /* --requests-dir: where misses are recorded (requests.c), or NULL */
};

/* requests.c: record a miss (dedup, bounded) in requests_dir/requests.jsonl. yaml, version and
 * asset may be NULL. 1 recorded now, 0 already there / not recording / full, -1 error (logged). */
#define SERVE_REQUESTS_MAX_BYTES (1u << 20)
#define SERVE_REQUESTS_YAML_MAX 16384
int serve_requests_record(struct serve_context *ctx, const char *schematic, const char *yaml, const char *version,
                          const char *asset);
/* At start: create dir if needed; ERROR_INPUT when it is inside bundle_dir or not writable. */
int serve_requests_dir_check(const char *dir, const char *bundle_dir, struct error *err);
/* What a 404 adds when requests are recorded: how the request reaches the builders. */
#define SERVE_REQUESTED_NOTE                                                                                           \
    " (this request was recorded for the bundle's builders: `airfactory requests merge` turns it into "                \
    "manifest additions; the next bundle built with them will hold it)"

/* A POST /schematics body decoded into its ID: the CPU-heavy half of that route, pure and
 * thread-safe (bounded by yaml_document's limits), so the server runs it off its event loop. */
struct serve_schematic_result {
    int status; /* 0: decoded, id set; 400: bad schematic, err says why */
    char id[SCHEMATIC_ID_HEX_LEN + 1];
    struct error err;
};
void serve_schematic_decode(const char *body, size_t len, struct serve_schematic_result *out);

struct serve_request {
    const struct http_request *http;
    char path[SERVE_PATH_MAX]; /* percent-decoded path */
    const char *body;          /* request body (POST), body_len bytes */
    size_t body_len;
    bool tls;
    const struct serve_schematic_result *schematic; /* body already decoded (off the loop), or NULL */
};

/* True for the requests whose body serve_schematic_decode reads (POST /schematics with a body). */
bool serve_route_decodes_schematic(const struct serve_request *req);

struct serve_response {
    int status;
    enum serve_route_id route;
    struct buffer headers; /* extra header lines, each "Name: value\r\n" */
    struct buffer body;    /* memory body (used when file_fd < 0) */
    int file_fd;           /* >= 0: body is this file's [0, file_size) */
    bool file_borrowed;    /* file_fd belongs to the blob cache: used, never closed, by the response */
    uint64_t file_size;
    bool ranges;           /* honour Range on the file body */
    char etag[96];         /* quoted entity tag, "" for none */
    bool content_type_set; /* handler added Content-Type itself */
};

void serve_response_init(struct serve_response *res);
void serve_response_free(struct serve_response *res);
void serve_response_header(struct serve_response *res, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same for a value as it is (no formatting: the per-request headers of a download). */
void serve_response_header_value(struct serve_response *res, const char *name, const char *value);
/* Image Factory / Go http.Error style: text/plain; charset=utf-8, nosniff, message + "\n". */
void serve_response_text_error(struct serve_response *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Body with a Content-Type. */
void serve_response_body(struct serve_response *res, int status, const char *content_type, const char *data, size_t len);
/* Open blobs/sha256/<hex> of digest as the response body; on failure answers 500 and logs. */
int serve_response_blob(struct serve_context *ctx, struct serve_response *res, const struct bundle_blob *blob);
/* GET /image and /pxe: the blob of schematic+version+path (bundle_find_asset_blob, no
 * allocation): 1, 0 absent, -1. */
int serve_find_asset(struct serve_context *ctx, const char *schematic, const char *version, const char *path,
                     struct bundle_blob *out, struct error *err);
/* Read a whole small blob (at most max bytes) into out; -1 when missing, larger or unreadable. */
int serve_blob_read(struct serve_context *ctx, const char *digest, size_t max, struct buffer *out);
/* 500 "internal server error" after a database error (message to the error log). */
void serve_response_internal_error(struct serve_response *res, const struct error *err);

/* The whole router: fills res for any request. */
void serve_route(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res);

/* Handlers (ctx, req, res); `rest` is the path after the route prefix. */
void serve_api_schematics_post(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res);
void serve_api_schematic_get(struct serve_context *ctx, const char *id, struct serve_response *res);
void serve_api_versions(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res);
void serve_api_catalog(struct serve_context *ctx, const char *version, bool overlays, struct serve_response *res);
void serve_api_catalog_v1(struct serve_context *ctx, const struct serve_request *req, bool overlays,
                          struct serve_response *res);
void serve_api_public_key(struct serve_context *ctx, const char *name, struct serve_response *res);
/* ui_html.c: the HTML escaping every page uses, query-value percent-encoding, the page frame. */
void serve_html_escape(struct buffer *out, const char *s);
void serve_url_escape(struct buffer *out, const char *s);
void serve_html_begin(struct buffer *out, const char *title);
void serve_html_end(struct buffer *out);
/* ui.c: the wizard. / (home: hardware step and every schematic x version), /ui/wizard?… (one step
 * per query state), /ui/schematic/<id>/<version> (the final page; rest is "<id>/<version>"). */
void serve_ui_home(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res);
void serve_ui_wizard(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res);
void serve_ui_final(struct serve_context *ctx, const struct serve_request *req, const char *rest,
                    struct serve_response *res);
/* GET /ui/request?schematic=&version=&asset=: record a request from the UI (202 page). */
void serve_ui_request(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res);
/* GET /llms.txt (llms.c) */
void serve_api_llms_txt(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res);
/* GET /talosctl/{version}, GET|HEAD /talosctl/{version}/{name} (talosctl.c); rest after "/talosctl/" */
void serve_talosctl_handle(struct serve_context *ctx, const struct serve_request *req, const char *rest,
                           struct serve_response *res);
void serve_image_handle(struct serve_context *ctx, const struct serve_request *req, const char *rest,
                        struct serve_response *res);
void serve_pxe_handle(struct serve_context *ctx, const struct serve_request *req, const char *rest,
                      struct serve_response *res);
void serve_registry_handle(struct serve_context *ctx, const struct serve_request *req, const char *rest,
                           struct serve_response *res);
/* GET /registry-mirrors.yaml: the Talos machine-config patch (talos/mirror_patch.h) pointing every
 * upstream registry of the bundle's cluster images at this server's base URL. */
void serve_registry_mirror_patch(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res);

/* The base URL "scheme://host" for URLs the server writes into bodies. */
void serve_request_base_url(const struct serve_context *ctx, const struct serve_request *req, struct buffer *out);

/* How messages name a schematic: "NAME (ID)" when the bundle records the manifest's name, else
 * "ID". Appends to out. */
void serve_schematic_label(struct serve_context *ctx, const char *id, struct buffer *out);

/* Version handling shared by routes: "1.11.3" -> "v1.11.3"; false when not strict semver. */
bool serve_version_normalize(const char *in, char *out, size_t out_cap);

/* Close the small blobs' descriptors serve_response_blob keeps (on a live switch: they are the
 * previous bundle's files). */
void serve_blob_cache_clear(void);
/* Forget the rendered iPXE scripts (they depend on the bundle: called on a live switch). */
void serve_pxe_cache_clear(void);
/* The checks /image/ and /pxe/ share: schematic known (404; the miss is recorded with asset),
 * version well-formed (500, as Image Factory). Returns 0 and fills version_tag ("v1.11.3"), or -1 with the response filled. */
int serve_schematic_version_check(struct serve_context *ctx, const char *schematic, const char *version,
                                  const char *asset, char *version_tag, size_t tag_cap, struct serve_response *res);
/* Split "a/b/c" into exactly three non-empty segments (httprouter :a/:b/:c). */
bool serve_split3(const char *rest, char *a, size_t acap, char *b, size_t bcap, char *c, size_t ccap);
/* Content-Type Image Factory sends for a file name (internal/mime). */
const char *serve_mime_type(const char *path);

#endif
