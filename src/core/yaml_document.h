/* yaml_document — strict YAML (and JSON) loading into a small tree with positions, plus the
 * scalar resolution rules of go-yaml v4 (the library Image Factory decodes schematics with).
 *
 * Owns: libyaml event parsing, the node tree, and "what does this plain scalar mean": null, bool,
 * int, uint, float, timestamp or string, exactly as go.yaml.in/yaml/v4 resolves it. Schematics,
 * manifests and the built-in profile data are all read through here, so every input error reads
 * "<file>:<line>:<column>: what; how to fix".
 *
 * Strictness (what Image Factory's decoder also refuses, plus what we refuse to guess about):
 *   - a second document in the stream is an error (Image Factory silently ignores it);
 *   - duplicate mapping keys (same spelling) are errors, as go-yaml's UniqueKeys;
 *   - mapping keys must be scalars; merge keys (`<<`) are refused;
 *   - aliases are expanded (copied) under the limits below, so "billion laughs" and alias bombs
 *     fail fast with a bounded cost;
 *   - NUL characters (possible through "\0" escapes) are refused: no field can carry them;
 *   - tags other than the standard !!str !!int !!float !!bool !!null !!timestamp !!seq !!map
 *     (and "!" on quoted scalars) are refused. */
#ifndef AIRFACTORY_YAML_DOCUMENT_H
#define AIRFACTORY_YAML_DOCUMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"

enum yaml_node_kind { YAML_NODE_SCALAR = 1, YAML_NODE_SEQUENCE, YAML_NODE_MAPPING };

enum yaml_node_style {
    YAML_NODE_PLAIN,
    YAML_NODE_SINGLE_QUOTED,
    YAML_NODE_DOUBLE_QUOTED,
    YAML_NODE_LITERAL,
    YAML_NODE_FOLDED,
};

/* Standard tags a node may carry explicitly ("!!int 10"); NONE when untagged. */
enum yaml_node_tag {
    YAML_TAG_NONE,
    YAML_TAG_NON_SPECIFIC, /* "!" */
    YAML_TAG_STR,
    YAML_TAG_INT,
    YAML_TAG_FLOAT,
    YAML_TAG_BOOL,
    YAML_TAG_NULL,
    YAML_TAG_TIMESTAMP,
    YAML_TAG_SEQ,
    YAML_TAG_MAP,
};

struct yaml_node {
    enum yaml_node_kind kind;
    enum yaml_node_style style; /* scalars */
    enum yaml_node_tag tag;
    char *value; /* scalars: the text, NUL-terminated (never contains NUL) */
    size_t length;
    struct yaml_node **items; /* sequence: items; mapping: key, value, key, value, ... */
    size_t count;             /* number of entries in items (mapping: 2 * pairs) */
    int line, column;         /* 1-based, columns counted in characters */
    bool aliased;             /* this node is the copy an alias (*name) stands for */
};

/* Limits; every document (schematic, manifest, profile data; server and CLI alike) obeys them,
 * so the memory and time one load costs are bounded whatever the text says (docs/security.md).
 *
 * Nodes are counted the way go-yaml v4 counts Construct calls while decoding (the document node,
 * every key and value, an alias node and then every node of its expansion again), and the alias
 * share of that count follows go-yaml's DefaultAliasCheck exactly
 * (go.yaml.in/yaml/v4@v4.0.0-rc.6 internal/libyaml/options.go:71-95 DefaultAliasCheck and
 * constructor.go:81-90 Construct; gopkg.in/yaml.v3@v3.0.1 decode.go:455-491 allowedAliasRatio): once more than 100 nodes came from aliases and more
 * than 1000 were counted, the alias share may not exceed 99 % (tapering to 10 % between 400 000
 * and 4 000 000 nodes). Anything go-yaml refuses as "excessive aliasing" is refused here too.
 *
 * go-yaml shares an aliased scalar's bytes (a Go string); this loader copies them, so aliases
 * are also bounded in bytes: the scalar text they copy may not exceed MAX_ALIAS_BYTES. The other
 * limits are stricter than go-yaml on purpose (go-yaml: depth 10 000, no node or size cap). */
