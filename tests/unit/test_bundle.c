/* Unit tests for src/bundle: keys, writer, reader, check, crash safety and disk-full behaviour.
 *
 * Also a test-only bundle generator for the shell suites and the benchmark (there is no
 * `airfactory build` yet):
 *   test_bundle make-bundle TARGET KEY [--variant N] [--created SECONDS] [--big BYTES] [--reverse]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "airfactory/bundle.h"
#include "airfactory/bundle_check.h"
#include "airfactory/bundle_key.h"
#include "airfactory/bundle_merge.h"
#include "bundle/bundle_staging.h"
#include "bundle/bundle_writer.h"
#include "core/digest.h"
#include "bundle_sample.h"
#include "bundle_test_util.h"
#include "test.h"

static char *scratch;
static char *key_path, *pub_path;

static int write_sample(const char *target, int variant, bool reverse, struct bundle_writer_stats *stats)
{
    struct sample_options o = {
        .target = target, .key = key_path, .variant = variant, .reverse = reverse, .created = 1700000000, .stats = stats};
    struct error err;
    if (sample_write(&o, &err) != 0) {
        printf("  sample_write(%s, variant %d): %s\n", target, variant, err.message);
        return -1;
    }
    return 0;
}

/* Which sample variant a bundle holds: 1 has v1.12.0, 0 does not; -1 if it cannot be opened. */
static int variant_of(const char *dir)
{
    struct bundle *b = NULL;
    struct error err;
    if (bundle_open(dir, pub_path, &b, &err) != 0)
        return -1;
    char digest[BUNDLE_DIGEST_SIZE];
    int v = bundle_find_image(b, "installer/" SAMPLE_VANILLA_ID, "v1.12.0", digest, &err);
    bundle_close(b);
    return v;
}

/* ---- keys ---- */

