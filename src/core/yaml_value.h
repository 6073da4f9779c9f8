/* yaml_value — Go-like typed values and their canonical YAML encoding, byte-identical to
 * go.yaml.in/yaml/v4 `yaml.Marshal` (v3 defaults: 4-space indent, indented block sequences,
 * unlimited line width, "legacy" quoting).
 *
 * Owns: the value tree (null, bool, int, uint, float, string, timestamp, sequence, mapping), the
 * decoding of YAML nodes into values the way go-yaml decodes into `any` / `map[string]any`, the
 * key order Go uses when it marshals a map ("natural" order: numbers numerically, digit runs in
 * strings numerically), and the emitter: go-yaml's representer + desolver + libyaml emitter rules
 * for block mappings/sequences, empty `{}`/`[]`, and plain, single-quoted, double-quoted and
 * literal (`|`, `|-`, `|+`, `|4-`) scalars. A schematic's ID is the SHA-256 of these bytes, so
 * every rule here is covered by vectors produced with go-yaml itself (tests/unit/test_schematic.c).
 *
 * Mappings keep the order they are built in (that is how Go marshals struct fields);
 * yaml_value_sort_map puts a mapping in Go's map-key order. */
#ifndef AIRFACTORY_YAML_VALUE_H
#define AIRFACTORY_YAML_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"
#include "core/yaml_document.h"

enum yaml_value_type {
    YAML_VALUE_NULL,
    YAML_VALUE_BOOL,
    YAML_VALUE_INT,
    YAML_VALUE_UINT, /* only above INT64_MAX, as go-yaml decodes them */
    YAML_VALUE_FLOAT,
    YAML_VALUE_STRING,
    YAML_VALUE_TIMESTAMP, /* text = Go's RFC 3339 rendering */
    YAML_VALUE_SEQUENCE,
    YAML_VALUE_MAPPING,
};

struct yaml_value {
    enum yaml_value_type type;
    bool boolean;
    int64_t integer;
    uint64_t uinteger;
    double number;
    char *text; /* STRING, TIMESTAMP: NUL-terminated UTF-8 */
    size_t length;
    struct yaml_value **items; /* SEQUENCE items; MAPPING key, value, key, value, ... */
    size_t count;              /* entries in items (MAPPING: 2 * pairs) */
    size_t capacity;
};

struct yaml_value *yaml_value_new(enum yaml_value_type type);
struct yaml_value *yaml_value_string(const char *s);
struct yaml_value *yaml_value_string_len(const char *s, size_t len);
struct yaml_value *yaml_value_int(int64_t v);
struct yaml_value *yaml_value_uint(uint64_t v);
struct yaml_value *yaml_value_bool(bool v);
/* Appends (takes ownership). */
void yaml_value_append(struct yaml_value *sequence, struct yaml_value *item);
void yaml_value_put(struct yaml_value *mapping, struct yaml_value *key, struct yaml_value *value);
/* Shorthand: key is a string. */
void yaml_value_put_str(struct yaml_value *mapping, const char *key, struct yaml_value *value);
struct yaml_value *yaml_value_clone(const struct yaml_value *v);
void yaml_value_free(struct yaml_value *v);
bool yaml_value_equal(const struct yaml_value *a, const struct yaml_value *b);

/* Decode a node the way go-yaml decodes into Go's `any` (string_keys=false) or into
 * `map[string]any` (string_keys=true, the node must be a mapping or null). Nested mappings whose
 * keys are all strings stay string-keyed, others keep typed keys; mappings come out sorted in
 * Go's order; a key that appears twice with the same typed value keeps the later value.
 * Refused (ERROR_INPUT with what:line:col): null keys in string-keyed maps, timestamp and NaN
 * keys, merge keys. */
int yaml_value_from_node(const struct yaml_node *node, const char *what, bool string_keys, struct yaml_value **out,
                         struct error *err);

/* Sort a mapping's pairs in Go's marshal order (go-yaml keyList.Less). */
void yaml_value_sort_map(struct yaml_value *mapping);

/* The whole document as `yaml.Marshal` writes it. Fails only for strings that are not valid
 * UTF-8 (go-yaml would switch to !!binary, which no schematic field can hold). */
int yaml_value_encode(const struct yaml_value *root, struct buffer *out, struct error *err);

/* Go strconv.FormatFloat(f, 'g', -1, 64) with go-yaml's .inf/-.inf/.nan spellings. */
void yaml_format_float(double f, char out[40]);

#endif
