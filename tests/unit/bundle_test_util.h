/* bundle_test_util — small file-system helpers shared by the bundle unit tests. */
#ifndef AIRFACTORY_TEST_BUNDLE_UTIL_H
#define AIRFACTORY_TEST_BUNDLE_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "airfactory/bundle_check.h"
#include "airfactory/bundle_key.h"
#include "core/fs.h"
#include "core/memory.h"

static char *test_scratch(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = xasprintf("%s/af-bundle-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    return dir;
}

static void test_remove(const char *path)
{
    struct error err;
    fs_remove_tree(path, &err);
}

/* Generate dir/name.{key,pub}; returns the private key path (the .pub is beside it). */
static char *test_make_key(const char *dir, const char *name)
{
    char *prefix = path_join(dir, name);
    struct error err;
    if (bundle_key_generate(prefix, true, NULL, &err) != 0) {
        printf("keygen failed: %s\n", err.message);
        exit(2);
    }
    char *key = xasprintf("%s.key", prefix);
    free(prefix);
    return key;
}

static char *test_pub_of(const char *key)
{
    size_t n = strlen(key);
    return xasprintf("%.*s.pub", (int)(n - 4), key);
}

static bool test_files_equal(const char *a, const char *b)
{
    struct buffer x = BUFFER_INIT, y = BUFFER_INIT;
    struct error err;
    bool same = fs_read_file(a, (size_t)1 << 30, &x, &err) == 0 && fs_read_file(b, (size_t)1 << 30, &y, &err) == 0 &&
                x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
    buffer_free(&x);
    buffer_free(&y);
    return same;
}

/* Entries of parent whose names start with prefix. */
static int test_count_prefixed(const char *parent, const char *prefix)
{
    DIR *d = opendir(parent);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, prefix, strlen(prefix)))
            n++;
    closedir(d);
    return n;
}

/* A sorted listing of a directory tree as "relative/path size sha256" lines. */
static void test_tree_listing_into(const char *root, const char *rel, struct buffer *out)
{
    char *dir = rel[0] ? path_join(root, rel) : xstrdup(root);
    DIR *d = opendir(dir);
    if (!d) {
        free(dir);
        return;
    }
    char **names = NULL;
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        names = xrealloc(names, (count + 1) * sizeof *names);
        names[count++] = xstrdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i + 1 < count; i++)
        for (size_t j = i + 1; j < count; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (size_t i = 0; i < count; i++) {
        char *child_rel = rel[0] ? path_join(rel, names[i]) : xstrdup(names[i]);
        char *child = path_join(root, child_rel);
        struct stat st;
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
            buffer_appendf(out, "%s/\n", child_rel);
            test_tree_listing_into(root, child_rel, out);
        } else {
            char hex[65] = "?";
            uint64_t size = 0;
            struct error err;
            sha256_file_hex(child, hex, &size, &err);
            buffer_appendf(out, "%s %llu %s\n", child_rel, (unsigned long long)size, hex);
        }
        free(child);
        free(child_rel);
        free(names[i]);
    }
    free(names);
    free(dir);
}

static char *test_tree_listing(const char *root)
{
    struct buffer out = BUFFER_INIT;
    test_tree_listing_into(root, "", &out);
    return buffer_take(&out);
}

struct test_problems {
    struct buffer text;
};

static void test_collect_problem(void *context, const char *path, const char *problem)
{
    struct test_problems *p = context;
    buffer_appendf(&p->text, "%s: %s\n", path, problem);
}

/* Run bundle_check; returns the problem count (-1 if it could not run); *text gets the messages. */
static long test_check(const char *dir, const char *pub, bool full, char **text)
{
    struct test_problems p = {BUFFER_INIT};
    struct bundle_check_options o = {dir, pub, full};
    struct bundle_check_result r;
    struct error err;
    long n = bundle_check(&o, test_collect_problem, &p, &r, &err) == 0 ? (long)r.problems : -1;
    if (n < 0)
        buffer_appendf(&p.text, "check could not run: %s\n", err.message);
    if (text)
        *text = buffer_take(&p.text);
    else if (n != 0)
        printf("    problems in %s:\n%s", dir, buffer_cstr(&p.text));
    buffer_free(&p.text);
    return n;
}

#endif
