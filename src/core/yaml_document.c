/* yaml_document — see yaml_document.h.
 *
 * The resolution half follows go.yaml.in/yaml/v4 (internal/libyaml/resolver.go) and Go's strconv
 * and time.Parse rules closely, because whether a string is quoted in a canonical schematic (and
 * so its ID) depends on exactly what go-yaml thinks a plain scalar means. */
#include "core/yaml_document.h"
#include "core/memory.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ------------------------------------------------------------------ tree */

void yaml_node_free(struct yaml_node *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->count; i++)
        yaml_node_free(node->items[i]);
    free(node->items);
    free(node->value);
    free(node);
}

size_t yaml_mapping_pairs(const struct yaml_node *map)
{
    return map && map->kind == YAML_NODE_MAPPING ? map->count / 2 : 0;
}

const struct yaml_node *yaml_mapping_key(const struct yaml_node *map, size_t i)
{
    return map->items[2 * i];
}

const struct yaml_node *yaml_mapping_value(const struct yaml_node *map, size_t i)
{
    return map->items[2 * i + 1];
}

const struct yaml_node *yaml_mapping_get(const struct yaml_node *map, const char *key)
{
    size_t n = yaml_mapping_pairs(map);
    for (size_t i = 0; i < n; i++) {
        const struct yaml_node *k = yaml_mapping_key(map, i);
        if (k->kind == YAML_NODE_SCALAR && !strcmp(k->value, key))
            return yaml_mapping_value(map, i);
    }
    return NULL;
}

int yaml_field_lookup(const struct yaml_node *key, const char *const *fields, const char *noun, char *message, size_t size)
{
    for (int f = 0; fields[f]; f++)
        if (key->value && !strcmp(key->value, fields[f]))
            return f;
    char expected[512] = "";
    for (int f = 0; fields[f]; f++) {
        if (f)
            strncat(expected, ", ", sizeof expected - strlen(expected) - 1);
        strncat(expected, fields[f], sizeof expected - strlen(expected) - 1);
    }
    if (!key->value || !error_text_is_name(key->value))
        snprintf(message, size, "unknown field (not shown: it is not a field name%s%s%s); expected one of: %s",
                 noun ? "; is this a " : "", noun ? noun : "", noun ? "?" : "", expected);
    else
        snprintf(message, size, "unknown field '%s'; expected one of: %s", key->value, expected);
    return -1;
}

const char *yaml_node_describe(const struct yaml_node *node)
{
    if (!node)
        return "nothing";
    if (node->kind == YAML_NODE_SEQUENCE)
        return "a sequence";
    if (node->kind == YAML_NODE_MAPPING)
        return "a mapping";
    struct yaml_resolved r;
    if (yaml_node_resolve(node, "", &r, NULL) < 0)
        return "a tagged scalar";
    switch (r.type) {
    case YAML_RESOLVED_NULL: return "null";
    case YAML_RESOLVED_BOOL: return "a boolean";
    case YAML_RESOLVED_INT:
    case YAML_RESOLVED_UINT: return "an integer";
    case YAML_RESOLVED_FLOAT: return "a float";
    case YAML_RESOLVED_TIMESTAMP: return "a timestamp";
    case YAML_RESOLVED_MERGE: return "a merge key";
    case YAML_RESOLVED_STRING: break;
    }
    return "a string";
}

/* ---------------------------------------------------------------- loader */

struct anchor {
    char *name;
    struct yaml_node *node; /* owned by the tree; we only point at it */
};

struct loader {
    yaml_parser_t parser;
    const char *text;
    size_t len;
    const char *what;
    struct error *err;
    size_t nodes;       /* go-yaml's constructCount */
    size_t alias_nodes; /* go-yaml's aliasCount: nodes counted while expanding an alias */
    size_t alias_bytes; /* scalar bytes copied by alias expansion */
    struct anchor *anchors;
    size_t anchor_count, anchor_cap;
};

static int fail_at(struct loader *l, size_t line0, size_t col0, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(struct loader *l, size_t line0, size_t col0, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return error_set(l->err, ERROR_INPUT, "%s:%zu:%zu: %s", l->what, line0 + 1, col0 + 1, msg);
}

#define fail_mark(l, mark, ...) fail_at((l), (mark).line, (mark).column, __VA_ARGS__)

/* libyaml's reader reports a byte offset, not a line: count it ourselves. */
static void offset_to_line(const char *text, size_t len, size_t offset, size_t *line, size_t *col)
{
    *line = 0;
    *col = 0;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 0;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            (*col)++;
        }
    }
}

