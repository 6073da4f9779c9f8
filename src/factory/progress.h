/* progress — the live display of `airfactory build` (and `airfactory pull`) on a terminal.
 *
 * Owns the rendering only: the factory feeds it snapshots (what runs, how many bytes each has
 * written so far, how many assets are done) and log lines (each committed asset); it draws one line
 * per running asset and an overall line with a bar, bytes and an ETA, redrawn in place with ANSI
 * cursor movement, at most ~10 times a second however often it is fed. Log lines scroll above the
 * display. When standard error is not a terminal, or with --json, the factory does not use it at
 * all (plain line events / NDJSON).
 *
 * Estimates, honestly labelled: an asset's percentage and ETA need an expected size, learned from
 * the last finished asset of the same file name (kernel-amd64 for the next kernel-amd64: the same
 * outputs of different schematics and versions are of similar size); without one only its bytes and
 * elapsed time are shown. The overall ETA is the mean time per built asset times the assets left
 * to build (reused ones take no time), shown once one asset was built.
 * The clock and the width are parameters so tests can drive it without a terminal or waiting.
 * Not thread-safe: callers serialise every call (the factory redraws from a display thread,
 * progress_thread_start, so that the display moves while the main thread hashes a large asset, and
 * holds a lock around each call). */
#ifndef AIRFACTORY_PROGRESS_H
#define AIRFACTORY_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct progress;

/* clock: seconds on any monotonic scale; NULL: CLOCK_MONOTONIC. width: columns; 0: the terminal's
 * (TIOCGWINSZ on out, then $COLUMNS, then 80). */
struct progress *progress_new(FILE *out, int width, double (*clock)(void));
void progress_free(struct progress *p);

/* What the display counts, for runs other than a build: `airfactory pull` shows "blobs", "fetched",
 * "present". Default "assets", "built", "reused". The strings must outlive p. */
void progress_set_words(struct progress *p, const char *items, const char *made, const char *kept);

/* total assets of the build, of which reused will come back from the base without work. */
void progress_start(struct progress *p, size_t total, size_t reused, unsigned jobs);

struct progress_asset {
    const char *label; /* "demo/v1.11.3/metal-amd64.iso" */
    const char *kind;  /* "metal-amd64.iso": what expected sizes are learned by */
    uint64_t bytes;    /* written so far */
    double seconds;    /* since it started */
    uint64_t expected; /* its size when known in advance (a download); 0: learned by kind */
};

struct progress_state {
    size_t total, done, reused; /* done counts the reused ones committed so far */
    uint64_t bytes;             /* bytes of the assets built and committed */
    const struct progress_asset *running;
    size_t running_count;
};

/* Redraw with this state unless the last redraw was less than 0.1 s ago. */
void progress_update(struct progress *p, const struct progress_state *state);
/* A finished asset of this kind had this size (for the next one's estimate). */
void progress_asset_done(struct progress *p, const char *kind, uint64_t bytes);
/* Print line above the display (erased, the line printed, the display drawn again). */
void progress_log(struct progress *p, const char *line);
/* Erase the display; when ok, print the summary line: assets, built, reused, bytes, time. */
void progress_finish(struct progress *p, bool ok);

/* The display thread: redraw(arg) about 10 times a second until progress_thread_stop, which
 * returns once the last call has finished. redraw takes its snapshot and calls progress_update
 * under the caller's lock. NULL when no thread could be started (a display is no reason to fail:
 * the caller's log lines still appear). */
struct progress_thread;
struct progress_thread *progress_thread_start(void (*redraw)(void *arg), void *arg);
void progress_thread_stop(struct progress_thread *t);

#endif
