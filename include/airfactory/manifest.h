/* manifest — the build manifest: what to build, from which sources, trusted how, signed with what.
 *
 * Owns: parsing a manifest file (strict YAML, every error "<file>:<line>:<col>: what; how to fix"),
 * its schematics (inline or from files, canonical form and ID computed here), output names
 * (Image Factory asset names, arch-less shorthands and all-<platform>), sources (OCI tarballs with
 * a role, a reference and a trust policy), trust policies (filled into struct verify_policy),
 * and the plan: the deduplicated list of models (schematic x version x arch x asset path) plus
 * the sources with absolute paths, after checking every combination the build would trip over
 * (unknown platform or arch, platform not in that Talos version, missing imager/installer/catalog
 * source for a version, missing files, unknown trust policy, SecureBoot without keys, ...).
 * Relative paths resolve against the manifest's directory. docs/manifest.md is the reference. */
#ifndef AIRFACTORY_MANIFEST_H
#define AIRFACTORY_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/asset_path.h"
#include "airfactory/error.h"
#include "airfactory/buffer.h"
#include "airfactory/schematic.h"
#include "airfactory/source_role.h"
#include "airfactory/verify.h"

struct profile_set; /* talos/profile.h */

#define MANIFEST_MAX_SIZE (16u << 20)

/* A list of strings with the position of each (for errors). */
struct manifest_list {
    char **items;
    int *lines, *columns;
    size_t count;
    int line, column; /* the list itself */
    bool present;     /* the key was given */
};
/* Free the items and positions of *l and zero it (a zeroed list is a valid empty one). */
void manifest_list_free(struct manifest_list *l);

struct manifest_schematic {
    char *name;
    struct schematic *schematic;
    char id[SCHEMATIC_ID_HEX_LEN + 1];
    char *canonical;                                       /* canonical YAML (what the bundle stores) */
    char *file;                                            /* absolute path when given with `file:`, else NULL */
    struct manifest_list versions, architectures, outputs; /* per-schematic overrides (present=false: none) */
    int image_cache; /* per-schematic `image-cache:`: -1 not given (the manifest's), 0 false, 1 true */
    int image_cache_line, image_cache_column;
    int line, column;
};

struct manifest_source {
    char *path; /* absolute */
    enum source_role role;
    char *reference;                /* e.g. ghcr.io/siderolabs/imager:v1.11.3 */
    char *version;                  /* "v1.11.3", from `version:` or the reference tag; "" when none */
    char *trust;                    /* policy name */
    struct manifest_list platforms; /* role image: "os/arch[/variant]" to keep; count 0: every platform */
    int line, column;
};

struct manifest_trust {
    struct verify_policy policy; /* name and absolute paths filled in */
    int line, column;
};

struct manifest {
    char *path; /* absolute path of the manifest */
    char *dir;  /* its directory: the base of relative paths */
    struct manifest_schematic *schematics;
    size_t schematic_count;
    struct manifest_list versions, architectures, outputs;
    struct manifest_source *sources;
    size_t source_count;
    struct manifest_trust *trust;
    size_t trust_count;
    char *signing_key; /* absolute */
    char *output;      /* absolute */
    /* optional `secureboot:` section, required by -secureboot outputs; absolute paths or NULL */
    char *secureboot_signing_key, *secureboot_signing_cert, *secureboot_pcr_key;
    /* secureboot.well_known_kek / well_known_db: certificate files (absolute) a schematic's
     * includeWellKnownCertificates adds to KEK / db (Microsoft's; airfactory ships none) */
    struct manifest_list secureboot_well_known_kek, secureboot_well_known_db;
    /* `image-cache: true`: ISOs and disk images embed the cluster images (`images:`, `talos-images:`)
     * as Talos' image cache (Talos >= 1.9); a schematic's own `image-cache:` overrides it */
    bool image_cache;
    int image_cache_line, image_cache_column;
    int line, column;
};