static int parser_failed(struct loader *l)
{
    yaml_parser_t *p = &l->parser;
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR) {
        size_t line, col;
        offset_to_line(l->text, l->len, p->problem_offset, &line, &col);
        return error_set(l->err, ERROR_INPUT,
                         "%s:%zu:%zu: %s; the file must be UTF-8 text without "
                         "control characters",
                         l->what, line + 1, col + 1, problem);
    }
    if (p->error == YAML_MEMORY_ERROR)
        return error_set(l->err, ERROR_RUNTIME, "%s: out of memory while parsing YAML", l->what);
    if (p->context)
        return error_set(l->err, ERROR_INPUT,
                         "%s:%zu:%zu: %s %s (line %zu); check the YAML syntax "
                         "(indentation, quoting, a missing ':' or ',')",
                         l->what, p->problem_mark.line + 1, p->problem_mark.column + 1, problem, p->context,
                         p->context_mark.line + 1);
    return error_set(l->err, ERROR_INPUT, "%s:%zu:%zu: %s; check the YAML syntax", l->what, p->problem_mark.line + 1,
                     p->problem_mark.column + 1, problem);
}

static int next_event(struct loader *l, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&l->parser, ev))
        return parser_failed(l);
    return 0;
}

double yaml_allowed_alias_ratio(size_t nodes)
{
    if (nodes <= YAML_ALIAS_RATIO_RANGE_LOW)
        return 0.99;
    if (nodes >= YAML_ALIAS_RATIO_RANGE_HIGH)
        return 0.10;
    return 0.99 - 0.89 * ((double)(nodes - YAML_ALIAS_RATIO_RANGE_LOW) /
                          (double)(YAML_ALIAS_RATIO_RANGE_HIGH - YAML_ALIAS_RATIO_RANGE_LOW));
}

bool yaml_alias_ratio_exceeded(size_t aliases, size_t nodes)
{
    if (aliases <= YAML_ALIAS_RATIO_MIN_ALIASES || nodes <= YAML_ALIAS_RATIO_MIN_NODES)
        return false;
    return (double)aliases / (double)nodes > yaml_allowed_alias_ratio(nodes);
}

/* One go-yaml Construct call: counted, then both limits checked, as go-yaml does before it
 * looks at the node. in_alias: the node is part of an alias expansion (go-yaml aliasDepth > 0). */
static int count_node(struct loader *l, yaml_mark_t mark, bool in_alias)
{
    l->nodes++;
    if (in_alias)
        l->alias_nodes++;
    if (yaml_alias_ratio_exceeded(l->alias_nodes, l->nodes))
        return fail_mark(l, mark,
                         "excessive aliasing: %zu of the first %zu nodes are alias copies (go-yaml "
                         "refuses more than %.0f%%); write the repeated values out",
                         l->alias_nodes, l->nodes, yaml_allowed_alias_ratio(l->nodes) * 100);
    if (l->nodes > YAML_DOCUMENT_MAX_NODES)
        return fail_mark(l, mark,
                         "document too large (more than %d nodes, aliases expanded); split it or "
                         "write fewer values",
                         YAML_DOCUMENT_MAX_NODES);
    return 0;
}

static struct yaml_node *new_node(enum yaml_node_kind kind, yaml_mark_t mark)
{
    struct yaml_node *n = xcalloc(1, sizeof *n);
    n->kind = kind;
    n->line = (int)mark.line + 1;
    n->column = (int)mark.column + 1;
    return n;
}

static void push_item(struct yaml_node *parent, struct yaml_node *child, size_t *cap)
{
    if (parent->count == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        parent->items = xrealloc(parent->items, *cap * sizeof *parent->items);
    }
    parent->items[parent->count++] = child;
}

static int map_tag(struct loader *l, const yaml_char_t *tag, yaml_mark_t mark, enum yaml_node_tag *out)
{
    static const struct {
        const char *name;
        enum yaml_node_tag tag;
    } known[] = {
        {"!", YAML_TAG_NON_SPECIFIC},
        {"tag:yaml.org,2002:str", YAML_TAG_STR},
        {"tag:yaml.org,2002:int", YAML_TAG_INT},
        {"tag:yaml.org,2002:float", YAML_TAG_FLOAT},
        {"tag:yaml.org,2002:bool", YAML_TAG_BOOL},
        {"tag:yaml.org,2002:null", YAML_TAG_NULL},
        {"tag:yaml.org,2002:timestamp", YAML_TAG_TIMESTAMP},
        {"tag:yaml.org,2002:seq", YAML_TAG_SEQ},
        {"tag:yaml.org,2002:map", YAML_TAG_MAP},
    };
    *out = YAML_TAG_NONE;
    if (!tag)
        return 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp((const char *)tag, known[i].name)) {
            *out = known[i].tag;
            return 0;
        }
    return fail_mark(l, mark,
                     "unsupported tag '%s'; only the standard tags !!str, !!int, !!float, "
                     "!!bool, !!null, !!timestamp, !!seq and !!map are accepted",
                     (const char *)tag);
}

