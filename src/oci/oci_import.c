/* oci_import — see oci_import.h (trust policies are decoded by verify/verify_policy). */
#include "oci/oci_import.h"
#include "airfactory/buffer.h"
#include "core/memory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t oci_import_timestamp(void)
{
    const char *s = getenv("SOURCE_DATE_EPOCH");
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0)
        return 0;
    return (int64_t)v;
}

/* ---- import ---- */

static void append_blobs(struct oci_layout_image *img, const struct store_source_blob *extra, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < img->blob_count && !dup; j++)
            dup = !strcmp(img->blobs[j].digest, extra[i].digest); /* the image's own kinds win */
        if (dup)
            continue;
        img->blobs = xrealloc(img->blobs, (img->blob_count + 1) * sizeof *img->blobs);
        struct store_source_blob *b = &img->blobs[img->blob_count++];
        b->digest = xstrdup(extra[i].digest);
        b->size = extra[i].size;
        b->media_type = xstrdup(extra[i].media_type);
        b->kind = xstrdup(extra[i].kind);
        b->tag = xstrdup(extra[i].tag);
    }
}

/* The name an image is recorded under when the caller gives none. A full reference in the input
 * (docker save's RepoTags, a ref.name like "ghcr.io/siderolabs/imager:v1.11.3") is kept. skopeo's
 * oci-archive carries only the tag ("v1.11.3"), and many images share one, so it is qualified by
 * the input's name: "imager-v1.11.3.oci.tar" + "v1.11.3" -> "imager:v1.11.3"; an untagged image
 * becomes "imager@sha256:...". */
static char *default_reference(const char *input, const char *name)
{
    bool digest = !strncmp(name, "sha256:", 7);
    if (!digest && (strchr(name, '/') || strchr(name, ':') || strchr(name, '@')))
        return xstrdup(name);
    char *base = xstrdup(input);
    size_t n = strlen(base);
    while (n > 1 && base[n - 1] == '/')
        base[--n] = '\0';
    const char *slash = strrchr(base, '/');
    char *stem = xstrdup(slash ? slash + 1 : base);
    free(base);
    static const char *suffixes[] = {".gz", ".tgz", ".zst", ".xz", ".tar", ".oci"};
    for (bool again = true; again;) {
        again = false;
        for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
            size_t sl = strlen(suffixes[i]), len = strlen(stem);
            if (len > sl && !strcmp(stem + len - sl, suffixes[i])) {
                stem[len - sl] = '\0';
                again = true;
            }
        }
    }
    size_t len = strlen(stem), tl = strlen(name);
    if (!digest && len > tl + 1 && stem[len - tl - 1] == '-' && !strcmp(stem + len - tl, name))
        stem[len - tl - 1] = '\0';
    char *ref = xasprintf("%s%s%s", stem, digest ? "@" : ":", name);
    free(stem);
    return ref;
}

/* Verify one image: what its tag names first (an index covers every platform's manifest by
 * digest), then the platform manifest on its own (cosign sign --recursive signs those too). */
static int verify_one(struct oci_layout *layout, const struct verify_policy *policy, struct oci_layout_image *img,
                      struct verify_receipt *receipt, struct error *err)
{
    struct verify_source source;
    oci_layout_verify_source(layout, &source);
    struct store_source_blob *used;
    size_t used_count;
    if (verify_image(policy, &source, img->image.digest, receipt, err) == 0) {
        oci_layout_touch_signatures(layout, img->image.digest);
        if (strcmp(img->image.digest, img->image.manifest_digest) != 0)
            oci_layout_touch_signatures(layout, img->image.manifest_digest);
        oci_layout_take_verified_blobs(layout, &used, &used_count);
        append_blobs(img, used, used_count);
        store_source_blobs_free(used, used_count);
        return 0;
    }
    oci_layout_take_verified_blobs(layout, &used, &used_count);
    store_source_blobs_free(used, used_count);
    if (!strcmp(img->image.digest, img->image.manifest_digest))
        return error_prefix(err, "%s: %s: ", oci_layout_input(layout), img->image.reference);
    struct error second;
    if (verify_image(policy, &source, img->image.manifest_digest, receipt, &second) == 0) {
        oci_layout_touch_signatures(layout, img->image.manifest_digest);
        oci_layout_take_verified_blobs(layout, &used, &used_count);
        append_blobs(img, used, used_count);
        store_source_blobs_free(used, used_count);
        error_clear(err);
        return 0;
    }
    oci_layout_take_verified_blobs(layout, &used, &used_count);
    store_source_blobs_free(used, used_count);
    char p[OCI_PLATFORM_SIZE];
    oci_platform_format(&img->image.platform, p);
    return error_prefix(err, "%s: %s (%s; its %s manifest %s is not signed either): ", oci_layout_input(layout),
                        img->image.reference, img->image.digest, p, img->image.manifest_digest);
}

