/* Unit tests for src/core: buffer, base64, digest, json, fs. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/byte_size.h"
#include "airfactory/buffer.h"
#include "core/digest.h"
#include "core/endian.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"
#include "core/yaml_document.h"
#include "test.h"

static void buffer_appends_and_formats(void)
{
    struct buffer b = BUFFER_INIT;
    CHECK_STR(buffer_cstr(&b), "");
    buffer_append_str(&b, "abc");
    buffer_appendf(&b, "-%d-%s", 42, "x");
    CHECK_STR(b.data, "abc-42-x");
    CHECK_INT(b.len, 8);
    char *s = buffer_take(&b);
    CHECK_STR(s, "abc-42-x");
    CHECK(b.data == NULL && b.len == 0);
    free(s);
    /* decimals as "%llu" prints them, the extremes included */
    buffer_append_u64(&b, 0);
    buffer_append_char(&b, ' ');
    buffer_append_u64(&b, 18446744073709551615ull);
    buffer_append_char(&b, ' ');
    buffer_append_u64(&b, 1000000);
    CHECK_STR(buffer_cstr(&b), "0 18446744073709551615 1000000");
    buffer_free(&b);
}

static void base64_round_trips_rfc4648_vectors(void)
{
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        struct buffer e = BUFFER_INIT, d = BUFFER_INIT;
        base64_encode(plain[i], strlen(plain[i]), &e);
        CHECK_STR(buffer_cstr(&e), coded[i]);
        CHECK_INT(base64_decode(coded[i], strlen(coded[i]), &d), 0);
        CHECK_STR(buffer_cstr(&d), plain[i]);
        buffer_free(&e);
        buffer_free(&d);
    }
}

/* Protobuf JSON bytes: standard or URL-safe alphabet, padding optional; never mixed alphabets. */
static void base64_any_reads_protobuf_json_forms(void)
{
    const char *forms[] = {"+/8=", "+/8", "-_8=", "-_8"};
    for (int i = 0; i < 4; i++) {
        struct buffer d = BUFFER_INIT;
        CHECK_INT(base64_decode_any(forms[i], strlen(forms[i]), &d), 0);
        CHECK_INT(d.len, 2);
        CHECK(d.len == 2 && (unsigned char)d.data[0] == 0xfb && (unsigned char)d.data[1] == 0xff);
        buffer_free(&d);
    }
    const char *bad[] = {"+_8=", "Z", "Zh==", "-_8=", "+/8"};
    for (int i = 0; i < 5; i++) {
        struct buffer d = BUFFER_INIT;
        int (*decode)(const char *, size_t, struct buffer *) = i < 3 ? base64_decode_any : base64_decode;
        CHECK_INT(decode(bad[i], strlen(bad[i]), &d), -1);
        buffer_free(&d);
    }
}

static void base64_rejects_malformed_input(void)
{
    const char *bad[] = {"Zg=", "Z===", "Zm9v!", "Zg==Zg==", "Zh=="};
    for (int i = 0; i < 5; i++) {
        struct buffer d = BUFFER_INIT;
        CHECK_INT(base64_decode(bad[i], strlen(bad[i]), &d), -1);
        CHECK_INT(d.len, 0);
        buffer_free(&d);
    }
    struct buffer d = BUFFER_INIT;
    CHECK_INT(base64_decode("Zm9v\nYmFy\n", 10, &d), 0);
    CHECK_STR(buffer_cstr(&d), "foobar");
    buffer_free(&d);
}

static void sha256_matches_known_vectors(void)
{
    char hex[65];
    sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("customization: {}\n", 18, hex);
    CHECK_STR(hex, "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba");
    struct sha256_stream s;
    sha256_stream_init(&s);
    sha256_stream_update(&s, "customization", 13);
    sha256_stream_update(&s, ": {}\n", 5);
    sha256_stream_final_hex(&s, hex);
    CHECK_STR(hex, "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba");
}