static int remember_anchor(struct loader *l, const yaml_char_t *name, struct yaml_node *node)
{
    if (!name)
        return 0;
    if (l->anchor_count == l->anchor_cap) {
        l->anchor_cap = l->anchor_cap ? l->anchor_cap * 2 : 8;
        l->anchors = xrealloc(l->anchors, l->anchor_cap * sizeof *l->anchors);
    }
    l->anchors[l->anchor_count].name = xstrdup((const char *)name);
    l->anchors[l->anchor_count].node = node;
    l->anchor_count++;
    return 0;
}

/* Copy what an alias stands for, counting as go-yaml counts its expansion: every node once, and
 * an alias met inside it (a node that is itself an alias copy) once more for the alias node.
 * depth: the nesting level the copy lands at. Limits are checked before anything is copied. */
static struct yaml_node *clone_node(struct loader *l, const struct yaml_node *src, int depth, yaml_mark_t mark)
{
    if (depth > YAML_DOCUMENT_MAX_DEPTH) {
        fail_mark(l, mark, "nesting deeper than %d levels (aliases expanded)", YAML_DOCUMENT_MAX_DEPTH);
        return NULL;
    }
    if ((src->aliased && count_node(l, mark, true) < 0) || count_node(l, mark, true) < 0)
        return NULL;
    if (src->value) {
        l->alias_bytes += src->length;
        if (l->alias_bytes > YAML_DOCUMENT_MAX_ALIAS_BYTES) {
            fail_mark(l, mark,
                      "aliases expand to more than %u MiB of text; write the repeated values out "
                      "or shorten them",
                      YAML_DOCUMENT_MAX_ALIAS_BYTES >> 20);
            return NULL;
        }
    }
    struct yaml_node *n = xcalloc(1, sizeof *n);
    *n = *src;
    n->items = NULL;
    n->count = 0;
    n->value = src->value ? xstrndup(src->value, src->length) : NULL;
    if (src->count) {
        n->items = xcalloc(src->count, sizeof *n->items);
        for (size_t i = 0; i < src->count; i++) {
            n->items[i] = clone_node(l, src->items[i], depth + 1, mark);
            if (!n->items[i]) {
                yaml_node_free(n);
                return NULL;
            }
            n->count++;
        }
    }
    return n;
}

static int compare_key_text(const struct yaml_node *a, const struct yaml_node *b)
{
    size_t n = a->length < b->length ? a->length : b->length;
    int c = memcmp(a->value, b->value, n);
    if (c)
        return c;
    return a->length < b->length ? -1 : a->length > b->length;
}

static int compare_key_index(const void *pa, const void *pb, void *context)
{
    const struct yaml_node *const *items = context;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    int c = compare_key_text(items[2 * a], items[2 * b]);
    if (c)
        return c;
    return a < b ? -1 : a > b;
}

/* go-yaml's UniqueKeys: two keys with the same text are an error, reported at the later one. */
static int check_duplicate_keys(struct loader *l, struct yaml_node *map)
{
    size_t pairs = map->count / 2;
    if (pairs < 2)
        return 0;
    size_t *order = xmalloc(pairs * sizeof *order);
    for (size_t i = 0; i < pairs; i++)
        order[i] = i;
    qsort_r(order, pairs, sizeof *order, compare_key_index, map->items); /* reentrant: no globals */
    int rc = 0;
    for (size_t i = 1; i < pairs; i++) {
        const struct yaml_node *first = map->items[2 * order[i - 1]];
        const struct yaml_node *again = map->items[2 * order[i]];
        if (!compare_key_text(first, again)) {
            rc = fail_at(l, (size_t)again->line - 1, (size_t)again->column - 1,
                         "duplicate key '%.200s' (first defined at line %d); remove one of them", again->value,
                         first->line);
            break;
        }
    }
    free(order);
    return rc;
}

static int parse_node(struct loader *l, yaml_event_t *ev, int depth, struct yaml_node **out);

