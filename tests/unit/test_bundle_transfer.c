/* Unit tests for bundle_transfer: pack, unpack (verifying while streaming), delta. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "airfactory/bundle.h"
#include "airfactory/bundle_transfer.h"
#include "bundle_sample.h"
#include "bundle_test_util.h"
#include "test.h"

static char *scratch;
static char *key_path, *pub_path;
static char *old_dir, *new_dir; /* sample variants 0 and 1 */

static int write_sample(const char *target, int variant)
{
    struct sample_options o = {.target = target, .key = key_path, .variant = variant, .created = 1700000000};
    struct error err;
    if (sample_write(&o, &err) != 0) {
        printf("  sample_write(%s): %s\n", target, err.message);
        return -1;
    }
    return 0;
}

static char *pack_to(const char *dir, const char *name)
{
    char *out = path_join(scratch, name);
    struct error err;
    if (bundle_pack(dir, out, NULL, &err) != 0)
        printf("  pack %s: %s\n", dir, err.message);
    return out;
}

static void copy_file(const char *from, const char *to)
{
    struct error err;
    unlink(to);
    if (fs_copy_file(from, to, &err) != 0)
        printf("  copy: %s\n", err.message);
}

struct tar_entry {
    char name[128];
    int64_t header, size;
    int64_t mtime;
    int64_t uid;
};

/* The entries of a tar file, with the offset of each header (data follows 512 bytes later). */
static size_t tar_entries(const char *path, struct tar_entry *out, size_t max)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    size_t n = 0;
    if (archive_read_open_filename(a, path, 65536) == ARCHIVE_OK) {
        struct archive_entry *e;
        while (n < max && archive_read_next_header(a, &e) == ARCHIVE_OK) {
            snprintf(out[n].name, sizeof out[n].name, "%s", archive_entry_pathname(e));
            out[n].header = archive_read_header_position(a);
            out[n].size = archive_entry_size(e);
            out[n].mtime = archive_entry_mtime(e);
            out[n].uid = archive_entry_uid(e);
            n++;
        }
    }
    archive_read_free(a);
    return n;
}

static int unpack(const char *input, const char *target, const char *onto, const char *pub, struct error *err)
{
    struct bundle_unpack_options o = {.input = input, .target = target, .public_key_path = pub, .onto = onto};
    return bundle_unpack(&o, NULL, err);
}

static void nothing_left(const char *name)
{
    char *target = path_join(scratch, name);
    CHECK(!fs_exists(target));
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s.tmp-", name);
    CHECK_INT(test_count_prefixed(scratch, prefix), 0);
    free(target);
}

static void pack_is_deterministic_and_starts_with_the_signed_index(void)
{
    char *a = pack_to(new_dir, "p1.tar"), *b = pack_to(new_dir, "p2.tar");
    CHECK(test_files_equal(a, b));
    struct tar_entry e[128];
    size_t n = tar_entries(a, e, 128);
    CHECK(n > 10);
    CHECK_STR(e[0].name, "index.db");
    CHECK_STR(e[1].name, "index.db.sig");
    CHECK_STR(e[2].name, "index.db.sig.der");
    CHECK_STR(e[3].name, "oci-layout");
    CHECK_STR(e[4].name, "index.json");
    for (size_t i = 5; i < n; i++) {
        CHECK(!strncmp(e[i].name, "blobs/sha256/", 13));
        if (i > 5)
            CHECK(strcmp(e[i - 1].name, e[i].name) < 0);
    }
    for (size_t i = 0; i < n; i++) {
        CHECK_INT(e[i].mtime, 1700000000);
        CHECK_INT(e[i].uid, 0);
    }
    free(a);
    free(b);
}

static void pack_unpack_round_trip_gives_the_same_tree(void)
{
    char *tar = pack_to(new_dir, "rt.tar");
    char *target = path_join(scratch, "rt");
    struct error err;
    struct bundle_transfer_stats stats;
    struct bundle_unpack_options o = {.input = tar, .target = target, .public_key_path = pub_path};
    CHECK_INT(bundle_unpack(&o, &stats, &err), 0);
    char *x = test_tree_listing(new_dir), *y = test_tree_listing(target);
    CHECK_STR(y, x);
    CHECK(stats.blobs_streamed > 20);
    CHECK_INT(test_check(target, pub_path, true, NULL), 0);
    CHECK_INT(test_count_prefixed(scratch, "rt.tmp-"), 0);
    /* unpacking again replaces the bundle atomically */
    CHECK_INT(bundle_unpack(&o, &stats, &err), 0);
    CHECK_INT(test_check(target, pub_path, true, NULL), 0);
    free(x);
    free(y);
    free(tar);
    free(target);
}