/* Whether s's ISOs and disk images carry the image cache (its own `image-cache:`, else the manifest's). */
bool manifest_schematic_image_cache(const struct manifest *m, const struct manifest_schematic *s);

/* Parse and check the manifest's own syntax (field names and types, schematics). Checks that
 * need the whole picture (sources per version, files on disk) are done by manifest_plan. */
int manifest_load(const char *path, struct manifest **out, struct error *err);
/* The same from text; base_dir resolves relative paths (what names the text in errors). */
int manifest_parse(const char *text, size_t len, const char *what, const char *base_dir, struct manifest **out,
                   struct error *err);
void manifest_free(struct manifest *m);

/* ---- plan ---- */

struct plan_model {
    const struct manifest_schematic *schematic; /* points into the manifest */
    char version[48];
    char arch[8];
    char path[ASSET_PATH_MAX]; /* Image Factory's asset file name, e.g. "metal-amd64.iso" */
    struct asset_path asset;
};

struct plan_source {
    const struct manifest_source *source; /* points into the manifest (path, role, reference, version) */
    struct verify_policy policy;          /* a copy owned by the plan */
};

struct plan {
    struct plan_model *models; /* deduplicated; order: schematic, version, output, arch (manifest order) */
    size_t model_count;
    struct plan_source *sources; /* manifest order */
    size_t source_count;
    char **versions; /* every Talos version used, semver order */
    size_t version_count;
    struct profile_set *profiles; /* the profile data the plan was checked against (owned) */
};

/* Expand and check. The plan points into m: free the plan before the manifest. */
int manifest_plan(const struct manifest *m, struct plan **out, struct error *err);
/* manifest_plan with flags: MANIFEST_PLAN_SOURCES_ABSENT accepts source files that do not exist
 * yet (what `airfactory pull` plans before it writes them); every other check is the same. */
enum { MANIFEST_PLAN_SOURCES_ABSENT = 1u };
int manifest_plan_flags(const struct manifest *m, unsigned flags, struct plan **out, struct error *err);
void plan_free(struct plan *plan);

/* ---- shards (src/manifest/manifest_shard.c; `airfactory plan/build --shard I/N`) ---- */
/* Expected cost of building one model, in relative units (output kind; disk size for images). */
uint64_t plan_model_cost(const struct plan *plan, const struct plan_model *model);
/* shard_of_model[i] (0..count-1) for each plan->models[i]: models that share work (one schematic x
 * version x arch; all arches of a schematic x version with an installer) get one shard, and the
 * shards are balanced by cost. Deterministic: depends only on the plan. */
int plan_shard_assign(const struct plan *plan, unsigned count, unsigned *shard_of_model, struct error *err);
/* Keep only shard index (0-based) of count's models, in plan order (sources and versions stay). */
int plan_select_shard(struct plan *plan, unsigned index, unsigned count, struct error *err);

/* ---- requests: airfactory-serve's --requests-dir requests.jsonl (src/manifest/manifest_requests.c) ---- */

struct manifest_request {
    char *schematic, *yaml, *version, *asset; /* "" when the line has none */
};
struct manifest_requests {
    struct manifest_request *items; /* deduplicated, first-seen order */
    size_t count;
};
/* Add a file's requests (several files: call once per file). ERROR_INPUT names file:line. */
int manifest_requests_load(const char *path, struct manifest_requests *r, struct error *err);
void manifest_requests_free(struct manifest_requests *r);
/* The manifest additions (YAML: a schematics list) `airfactory requests merge` prints. */
int manifest_requests_additions(const struct manifest_requests *r, struct buffer *out, struct error *err);
/* Change m in memory as the additions would: requested versions, architectures and outputs are
 * added to the schematic with the same ID (starting from the manifest's lists when it has no
 * own), unknown schematics with known YAML become "requested-<id12>" entries. */
int manifest_requests_apply(struct manifest *m, const struct manifest_requests *r, struct error *err);

/* The plan's sources for one role and version ("" matches any), first match or NULL. */
const struct plan_source *plan_find_source(const struct plan *plan, enum source_role role, const char *version);

#endif