static int parse_collection(struct loader *l, yaml_event_t *start, int depth, struct yaml_node *node,
                            yaml_event_type_t end_type)
{
    size_t cap = 0;
    bool mapping = node->kind == YAML_NODE_MAPPING;
    for (;;) {
        yaml_event_t ev;
        if (next_event(l, &ev) < 0)
            return -1;
        if (ev.type == end_type) {
            yaml_event_delete(&ev);
            break;
        }
        struct yaml_node *child = NULL;
        yaml_mark_t mark = ev.start_mark;
        int rc = parse_node(l, &ev, depth + 1, &child);
        yaml_event_delete(&ev);
        if (rc < 0) {
            yaml_node_free(child);
            return -1;
        }
        push_item(node, child, &cap);
        if (mapping && node->count % 2 == 1) {
            if (child->kind != YAML_NODE_SCALAR)
                return fail_mark(l, mark, "mapping keys must be plain scalars, not %s; use a string key",
                                 yaml_node_describe(child));
            if (child->tag == YAML_TAG_NONE && child->style == YAML_NODE_PLAIN && !strcmp(child->value, "<<"))
                return fail_mark(l, mark, "merge keys ('<<') are not supported; write the keys out");
        }
    }
    (void)start;
    if (mapping)
        return check_duplicate_keys(l, node);
    return 0;
}

static int parse_node(struct loader *l, yaml_event_t *ev, int depth, struct yaml_node **out)
{
    *out = NULL;
    if (depth > YAML_DOCUMENT_MAX_DEPTH)
        return fail_mark(l, ev->start_mark, "nesting deeper than %d levels", YAML_DOCUMENT_MAX_DEPTH);
    if (count_node(l, ev->start_mark, false) < 0)
        return -1;
    switch (ev->type) {
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        for (size_t i = l->anchor_count; i-- > 0;)
            if (!strcmp(l->anchors[i].name, name)) {
                *out = clone_node(l, l->anchors[i].node, depth, ev->start_mark);
                if (!*out)
                    return -1;
                (*out)->aliased = true;
                return 0;
            }
        return fail_mark(l, ev->start_mark,
                         "unknown anchor '%s' (an alias must follow its complete "
                         "anchored node)",
                         name);
    }
    case YAML_SCALAR_EVENT: {
        struct yaml_node *n = new_node(YAML_NODE_SCALAR, ev->start_mark);
        switch (ev->data.scalar.style) {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: n->style = YAML_NODE_SINGLE_QUOTED; break;
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: n->style = YAML_NODE_DOUBLE_QUOTED; break;
        case YAML_LITERAL_SCALAR_STYLE: n->style = YAML_NODE_LITERAL; break;
        case YAML_FOLDED_SCALAR_STYLE: n->style = YAML_NODE_FOLDED; break;
        default: n->style = YAML_NODE_PLAIN; break;
        }
        n->length = ev->data.scalar.length;
        n->value = xstrndup((const char *)ev->data.scalar.value, n->length);
        n->value[n->length] = '\0';
        *out = n;
        if (memchr(ev->data.scalar.value, '\0', n->length))
            return fail_mark(l, ev->start_mark, "NUL characters (\\0) are not supported in values");
        if (map_tag(l, ev->data.scalar.tag, ev->start_mark, &n->tag) < 0)
            return -1;
        if (n->tag == YAML_TAG_SEQ || n->tag == YAML_TAG_MAP)
            return fail_mark(l, ev->start_mark, "tag '%s' does not fit a scalar", (const char *)ev->data.scalar.tag);
        if (n->tag == YAML_TAG_NON_SPECIFIC && n->style == YAML_NODE_PLAIN)
            return fail_mark(l, ev->start_mark, "the non-specific tag '!' is only accepted on quoted scalars");
        return remember_anchor(l, ev->data.scalar.anchor, n);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        struct yaml_node *n = new_node(seq ? YAML_NODE_SEQUENCE : YAML_NODE_MAPPING, ev->start_mark);
        *out = n;
        const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
        if (map_tag(l, tag, ev->start_mark, &n->tag) < 0)
            return -1;
        if (n->tag == YAML_TAG_NON_SPECIFIC)
            n->tag = YAML_TAG_NONE;
        if (n->tag != YAML_TAG_NONE && n->tag != (seq ? YAML_TAG_SEQ : YAML_TAG_MAP))
            return fail_mark(l, ev->start_mark, "tag '%s' does not fit a collection", (const char *)tag);
        if (parse_collection(l, ev, depth, n, seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT) < 0)
            return -1;
        return remember_anchor(l, seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor, n);
    }
    default: return fail_mark(l, ev->start_mark, "unexpected YAML event");
    }
}

