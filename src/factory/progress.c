/* progress — see progress.h. */
#include "factory/progress.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "core/byte_size.h"
#include "core/memory.h"

struct learned_size {
    char *kind;
    uint64_t bytes;
};

struct progress {
    FILE *out;
    int width;
    double (*clock)(void);
    double started, last_draw;
    bool drawn_once;
    size_t total, reused_total;
    unsigned jobs;
    struct progress_state last; /* counters of the last state (running is not kept) */
    struct buffer frame;        /* the display as last drawn, to draw again after a log line */
    int frame_lines;            /* lines of it on the screen now; 0: nothing to erase */
    struct learned_size *sizes;
    size_t size_count;
    const char *items, *made, *kept; /* "assets", "built", "reused" */
};

static double monotonic_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int terminal_width(FILE *out)
{
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    const char *columns = getenv("COLUMNS");
    int n = columns ? atoi(columns) : 0;
    return n >= 20 ? n : 80;
}

struct progress *progress_new(FILE *out, int width, double (*clock)(void))
{
    struct progress *p = xcalloc(1, sizeof *p);
    p->out = out;
    p->clock = clock ? clock : monotonic_seconds;
    p->width = width > 0 ? width : terminal_width(out);
    if (p->width < 20)
        p->width = 20;
    p->started = p->clock();
    p->frame = (struct buffer)BUFFER_INIT;
    progress_set_words(p, "assets", "built", "reused");
    return p;
}

void progress_set_words(struct progress *p, const char *items, const char *made, const char *kept)
{
    p->items = items;
    p->made = made;
    p->kept = kept;
}

void progress_free(struct progress *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->size_count; i++)
        free(p->sizes[i].kind);
    free(p->sizes);
    buffer_free(&p->frame);
    free(p);
}

void progress_start(struct progress *p, size_t total, size_t reused, unsigned jobs)
{
    p->total = total;
    p->reused_total = reused;
    p->jobs = jobs;
    p->started = p->clock(); /* the ETA is about building, not importing */
    p->last = (struct progress_state){.total = total};
}