/* A layout holding several images, imported under one reference: keep the images tagged as the
 * reference says (oci_layout_tag_matches), as skopeo's oci-archive:FILE:TAG picks one; when none
 * is, keep them all (the caller's ambiguity error then names them). */
static void keep_referenced(const char *reference, struct oci_layout_image *images, size_t *n)
{
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++)
        kept += oci_layout_tag_matches(images[i].image.reference, reference);
    if (!kept)
        return;
    size_t out = 0;
    for (size_t i = 0; i < *n; i++) {
        if (oci_layout_tag_matches(images[i].image.reference, reference))
            images[out++] = images[i];
        else
            oci_layout_images_free(&images[i], 1);
    }
    *n = out;
}

int oci_import(struct store *store, const char *input, const struct oci_import_options *opts,
               struct oci_import_result **results, size_t *count, struct oci_import_stats *stats, struct error *err)
{
    *results = NULL;
    *count = 0;
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (!opts->policy)
        return error_set(err, ERROR_INPUT, "%s: no trust policy given; pass one (keys, keyless or insecure)", input);
    struct oci_layout *layout;
    if (oci_layout_open(store, input, &opts->limits, &layout, err) != 0)
        return -1;
    struct oci_layout_selection sel = {opts->tag, opts->platforms, opts->platform_count};
    struct oci_layout_image *images = NULL;
    size_t n = 0;
    struct verify_receipt *receipts = NULL;
    struct store_source *rows = NULL;
    struct buffer *receipt_text = NULL;
    int rc = -1;
    if (oci_layout_resolve(layout, &sel, &images, &n, err) != 0)
        goto done;
    if (opts->reference && !opts->tag && n > 1)
        keep_referenced(opts->reference, images, &n);
    for (size_t i = 1; i < n && opts->reference; i++) {
        if (strcmp(images[i].image.digest, images[0].image.digest) != 0) {
            error_set(err, ERROR_INPUT,
                      "%s: holds several images (%s, %s, ...) but one reference '%s' was given; select one with a tag",
                      input, images[0].image.reference, images[i].image.reference, opts->reference);
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) { /* named first, so messages use the recorded name */
        char *reference =
            opts->reference ? xstrdup(opts->reference) : default_reference(input, images[i].image.reference);
        free(images[i].image.reference);
        images[i].image.reference = reference;
    }
    receipts = xcalloc(n, sizeof *receipts);
    /* 1. verify everything before anything reaches the store */
    for (size_t i = 0; i < n; i++) {
        bool done_before = false;
        for (size_t j = 0; j < i && !done_before; j++) {
            if (!strcmp(images[j].image.digest, images[i].image.digest) &&
                !strcmp(images[j].image.manifest_digest, images[i].image.manifest_digest)) {
                receipts[i] = receipts[j];
                done_before = true;
            }
        }
        if (!done_before && verify_one(layout, opts->policy, &images[i], &receipts[i], err) != 0)
            goto done;
    }
    /* 2. blobs into the store, then 3. the rows, in one transaction */
    for (size_t i = 0; i < n; i++)
        if (oci_layout_commit(layout, images[i].blobs, images[i].blob_count, err) != 0)
            goto done;
    rows = xcalloc(n, sizeof *rows);
    receipt_text = xcalloc(n, sizeof *receipt_text);
    int64_t now = oci_import_timestamp();
    *results = xcalloc(n, sizeof **results);
    for (size_t i = 0; i < n; i++) {
        struct oci_import_result *r = &(*results)[i];
        oci_platform_format(&images[i].image.platform, r->platform);
        verify_receipt_to_json(&receipts[i], &receipt_text[i]);
        rows[i].reference = images[i].image.reference;
        rows[i].platform = r->platform;
        rows[i].digest = images[i].image.digest;
        rows[i].media_type = images[i].image.media_type;
        rows[i].manifest_digest = images[i].image.manifest_digest;
        rows[i].role = (char *)(opts->role ? opts->role : "");
        rows[i].receipt = (char *)buffer_cstr(&receipt_text[i]);
        rows[i].imported_at = now;
        rows[i].blobs = images[i].blobs;
        rows[i].blob_count = images[i].blob_count;
    }
    if (store_sources_put(store, rows, n, err) != 0) {
        free(*results);
        *results = NULL;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        (*results)[i].image = images[i].image;
        memset(&images[i].image, 0, sizeof images[i].image);
        (*results)[i].receipt = receipts[i];
    }
    *count = n;
    rc = 0;
done:
    if (stats) {
        oci_layout_get_stats(layout, &stats->layout);
        stats->images = rc == 0 ? n : 0;
    }
    if (receipt_text)
        for (size_t i = 0; i < n; i++)
            buffer_free(&receipt_text[i]);
    free(receipt_text);
    free(rows);
    free(receipts);
    oci_layout_images_free(images, n);
    free(images);
    oci_layout_close(layout);
    return rc;
}

void oci_import_results_free(struct oci_import_result *results, size_t count)
{
    for (size_t i = 0; results && i < count; i++)
        oci_image_free(&results[i].image);
}