int yaml_document_load(const char *text, size_t len, const char *what, struct yaml_node **root, struct error *err)
{
    *root = NULL;
    if (len > YAML_DOCUMENT_MAX_INPUT_BYTES)
        return error_set(err, ERROR_INPUT,
                         "%s: larger than %u MiB; YAML documents this large are not "
                         "accepted",
                         what, YAML_DOCUMENT_MAX_INPUT_BYTES >> 20);
    /* a UTF-8 byte order mark is accepted and skipped, as go-yaml does; libyaml, told the encoding,
     * would count it as a column and misread the indentation of every top-level key after the first */
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) {
        text += 3;
        len -= 3;
    }
    struct loader l;
    memset(&l, 0, sizeof l);
    l.text = text;
    l.len = len;
    l.what = what;
    l.err = err;
    l.nodes = 1; /* go-yaml counts the document node first */
    if (!yaml_parser_initialize(&l.parser))
        return error_set(err, ERROR_RUNTIME, "%s: cannot initialise the YAML parser", what);
    yaml_parser_set_input_string(&l.parser, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&l.parser, YAML_UTF8_ENCODING);

    int rc = -1;
    struct yaml_node *doc = NULL;
    yaml_event_t ev;
    if (next_event(&l, &ev) < 0)
        goto out;
    yaml_event_delete(&ev); /* STREAM-START */
    if (next_event(&l, &ev) < 0)
        goto out;
    if (ev.type == YAML_STREAM_END_EVENT) {
        rc = fail_mark(&l, ev.start_mark, "the document is empty; write at least '{}'");
        yaml_event_delete(&ev);
        goto out;
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    if (next_event(&l, &ev) < 0)
        goto out;
    rc = parse_node(&l, &ev, 0, &doc);
    yaml_event_delete(&ev);
    if (rc < 0)
        goto out;
    rc = -1;
    if (next_event(&l, &ev) < 0) /* DOCUMENT-END */
        goto out;
    yaml_event_delete(&ev);
    if (next_event(&l, &ev) < 0)
        goto out;
    if (ev.type != YAML_STREAM_END_EVENT) {
        fail_mark(&l, ev.start_mark,
                  "a second YAML document starts here; put exactly one document "
                  "in the file");
        yaml_event_delete(&ev);
        goto out;
    }
    yaml_event_delete(&ev);
    rc = 0;
out:
    for (size_t i = 0; i < l.anchor_count; i++)
        free(l.anchors[i].name);
    free(l.anchors);
    yaml_parser_delete(&l.parser);
    if (rc < 0) {
        yaml_node_free(doc);
        return -1;
    }
    *root = doc;
    return 0;
}

/* ------------------------------------------------------------ resolution */

/* Go strconv.ParseUint(s, 0, 64) for text without underscores (go-yaml strips them first). */
static bool go_parse_uint(const char *s, size_t len, uint64_t *out, bool *range_error)
{
    *range_error = false;
    if (!len)
        return false;
    unsigned base = 10;
    if (s[0] == '0') {
        if (len >= 3 && (s[1] == 'b' || s[1] == 'B')) {
            base = 2;
            s += 2;
            len -= 2;
        } else if (len >= 3 && (s[1] == 'o' || s[1] == 'O')) {
            base = 8;
            s += 2;
            len -= 2;
        } else if (len >= 3 && (s[1] == 'x' || s[1] == 'X')) {
            base = 16;
            s += 2;
            len -= 2;
        } else {
            base = 8;
            s += 1;
            len -= 1;
        }
    }
    uint64_t n = 0;
    bool overflow = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'z')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'Z')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        if (d >= base)
            return false;
        if (!overflow) {
            if (n > (UINT64_MAX - d) / base)
                overflow = true;
            else
                n = n * base + d;
        }
    }
    if (overflow) {
        *range_error = true;
        return false;
    }
    *out = n;
    return true;
}

/* Go strconv.ParseInt(s, 0, 64). */
static bool go_parse_int(const char *s, size_t len, int64_t *out)
{
    if (!len)
        return false;
    bool neg = false;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        s++;
        len--;
    }
    uint64_t un;
    bool range_error;
    if (!go_parse_uint(s, len, &un, &range_error))
        return false;
    const uint64_t cutoff = (uint64_t)1 << 63;
    if (!neg && un >= cutoff)
        return false;
    if (neg && un > cutoff)
        return false;
    *out = neg ? (int64_t)(0 - un) : (int64_t)un;
    return true;
}

