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
 *   - aliases are expanded (copied), counted against a node budget so "billion laughs" fails;
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
    char *value;                /* scalars: the text, NUL-terminated (never contains NUL) */
    size_t length;
    struct yaml_node **items;   /* sequence: items; mapping: key, value, key, value, ... */
    size_t count;               /* number of entries in items (mapping: 2 * pairs) */
    int line, column;           /* 1-based, columns counted in characters */
};

#define YAML_DOCUMENT_MAX_DEPTH 100
#define YAML_DOCUMENT_MAX_NODES 200000

/* Parse exactly one document. what names the input in errors (a path, "<stdin>").
 * An empty stream (nothing but comments/whitespace) is an error, as in Image Factory (EOF). */
int yaml_document_load(const char *text, size_t len, const char *what, struct yaml_node **root,
                       struct error *err);
void yaml_node_free(struct yaml_node *node);

/* Mapping helpers. yaml_mapping_get returns the value for a scalar key spelled `key`, or NULL. */
size_t yaml_mapping_pairs(const struct yaml_node *map);
const struct yaml_node *yaml_mapping_key(const struct yaml_node *map, size_t i);
const struct yaml_node *yaml_mapping_value(const struct yaml_node *map, size_t i);
const struct yaml_node *yaml_mapping_get(const struct yaml_node *map, const char *key);

/* ---- go-yaml v4 scalar resolution ---- */

enum yaml_resolved_type {
    YAML_RESOLVED_NULL,
    YAML_RESOLVED_BOOL,
    YAML_RESOLVED_INT,       /* fits int64 */
    YAML_RESOLVED_UINT,      /* above INT64_MAX, fits uint64 */
    YAML_RESOLVED_FLOAT,
    YAML_RESOLVED_TIMESTAMP,
    YAML_RESOLVED_STRING,
    YAML_RESOLVED_MERGE,     /* the plain scalar "<<" */
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
int yaml_node_resolve(const struct yaml_node *node, const char *what, struct yaml_resolved *out,
                      struct error *err);
/* True when the plain text would NOT read back as a string (so an encoder must quote it). */
bool yaml_plain_is_non_string(const char *s, size_t len);
/* go-yaml's parseTimestamp: the four accepted layouts, formatted back as RFC 3339 (Go). */
bool yaml_parse_timestamp(const char *s, size_t len, char out[YAML_TIMESTAMP_MAX]);
/* A short name of the node's type for messages: "string", "integer", "sequence", ... */
const char *yaml_node_describe(const struct yaml_node *node);

#endif