static void format_duration(double seconds, char *out, size_t size)
{
    if (seconds < 0)
        seconds = 0;
    unsigned long s = (unsigned long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(out, size, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, size, "%lu:%02lu", s / 60, s % 60);
}

static const struct learned_size *learned(const struct progress *p, const char *kind)
{
    for (size_t i = 0; kind && i < p->size_count; i++)
        if (strcmp(p->sizes[i].kind, kind) == 0)
            return &p->sizes[i];
    return NULL;
}

void progress_asset_done(struct progress *p, const char *kind, uint64_t bytes)
{
    struct learned_size *l = (struct learned_size *)learned(p, kind);
    if (!l) {
        p->sizes = xrealloc(p->sizes, (p->size_count + 1) * sizeof *p->sizes);
        l = &p->sizes[p->size_count++];
        l->kind = xstrdup(kind);
    }
    l->bytes = bytes;
}

/* Append line to the frame, cut to the width: a line that wrapped would break the cursor-up
 * arithmetic that erases the display. */
static void frame_line(struct progress *p, const char *line)
{
    size_t max = (size_t)p->width - 1, n = strlen(line);
    buffer_append(&p->frame, line, n < max ? n : max);
    buffer_append(&p->frame, "\n", 1);
    p->frame_lines++;
}

static void erase(struct progress *p)
{
    if (p->frame_lines > 0)
        fprintf(p->out, "\033[%dA\r\033[J", p->frame_lines);
    p->frame_lines = 0;
}

static void render(struct progress *p, const struct progress_state *s, double now)
{
    buffer_reset(&p->frame);
    p->frame_lines = 0;
    char line[1024], bytes[32], eta[32];
    /* the label column: as wide as fits beside "  12.3 MiB  100%  ETA 12:34  12:34" */
    int label_width = p->width - 40;
    if (label_width < 10)
        label_width = 10;
    for (size_t i = 0; i < s->running_count; i++) {
        const struct progress_asset *a = &s->running[i];
        byte_size_text(a->bytes, bytes, sizeof bytes);
        char elapsed[32], estimate[48] = "";
        format_duration(a->seconds, elapsed, sizeof elapsed);
        const struct learned_size *l = learned(p, a->kind);
        uint64_t expected = a->expected ? a->expected : l ? l->bytes : 0;
        if (expected > 0 && a->bytes > 0) {
            double fraction = (double)a->bytes / (double)expected;
            if (fraction > 0.99)
                fraction = 0.99; /* an estimate: never claim done before it is */
            format_duration(a->seconds / fraction - a->seconds, eta, sizeof eta);
            snprintf(estimate, sizeof estimate, "%3d%%  ETA %s", (int)(fraction * 100), eta);
        }
        const char *label = a->label;
        size_t len = strlen(label);
        char cut[512];
        if (len > (size_t)label_width && label_width < (int)sizeof cut) {
            /* keep the end: the file name is the informative part */
            snprintf(cut, sizeof cut, "...%s", label + len - (size_t)label_width + 3);
            label = cut;
        }
        snprintf(line, sizeof line, "  %-*s %10s  %-14s %s", label_width, label, bytes, estimate, elapsed);
        frame_line(p, line);
    }
    /* overall: a bar by assets, bytes built, ETA from the mean time per built asset */
    size_t total = s->total ? s->total : 1;
    int bar = p->width >= 60 ? 20 : 10;
    int filled = (int)((double)s->done / (double)total * bar);
    char bar_text[32];
    for (int i = 0; i < bar; i++)
        bar_text[i] = i < filled ? '#' : '-';
    bar_text[bar] = '\0';
    size_t built = s->done - (s->reused < s->done ? s->reused : s->done);
    size_t left = s->total - s->done - (p->reused_total - (s->reused < p->reused_total ? s->reused : p->reused_total));
    if (s->done > s->total)
        left = 0;
    double elapsed = now - p->started;
    if (built > 0) {
        format_duration(elapsed / (double)built * (double)left, eta, sizeof eta);
    } else {
        snprintf(eta, sizeof eta, "--:--");
    }
    byte_size_text(s->bytes, bytes, sizeof bytes);
    char elapsed_text[32];
    format_duration(elapsed, elapsed_text, sizeof elapsed_text);
    snprintf(line, sizeof line, "[%s] %3d%% %zu/%zu %s, %zu %s  %s  %s  ETA %s", bar_text,
             (int)((double)s->done / (double)total * 100), s->done, s->total, p->items, s->reused, p->kept, bytes,
             elapsed_text, eta);
    frame_line(p, line);
}

void progress_update(struct progress *p, const struct progress_state *s)
{
    double now = p->clock();
    p->last.total = s->total;
    p->last.done = s->done;
    p->last.reused = s->reused;
    p->last.bytes = s->bytes;
    if (p->drawn_once && now - p->last_draw < 0.1)
        return;
    p->drawn_once = true;
    p->last_draw = now;
    erase(p);
    render(p, s, now);
    fwrite(p->frame.data, 1, p->frame.len, p->out);
    fflush(p->out);
}

void progress_log(struct progress *p, const char *line)
{
    int lines = p->frame_lines;
    erase(p);
    fprintf(p->out, "%s\n", line);
    if (lines > 0) {
        fwrite(p->frame.data, 1, p->frame.len, p->out);
        p->frame_lines = lines;
    }
    fflush(p->out);
}

void progress_finish(struct progress *p, bool ok)
{
    erase(p);
    if (ok) {
        char bytes[32], elapsed[32];
        byte_size_text(p->last.bytes, bytes, sizeof bytes);
        format_duration(p->clock() - p->started, elapsed, sizeof elapsed);
        size_t reused = p->last.reused;
        fprintf(p->out, "done: %zu %s, %zu %s, %zu %s, %s %s in %s (-j %u)\n", p->last.done, p->items,
                p->last.done - reused, p->made, reused, p->kept, bytes, p->made, elapsed, p->jobs);
    }
    fflush(p->out);
    buffer_reset(&p->frame);
}

/* ---- the display thread ---- */

struct progress_thread {
    void (*redraw)(void *arg);
    void *arg;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC: signalled to stop */
    bool stop;
    pthread_t thread;
};

static void *display_main(void *arg)
{
    struct progress_thread *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        pthread_mutex_unlock(&t->lock);
        t->redraw(t->arg);
        pthread_mutex_lock(&t->lock);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 100 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (!t->stop)
            pthread_cond_timedwait(&t->cond, &t->lock, &until);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

struct progress_thread *progress_thread_start(void (*redraw)(void *arg), void *arg)
{
    struct progress_thread *t = xcalloc(1, sizeof *t);
    t->redraw = redraw;
    t->arg = arg;
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&t->thread, NULL, display_main, t) != 0) {
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
    }
    return t;
}

void progress_thread_stop(struct progress_thread *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