#define YAML_DOCUMENT_MAX_DEPTH 100               /* nesting levels (go-yaml: 10 000) */
#define YAML_DOCUMENT_MAX_NODES 200000            /* nodes, aliases expanded */
#define YAML_DOCUMENT_MAX_INPUT_BYTES (16u << 20) /* the text itself */
#define YAML_DOCUMENT_MAX_ALIAS_BYTES (4u << 20)  /* scalar text copied by aliases */
#define YAML_ALIAS_RATIO_MIN_ALIASES 100          /* go-yaml aliasCount <= 100: no check */
#define YAML_ALIAS_RATIO_MIN_NODES 1000           /* go-yaml constructCount <= 1000: no check */
#define YAML_ALIAS_RATIO_RANGE_LOW 400000         /* go-yaml aliasRatioRangeLow */
#define YAML_ALIAS_RATIO_RANGE_HIGH 4000000       /* go-yaml aliasRatioRangeHigh */

/* go-yaml's allowed alias share for a document of `nodes` nodes: 0.99, falling linearly to 0.10
 * between RANGE_LOW and RANGE_HIGH. */
double yaml_allowed_alias_ratio(size_t nodes);
/* go-yaml's DefaultAliasCheck: true when `aliases` of `nodes` is excessive aliasing. */
bool yaml_alias_ratio_exceeded(size_t aliases, size_t nodes);

/* Parse exactly one document. what names the input in errors (a path, "<stdin>").
 * An empty stream (nothing but comments/whitespace) is an error, as in Image Factory (EOF). */
int yaml_document_load(const char *text, size_t len, const char *what, struct yaml_node **root, struct error *err);
void yaml_node_free(struct yaml_node *node);

/* Mapping helpers. yaml_mapping_get returns the value for a scalar key spelled `key`, or NULL. */
size_t yaml_mapping_pairs(const struct yaml_node *map);
const struct yaml_node *yaml_mapping_key(const struct yaml_node *map, size_t i);
const struct yaml_node *yaml_mapping_value(const struct yaml_node *map, size_t i);
const struct yaml_node *yaml_mapping_get(const struct yaml_node *map, const char *key);
/* Which of `fields` (NULL-terminated) a mapping key names: its index, or -1 with message set to
 * "unknown field 'K'; expected one of: A, B" — K is not echoed when it is not a field name (a wrong
 * file's contents never reach an error), then "(not shown: it is not a field name; is this a
 * NOUN?)" (noun may be NULL). Callers add the position and where. */
int yaml_field_lookup(const struct yaml_node *key, const char *const *fields, const char *noun, char *message,
                      size_t size);

/* ---- go-yaml v4 scalar resolution ---- */

enum yaml_resolved_type {
    YAML_RESOLVED_NULL,
    YAML_RESOLVED_BOOL,
    YAML_RESOLVED_INT,  /* fits int64 */
    YAML_RESOLVED_UINT, /* above INT64_MAX, fits uint64 */
    YAML_RESOLVED_FLOAT,
    YAML_RESOLVED_TIMESTAMP,
    YAML_RESOLVED_STRING,
    YAML_RESOLVED_MERGE, /* the plain scalar "<<" */
};

#define YAML_TIMESTAMP_MAX 48

struct yaml_resolved {
    enum yaml_resolved_type type;
    bool boolean;
    int64_t integer;
    uint64_t uinteger;
    double number;
    char timestamp[YAML_TIMESTAMP_MAX]; /* Go's time.Format(RFC3339Nano) of the parsed time */
};

/* What an untagged plain scalar with this text resolves to (go-yaml `resolve("", s)`). */
void yaml_resolve_plain(const char *s, size_t len, struct yaml_resolved *out);
/* What a node resolves to, honouring quoting and explicit tags. Errors (ERROR_INPUT, naming
 * what:line:col) for a tag that does not fit the text, e.g. "!!int abc". */
int yaml_node_resolve(const struct yaml_node *node, const char *what, struct yaml_resolved *out, struct error *err);
/* True when the plain text would NOT read back as a string (so an encoder must quote it). */
bool yaml_plain_is_non_string(const char *s, size_t len);
/* go-yaml's parseTimestamp: the four accepted layouts, formatted back as RFC 3339 (Go). */
bool yaml_parse_timestamp(const char *s, size_t len, char out[YAML_TIMESTAMP_MAX]);
/* A short name of the node's type for messages: "string", "integer", "sequence", ... */
const char *yaml_node_describe(const struct yaml_node *node);

#endif