static void truncated_streams_are_refused_and_leave_nothing(void)
{
    char *tar = pack_to(new_dir, "full.tar");
    struct tar_entry e[128];
    size_t n = tar_entries(tar, e, 128);
    struct stat st;
    CHECK(stat(tar, &st) == 0);
    int64_t cuts[] = {
        100,                                       /* inside the first header */
        e[0].header + 512 + e[0].size / 2,         /* inside index.db */
        e[1].header,                               /* right after index.db */
        e[6].header + 512 + 10,                    /* inside a blob */
        e[n / 2].header,                           /* at an entry boundary: whole blobs missing */
        e[n - 1].header + 512 + e[n - 1].size - 1, /* one byte short of the last blob */
    };
    const char *why[] = {"", "", "ended before the signed index.db.sig", "truncated", "not in the stream", "truncated"};
    char *cut = path_join(scratch, "cut.tar");
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        copy_file(tar, cut);
        CHECK_INT(truncate(cut, cuts[i]), 0);
        char *target = path_join(scratch, "cut");
        struct error err;
        CHECK_INT(unpack(cut, target, NULL, pub_path, &err), -1);
        CHECK_INT(err.code, ERROR_INPUT);
        if (!strstr(err.message, why[i]))
            printf("  cut at %lld: %s\n", (long long)cuts[i], err.message);
        CHECK(strstr(err.message, why[i]) != NULL);
        nothing_left("cut");
        free(target);
    }
    free(cut);
    free(tar);
}

static void flip_byte(const char *path, int64_t offset)
{
    int fd = open(path, O_RDWR);
    unsigned char b = 0;
    if (fd < 0 || pread(fd, &b, 1, offset) != 1)
        printf("  cannot read %s\n", path);
    b ^= 0x20;
    if (fd >= 0 && pwrite(fd, &b, 1, offset) != 1)
        printf("  cannot write %s\n", path);
    if (fd >= 0)
        close(fd);
}