static void digest_parse_is_strict(void)
{
    char hex[65];
    struct error err = {0};
    CHECK_INT(digest_parse("sha256:376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba", hex, &err), 0);
    CHECK_STR(hex, "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba");
    CHECK_INT(digest_parse("sha256:376567988AD370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba", hex, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK_INT(digest_parse("sha512:00", hex, &err), -1);
    CHECK_INT(digest_parse("sha256:../../etc/passwd", hex, &err), -1);
}

static void json_parses_nested_documents(void)
{
    const char *doc = "{\"schemaVersion\": 2, \"layers\": [{\"size\": 9007199254740993, \"digest\": \"sha256:ab\"}],"
                      " \"s\": \"a\\u00e9\\ud83d\\ude00\\n\", \"t\": true, \"n\": null, \"f\": -1.5e3}";
    struct json_value *v = NULL;
    struct error err = {0};
    CHECK_INT(json_parse(doc, strlen(doc), "test", &v, &err), 0);
    int64_t n = 0;
    CHECK(json_object_get_int64(v, "schemaVersion", &n) && n == 2);
    const struct json_value *layers = json_object_get_array(v, "layers");
    CHECK(layers && layers->count == 1);
    CHECK(json_object_get_int64(layers->items[0], "size", &n) && n == 9007199254740993LL);
    CHECK_STR(json_object_get_string(v, "s"), "a\xc3\xa9\xf0\x9f\x98\x80\n");
    CHECK(json_object_get(v, "t")->boolean);
    CHECK(json_object_get(v, "n")->type == JSON_NULL);
    CHECK(!json_object_get_int64(v, "f", &n));
    CHECK(json_object_get_string(v, "missing") == NULL);
    json_free(v);
}

static void json_rejects_bad_documents_with_position(void)
{
    const char *bad[] = {
        "{\"a\":1,\"a\":2}", "{\"a\":1,}",   "[1 2]",   "\"\x01\"", "{\"a\":01}",
        "\"\\ud800\"",       "\"\xc3\x28\"", "{} {}",   "",         "[",
        "{\"a\" 1}",         "nul",          "\"\\x\"", "1.",       "-",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct json_value *v = NULL;
        struct error err = {0};
        int rc = json_parse(bad[i], strlen(bad[i]), "doc.json", &v, &err);
        CHECK_INT(rc, -1);
        CHECK(v == NULL);
        CHECK(strncmp(err.message, "doc.json:1:", 11) == 0);
        CHECK_INT(err.code, ERROR_INPUT);
    }
    struct json_value *v = NULL;
    struct error err = {0};
    CHECK_INT(json_parse("{\n  \"a\": [1,\n  2,,]}", 19, "x.json", &v, &err), -1);
    CHECK(strstr(err.message, "x.json:3:5:") != NULL);
}

static void json_rejects_deep_nesting(void)
{
    char deep[200];
    memset(deep, '[', sizeof deep);
    struct json_value *v = NULL;
    struct error err = {0};
    CHECK_INT(json_parse(deep, sizeof deep, "deep", &v, &err), -1);
    CHECK(strstr(err.message, "nested too deeply") != NULL);
}

static void json_writer_escapes_like_go(void)
{
    struct buffer b = BUFFER_INIT;
    struct json_writer w;
    json_writer_init(&w, &b);
    json_object_begin(&w);
    json_kv_string(&w, "html", "<a&b>");
    json_kv_string(&w, "ctl", "\x01\t\"\\");
    json_kv_string(&w, "ls", "\xe2\x80\xa8");
    json_key(&w, "list");
    json_array_begin(&w);
    json_int(&w, -5);
    json_bool(&w, false);
    json_null(&w);
    json_array_end(&w);
    json_key(&w, "empty");
    json_object_begin(&w);
    json_object_end(&w);
    json_object_end(&w);
    CHECK_STR(buffer_cstr(&b), "{\"html\":\"\\u003ca\\u0026b\\u003e\",\"ctl\":\"\\u0001\\t\\\"\\\\\",\"ls\":\"\\u2028\","
                               "\"list\":[-5,false,null],\"empty\":{}}");
    buffer_reset(&b);
    json_writer_init(&w, &b);
    w.escape_html = false;
    w.indent = "  ";
    json_object_begin(&w);
    json_kv_string(&w, "a", "<");
    json_key(&w, "b");
    json_array_begin(&w);
    json_int(&w, 1);
    json_array_end(&w);
    json_object_end(&w);
    CHECK_STR(buffer_cstr(&b), "{\n  \"a\": \"<\",\n  \"b\": [\n    1\n  ]\n}");
    buffer_free(&b);
}

static void atomic_write_replaces_or_leaves_old_file(void)
{
    char dir[] = "/tmp/airfactory-core-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *path = path_join(dir, "f");
    struct error err = {0};
    CHECK_INT(fs_write_file_atomic(path, "old", 3, 0644, &err), 0);
    struct atomic_file f;
    CHECK_INT(atomic_file_open(&f, path, 0644, &err), 0);
    CHECK_INT(atomic_file_write(&f, "new!", 4, &err), 0);
    atomic_file_abort(&f);
    struct buffer b = BUFFER_INIT;
    CHECK_INT(fs_read_file(path, 100, &b, &err), 0);
    CHECK_STR(buffer_cstr(&b), "old");
    CHECK_INT(fs_write_file_atomic(path, "new", 3, 0600, &err), 0);
    buffer_reset(&b);
    CHECK_INT(fs_read_file(path, 100, &b, &err), 0);
    CHECK_STR(buffer_cstr(&b), "new");
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    buffer_reset(&b);
    CHECK_INT(fs_read_file(path, 2, &b, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    char *sub = path_join(dir, "a/b/c");
    CHECK_INT(fs_mkdir_p(sub, 0755, &err), 0);
    CHECK(fs_is_dir(sub));
    char *copy = path_join(sub, "copy");
    CHECK_INT(fs_copy_file(path, copy, &err), 0);
    char hex1[65], hex2[65];
    uint64_t size = 0;
    CHECK_INT(sha256_file_hex(path, hex1, &size, &err), 0);
    CHECK_INT(sha256_file_hex(copy, hex2, NULL, &err), 0);
    CHECK_STR(hex1, hex2);
    CHECK_INT(size, 3);
    CHECK_INT(fs_remove_tree(dir, &err), 0);
    CHECK(!fs_exists(dir));
    CHECK_INT(fs_remove_tree(dir, &err), 0);
    buffer_free(&b);
    free(path);
    free(sub);
    free(copy);
}

static void byte_order_round_trips(void)
{
    unsigned char b[8];
    le32_put(b, 0x11223344u);
    CHECK(b[0] == 0x44 && b[3] == 0x11);
    CHECK_INT(le32_get(b), 0x11223344u);
    be32_put(b, 0x11223344u);
    CHECK(b[0] == 0x11 && b[3] == 0x44);
    CHECK_INT(be32_get(b), 0x11223344u);
    le64_put(b, 0x0102030405060708ull);
    CHECK(b[0] == 8 && b[7] == 1 && le64_get(b) == 0x0102030405060708ull);
    be64_put(b, 0x0102030405060708ull);
    CHECK(b[0] == 1 && b[7] == 8 && be64_get(b) == 0x0102030405060708ull);
    le16_put(b + 1, 0xabcd); /* any alignment */
    CHECK(b[1] == 0xcd && b[2] == 0xab && le16_get(b + 1) == 0xabcd && be16_get(b + 1) == 0xcdab);
    be_put_n(b, 0x123456, 3);
    CHECK(b[0] == 0x12 && b[2] == 0x56 && be_get_n(b, 3) == 0x123456 && le_get_n(b, 3) == 0x563412);
}

/* data at [0, 4 KiB) and [1 MiB, 1 MiB + 4 KiB) of a 2 MiB sparse file: the extents found cover
 * both, never reach past the size, and the walk ends */
static void extents_cover_the_data(void)
{
    char path[] = "/tmp/airfactory-extent-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    unlink(path);
    static unsigned char block[4096];
    memset(block, 0xa5, sizeof block);
    CHECK(pwrite(fd, block, sizeof block, 0) == (ssize_t)sizeof block);
    CHECK(pwrite(fd, block, sizeof block, 1 << 20) == (ssize_t)sizeof block);
    CHECK(ftruncate(fd, 2 << 20) == 0);
    struct error err = {0};
    uint64_t pos = 0, start, end, covered = 0;
    int more, steps = 0;
    bool saw_first = false, saw_second = false;
    while ((more = fs_next_extent(fd, pos, 2 << 20, &start, &end, "test file", &err)) > 0 && steps++ < 1000) {
        CHECK(start >= pos && end > start && end <= (2u << 20));
        saw_first |= start == 0 && end >= 4096;
        saw_second |= start <= (1u << 20) && end >= (1u << 20) + 4096;
        covered += end - start;
        pos = end;
    }
    CHECK_INT(more, 0);
    CHECK(saw_first && saw_second);
    CHECK(covered <= (2u << 20));
    CHECK_INT(fs_next_extent(fd, 2 << 20, 2 << 20, &start, &end, "test file", &err), 0);
    close(fd);
    CHECK_INT(fs_next_extent(fd, 0, 1, &start, &end, "closed file", &err), -1);
    CHECK(strstr(err.message, "closed file: SEEK_DATA") != NULL);
}

static void path_join_normalises_slashes(void)
{
    char *p = path_join("a/", "/b");
    CHECK_STR(p, "a/b");
    free(p);
    p = path_join("/", "x");
    CHECK_STR(p, "/x");
    free(p);
}

static void error_text_shows_only_names(void)
{
    CHECK(error_text_is_name("customization"));
    CHECK(error_text_is_name("extra_Kernel-Args.v2"));
    CHECK(!error_text_is_name("root:$6$salt$hash:19000:0:99999:7:::"));
    CHECK(!error_text_is_name("root:x:0:0:root:/root:/bin/bash"));
    CHECK(!error_text_is_name("-----BEGIN EC PRIVATE KEY-----"));
    CHECK(!error_text_is_name("MHcCAQEEIB+base64=="));
    CHECK(!error_text_is_name("9lives"));
    CHECK(!error_text_is_name(""));
    CHECK(!error_text_is_name(NULL));
    char long_name[80];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK(!error_text_is_name(long_name));
}

static void byte_size_text_uses_binary_units(void)
{
    char b[32];
    byte_size_text(0, b, sizeof b);
    CHECK_STR(b, "0 B");
    byte_size_text(1023, b, sizeof b);
    CHECK_STR(b, "1023 B");
    byte_size_text(1536, b, sizeof b);
    CHECK_STR(b, "1.5 KiB");
    byte_size_text(623ull << 20, b, sizeof b);
    CHECK_STR(b, "623.0 MiB");
    byte_size_text(3ull << 40, b, sizeof b);
    CHECK_STR(b, "3.0 TiB");
}

/* yaml_field_lookup: the one "unknown field" message of the manifest, schematic and policy decoders */
static void yaml_field_lookup_names_the_fields(void)
{
    static const char *const fields[] = {"keys", "keyless", NULL};
    struct yaml_node *root;
    struct error err;
    const char *text = "keyless: 1\nkeys: 2\ninsecur: 3\n\"a b\": 4\n";
    CHECK_INT(yaml_document_load(text, strlen(text), "t", &root, &err), 0);
    char msg[256];
    CHECK_INT(yaml_field_lookup(yaml_mapping_key(root, 0), fields, NULL, msg, sizeof msg), 1);
    CHECK_INT(yaml_field_lookup(yaml_mapping_key(root, 1), fields, NULL, msg, sizeof msg), 0);
    CHECK_INT(yaml_field_lookup(yaml_mapping_key(root, 2), fields, "policy", msg, sizeof msg), -1);
    CHECK_STR(msg, "unknown field 'insecur'; expected one of: keys, keyless");
    CHECK_INT(yaml_field_lookup(yaml_mapping_key(root, 3), fields, "policy", msg, sizeof msg), -1);
    CHECK_STR(msg,
              "unknown field (not shown: it is not a field name; is this a policy?); expected one of: keys, keyless");
    CHECK_INT(yaml_field_lookup(yaml_mapping_key(root, 3), fields, NULL, msg, sizeof msg), -1);
    CHECK_STR(msg, "unknown field (not shown: it is not a field name); expected one of: keys, keyless");
    yaml_node_free(root);
}

/* path_clean/path_resolve: lexical only (the manifest and the trust-policy decoder use them) */
static void paths_resolve_lexically(void)
{
    static const char *const cases[][3] = {
        {"/base", "k.pub", "/base/k.pub"}, {"/base/", "./a//b/", "/base/a/b"},   {"/base/x", "../k", "/base/k"},
        {"/base", "../../../k", "/k"},     {"/base", "/abs/./y/../z", "/abs/z"}, {"/", ".", "/"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *r = path_resolve(cases[i][0], cases[i][1]);
        CHECK_STR(r, cases[i][2]);
        free(r);
    }
    struct error err;
    char *abs = NULL;
    CHECK_INT(path_absolute("/a/../b", &abs, &err), 0);
    CHECK_STR(abs, "/b");
    free(abs);
    CHECK_INT(path_absolute("sub/..", &abs, &err), 0);
    CHECK(abs && abs[0] == '/' && !strstr(abs, ".."));
    free(abs);
}

/* path_dirname: dirname(1)'s answers (the staging, ISO and initramfs writers' temp-file directory) */
static void path_dirname_is_dirnames(void)
{
    static const char *const cases[][2] = {
        {"/a/b/c", "/a/b"}, {"/a", "/"}, {"a", "."}, {"a/b", "a"}, {"/", "/"}, {"", "."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *d = path_dirname(cases[i][0]);
        CHECK_STR(d, cases[i][1]);
        free(d);
    }
}

/* hex_decode: the inverse of hex_encode, either case; odd, too long or non-hex input refused */
static void hex_decode_round_trips_and_refuses(void)
{
    unsigned char raw[4] = {0x00, 0x7f, 0xab, 0xff}, out[4];
    char hex[9];
    size_t n = 99;
    hex_encode(raw, sizeof raw, hex);
    CHECK_STR(hex, "007fabff");
    CHECK_INT(hex_decode(hex, 8, out, sizeof out, &n), 0);
    CHECK(n == 4 && !memcmp(out, raw, 4));
    CHECK_INT(hex_decode("007FABFF", 8, out, sizeof out, &n), 0);
    CHECK(n == 4 && !memcmp(out, raw, 4));
    CHECK_INT(hex_decode("", 0, out, sizeof out, &n), 0);
    CHECK(n == 0);
    CHECK_INT(hex_decode("abc", 3, out, sizeof out, &n), -1);
    CHECK_INT(hex_decode("0g", 2, out, sizeof out, &n), -1);
    CHECK_INT(hex_decode("0011223344", 10, out, sizeof out, &n), -1);
    CHECK_INT(hex_digit_value('F'), 15);
    CHECK_INT(hex_digit_value('/'), -1);
}

int main(void)
{
    RUN(paths_resolve_lexically);
    RUN(path_dirname_is_dirnames);
    RUN(hex_decode_round_trips_and_refuses);
    RUN(yaml_field_lookup_names_the_fields);
    RUN(error_text_shows_only_names);
    RUN(buffer_appends_and_formats);
    RUN(byte_size_text_uses_binary_units);
    RUN(base64_round_trips_rfc4648_vectors);
    RUN(base64_rejects_malformed_input);
    RUN(base64_any_reads_protobuf_json_forms);
    RUN(sha256_matches_known_vectors);
    RUN(digest_parse_is_strict);
    RUN(json_parses_nested_documents);
    RUN(json_rejects_bad_documents_with_position);
    RUN(json_rejects_deep_nesting);
    RUN(json_writer_escapes_like_go);
    RUN(atomic_write_replaces_or_leaves_old_file);
    RUN(path_join_normalises_slashes);
    RUN(byte_order_round_trips);
    RUN(extents_cover_the_data);
    return TEST_MAIN_END();
}
