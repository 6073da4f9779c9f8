/* progress: the build's terminal display, driven with a fake clock and a fixed width into a
 * memory stream, so what a user sees is asserted as text: labels, bytes, percentages, ETAs, the
 * rate limit, the in-place erasing and the summary line. */
#include <stdlib.h>
#include <string.h>

#include "factory/progress.h"
#include "test.h"

static double fake_now;
static double fake_clock(void)
{
    return fake_now;
}

struct screen {
    FILE *out;
    char *text;
    size_t len;
};

static void screen_open(struct screen *s)
{
    memset(s, 0, sizeof *s);
    s->out = open_memstream(&s->text, &s->len);
}

static void screen_close(struct screen *s)
{
    fclose(s->out);
    free(s->text);
}

/* What was written since mark (flushes the stream first). */
static const char *since(struct screen *s, size_t mark)
{
    fflush(s->out);
    return s->text + mark;
}

static void running_assets_show_bytes_percent_and_eta(void)
{
    struct screen s;
    screen_open(&s);
    fake_now = 100;
    struct progress *p = progress_new(s.out, 100, fake_clock);
    progress_start(p, 36, 6, 4);
    /* a finished ISO teaches the size the next ISO will likely have */
    progress_asset_done(p, "metal-amd64.iso", 100u << 20);
    fake_now = 110;
    struct progress_asset running[] = {
        {"demo/v1.11.3/metal-amd64.iso", "metal-amd64.iso", 25u << 20, 4.0, 0},
        {"vanilla/v1.9.5/initramfs-amd64.xz", "initramfs-amd64.xz", 3u << 20, 2.0, 0},
    };
    struct progress_state st = {
        .total = 36, .done = 18, .reused = 6, .bytes = 300u << 20, .running = running, .running_count = 2};
    progress_update(p, &st);
    const char *out = since(&s, 0);
    CHECK(strstr(out, "demo/v1.11.3/metal-amd64.iso") != NULL);
    CHECK(strstr(out, "25.0 MiB") != NULL);
    /* 25 of ~100 MiB in 4 s: 25 %, 12 s to go */
    CHECK(strstr(out, " 25%  ETA 0:12") != NULL);
    CHECK(strstr(out, "vanilla/v1.9.5/initramfs-amd64.xz") != NULL);
    CHECK(strstr(out, "3.0 MiB") != NULL);
    /* overall: half done; 12 built in 10 s, 18 left to build: 15 s (the 6 reused took no time) */
    CHECK(strstr(out, "[##########----------]  50% 18/36 assets, 6 reused  300.0 MiB  0:10  ETA 0:15") != NULL);
    /* one line per running asset, then the overall one */
    int lines = 0;
    for (const char *c = out; *c; c++)
        lines += *c == '\n';
    CHECK_INT(lines, 3);
    progress_free(p);
    screen_close(&s);
}

static void redraws_are_rate_limited_and_erase_in_place(void)
{
    struct screen s;
    screen_open(&s);
    fake_now = 0;
    struct progress *p = progress_new(s.out, 80, fake_clock);
    progress_start(p, 4, 0, 2);
    struct progress_asset a = {"x/v1.11.3/kernel-amd64", "kernel-amd64", 1024, 0.5, 0};
    struct progress_state st = {.total = 4, .done = 1, .running = &a, .running_count = 1};
    progress_update(p, &st);
    fflush(s.out);
    size_t mark = s.len;
    fake_now = 0.05;
    st.done = 2;
    progress_update(p, &st); /* 50 ms later: not drawn */
    CHECK_STR(since(&s, mark), "");
    fake_now = 0.2;
    progress_update(p, &st);
    const char *out = since(&s, mark);
    /* the two lines drawn before are erased: cursor up 2, clear to the end of the screen */
    CHECK(strncmp(out, "\033[2A\r\033[J", 8) == 0);
    CHECK(strstr(out, "2/4 assets") != NULL);
    CHECK(strstr(out, "1.0 KiB") != NULL);
    progress_free(p);
    screen_close(&s);
}

static void no_eta_before_anything_was_built(void)
{
    struct screen s;
    screen_open(&s);
    fake_now = 0;
    struct progress *p = progress_new(s.out, 80, fake_clock);
    progress_start(p, 3, 0, 1);
    struct progress_asset a = {"x/v1/kernel-amd64", "kernel-amd64", 0, 1, 0};
    struct progress_state st = {.total = 3, .running = &a, .running_count = 1};
    progress_update(p, &st);
    const char *out = since(&s, 0);
    CHECK(strstr(out, "ETA --:--") != NULL);
    CHECK(strstr(out, "%  ETA") == NULL); /* no per-asset estimate without a learned size */
    progress_free(p);
    screen_close(&s);
}

