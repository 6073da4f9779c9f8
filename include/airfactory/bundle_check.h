/* bundle_check — `airfactory verify`: every way a bundle on disk can differ from its signed index.
 *
 * Owns: the full consistency check of a bundle directory. It reports every problem it finds (not
 * just the first), each as "path: what", so an operator sees the whole damage at once:
 *   - index.db missing, truncated or corrupt (SQLite integrity_check), wrong format version;
 *   - index.db.sig missing or not verifying with the given key; index.db.sig.der disagreeing;
 *     meta signing_key naming another key;
 *   - oci-layout not the expected bytes; index.json missing, not matching meta oci_index_digest,
 *     or naming a blob the index does not list;
 *   - rows that point at unlisted blobs (assets, images, repository_blobs, referrers), asset sizes
 *     that disagree with their blob;
 *   - a listed blob missing, not a regular file, of the wrong size, or (full) of the wrong hash;
 *   - any file or directory the index does not account for ("extra file").
 * The server runs only the cheap part (signature) at start-up; this is the offline audit. */
#ifndef AIRFACTORY_BUNDLE_CHECK_H
#define AIRFACTORY_BUNDLE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/bundle.h"
#include "airfactory/bundle_key.h"
#include "airfactory/error.h"

struct bundle_check_options {
    const char *dir;
    const char *public_key_path;
    bool full; /* re-hash every blob (reads the whole bundle) */
};

struct bundle_check_result {
    size_t problems;
    uint64_t blobs;        /* listed in index.db */
    uint64_t bytes;        /* their total size */
    uint64_t bytes_hashed; /* full: bytes re-hashed */
    bool signature_ok;
    char key[BUNDLE_KEY_FINGERPRINT_SIZE]; /* fingerprint of the key checked against */
    char index_digest[BUNDLE_DIGEST_SIZE]; /* sha256 of index.db, "" if unreadable */
};

/* One problem: path is the file concerned (inside the bundle), problem says what is wrong. */
typedef void (*bundle_problem_fn)(void *context, const char *path, const char *problem);

/* Runs every check, calling report for each problem (may be NULL). Returns 0 when the check ran —
 * look at result->problems — and -1 only when it could not run (unreadable key: ERROR_INPUT). */
int bundle_check(const struct bundle_check_options *options, bundle_problem_fn report, void *context,
                 struct bundle_check_result *result, struct error *err);

#endif
