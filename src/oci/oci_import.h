/* oci_import — verified import of source images into a store: the API `airfactory import` and the
 * build orchestration call.
 *
 * Owns the order of an import, which is what makes it safe:
 *   1. read the input into the store's staging area, hashing every blob (oci_layout);
 *   2. resolve the wanted tags and platforms, checking every blob against its descriptor;
 *   3. verify the signature of what each tag names (verify_image; the index digest for a
 *      multi-platform image, falling back to the platform manifest's own signature);
 *   4. only then move the blobs into STORE/blobs/ and record one `sources` row per image and
 *      platform, with the verification receipt, in one sqlite transaction.
 * Any refusal before step 4 leaves the store exactly as it was. The policy comes decoded
 * (verify/verify_policy.h reads `airfactory import --policy` files). */
#ifndef AIRFACTORY_OCI_IMPORT_H
#define AIRFACTORY_OCI_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"
#include "oci/oci_image.h"
#include "oci/oci_layout.h"
#include "oci/store.h"
#include "airfactory/verify.h"

struct oci_import_options {
    const struct verify_policy *policy; /* required */
    const char *tag;                    /* NULL: every image the input names */
    const struct oci_platform *platforms;
    size_t platform_count; /* 0: every platform */
    const char *reference; /* name to record (e.g. "ghcr.io/siderolabs/imager:v1.10.3"); only valid
                              when one image is selected. NULL: the input's own full reference (docker
                              save RepoTags, a full ref.name), else "<input name>:<tag>", e.g.
                              imager-v1.11.3.oci.tar tagged v1.11.3 -> "imager:v1.11.3" */
    const char *role;      /* recorded as is; NULL: "" */
    struct oci_layout_limits limits;
};

struct oci_import_result {
    struct oci_image image; /* image.reference = the recorded reference */
    struct verify_receipt receipt;
    char platform[OCI_PLATFORM_SIZE];
};

struct oci_import_stats {
    struct oci_layout_stats layout;
    uint64_t images;
};

/* Import one input (directory, tar, compressed tar, docker save). On success *results (an array
 * the caller frees with free()) holds one entry per (image, platform) recorded. stats may be NULL. */
int oci_import(struct store *store, const char *input, const struct oci_import_options *options,
               struct oci_import_result **results, size_t *count, struct oci_import_stats *stats, struct error *err);
/* Free what each of count results owns, but not the array itself: callers often move results
 * into arrays of their own (free(results) once they have). */
void oci_import_results_free(struct oci_import_result *results, size_t count);

/* SOURCE_DATE_EPOCH if set and valid, else 0: the import time recorded without a wall clock. */
int64_t oci_import_timestamp(void);

#endif
