/* bundle_merge — sharded builds: partial bundles of one manifest, and their merge.
 *
 * Owns: the shard spec "I/N" (0 <= I < N <= BUNDLE_SHARD_MAX: I counts from 0, as Kubernetes'
 * JOB_COMPLETION_INDEX, so an Indexed Job passes it without a shell; what `--shard` takes and
 * what a partial bundle records in meta `shard`), and `airfactory merge`: the checks that N
 * parts make one bundle (each part's signature with the merge's key, the same manifest digest,
 * airfactory version, sources, key and `created` in all; shards 0..N-1 each exactly once) and the write of the
 * merged bundle through bundle_writer, so it is byte-identical to the one a single `airfactory
 * build` of the manifest writes (index.db holds the set of rows, not their order: bundle_writer.c)
 * and is written atomically with build's freshness rules. Which models a shard builds is the
 * manifest module's (plan_select_shard). docs/scale.md explains the whole. */
#ifndef AIRFACTORY_BUNDLE_MERGE_H
#define AIRFACTORY_BUNDLE_MERGE_H

#include <stdbool.h>
#include <stddef.h>

#include "airfactory/error.h"

#define BUNDLE_SHARD_MAX 1024
#define BUNDLE_META_SHARD "shard" /* "I/N" in a partial bundle's meta */

/* "I/N" -> index, count. ERROR_INPUT naming the text otherwise. */
int bundle_shard_parse(const char *text, unsigned *index, unsigned *count, struct error *err);

struct bundle_merge_options {
    const char *const *parts; /* partial bundle directories, any order */
    size_t part_count;
    const char *target;           /* the merged bundle (created or atomically replaced) */
    const char *signing_key_path; /* PEM private key: signs the result; every part must verify with it */
    bool allow_downgrade;         /* as build's --allow-downgrade */
};

struct bundle_merge_stats {
    unsigned shards;
    unsigned long long blobs_added, bytes_added;
};

/* ERROR_INPUT naming the part (its directory) and the difference on any refusal; the target is
 * untouched unless the whole merge succeeds. */
int bundle_merge(const struct bundle_merge_options *options, struct bundle_merge_stats *stats, struct error *err);

#endif