static void keygen_writes_a_private_key_only_its_owner_reads(void)
{
    char *prefix = path_join(scratch, "kg");
    struct error err;
    char fingerprint[BUNDLE_KEY_FINGERPRINT_SIZE];
    CHECK_INT(bundle_key_generate(prefix, false, fingerprint, &err), 0);
    char *key = xasprintf("%s.key", prefix), *pub = xasprintf("%s.pub", prefix);
    struct stat st;
    CHECK(stat(key, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(stat(pub, &st) == 0 && (st.st_mode & 0777) == 0644);
    struct buffer text = BUFFER_INIT;
    CHECK_INT(fs_read_file(key, 4096, &text, &err), 0);
    CHECK(strstr(buffer_cstr(&text), "-----BEGIN PRIVATE KEY-----") != NULL); /* PKCS#8 */
    buffer_free(&text);
    struct bundle_key *priv = NULL, *publ = NULL;
    CHECK_INT(bundle_key_load_private(key, &priv, &err), 0);
    CHECK_INT(bundle_key_load_public(pub, &publ, &err), 0);
    if (priv && publ) {
        CHECK_STR(bundle_key_fingerprint(priv), fingerprint);
        CHECK_STR(bundle_key_fingerprint(publ), fingerprint);
        CHECK(!strncmp(fingerprint, "sha256:", 7) && sha256_hex_valid(fingerprint + 7));
    }
    /* never overwrites a key by accident */
    CHECK_INT(bundle_key_generate(prefix, false, NULL, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(strstr(err.message, "already exists") != NULL);
    /* a private key is refused where a public one is expected */
    struct bundle_key *wrong = NULL;
    CHECK_INT(bundle_key_load_public(key, &wrong, &err), -1);
    bundle_key_free(priv);
    bundle_key_free(publ);
    free(key);
    free(pub);
    free(prefix);
}

static void signatures_verify_only_with_the_right_key_and_bytes(void)
{
    struct error err;
    struct bundle_key *k = NULL, *other = NULL;
    char *other_path = test_make_key(scratch, "other");
    CHECK_INT(bundle_key_load_private(key_path, &k, &err), 0);
    CHECK_INT(bundle_key_load_private(other_path, &other, &err), 0);
    struct buffer der = BUFFER_INIT;
    const char data[] = "index bytes";
    CHECK_INT(bundle_key_sign(k, data, sizeof data, &der, &err), 0);
    CHECK(der.len > 8 && (unsigned char)der.data[0] == 0x30); /* DER SEQUENCE */
    CHECK_INT(bundle_key_verify(k, data, sizeof data, der.data, der.len, "x", &err), 0);
    CHECK_INT(bundle_key_verify(other, data, sizeof data, der.data, der.len, "x", &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(strstr(err.message, bundle_key_fingerprint(other)) != NULL);
    CHECK_INT(bundle_key_verify(k, "index bytez", sizeof data, der.data, der.len, "x", &err), -1);
    buffer_free(&der);
    bundle_key_free(k);
    bundle_key_free(other);
    free(other_path);
}

/* ---- pure functions ---- */

static void versions_sort_as_semver(void)
{
    const char *ordered[] = {"v0.9.0",         "v1.2.0",       "v1.10.0-alpha.0", "v1.10.0-alpha.1", "v1.10.0-alpha.10",
                             "v1.10.0-beta.0", "v1.10.0-rc.1", "v1.10.0",         "v1.10.1",         "v1.11.0"};
    size_t n = sizeof ordered / sizeof ordered[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int c = bundle_version_compare(ordered[i], ordered[j]);
            CHECK_INT(c, i < j ? -1 : i > j ? 1 : 0);
        }
    CHECK(bundle_version_valid("v1.10.3"));
    CHECK(bundle_version_valid("v1.11.0-alpha.1"));
    CHECK(!bundle_version_valid("1.10.3"));
    CHECK(!bundle_version_valid("v1.10"));
    CHECK(!bundle_version_valid("v01.10.3"));
    CHECK(!bundle_version_valid("v1.10.3-"));
    CHECK(!bundle_version_valid("v1.10.3-01"));
    CHECK(bundle_version_compare("bogus", "v0.0.1") < 0);
}

static void asset_media_types_follow_image_factory(void)
{
    CHECK_STR(bundle_asset_media_type("metal-amd64.iso"), "application/x-iso9660-image");
    CHECK_STR(bundle_asset_media_type("metal-amd64-uki.efi"), "application/efi");
    CHECK_STR(bundle_asset_media_type("metal-amd64.raw.xz"), "application/x-xz");
    CHECK_STR(bundle_asset_media_type("gcp-amd64.raw.tar.gz"), "application/gzip");
    CHECK_STR(bundle_asset_media_type("nocloud-amd64.qcow2"), "application/x-qemu-disk");
    CHECK_STR(bundle_asset_media_type("installer-amd64.tar"), "application/x-tar");
    CHECK_STR(bundle_asset_media_type("metal-amd64.raw.zst"), "application/octet-stream");
    CHECK_STR(bundle_asset_media_type("kernel-amd64"), "application/octet-stream");
    CHECK_STR(bundle_asset_media_type("azure-amd64.vhd"), "application/octet-stream");
    CHECK_STR(bundle_asset_media_type("cmdline-metal-amd64"), "application/octet-stream");
}

/* ---- writer and reader ---- */

static int count_versions(void *context, int columns, const char *const *v)
{
    struct buffer *b = context;
    (void)columns;
    buffer_appendf(b, "%s ", v[0]);
    return 0;
}

static void writer_round_trip_is_readable_and_verifies(void)
{
    char *target = path_join(scratch, "rt");
    CHECK_INT(write_sample(target, 0, false, NULL), 0);
    CHECK_INT(test_check(target, pub_path, true, NULL), 0);
    struct error err;
    CHECK_INT(bundle_verify_signature(target, pub_path, &err), 0);
    struct bundle *b = NULL;
    CHECK_INT(bundle_open(target, pub_path, &b, &err), 0);
    if (!b)
        return;
    CHECK(bundle_is_verified(b));
    struct bundle_key *k = NULL;
    CHECK_INT(bundle_key_load_public(pub_path, &k, &err), 0);
    char *value = NULL;
    CHECK_INT(bundle_meta(b, "signing_key", &value, &err), 1);
    CHECK_STR(value, bundle_key_fingerprint(k));
    free(value);
    CHECK_INT(bundle_meta(b, "created", &value, &err), 1);
    CHECK_STR(value, "1700000000");
    free(value);
    CHECK_INT(bundle_meta(b, "format_version", &value, &err), 1);
    CHECK_STR(value, "1");
    free(value);
    bundle_key_free(k);

    struct bundle_asset a;
    CHECK_INT(bundle_find_asset(b, SAMPLE_VANILLA_ID, "v1.10.3", "metal-amd64.iso", &a, &err), 1);
    CHECK_STR(a.media_type, "application/x-iso9660-image");
    CHECK_INT(a.size, 4096 + 1000 + 10);
    struct bundle_blob info;
    int fd = bundle_open_blob(b, a.digest, &info, &err);
    CHECK(fd >= 0);
    if (fd >= 0) {
        struct stat st;
        CHECK(fstat(fd, &st) == 0 && (uint64_t)st.st_size == a.size);
        close(fd);
    }
    char *blob = bundle_blob_path(b, a.digest);
    char hex[65];
    uint64_t size;
    CHECK_INT(sha256_file_hex(blob, hex, &size, &err), 0);
    CHECK_STR(hex, a.digest + 7);
    free(blob);
    struct bundle_blob fixed;
    CHECK_INT(bundle_find_asset_blob(b, SAMPLE_VANILLA_ID, "v1.10.3", "metal-amd64.iso", &fixed, &err), 1);
    CHECK_STR(fixed.digest, a.digest);
    CHECK_INT(fixed.size, a.size);
    CHECK_STR(fixed.media_type, "application/x-iso9660-image");
    CHECK_INT(bundle_find_asset_blob(b, SAMPLE_VANILLA_ID, "v1.10.3", "nope.iso", &fixed, &err), 0);
    CHECK_INT(bundle_find_asset_blob(b, SAMPLE_VANILLA_ID, "v9.9.9", "metal-amd64.iso", &fixed, &err), 0);
    bundle_asset_clear(&a);
    CHECK_INT(bundle_find_asset(b, SAMPLE_VANILLA_ID, "v1.10.3", "nope.iso", &a, &err), 0);

    char *yaml = NULL;
    CHECK_INT(bundle_find_schematic(b, SAMPLE_VANILLA_ID, &yaml, &err), 1);
    CHECK_STR(yaml, SAMPLE_VANILLA_YAML);
    free(yaml);
    char *latest = NULL;
    CHECK_INT(bundle_latest_version(b, &latest, &err), 1);
    CHECK_STR(latest, "v1.11.0"); /* not the alpha, though it sorts between */
    free(latest);
    struct buffer versions = BUFFER_INIT;
    CHECK_INT(bundle_foreach(b, BUNDLE_LIST_VERSIONS, NULL, count_versions, &versions, &err), 0);
    CHECK_STR(buffer_cstr(&versions), "v1.9.5 v1.10.3 v1.11.0-alpha.1 v1.11.0 ");
    buffer_free(&versions);

    char digest[BUNDLE_DIGEST_SIZE];
    CHECK_INT(bundle_find_image(b, "installer/" SAMPLE_VANILLA_ID, "v1.10.3", digest, &err), 1);
    CHECK_INT(bundle_find_repository_blob(b, "installer/" SAMPLE_VANILLA_ID, digest, NULL, &err), 1);
    CHECK_INT(bundle_find_repository_blob(b, "installer/other", digest, NULL, &err), 0);
    CHECK_INT(bundle_find_blob(b, digest, &info, &err), 1);
    CHECK_STR(info.media_type, "application/vnd.oci.image.index.v1+json");
    char *pem = NULL;
    CHECK_INT(bundle_find_public_key(b, "cosign", &pem, &err), 1);
    CHECK(pem && strstr(pem, "BEGIN PUBLIC KEY"));
    free(pem);

    /* index.json names the image for skopeo/oras: oci:BUNDLE:installer/<id>:v1.10.3 */
    char *index_json = path_join(target, "index.json");
    struct buffer text = BUFFER_INIT;
    CHECK_INT(fs_read_file(index_json, 1 << 20, &text, &err), 0);
    CHECK(strstr(buffer_cstr(&text),
                 "\"org.opencontainers.image.ref.name\":\"installer/" SAMPLE_VANILLA_ID ":v1.10.3\"") != NULL);
    CHECK(strstr(buffer_cstr(&text), digest) != NULL);
    buffer_free(&text);
    free(index_json);
    bundle_close(b);

    /* what an outside reader sees: sqlite3 itself */
    sqlite3 *db = NULL;
    char *db_path = path_join(target, "index.db");
    CHECK_INT(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &st, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(st, 0), 0x41465442);
    sqlite3_finalize(st);
    CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA freelist_count", -1, &st, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(st, 0), 0); /* VACUUMed */
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(db_path);
    /* nothing but the bundle next to it */
    CHECK_INT(test_count_prefixed(scratch, "rt.tmp-"), 0);
    CHECK_INT(test_count_prefixed(scratch, "rt.old-"), 0);
    CHECK_INT(test_count_prefixed(scratch, "rt.lock"), 0);
    free(target);
}

/* A list whose callback lists the same list again (the kept statement is still stepping). */
struct nested_versions {
    struct bundle *b;
    struct buffer out;
    int depth;
};

static int nested_version_row(void *context, int columns, const char *const *v)
{
    struct nested_versions *n = context;
    (void)columns;
    buffer_appendf(&n->out, "%s%s ", n->depth ? "+" : "", v[0]);
    if (n->depth == 0 && !strcmp(v[0], "v1.9.5")) {
        struct error err;
        n->depth++;
        if (bundle_foreach(n->b, BUNDLE_LIST_VERSIONS, NULL, nested_version_row, n, &err) != 0)
            buffer_append_str(&n->out, "ERROR ");
        n->depth--;
    }
    return 0;
}

static int first_row_stops(void *context, int columns, const char *const *v)
{
    (void)columns;
    buffer_appendf(context, "%s ", v[0]);
    return 7;
}

/* airfactory-serve's workers open index.db where it lies (mapped, not hashed): every question
 * answers as from the verified in-memory copy, and the identity checks are the same. */
static void in_place_reader_answers_as_the_verified_copy(void)
{
    char *target = path_join(scratch, "inplace");
    CHECK_INT(write_sample(target, 1, false, NULL), 0);
    struct error err;
    struct bundle *verified = NULL, *b = NULL;
    CHECK_INT(bundle_open(target, pub_path, &verified, &err), 0);
    CHECK_INT(bundle_open_in_place(target, &b, &err), 0);
    if (!b || !verified)
        goto out;
    CHECK(!bundle_is_verified(b));
    CHECK_STR(bundle_index_digest(b), "");
    struct bundle *both[2] = {verified, b};
    for (int i = 0; i < 2; i++) {
        struct bundle *x = both[i];
        struct bundle_asset a;
        CHECK_INT(bundle_find_asset(x, SAMPLE_VANILLA_ID, "v1.10.3", "metal-amd64.iso", &a, &err), 1);
        CHECK_STR(a.media_type, "application/x-iso9660-image");
        bundle_asset_clear(&a);
        CHECK_INT(bundle_find_asset(x, SAMPLE_VANILLA_ID, "v1.10.3", "nope.iso", &a, &err), 0);
        CHECK_INT(bundle_find_schematic(x, SAMPLE_VANILLA_ID, NULL, &err), 1);
        CHECK_INT(bundle_find_schematic(x, "0000", NULL, &err), 0);
        CHECK_INT(bundle_has_version(x, "v1.12.0", &err), 1);
        CHECK_INT(bundle_has_version(x, "v1.8.0", &err), 0);
        CHECK_INT(bundle_has_repository(x, "installer/" SAMPLE_VANILLA_ID, &err), 1);
        CHECK_INT(bundle_has_repository(x, "installer", &err), 0);
        char digest[BUNDLE_DIGEST_SIZE];
        struct bundle_blob blob;
        CHECK_INT(bundle_find_image(x, "installer/" SAMPLE_VANILLA_ID, "v1.12.0", digest, &err), 1);
        CHECK_INT(bundle_find_repository_blob(x, "installer/" SAMPLE_VANILLA_ID, digest, &blob, &err), 1);
        CHECK_STR(blob.digest, digest);
        CHECK_STR(blob.media_type, "application/vnd.oci.image.index.v1+json");
        CHECK_INT(bundle_find_talosctl(x, "v1.12.0", "talosctl-linux-amd64", &blob, &err), 0);
        struct buffer versions = BUFFER_INIT;
        CHECK_INT(bundle_foreach(x, BUNDLE_LIST_SCHEMATIC_VERSIONS, (const char *const[]){SAMPLE_VANILLA_ID},
                                 count_versions, &versions, &err),
                  0);
        CHECK(strstr(buffer_cstr(&versions), "v1.10.3 ") != NULL);
        buffer_reset(&versions);
        /* a callback's non-zero value stops the list and is returned (never taken for an error) */
        CHECK_INT(bundle_foreach(x, BUNDLE_LIST_VERSIONS, NULL, first_row_stops, &versions, &err), 7);
        CHECK_STR(buffer_cstr(&versions), "v1.9.5 ");
        buffer_free(&versions);
        struct nested_versions n = {x, BUFFER_INIT, 0};
        CHECK_INT(bundle_foreach(x, BUNDLE_LIST_VERSIONS, NULL, nested_version_row, &n, &err), 0);
        CHECK(strncmp(buffer_cstr(&n.out), "v1.9.5 +v1.9.5 +v1.10.3 ", 24) == 0);
        CHECK(strstr(buffer_cstr(&n.out), "ERROR") == NULL);
        buffer_free(&n.out);
    }
out:
    bundle_close(b);
    bundle_close(verified);
    /* not a bundle: the same refusals as bundle_open */
    char *other = path_join(scratch, "inplace-other");
    CHECK_INT(fs_mkdir_p(other, 0755, &err), 0);
    b = NULL;
    CHECK_INT(bundle_open_in_place(other, &b, &err), -1);
    CHECK(strstr(err.message, "index.db") != NULL);
    char *db_path = path_join(other, "index.db");
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(db_path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, "CREATE TABLE t (x); PRAGMA application_id = 7", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CHECK_INT(bundle_open_in_place(other, &b, &err), -1);
    CHECK(strstr(err.message, "not an airfactory bundle index") != NULL);
    CHECK(b == NULL);
    free(db_path);
    free(other);
    free(target);
}

static void writes_of_the_same_content_are_byte_identical(void)
{
    char *a = path_join(scratch, "det-a"), *b = path_join(scratch, "det-b");
    CHECK_INT(write_sample(a, 0, false, NULL), 0);
    CHECK_INT(write_sample(b, 0, true, NULL), 0); /* every row and blob added in reverse order */
    char *da = path_join(a, "index.db"), *db = path_join(b, "index.db");
    CHECK(test_files_equal(da, db));
    free(da);
    free(db);
    /* the whole tree, signatures included (deterministic ECDSA, RFC 6979): names, sizes, SHA-256 */
    char *la = test_tree_listing(a), *lb = test_tree_listing(b);
    CHECK(strstr(la, "index.db.sig ") && strstr(la, "index.db.sig.der ") && strstr(la, "blobs/sha256/"));
    CHECK_STR(la, lb);
    free(la);
    free(lb);
    free(a);
    free(b);
}

static void writer_rejects_bad_and_conflicting_input(void)
{
    char *target = path_join(scratch, "bad");
    struct bundle_writer *w = NULL;
    struct error err;
    struct bundle_writer_options o = {.target = target, .signing_key_path = key_path};
    CHECK_INT(bundle_writer_open(&o, &w, &err), 0);
    if (!w)
        return;
    CHECK_INT(bundle_writer_add_version(w, "1.10.3", &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(strstr(err.message, "'1.10.3'") != NULL);
    CHECK_INT(bundle_writer_add_schematic(w, SAMPLE_VANILLA_ID, "customization: {}", &err), -1); /* no \n */
    CHECK_INT(bundle_writer_add_schematic(w, SAMPLE_VANILLA_ID, SAMPLE_VANILLA_YAML, &err), 0);
    CHECK_INT(bundle_writer_add_schematic(w, SAMPLE_VANILLA_ID, SAMPLE_VANILLA_YAML, &err), 0); /* idempotent */
    CHECK_INT(bundle_writer_add_schematic_name(w, SAMPLE_VANILLA_ID, "vanilla", &err), 0);
    CHECK_INT(bundle_writer_add_schematic_name(w, SAMPLE_VANILLA_ID, "vanilla", &err), 0); /* idempotent */
    CHECK_INT(bundle_writer_add_schematic_name(w, SAMPLE_VANILLA_ID, "other", &err), -1);  /* one name per id */
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK_INT(bundle_writer_add_schematic_name(w, SAMPLE_VANILLA_ID, "two words", &err), -1);
    CHECK_INT(bundle_writer_add_schematic_name(w, "abc", "x", &err), -1);
    char d1[BUNDLE_DIGEST_SIZE], d2[BUNDLE_DIGEST_SIZE];
    CHECK_INT(bundle_writer_add_blob_bytes(w, "one", 3, "application/octet-stream", d1, &err), 0);
    CHECK_INT(bundle_writer_add_blob_bytes(w, "two", 3, "application/octet-stream", d2, &err), 0);
    CHECK_INT(bundle_writer_add_asset(w, SAMPLE_VANILLA_ID, "v1.10.3", "kernel-amd64", d1, "k1", &err), 0);
    CHECK_INT(bundle_writer_add_asset(w, SAMPLE_VANILLA_ID, "v1.10.3", "kernel-amd64", d2, "k1", &err), -1);
    CHECK(strstr(err.message, "two different assets rows") != NULL);
    CHECK_INT(bundle_writer_add_asset(w, SAMPLE_VANILLA_ID, "v1.10.3", "../etc", d1, "k", &err), -1);
    CHECK_INT(bundle_writer_add_asset(w, SAMPLE_VANILLA_ID, "v1.10.3", "x.iso",
                                      "sha256:5555555555555555555555555555555555555555555555555555555555555555", "k",
                                      &err),
              -1);
    CHECK(strstr(err.message, "not in the bundle") != NULL);
    /* an image whose layer is missing cannot be tagged */
    const char *manifest =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"digest\":\"sha256:5555555555555555555555555555555555555555555555555555555555555555\"},"
        "\"layers\":[]}";
    char dm[BUNDLE_DIGEST_SIZE];
    CHECK_INT(bundle_writer_add_blob_bytes(w, manifest, strlen(manifest), "application/vnd.oci.image.manifest.v1+json",
                                           dm, &err),
              0);
    CHECK_INT(bundle_writer_add_image(w, "installer/x", "v1.10.3", dm, &err), -1);
    CHECK(strstr(err.message, "not in the bundle") != NULL);
    CHECK_INT(bundle_writer_add_image(w, "Installer", "v1.10.3", dm, &err), -1); /* upper case */
    CHECK_INT(bundle_writer_add_image(w, "installer/x", "-bad", dm, &err), -1);
    CHECK_INT(bundle_writer_set_meta(w, "signing_key", "x", &err), -1);
    /* expected digest mismatch */
    char *file = path_join(scratch, "payload");
    CHECK_INT(fs_write_file_atomic(file, "abc", 3, 0644, &err), 0);
    CHECK_INT(bundle_writer_add_blob_file(w, file, "application/octet-stream", BUNDLE_BLOB_COPY, d1, NULL, NULL, &err),
              -1);
    CHECK(strstr(err.message, "expected") != NULL);
    char *staging = xstrdup(bundle_writer_staging_dir(w));
    CHECK(fs_is_dir(staging));
    bundle_writer_abort(w);
    CHECK(!fs_exists(staging)); /* abort removes the temporary directory */
    CHECK(!fs_exists(target));  /* and nothing was published */
    free(staging);
    free(file);
    free(target);
}

static void same_blob_with_two_media_types_keeps_the_smaller(void)
{
    char *a = path_join(scratch, "mt-a"), *b = path_join(scratch, "mt-b");
    const char *types[2] = {"application/x-b", "application/x-a"};
    for (int round = 0; round < 2; round++) {
        struct bundle_writer *w = NULL;
        struct error err;
        struct bundle_writer_options o = {.target = round ? b : a, .signing_key_path = key_path, .created_set = true};
        CHECK_INT(bundle_writer_open(&o, &w, &err), 0);
        char d[BUNDLE_DIGEST_SIZE];
        CHECK_INT(bundle_writer_add_blob_bytes(w, "same", 4, types[round], d, &err), 0);
        CHECK_INT(bundle_writer_add_blob_bytes(w, "same", 4, types[1 - round], d, &err), 0);
        CHECK_INT(bundle_writer_commit(w, &err), 0);
    }
    char *da = path_join(a, "index.db"), *db = path_join(b, "index.db");
    CHECK(test_files_equal(da, db));
    free(da);
    free(db);
    free(a);
    free(b);
}

static int freshness_of(const char *dir, struct bundle_freshness *f)
{
    struct bundle *b = NULL;
    struct error err;
    if (bundle_open(dir, NULL, &b, &err) != 0)
        return -1;
    int rc = bundle_read_freshness(b, f, &err);
    bundle_close(b);
    return rc;
}

static void generation_is_carried_forward_and_downgrades_are_refused(void)
{
    char *target = path_join(scratch, "fresh"), *old = path_join(scratch, "fresh-old");
    struct bundle_freshness f;
    struct error err;
    struct sample_options o = {.target = target, .key = key_path, .variant = 0, .created = 1700000000};
    CHECK_INT(sample_write(&o, &err), 0);
    CHECK_INT(freshness_of(target, &f), 0);
    CHECK_INT(f.generation, 1);
    CHECK_INT(f.built_at, 1700000000);
    char *index = path_join(target, "index.db"), *copy = path_join(scratch, "fresh-index.db");
    CHECK_INT(fs_copy_file(index, copy, &err), 0);
    /* the same content again: the generation and built_at stay, index.db is byte-identical */
    CHECK_INT(sample_write(&o, &err), 0);
    CHECK_INT(freshness_of(target, &f), 0);
    CHECK_INT(f.generation, 1);
    CHECK_INT(f.built_at, 1700000000);
    CHECK(test_files_equal(index, copy));
    /* changed content: base + 1 and the new built_at */
    struct sample_options old_o = {.target = old, .key = key_path, .variant = 0, .created = 1600000000};
    CHECK_INT(sample_write(&old_o, &err), 0); /* generation 1, older */
    o.variant = 1;
    o.created = 1700000100;
    CHECK_INT(sample_write(&o, &err), 0);
    CHECK_INT(freshness_of(target, &f), 0);
    CHECK_INT(f.generation, 2);
    CHECK_INT(f.built_at, 1700000100);
    /* a build from the older base into the target would be generation 2 built earlier: refused
     * before anything is built, and the target is untouched */
    struct sample_options back = {.target = target, .key = key_path, .variant = 0, .created = 1600000000, .base = old};
    CHECK_INT(sample_write(&back, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(strstr(err.message, "is older than") != NULL);
    CHECK(strstr(err.message, "--allow-downgrade") != NULL);
    CHECK_INT(freshness_of(target, &f), 0);
    CHECK_INT(f.generation, 2);
    back.allow_downgrade = true;
    CHECK_INT(sample_write(&back, &err), 0); /* the same content as the base: its stamp */
    CHECK_INT(freshness_of(target, &f), 0);
    CHECK_INT(f.generation, 1);
    CHECK_INT(f.built_at, 1600000000);
    /* the rule itself */
    struct bundle_freshness a = {2, 5}, b = {3, 1}, c = {3, 2};
    CHECK(bundle_freshness_compare(&a, &b) < 0);
    CHECK(bundle_freshness_compare(&c, &b) > 0);
    CHECK(bundle_freshness_compare(&c, &c) == 0);
    CHECK_INT(bundle_freshness_parse(NULL, NULL, "7", &a, &err), 0); /* a bundle from before the keys */
    CHECK_INT(a.generation, 0);
    CHECK_INT(a.built_at, 7);
    CHECK_INT(bundle_freshness_parse("x", NULL, NULL, &a, &err), -1);
    free(index);
    free(copy);
    free(target);
    free(old);
}

static void nightly_run_reuses_unchanged_assets_by_hard_link(void)
{
    char *target = path_join(scratch, "nightly");
    CHECK_INT(write_sample(target, 0, false, NULL), 0);
    struct bundle *old = NULL;
    struct error err;
    struct bundle_asset a;
    struct stat before, after;
    CHECK_INT(bundle_open(target, pub_path, &old, &err), 0);
    CHECK_INT(bundle_find_asset(old, SAMPLE_VANILLA_ID, "v1.9.5", "metal-amd64.iso", &a, &err), 1);
    char *old_blob = bundle_blob_path(old, a.digest);
    CHECK(stat(old_blob, &before) == 0);
    bundle_close(old);

    struct bundle_writer_stats stats;
    CHECK_INT(write_sample(target, 1, false, &stats), 0);
    CHECK_STR(stats.base, target);
    CHECK_INT(stats.assets_reused, 20 - 1); /* all but the one variant 1 rebuilt */
    CHECK(stats.blobs_added > 0);
    CHECK_INT(test_check(target, pub_path, true, NULL), 0);
    CHECK_INT(variant_of(target), 1);
    CHECK(stat(old_blob, &after) == 0);
    CHECK_INT(after.st_ino, before.st_ino); /* the same file, linked, not rebuilt or copied */
    bundle_asset_clear(&a);
    free(old_blob);

    /* an explicit base that does not verify is an error, an implicit one is just not used */
    char *other = test_make_key(scratch, "rotated");
    struct sample_options o = {.target = target, .key = other, .variant = 1, .created = 1};
    CHECK_INT(sample_write(&o, &err), 0); /* target signed with another key: not reused, rebuilt */
    char *other_pub = test_pub_of(other);
    CHECK_INT(test_check(target, other_pub, true, NULL), 0);
    struct bundle_writer *w = NULL;
    struct bundle_writer_options wo = {
        .target = path_join(scratch, "nightly2"), .signing_key_path = key_path, .base = target};
    CHECK_INT(bundle_writer_open(&wo, &w, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(strstr(err.message, "base bundle") != NULL);
    free((char *)wo.target);
    free(other);
    free(other_pub);
    free(target);
}

/* ---- crash safety ---- */

static const char *crash_at;
static int crash_countdown;

static void crash_hook(const char *name)
{
    if (!strcmp(name, crash_at) && --crash_countdown <= 0)
        raise(SIGKILL);
}

/* Fork a writer of `variant` into target that is SIGKILLed at the countdown-th `point`. */
static bool write_and_die(const char *target, int variant, const char *point, int countdown, bool no_exchange)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        crash_at = point;
        crash_countdown = countdown;
        bundle_test_point = crash_hook;
        bundle_test_no_exchange = no_exchange;
        int rc = write_sample(target, variant, false, NULL);
        _exit(rc == 0 ? 10 : 11); /* not killed: the point was never reached */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
        printf("  writer was not killed at %s (status %d)\n", point, status);
        return false;
    }
    return true;
}

static void crash_at_every_point_keeps_a_valid_bundle_and_a_rerun_completes(void)
{
    static const struct {
        const char *point;
        int countdown;
        bool no_exchange;
        int variant_after; /* what the target holds right after the crash; -1: missing until recovery */
    } cases[] = {
        {"writer-blob-added", 7, false, 0},       {"writer-commit", 1, false, 0},
        {"writer-index-written", 1, false, 0},    {"writer-signed", 1, false, 0},
        {"staging-before-swap", 1, false, 0},     {"staging-after-swap", 1, false, 1},
        {"staging-between-renames", 1, true, -1}, {"staging-after-swap", 1, true, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "crash%zu", i);
        char *target = path_join(scratch, name);
        CHECK_INT(write_sample(target, 0, false, NULL), 0);
        CHECK(write_and_die(target, 1, cases[i].point, cases[i].countdown, cases[i].no_exchange));
        if (cases[i].variant_after >= 0) {
            /* readers see a complete bundle at every moment */
            if (test_check(target, pub_path, true, NULL) != 0)
                printf("  after a crash at %s\n", cases[i].point);
            CHECK_INT(variant_of(target), cases[i].variant_after);
        } else {
            CHECK(!fs_exists(target)); /* the one fallback window: previous bundle in .old- */
            CHECK_INT(test_count_prefixed(scratch, "crash6.old-"), 1);
        }
        /* the rerun recovers whatever was left and completes */
        struct bundle_writer_stats stats;
        CHECK_INT(write_sample(target, 1, false, &stats), 0);
        if (test_check(target, pub_path, true, NULL) != 0)
            printf("  rerun after a crash at %s\n", cases[i].point);
        CHECK_INT(variant_of(target), 1);
        char prefix[80];
        snprintf(prefix, sizeof prefix, "%s.tmp-", name);
        CHECK_INT(test_count_prefixed(scratch, prefix), 0);
        snprintf(prefix, sizeof prefix, "%s.old-", name);
        CHECK_INT(test_count_prefixed(scratch, prefix), 0);
        if (!strncmp(cases[i].point, "writer-", 7))
            CHECK(stats.resumed);
        free(target);
    }
}

static void fallback_window_restores_the_previous_bundle(void)
{
    char *target = path_join(scratch, "window");
    CHECK_INT(write_sample(target, 0, false, NULL), 0);
    CHECK(write_and_die(target, 1, "staging-between-renames", 1, true));
    CHECK(!fs_exists(target));
    /* any next writer (here one that gives up) puts the previous bundle back first */
    struct bundle_writer *w = NULL;
    struct error err;
    struct bundle_writer_options o = {.target = target, .signing_key_path = key_path};
    CHECK_INT(bundle_writer_open(&o, &w, &err), 0);
    bundle_writer_abort(w);
    CHECK_INT(test_check(target, pub_path, true, NULL), 0);
    CHECK_INT(variant_of(target), 0);
    CHECK_INT(test_count_prefixed(scratch, "window.old-"), 0);
    CHECK_INT(test_count_prefixed(scratch, "window.tmp-"), 0);
    free(target);
}

static void rerun_after_a_crash_resumes_finished_assets(void)
{
    char *target = path_join(scratch, "resume");
    CHECK(write_and_die(target, 0, "writer-blob-added", 12, false)); /* no previous bundle at all */
    CHECK(!fs_exists(target));
    CHECK_INT(test_count_prefixed(scratch, "resume.tmp-"), 1);
    struct bundle_writer_stats stats;
    CHECK_INT(write_sample(target, 0, false, &stats), 0);
    CHECK(stats.resumed);
    CHECK(stats.assets_reused >= 3); /* the ones journaled before the crash, re-hashed */
    CHECK(stats.assets_reused < 20);
    CHECK_INT(test_check(target, pub_path, true, NULL), 0);
    CHECK_INT(test_count_prefixed(scratch, "resume.tmp-"), 0);
    /* and the result is the same bundle an uninterrupted run makes */
    char *clean = path_join(scratch, "resume-clean");
    CHECK_INT(write_sample(clean, 0, false, NULL), 0);
    char *a = path_join(target, "index.db"), *b = path_join(clean, "index.db");
    CHECK(test_files_equal(a, b));
    free(a);
    free(b);
    free(clean);
    free(target);
}

static void a_second_writer_on_the_same_target_is_refused(void)
{
    char *target = path_join(scratch, "locked");
    struct bundle_writer *w1 = NULL, *w2 = NULL;
    struct error err;
    struct bundle_writer_options o = {.target = target, .signing_key_path = key_path};
    CHECK_INT(bundle_writer_open(&o, &w1, &err), 0);
    CHECK_INT(bundle_writer_open(&o, &w2, &err), -1);
    CHECK(strstr(err.message, "another airfactory process") != NULL);
    bundle_writer_abort(w1);
    /* a directory that is not a bundle is never replaced */
    char *dir = path_join(scratch, "precious");
    CHECK_INT(fs_mkdir_p(dir, 0755, &err), 0);
    char *file = path_join(dir, "thesis.txt");
    CHECK_INT(fs_write_file_atomic(file, "x", 1, 0644, &err), 0);
    o.target = dir;
    CHECK_INT(bundle_writer_open(&o, &w2, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(fs_exists(file));
    free(file);
    free(dir);
    free(target);
}

/* ---- disk full ---- */

static void check_disk_full_result(const char *target, const char *parent, const char *name)
{
    CHECK_INT(test_check(target, pub_path, true, NULL), 0);
    CHECK_INT(variant_of(target), 0);
    char prefix[80];
    snprintf(prefix, sizeof prefix, "%s.tmp-", name);
    CHECK_INT(test_count_prefixed(parent, prefix), 0);
}

static void disk_full_fails_cleanly_and_keeps_the_old_bundle(void)
{
    /* a real full file system: a 1 MiB tmpfs (root only; skipped otherwise) */
    char *mnt = path_join(scratch, "tmpfs");
    struct error err;
    CHECK_INT(fs_mkdir_p(mnt, 0755, &err), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") == 0) {
        char *target = path_join(mnt, "full");
        CHECK_INT(write_sample(target, 0, false, NULL), 0);
        struct sample_options o = {
            .target = target, .key = key_path, .variant = 1, .created = 1700000000, .big = 4u << 20};
        CHECK_INT(sample_write(&o, &err), -1);
        CHECK(strstr(err.message, "No space left on device") != NULL);
        check_disk_full_result(target, mnt, "full");
        free(target);
        CHECK_INT(umount(mnt), 0);
    } else {
        printf("  tmpfs not mountable here (%s); RLIMIT_FSIZE case only\n", strerror(errno));
    }
    free(mnt);

    /* RLIMIT_FSIZE: writes past the limit fail with EFBIG, like a quota */
    char *target = path_join(scratch, "fsize");
    CHECK_INT(write_sample(target, 0, false, NULL), 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit = {256 * 1024, 256 * 1024};
        setrlimit(RLIMIT_FSIZE, &limit);
        struct sample_options o = {
            .target = target, .key = key_path, .variant = 1, .created = 1700000000, .big = 1u << 20};
        struct error child_err;
        int rc = sample_write(&o, &child_err);
        _exit(rc == 0 ? 10 : strstr(child_err.message, "File too large") ? 0 : 11);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    check_disk_full_result(target, scratch, "fsize");
    free(target);
}

/* ---- verify ---- */

/* An asset whose schematic or version has no row: the server answers found assets without looking
 * those up, so the check names such rows (here index.db is edited, so its signature fails too). */
static void check_finds_assets_without_their_schematic_or_version(void)
{
    char *target = path_join(scratch, "orphan");
    CHECK_INT(write_sample(target, 0, false, NULL), 0);
    char *db_path = path_join(target, "index.db");
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    char *sql = sqlite3_mprintf("DELETE FROM schematics WHERE id = %Q; DELETE FROM versions WHERE version = 'v1.10.3';",
                                SAMPLE_VANILLA_ID);
    CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_free(sql);
    sqlite3_close(db);
    char *text = NULL;
    CHECK(test_check(target, pub_path, false, &text) >= 3);
    CHECK(text &&
          strstr(text, "asset of a schematic the bundle does not list: " SAMPLE_VANILLA_ID "/v1.10.3/kernel-amd64"));
    CHECK(text && strstr(text, "asset of a Talos version the bundle does not list"));
    free(text);
    free(db_path);
    free(target);
}

static void check_finds_every_kind_of_damage(void)
{
    char *target = path_join(scratch, "damage");
    CHECK_INT(write_sample(target, 0, false, NULL), 0);
    char *text = NULL;
    CHECK_INT(test_check(target, pub_path, true, &text), 0);
    free(text);
    struct bundle *b = NULL;
    struct error err;
    struct bundle_asset a;
    CHECK_INT(bundle_open(target, pub_path, &b, &err), 0);
    CHECK_INT(bundle_find_asset(b, SAMPLE_VANILLA_ID, "v1.10.3", "kernel-amd64", &a, &err), 1);
    char *blob = bundle_blob_path(b, a.digest);
    bundle_close(b);

    /* one flipped bit: only --full sees it */
    int fd = open(blob, O_RDWR);
    CHECK(fd >= 0);
    unsigned char byte;
    CHECK(pread(fd, &byte, 1, 100) == 1);
    byte ^= 0x01;
    CHECK(pwrite(fd, &byte, 1, 100) == 1);
    close(fd);
    CHECK_INT(test_check(target, pub_path, false, &text), 0);
    free(text);
    CHECK_INT(test_check(target, pub_path, true, &text), 1);
    CHECK(strstr(text, a.digest + 7) && strstr(text, "corrupted"));
    free(text);

    /* missing blob and an extra file: found by the cheap check too */
    CHECK_INT(unlink(blob), 0);
    char *extra = path_join(target, "blobs/sha256/notes.txt");
    CHECK_INT(fs_write_file_atomic(extra, "hi", 2, 0644, &err), 0);
    char *extra_top = path_join(target, "README");
    CHECK_INT(fs_write_file_atomic(extra_top, "hi", 2, 0644, &err), 0);
    CHECK_INT(test_check(target, pub_path, false, &text), 3);
    CHECK(strstr(text, "missing"));
    CHECK(strstr(text, "notes.txt: extra file"));
    CHECK(strstr(text, "README: extra file"));
    free(text);

    /* the wrong key */
    char *other = test_make_key(scratch, "wrongkey");
    char *other_pub = test_pub_of(other);
    CHECK(test_check(target, other_pub, false, &text) >= 4);
    CHECK(strstr(text, "signature does not verify"));
    CHECK(strstr(text, "meta signing_key is"));
    free(text);

    /* a modified index.json */
    char *index_json = path_join(target, "index.json");
    CHECK_INT(fs_write_file_atomic(index_json, "{}", 2, 0644, &err), 0);
    CHECK(test_check(target, pub_path, false, &text) >= 4);
    CHECK(strstr(text, "index.json: digest"));
    free(text);

    /* a truncated index.db */
    char *db = path_join(target, "index.db");
    CHECK_INT(truncate(db, 4096), 0);
    CHECK(test_check(target, pub_path, false, &text) >= 1);
    CHECK(strstr(text, "index.db: signature does not verify"));
    free(text);
    struct bundle *none = NULL;
    CHECK_INT(bundle_open(target, pub_path, &none, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK_INT(bundle_verify_signature(target, pub_path, &err), -1);
    CHECK(strstr(err.message, target) && strstr(err.message, "sha256:"));

    /* index.db gone */
    CHECK_INT(unlink(db), 0);
    CHECK(test_check(target, pub_path, false, &text) >= 1);
    CHECK(strstr(text, "index.db: missing"));
    free(text);
    bundle_asset_clear(&a);
    free(db);
    free(index_json);
    free(other);
    free(other_pub);
    free(extra);
    free(extra_top);
    free(blob);
    free(target);
}

/* ---- generator for shell tests and benchmarks ---- */

static int make_bundle(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr,
                "usage: %s make-bundle TARGET KEY [--variant N] [--created S] [--big BYTES] [--reverse] "
                "[--base DIR] [--allow-downgrade]\n",
                argv[0]);
        return 2;
    }
    struct sample_options o = {.target = argv[2], .key = argv[3], .created = 1700000000};
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--variant") && i + 1 < argc)
            o.variant = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--created") && i + 1 < argc)
            o.created = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--big") && i + 1 < argc)
            o.big = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--reverse"))
            o.reverse = true;
        else if (!strcmp(argv[i], "--base") && i + 1 < argc)
            o.base = argv[++i];
        else if (!strcmp(argv[i], "--allow-downgrade"))
            o.allow_downgrade = true;
        else {
            fprintf(stderr, "make-bundle: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    struct bundle_writer_stats stats;
    o.stats = &stats;
    struct error err;
    if (sample_write(&o, &err) != 0) {
        fprintf(stderr, "make-bundle: %s\n", err.message);
        return err.code == ERROR_INPUT ? 2 : 1;
    }
    printf("wrote %s: %llu blobs added, %llu reused, %llu assets reused%s\n", o.target,
           (unsigned long long)stats.blobs_added, (unsigned long long)stats.blobs_reused,
           (unsigned long long)stats.assets_reused, stats.resumed ? " (resumed)" : "");
    return 0;
}

/* ---- shards and merge (bundle_merge) ---- */

static void shard_specs_count_from_zero(void)
{
    struct error err;
    unsigned i = 9, n = 9;
    CHECK_INT(bundle_shard_parse("0/1", &i, &n, &err), 0);
    CHECK(i == 0 && n == 1);
    CHECK_INT(bundle_shard_parse("3/4", &i, &n, &err), 0);
    CHECK(i == 3 && n == 4);
    CHECK_INT(bundle_shard_parse("1023/1024", &i, &n, &err), 0);
    static const char *const bad[] = {"",     "4/4",  "1/0",  "0/0",    "01/4",
                                      "1/04", "-1/4", "1/4 ", " 1/4",   "1",
                                      "1/",   "/4",   "a/b",  "1/1025", "99999999999999999999/4",
                                      "1/2/3"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        CHECK_INT(bundle_shard_parse(bad[k], &i, &n, &err), -1);
        CHECK_INT(err.code, ERROR_INPUT);
        CHECK(strstr(err.message, "expected I/N") != NULL);
    }
}

/* A part: one asset (its own bytes) of the vanilla schematic, meta shard and manifest_digest;
 * builder NULL: this airfactory's; source_digest NULL: no sources row. */
static int write_part_from(const char *target, const char *key, const char *shard, const char *path, const char *bytes,
                           const char *manifest, const char *builder, const char *source_digest)
{
    struct bundle_writer *w = NULL;
    struct error err;
    struct bundle_writer_options o = {
        .target = target, .signing_key_path = key, .created_set = true, .created = 1700000000, .builder = builder};
    char d[BUNDLE_DIGEST_SIZE];
    int rc = bundle_writer_open(&o, &w, &err);
    struct bundle_source src = {"ghcr.io/siderolabs/imager:v1.11.3", source_digest, "linux/amd64", "imager",
                                "{\"method\":\"cosign-key\",\"policy\":\"test\",\"log_index\":-1}"};
    if (rc == 0 && source_digest)
        rc = bundle_writer_add_source(w, &src, &err);
    if (rc == 0)
        rc = bundle_writer_add_schematic(w, SAMPLE_VANILLA_ID, SAMPLE_VANILLA_YAML, &err);
    if (rc == 0)
        rc = bundle_writer_add_version(w, "v1.11.3", &err);
    if (rc == 0)
        rc = bundle_writer_add_blob_bytes(w, bytes, strlen(bytes), "application/octet-stream", d, &err);
    if (rc == 0)
        rc = bundle_writer_add_asset(w, SAMPLE_VANILLA_ID, "v1.11.3", path, d, path, &err);
    if (rc == 0)
        rc = bundle_writer_set_meta(w, "manifest_digest", manifest, &err);
    if (rc == 0 && shard)
        rc = bundle_writer_set_meta(w, BUNDLE_META_SHARD, shard, &err);
    if (rc == 0)
        return bundle_writer_commit(w, &err);
    printf("  write_part(%s): %s\n", target, err.message);
    bundle_writer_abort(w);
    return -1;
}

static int write_part(const char *target, const char *key, const char *shard, const char *path, const char *bytes,
                      const char *manifest)
{
    return write_part_from(target, key, shard, path, bytes, manifest, NULL, NULL);
}

/* parts of another airfactory version, or built from other sources: refused naming the part */
static void merge_refuses_other_versions_and_sources(void)
{
    static const char m[] = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
    static const char src1[] = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    static const char src2[] = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    char *p0 = path_join(scratch, "vs-part0"), *old = path_join(scratch, "vs-old1"),
         *other = path_join(scratch, "vs-src1");
    char *ok = path_join(scratch, "vs-part1"), *target = path_join(scratch, "vs-never");
    CHECK_INT(write_part_from(p0, key_path, "0/2", "kernel-amd64", "k", m, NULL, src1), 0);
    CHECK_INT(write_part_from(ok, key_path, "1/2", "kernel-arm64", "a", m, NULL, src1), 0);
    CHECK_INT(write_part_from(old, key_path, "1/2", "kernel-arm64", "a", m, "airfactory 0.0.1", src1), 0);
    CHECK_INT(write_part_from(other, key_path, "1/2", "kernel-arm64", "a", m, NULL, src2), 0);
    struct error err;
    const char *good[] = {p0, ok};
    struct bundle_merge_options mo = {.parts = good, .part_count = 2, .target = target, .signing_key_path = key_path};
    CHECK_INT(bundle_merge(&mo, NULL, &err), 0); /* the control: these two merge */
    test_remove(target);
    const char *with_old[] = {p0, old};
    mo.parts = with_old;
    CHECK_INT(bundle_merge(&mo, NULL, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(strstr(err.message, old) && strstr(err.message, "built by airfactory 0.0.1"));
    const char *with_other[] = {p0, other};
    mo.parts = with_other;
    CHECK_INT(bundle_merge(&mo, NULL, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(strstr(err.message, other) && strstr(err.message, "its sources"));
    CHECK(!fs_exists(target));
    free(p0);
    free(old);
    free(other);
    free(ok);
    free(target);
}

static void merge_of_parts_equals_one_write_and_refuses_conflicts(void)
{
    static const char m[] = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
    char *p0 = path_join(scratch, "part0"), *p1 = path_join(scratch, "part1"), *whole = path_join(scratch, "whole");
    char *merged = path_join(scratch, "merged"), *clash = path_join(scratch, "clash");
    CHECK_INT(write_part(p0, key_path, "0/2", "kernel-amd64", "kernel bytes", m), 0);
    CHECK_INT(write_part(p1, key_path, "1/2", "kernel-arm64", "arm kernel bytes", m), 0);
    /* the whole: both assets in one writer */
    struct bundle_writer *w = NULL;
    struct error err;
    struct bundle_writer_options o = {
        .target = whole, .signing_key_path = key_path, .created_set = true, .created = 1700000000};
    char d[BUNDLE_DIGEST_SIZE];
    CHECK_INT(bundle_writer_open(&o, &w, &err), 0);
    if (!w)
        return;
    CHECK_INT(bundle_writer_add_schematic(w, SAMPLE_VANILLA_ID, SAMPLE_VANILLA_YAML, &err), 0);
    CHECK_INT(bundle_writer_add_version(w, "v1.11.3", &err), 0);
    CHECK_INT(bundle_writer_add_blob_bytes(w, "arm kernel bytes", 16, "application/octet-stream", d, &err), 0);
    CHECK_INT(bundle_writer_add_asset(w, SAMPLE_VANILLA_ID, "v1.11.3", "kernel-arm64", d, "kernel-arm64", &err), 0);
    CHECK_INT(bundle_writer_add_blob_bytes(w, "kernel bytes", 12, "application/octet-stream", d, &err), 0);
    CHECK_INT(bundle_writer_add_asset(w, SAMPLE_VANILLA_ID, "v1.11.3", "kernel-amd64", d, "kernel-amd64", &err), 0);
    CHECK_INT(bundle_writer_set_meta(w, "manifest_digest", m, &err), 0);
    CHECK_INT(bundle_writer_commit(w, &err), 0);

    const char *parts[] = {p1, p0}; /* any order */
    struct bundle_merge_options mo = {.parts = parts, .part_count = 2, .target = merged, .signing_key_path = key_path};
    struct bundle_merge_stats stats;
    CHECK_INT(bundle_merge(&mo, &stats, &err), 0);
    CHECK_INT(stats.shards, 2);
    char *la = test_tree_listing(whole), *lb = test_tree_listing(merged);
    CHECK_STR(lb, la); /* index.db, signature, blobs: byte for byte */
    free(la);
    free(lb);

    /* a part whose row for the same key differs: refused naming the part, nothing written */
    CHECK_INT(write_part(clash, key_path, "1/2", "kernel-amd64", "other kernel bytes", m), 0);
    const char *bad[] = {p0, clash};
    char *target = path_join(scratch, "never");
    mo = (struct bundle_merge_options){.parts = bad, .part_count = 2, .target = target, .signing_key_path = key_path};
    CHECK_INT(bundle_merge(&mo, NULL, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(strstr(err.message, clash) != NULL && strstr(err.message, "two different assets rows") != NULL);
    CHECK(!fs_exists(target));
    CHECK_INT(test_count_prefixed(scratch, "never"), 0);
    free(target);
    free(p0);
    free(p1);
    free(whole);
    free(merged);
    free(clash);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "make-bundle"))
        return make_bundle(argc, argv);
    scratch = test_scratch();
    key_path = test_make_key(scratch, "signing");
    pub_path = test_pub_of(key_path);
    RUN(keygen_writes_a_private_key_only_its_owner_reads);
    RUN(signatures_verify_only_with_the_right_key_and_bytes);
    RUN(versions_sort_as_semver);
    RUN(asset_media_types_follow_image_factory);
    RUN(writer_round_trip_is_readable_and_verifies);
    RUN(in_place_reader_answers_as_the_verified_copy);
    RUN(writes_of_the_same_content_are_byte_identical);
    RUN(writer_rejects_bad_and_conflicting_input);
    RUN(same_blob_with_two_media_types_keeps_the_smaller);
    RUN(nightly_run_reuses_unchanged_assets_by_hard_link);
    RUN(generation_is_carried_forward_and_downgrades_are_refused);
    RUN(crash_at_every_point_keeps_a_valid_bundle_and_a_rerun_completes);
    RUN(fallback_window_restores_the_previous_bundle);
    RUN(rerun_after_a_crash_resumes_finished_assets);
    RUN(a_second_writer_on_the_same_target_is_refused);
    RUN(disk_full_fails_cleanly_and_keeps_the_old_bundle);
    RUN(check_finds_every_kind_of_damage);
    RUN(check_finds_assets_without_their_schematic_or_version);
    RUN(shard_specs_count_from_zero);
    RUN(merge_of_parts_equals_one_write_and_refuses_conflicts);
    RUN(merge_refuses_other_versions_and_sources);
    test_remove(scratch);
    free(scratch);
    free(key_path);
    free(pub_path);
    return TEST_MAIN_END();
}