/* go-yaml's yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool yaml_style_float(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    if (i < len && s[i] == '.') {
        i++;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    } else {
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
        if (i < len && s[i] == '.') {
            i++;
            while (i < len && s[i] >= '0' && s[i] <= '9')
                i++;
        }
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == len;
}

/* Go's strconv underscoreOK (decimal only: callers never pass a base prefix). */
static bool go_underscore_ok(const char *s, size_t len)
{
    char saw = '^';
    size_t i = 0;
    if (len >= 1 && (s[0] == '-' || s[0] == '+'))
        i = 1;
    for (; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            saw = '0';
            continue;
        }
        if (s[i] == '_') {
            if (saw != '0')
                return false;
            saw = '_';
            continue;
        }
        if (saw == '_')
            return false;
        saw = '!';
    }
    return saw != '_';
}

/* strtod on text known to be a decimal float; false on overflow (Go's ErrRange). */
static bool decimal_to_double(const char *s, size_t len, double *out)
{
    char buf[512];
    char *heap = NULL, *p = buf;
    if (len + 1 > sizeof buf)
        p = heap = xmalloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] != '_')
            p[n++] = s[i];
    p[n] = '\0';
    errno = 0;
    double d = strtod(p, NULL);
    free(heap);
    if (isinf(d))
        return false;
    *out = d;
    return true;
}

/* Go strconv.ParseFloat for a scalar starting with '.' (no sign, no hex, no inf/nan). */
static bool go_parse_float_dot(const char *s, size_t len, double *out)
{
    size_t i = 0;
    bool sawdot = false, sawdigits = false, underscores = false;
    for (; i < len; i++) {
        char c = s[i];
        if (c == '_') {
            underscores = true;
            continue;
        }
        if (c == '.') {
            if (sawdot)
                break;
            sawdot = true;
            continue;
        }
        if (c >= '0' && c <= '9') {
            sawdigits = true;
            continue;
        }
        break;
    }
    if (!sawdigits)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i >= len)
            return false;
        if (s[i] == '+' || s[i] == '-')
            i++;
        if (i >= len || s[i] < '0' || s[i] > '9')
            return false;
        for (; i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_'); i++)
            if (s[i] == '_')
                underscores = true;
    }
    if (underscores && !go_underscore_ok(s, i))
        return false;
    if (i != len)
        return false;
    return decimal_to_double(s, len, out);
}

/* ---- timestamps: Go time.Parse with go-yaml's four layouts ---- */

static bool ts_digit(const char *s, size_t len, size_t i)
{
    return i < len && s[i] >= '0' && s[i] <= '9';
}

/* time.getnum(value, fixed=false): one or two digits. */
static bool ts_getnum(const char *s, size_t len, size_t *i, int *out)
{
    if (!ts_digit(s, len, *i))
        return false;
    if (!ts_digit(s, len, *i + 1)) {
        *out = s[*i] - '0';
        *i += 1;
        return true;
    }
    *out = (s[*i] - '0') * 10 + (s[*i + 1] - '0');
    *i += 2;
    return true;
}

static int days_in(int month, int year)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
        return 29;
    return days[month - 1];
}

enum ts_layout { TS_T_UPPER, TS_T_LOWER, TS_SPACE, TS_DATE };