static void lines_never_wrap_at_the_width(void)
{
    struct screen s;
    screen_open(&s);
    fake_now = 0;
    struct progress *p = progress_new(s.out, 50, fake_clock);
    progress_start(p, 2, 0, 1);
    struct progress_asset a = {"a-schematic-with-a-very-long-name/v1.11.3/metal-amd64-secureboot-uki.efi",
                               "metal-amd64-secureboot-uki.efi", 5ull << 30, 10, 0};
    struct progress_state st = {.total = 2, .running = &a, .running_count = 1};
    progress_update(p, &st);
    const char *out = since(&s, 0);
    size_t column = 0, widest = 0;
    for (const char *c = out; *c; c++) {
        if (*c == '\n') {
            column = 0;
        } else if (++column > widest) {
            widest = column;
        }
    }
    CHECK(widest <= 49);
    CHECK(strstr(out, "uki.efi") != NULL); /* the end of a long label is the part kept */
    CHECK(strstr(out, "...") != NULL);
    CHECK(strstr(out, "5.0 GiB") != NULL);
    progress_free(p);
    screen_close(&s);
}

static void log_lines_scroll_above_and_finish_prints_a_summary(void)
{
    struct screen s;
    screen_open(&s);
    fake_now = 0;
    struct progress *p = progress_new(s.out, 80, fake_clock);
    progress_log(p, "verified ghcr.io/siderolabs/imager:v1.11.3"); /* before any display: just the line */
    CHECK_STR(since(&s, 0), "verified ghcr.io/siderolabs/imager:v1.11.3\n");
    progress_start(p, 2, 1, 2);
    struct progress_state st = {.total = 2, .done = 1, .reused = 1};
    progress_update(p, &st);
    fflush(s.out);
    size_t mark = s.len;
    progress_log(p, "built  demo/v1.11.3/kernel-amd64 (0.4s)");
    const char *out = since(&s, mark);
    CHECK(strncmp(out, "\033[1A\r\033[Jbuilt  demo/v1.11.3/kernel-amd64 (0.4s)\n[", 48) == 0);
    CHECK(strstr(out, "1/2 assets") != NULL); /* the display drawn again below the line */
    fake_now = 65;
    st.done = 2;
    st.bytes = 3u << 20;
    progress_update(p, &st);
    fflush(s.out);
    mark = s.len;
    progress_finish(p, true);
    out = since(&s, mark);
    CHECK(strncmp(out, "\033[1A\r\033[J", 8) == 0);
    CHECK(strstr(out, "done: 2 assets, 1 built, 1 reused, 3.0 MiB built in 1:05 (-j 2)\n") != NULL);
    progress_free(p);
    screen_close(&s);
}

/* airfactory pull: blobs, not assets; a download's size is known, so its percentage is exact */
static void pull_counts_blobs_with_known_sizes(void)
{
    struct screen s;
    screen_open(&s);
    fake_now = 0;
    struct progress *p = progress_new(s.out, 100, fake_clock);
    progress_set_words(p, "blobs", "fetched", "present");
    progress_start(p, 10, 4, 2);
    fake_now = 2;
    struct progress_asset running[] = {
        {"imager sha256:28b711a5a07e", "imager sha256:28b711a5a07e", 6u << 20, 2.0, 24u << 20}};
    struct progress_state st = {
        .total = 10, .done = 6, .reused = 4, .bytes = 1u << 20, .running = running, .running_count = 1};
    progress_update(p, &st);
    const char *out = since(&s, 0);
    /* 6 of 24 MiB in 2 s: 25 %, 6 s to go, without any finished blob of that kind */
    CHECK(strstr(out, " 25%  ETA 0:06") != NULL);
    CHECK(strstr(out, "6/10 blobs, 4 present") != NULL);
    fflush(s.out);
    size_t mark = s.len;
    progress_finish(p, true);
    CHECK(strstr(since(&s, mark), "done: 6 blobs, 2 fetched, 4 present, 1.0 MiB fetched in 0:02 (-j 2)") != NULL);
    progress_free(p);
    screen_close(&s);
}

int main(void)
{
    RUN(running_assets_show_bytes_percent_and_eta);
    RUN(redraws_are_rate_limited_and_erase_in_place);
    RUN(no_eta_before_anything_was_built);
    RUN(lines_never_wrap_at_the_width);
    RUN(log_lines_scroll_above_and_finish_prints_a_summary);
    RUN(pull_counts_blobs_with_known_sizes);
    return TEST_MAIN_END();
}
