/* bundle_transfer — moving a bundle across an air gap as one tar stream: pack, unpack, delta.
 *
 * Owns: the pack format (docs/bundle-format.md, "Transfer"): a POSIX tar (pax where needed) whose
 * entries come in a fixed order — index.db, index.db.sig, index.db.sig.der, oci-layout,
 * index.json, then blobs/sha256/<hex> sorted by digest — with mtime = meta created, uid/gid 0,
 * no user/group names, modes 0644 (0444 for blobs). Same bundle, same bytes.
 *
 * Putting the signed index first lets unpack verify the signature before it accepts a single
 * blob, then check every blob against the signed listing (digest and size) while it streams,
 * so nothing unverified is ever written under its final name: unpack builds DIR.tmp-XXXXXX
 * (bundle_staging) and swaps it in only after the last check. A truncated, reordered or altered
 * stream is refused with the reason, and nothing is left behind.
 *
 * A delta is the same stream holding only the blobs the older bundle's index does not list;
 * `unpack --onto OLD` takes the others from OLD (hard links) and checks each against the new
 * signed index. unpack reads plain tar or gzip/xz/zstd-compressed tar.
 *
 * unpack of a split pack (a parts directory) into a directory resumes after an interruption:
 * a journal in the staging directory records, at each part boundary, the parts checked and
 * where the stream goes on, so a rerun does not read those parts again (see "resume" in
 * bundle_transfer.c). */
#ifndef AIRFACTORY_BUNDLE_TRANSFER_H
#define AIRFACTORY_BUNDLE_TRANSFER_H

#include <stdbool.h>
#include <stdint.h>

#include "airfactory/bundle.h"
#include "airfactory/error.h"

struct bundle_transfer_stats {
    uint64_t blobs_streamed, bytes_streamed;   /* blobs carried by the tar stream */
    uint64_t blobs_from_base, bytes_from_base; /* unpack --onto: taken from the old bundle */
    char index_digest[BUNDLE_DIGEST_SIZE];     /* sha256 of the bundle's index.db */
    uint64_t blobs_missing;                    /* check_only: listed blobs the stream does not carry */
};

/* Write bundle_dir as a tar stream to output: a file path (written atomically) or "-" (stdout).
 * Checks each blob's size against the index while reading it (ERROR_INPUT: a damaged bundle). */
int bundle_pack(const char *bundle_dir, const char *output, struct bundle_transfer_stats *stats, struct error *err);

/* bundle_pack (old_dir NULL) or bundle_delta (old_dir) cut into parts for media with a file-size
 * limit: output is a new directory holding bundle.tar.000, .001, … of split bytes each (the last
 * shorter), SHA256SUMS (`sha256sum -c` format) and README.txt. Written beside output and renamed
 * into place when complete. */
int bundle_pack_split(const char *bundle_dir, const char *old_dir, const char *output, uint64_t split,
                      struct bundle_transfer_stats *stats, struct error *err);

/* Like bundle_pack of new_dir, leaving out every blob old_dir's index lists. */
int bundle_delta(const char *old_dir, const char *new_dir, const char *output, struct bundle_transfer_stats *stats,
                 struct error *err);

struct bundle_unpack_options {
    const char *input;           /* tar file path, or "-" for stdin */
    const char *target;          /* directory to create or atomically replace; NULL with onto: onto itself */
    const char *public_key_path; /* required: the stream's index.db must verify with it */
    const char *onto;            /* old bundle that holds the blobs a delta leaves out; NULL for a full pack */
    bool full;                   /* re-hash blobs taken from onto (streamed ones are always hashed) */
    bool allow_downgrade;        /* replace a bundle newer than the stream's (bundle_freshness) */
    /* `verify` of a pack or a parts directory: every check of an unpack (signature, each part,
     * each blob's hash), nothing written (target unused); blobs a delta leaves out are counted
     * in stats->blobs_missing instead of failing. */
    bool check_only;
    /* a line for the user (resuming: which parts are skipped), or NULL */
    void (*progress)(const char *line, void *context);
    void *progress_context;
};
int bundle_unpack(const struct bundle_unpack_options *options, struct bundle_transfer_stats *stats, struct error *err);

#endif