static bool ts_parse_layout(const char *s, size_t len, enum ts_layout layout, char out[YAML_TIMESTAMP_MAX])
{
    size_t i = 0;
    if (len < 4)
        return false;
    for (int k = 0; k < 4; k++)
        if (!ts_digit(s, len, (size_t)k))
            return false;
    int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    i = 4;
    int month, day, hour = 0, minute = 0, second = 0;
    long nsec = 0;
    int offset_minutes = 0;
    if (i >= len || s[i++] != '-' || !ts_getnum(s, len, &i, &month) || month < 1 || month > 12)
        return false;
    if (i >= len || s[i++] != '-' || !ts_getnum(s, len, &i, &day))
        return false;
    if (layout != TS_DATE) {
        char sep = layout == TS_T_UPPER ? 'T' : layout == TS_T_LOWER ? 't' : ' ';
        if (i >= len || s[i++] != sep)
            return false;
        if (!ts_getnum(s, len, &i, &hour) || hour >= 24)
            return false;
        if (i >= len || s[i++] != ':' || !ts_getnum(s, len, &i, &minute) || minute >= 60)
            return false;
        if (i >= len || s[i++] != ':' || !ts_getnum(s, len, &i, &second) || second >= 60)
            return false;
        /* ".999999999": optional; any number of digits, the first nine count */
        if (i + 1 < len && (s[i] == '.' || s[i] == ',') && ts_digit(s, len, i + 1)) {
            i++;
            int digits = 0;
            while (ts_digit(s, len, i)) {
                if (digits < 9) {
                    nsec = nsec * 10 + (s[i] - '0');
                    digits++;
                }
                i++;
            }
            for (; digits < 9; digits++)
                nsec *= 10;
        }
        if (layout == TS_T_UPPER || layout == TS_T_LOWER) {
            if (i < len && s[i] == 'Z') {
                i++;
            } else {
                if (len - i < 6 || s[i + 3] != ':')
                    return false;
                char sign = s[i];
                if (!ts_digit(s, len, i + 1) || !ts_digit(s, len, i + 2) || !ts_digit(s, len, i + 4) ||
                    !ts_digit(s, len, i + 5))
                    return false;
                int hh = (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
                int mm = (s[i + 4] - '0') * 10 + (s[i + 5] - '0');
                if (hh > 24 || mm > 60)
                    return false;
                if (sign == '+')
                    offset_minutes = hh * 60 + mm;
                else if (sign == '-')
                    offset_minutes = -(hh * 60 + mm);
                else
                    return false;
                i += 6;
            }
        }
    }
    if (i != len)
        return false;
    if (day < 1 || day > days_in(month, year))
        return false;
    int n = snprintf(out, YAML_TIMESTAMP_MAX, "%04d-%02d-%02dT%02d:%02d:%02d", year, month, day, hour, minute, second);
    if (nsec) {
        char frac[24]; /* "." + up to 19 digits of a long: room for any value the compiler can see */
        snprintf(frac, sizeof frac, ".%09ld", nsec);
        size_t fl = strlen(frac);
        while (frac[fl - 1] == '0')
            frac[--fl] = '\0';
        n += snprintf(out + n, YAML_TIMESTAMP_MAX - (size_t)n, "%s", frac);
    }
    if (offset_minutes == 0) {
        snprintf(out + n, YAML_TIMESTAMP_MAX - (size_t)n, "Z");
    } else {
        int a = offset_minutes < 0 ? -offset_minutes : offset_minutes;
        snprintf(out + n, YAML_TIMESTAMP_MAX - (size_t)n, "%c%02d:%02d", offset_minutes < 0 ? '-' : '+', a / 60, a % 60);
    }
    return true;
}

bool yaml_parse_timestamp(const char *s, size_t len, char out[YAML_TIMESTAMP_MAX])
{
    /* quick check, as go-yaml: exactly four digits then '-' */
    size_t i = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i != 4 || i == len || s[i] != '-')
        return false;
    static const enum ts_layout layouts[] = {TS_T_UPPER, TS_T_LOWER, TS_SPACE, TS_DATE};
    for (size_t k = 0; k < 4; k++)
        if (ts_parse_layout(s, len, layouts[k], out))
            return true;
    return false;
}

static char resolve_hint(unsigned char c)
{
    if (c == '+' || c == '-')
        return 'S';
    if (c >= '0' && c <= '9')
        return 'D';
    if (strchr("yYnNtTfFoO~<", c) && c)
        return 'M';
    if (c == '.')
        return '.';
    return 0;
}

static bool text_is(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && !memcmp(s, lit, len);
}

static bool text_in(const char *s, size_t len, const char *const *list)
{
    for (; *list; list++)
        if (text_is(s, len, *list))
            return true;
    return false;
}

/* go-yaml's resolveMap; returns true when s is one of its spellings. */
static bool resolve_map(const char *s, size_t len, struct yaml_resolved *out)
{
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
    static const char *const pinf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF", NULL};
    static const char *const nzero[] = {"-0", "-0.0", NULL};
    if (text_in(s, len, trues) || text_in(s, len, falses)) {
        out->type = YAML_RESOLVED_BOOL;
        out->boolean = text_in(s, len, trues);
    } else if (text_in(s, len, nulls)) {
        out->type = YAML_RESOLVED_NULL;
    } else if (text_in(s, len, nans)) {
        out->type = YAML_RESOLVED_FLOAT;
        out->number = NAN;
    } else if (text_in(s, len, pinf)) {
        out->type = YAML_RESOLVED_FLOAT;
        out->number = INFINITY;
    } else if (text_in(s, len, ninf)) {
        out->type = YAML_RESOLVED_FLOAT;
        out->number = -INFINITY;
    } else if (text_in(s, len, nzero)) {
        out->type = YAML_RESOLVED_FLOAT;
        out->number = -0.0;
    } else if (text_is(s, len, "<<")) {
        out->type = YAML_RESOLVED_MERGE;
    } else {
        return false;
    }
    return true;
}

