/* bundle_staging — how a bundle directory is replaced without ever exposing a half-written one.
 *
 * Owns: the per-target lock, the temporary directory a new bundle is built in, the atomic swap
 * into place, and the recovery of whatever an earlier crash left behind. The writer, `unpack`
 * and `unpack --onto` all go through it.
 *
 * For a target T (a directory path):
 *   T.lock           flock()ed for the whole run: one writer per target at a time. Its holder
 *                    removes it when done (before unlocking; a locker re-checks that the path still
 *                    names the file it locked, so two processes can never both hold "the" lock).
 *   T.tmp-XXXXXX     the new bundle while it is built (mkdtemp). A `.resume` file inside marks a
 *                    directory an interrupted writer may resume from.
 *   T.old-XXXXXX     only on file systems without renameat2(RENAME_EXCHANGE): the previous bundle
 *                    between the two renames.
 *
 * Commit: fsync the tree, then renameat2(tmp, T, RENAME_EXCHANGE) — one atomic step after which
 * T is the new bundle and the tmp name holds the old one — fsync the parent, remove the old tree.
 * Without RENAME_EXCHANGE: rename(T, T.old-X); rename(tmp, T); remove T.old-X.
 *
 * Crash windows and what bundle_staging_open does about each on the next run (under the lock,
 * so nothing it touches can belong to a live process):
 *   1. before the swap: T is the previous bundle, untouched; T.tmp-X is resumed (if it has
 *      `.resume` and the caller allows it) or removed.
 *   2. after the exchange, before the old tree is gone: T is the new bundle; T.tmp-X (the old
 *      bundle, no `.resume`) is removed.
 *   3. fallback only, between the two renames: T is missing; T.old-X is renamed back to T, so
 *      the previous bundle is served again (and the interrupted one is rebuilt or resumed).
 * Readers never see a mixture: each of T's files belongs to one complete bundle. */
#ifndef AIRFACTORY_BUNDLE_STAGING_H
#define AIRFACTORY_BUNDLE_STAGING_H

#include <stdbool.h>

#include "airfactory/error.h"

struct bundle_staging {
    char *target; /* final path */
    char *tmp;    /* where the new bundle is built */
    int lock_fd;
    char *lock_path;
    bool resumed; /* tmp was adopted from an interrupted run (it holds `.resume`) */
    bool swapped; /* commit got as far as putting the new bundle in place */
};

#define BUNDLE_STAGING_RESUME_FILE ".resume"

/* Lock target, recover from earlier crashes, create (or, with allow_resume, adopt) the temporary
 * directory. A target that exists must be a bundle (has index.db or oci-layout) or an empty
 * directory: anything else is ERROR_INPUT, so a typo never replaces someone's directory. */
int bundle_staging_open(struct bundle_staging *s, const char *target, bool allow_resume, struct error *err);
/* fsync every directory and file under tmp, swap it into place, remove the old bundle, unlock. */
int bundle_staging_commit(struct bundle_staging *s, struct error *err);
/* Remove tmp and unlock; safe after a failed commit and on a zeroed struct. */
void bundle_staging_abort(struct bundle_staging *s);

/* fsync every regular file and directory under path (the commit does this for tmp). */
int bundle_staging_sync_tree(const char *path, struct error *err);

/* Test hooks, NULL/false in production. bundle_test_point is called with a name at every point
 * where a crash matters ("staging-before-swap", "staging-after-swap", "staging-between-renames",
 * and the writer's points) so tests can kill the process exactly there.
 * bundle_test_no_exchange forces the two-rename fallback. */
extern void (*bundle_test_point)(const char *name);
extern bool bundle_test_no_exchange;
#define BUNDLE_TEST_POINT(name)                                                                                        \
    do {                                                                                                               \
        if (bundle_test_point)                                                                                         \
            bundle_test_point(name);                                                                                   \
    } while (0)

#endif