static void altered_streams_are_refused_and_leave_nothing(void)
{
    char *tar = pack_to(new_dir, "orig.tar");
    struct tar_entry e[128];
    size_t n = tar_entries(tar, e, 128);
    CHECK(n > 8);
    char *bad = path_join(scratch, "bad.tar");
    char *target = path_join(scratch, "bad");
    struct error err;

    copy_file(tar, bad); /* a blob's content */
    flip_byte(bad, e[7].header + 512 + 5);
    CHECK_INT(unpack(bad, target, NULL, pub_path, &err), -1);
    CHECK(strstr(err.message, "hashes to") && strstr(err.message, e[7].name));
    nothing_left("bad");

    copy_file(tar, bad); /* the signed index */
    flip_byte(bad, e[0].header + 512 + 3000);
    CHECK_INT(unpack(bad, target, NULL, pub_path, &err), -1);
    CHECK(strstr(err.message, "signature does not verify"));
    nothing_left("bad");

    copy_file(tar, bad); /* index.json */
    flip_byte(bad, e[4].header + 512 + 20);
    CHECK_INT(unpack(bad, target, NULL, pub_path, &err), -1);
    CHECK(strstr(err.message, "index.json"));
    nothing_left("bad");

    /* the right stream, the wrong key */
    char *other = test_make_key(scratch, "other");
    char *other_pub = test_pub_of(other);
    CHECK_INT(unpack(tar, target, NULL, other_pub, &err), -1);
    CHECK(strstr(err.message, "signature does not verify"));
    nothing_left("bad");

    /* blobs before the index: refused before any blob is written */
    char *reordered = path_join(scratch, "reordered.tar");
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    CHECK_INT(archive_write_open_filename(a, reordered), ARCHIVE_OK);
    struct archive_entry *entry = archive_entry_new();
    archive_entry_set_pathname(entry, e[7].name);
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_size(entry, 0);
    CHECK_INT(archive_write_header(a, entry), ARCHIVE_OK);
    archive_entry_free(entry);
    archive_write_close(a);
    archive_write_free(a);
    CHECK_INT(unpack(reordered, target, NULL, pub_path, &err), -1);
    CHECK(strstr(err.message, "expected 'index.db'"));
    nothing_left("bad");

    /* not a tar at all */
    CHECK_INT(unpack(key_path, target, NULL, pub_path, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    nothing_left("bad");
    free(reordered);
    free(other);
    free(other_pub);
    free(bad);
    free(target);
    free(tar);
}

static void delta_applied_onto_old_equals_new(void)
{
    char *delta = path_join(scratch, "d.tar");
    struct error err;
    struct bundle_transfer_stats ds;
    CHECK_INT(bundle_delta(old_dir, new_dir, delta, &ds, &err), 0);
    char *full = pack_to(new_dir, "new-full.tar");
    struct stat sd, sf;
    CHECK(stat(delta, &sd) == 0 && stat(full, &sf) == 0);
    CHECK(sd.st_size < sf.st_size / 2);
    CHECK(ds.blobs_streamed > 0 && ds.blobs_streamed < 20);

    /* into a new directory */
    char *target = path_join(scratch, "applied");
    struct bundle_transfer_stats us;
    struct bundle_unpack_options o = {
        .input = delta, .target = target, .public_key_path = pub_path, .onto = old_dir, .full = true};
    CHECK_INT(bundle_unpack(&o, &us, &err), 0);
    CHECK_INT(us.blobs_streamed, ds.blobs_streamed);
    CHECK(us.blobs_from_base > 0);
    char *x = test_tree_listing(new_dir), *y = test_tree_listing(target);
    CHECK_STR(y, x);
    free(y);
    CHECK_INT(test_check(target, pub_path, true, NULL), 0);

    /* a delta alone is not a bundle */
    char *alone = path_join(scratch, "alone");
    CHECK_INT(unpack(delta, alone, NULL, pub_path, &err), -1);
    CHECK(strstr(err.message, "--onto"));
    nothing_left("alone");

    /* in place: OLD becomes NEW atomically */
    char *inplace = path_join(scratch, "inplace");
    char *old_tar = pack_to(old_dir, "old.tar");
    CHECK_INT(unpack(old_tar, inplace, NULL, pub_path, &err), 0);
    struct bundle_unpack_options ip = {.input = delta, .public_key_path = pub_path, .onto = inplace};
    CHECK_INT(bundle_unpack(&ip, NULL, &err), 0);
    y = test_tree_listing(inplace);
    CHECK_STR(y, x);
    free(y);
    CHECK_INT(test_count_prefixed(scratch, "inplace.tmp-"), 0);

    /* onto the wrong bundle: refused, and that bundle is untouched */
    char *wrong = path_join(scratch, "wrong");
    CHECK_INT(unpack(old_tar, wrong, NULL, pub_path, &err), 0);
    char *delta2 = path_join(scratch, "d2.tar");
    CHECK_INT(bundle_delta(new_dir, new_dir, delta2, &ds, &err), 0); /* expects every blob of NEW present */
    CHECK_INT(ds.blobs_streamed, 0);
    char *before = test_tree_listing(wrong);
    struct bundle_unpack_options wp = {.input = delta2, .public_key_path = pub_path, .onto = wrong};
    CHECK_INT(bundle_unpack(&wp, NULL, &err), -1);
    CHECK(strstr(err.message, "made against another bundle"));
    y = test_tree_listing(wrong);
    CHECK_STR(y, before);
    free(y);
    free(before);
    free(delta2);
    free(wrong);
    free(old_tar);
    free(inplace);
    free(alone);
    free(x);
    free(target);
    free(full);
    free(delta);
}

int main(void)
{
    scratch = test_scratch();
    key_path = test_make_key(scratch, "signing");
    pub_path = test_pub_of(key_path);
    old_dir = path_join(scratch, "old");
    new_dir = path_join(scratch, "new");
    if (write_sample(old_dir, 0) != 0 || write_sample(new_dir, 1) != 0) {
        printf("FAIL setup: cannot write sample bundles\n");
        return 1;
    }
    RUN(pack_is_deterministic_and_starts_with_the_signed_index);
    RUN(pack_unpack_round_trip_gives_the_same_tree);
    RUN(truncated_streams_are_refused_and_leave_nothing);
    RUN(altered_streams_are_refused_and_leave_nothing);
    RUN(delta_applied_onto_old_equals_new);
    test_remove(scratch);
    free(scratch);
    free(key_path);
    free(pub_path);
    free(old_dir);
    free(new_dir);
    return TEST_MAIN_END();
}