static void resolve_tagged(const char *s, size_t len, bool allow_timestamp, struct yaml_resolved *out)
{
    memset(out, 0, sizeof *out);
    out->type = YAML_RESOLVED_STRING;
    char hint = len ? resolve_hint((unsigned char)s[0]) : 'N';
    if (!hint)
        return;
    if (resolve_map(s, len, out))
        return;
    if (hint == '.') {
        double d;
        if (go_parse_float_dot(s, len, &d)) {
            out->type = YAML_RESOLVED_FLOAT;
            out->number = d;
        }
        return;
    }
    if (hint != 'D' && hint != 'S')
        return;
    if (allow_timestamp && yaml_parse_timestamp(s, len, out->timestamp)) {
        out->type = YAML_RESOLVED_TIMESTAMP;
        return;
    }
    char small[128];
    char *heap = NULL, *plain = small;
    if (len + 1 > sizeof small)
        plain = heap = xmalloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] != '_')
            plain[n++] = s[i];
    plain[n] = '\0';
    int64_t iv;
    uint64_t uv;
    bool range_error;
    double d;
    if (go_parse_int(plain, n, &iv)) {
        out->type = YAML_RESOLVED_INT;
        out->integer = iv;
    } else if (go_parse_uint(plain, n, &uv, &range_error)) {
        out->type = YAML_RESOLVED_UINT;
        out->uinteger = uv;
    } else if (yaml_style_float(plain, n) && decimal_to_double(plain, n, &d)) {
        out->type = YAML_RESOLVED_FLOAT;
        out->number = d;
    }
    free(heap);
}

void yaml_resolve_plain(const char *s, size_t len, struct yaml_resolved *out)
{
    resolve_tagged(s, len, true, out);
}

bool yaml_plain_is_non_string(const char *s, size_t len)
{
    struct yaml_resolved r;
    yaml_resolve_plain(s, len, &r);
    return r.type != YAML_RESOLVED_STRING;
}

static const char *resolved_tag_name(enum yaml_resolved_type t)
{
    switch (t) {
    case YAML_RESOLVED_NULL: return "!!null";
    case YAML_RESOLVED_BOOL: return "!!bool";
    case YAML_RESOLVED_INT:
    case YAML_RESOLVED_UINT: return "!!int";
    case YAML_RESOLVED_FLOAT: return "!!float";
    case YAML_RESOLVED_TIMESTAMP: return "!!timestamp";
    case YAML_RESOLVED_MERGE: return "!!merge";
    case YAML_RESOLVED_STRING: break;
    }
    return "!!str";
}

int yaml_node_resolve(const struct yaml_node *node, const char *what, struct yaml_resolved *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    out->type = YAML_RESOLVED_STRING;
    if (node->kind != YAML_NODE_SCALAR)
        return error_set(err, ERROR_INPUT, "%s:%d:%d: expected a scalar, found %s", what, node->line, node->column,
                         yaml_node_describe(node));
    /* go-yaml's indicatedString: !!str, or a quoted/block scalar without a specific tag */
    if (node->tag == YAML_TAG_STR ||
        ((node->tag == YAML_TAG_NONE || node->tag == YAML_TAG_NON_SPECIFIC) && node->style != YAML_NODE_PLAIN))
        return 0;
    if (node->tag == YAML_TAG_NONE) {
        yaml_resolve_plain(node->value, node->length, out);
        return 0;
    }
    resolve_tagged(node->value, node->length, node->tag == YAML_TAG_TIMESTAMP, out);
    enum yaml_resolved_type want;
    switch (node->tag) {
    case YAML_TAG_INT: want = YAML_RESOLVED_INT; break;
    case YAML_TAG_FLOAT: want = YAML_RESOLVED_FLOAT; break;
    case YAML_TAG_BOOL: want = YAML_RESOLVED_BOOL; break;
    case YAML_TAG_NULL: want = YAML_RESOLVED_NULL; break;
    case YAML_TAG_TIMESTAMP: want = YAML_RESOLVED_TIMESTAMP; break;
    default: want = YAML_RESOLVED_STRING; break;
    }
    if (want == YAML_RESOLVED_INT && out->type == YAML_RESOLVED_UINT)
        return 0;
    if (want == YAML_RESOLVED_FLOAT && out->type == YAML_RESOLVED_INT) {
        out->type = YAML_RESOLVED_FLOAT;
        out->number = (double)out->integer;
        return 0;
    }
    if (want == out->type)
        return 0;
    return error_set(err, ERROR_INPUT,
                     "%s:%d:%d: cannot construct %s `%.100s` as a %s; fix the value "
                     "or drop the tag",
                     what, node->line, node->column, resolved_tag_name(out->type), node->value, resolved_tag_name(want));
}
