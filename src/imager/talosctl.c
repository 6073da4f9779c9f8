/* talosctl — see talosctl.h. */
#include "imager/talosctl.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fs.h"
#include "oci/layer_flatten.h"
#include "core/memory.h"

static bool is_word(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

bool talosctl_file_name_valid(const char *name)
{
    if (strncmp(name, "talosctl-", 9) != 0)
        return false;
    const char *os = name + 9;
    const char *dash = strchr(os, '-');
    if (!dash || !is_word(os, (size_t)(dash - os)))
        return false;
    const char *arch = dash + 1;
    size_t n = strlen(arch);
    if (n > 4 && strcmp(arch + n - 4, ".exe") == 0)
        n -= 4;
    return is_word(arch, n);
}

const char *talosctl_media_type(const char *name)
{
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, ".exe") == 0)
        return "application/x-msdos-program";
    return "application/octet-stream";
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The talosctl files at the root of dir, sorted (stable rows and blob order). */
static int list_files(const char *dir, char ***out, size_t *count, struct error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return error_errno(err, errno, "%s: cannot list", dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!talosctl_file_name_valid(e->d_name))
            continue;
        char *path = path_join(dir, e->d_name);
        struct stat st;
        bool regular = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
        free(path);
        if (!regular)
            continue;
        names = xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, compare_names);
    *out = names;
    *count = n;
    return 0;
}

int talosctl_add_files(struct store *store, const struct oci_image *image, const char *work_dir, const char *version,
                       struct bundle_writer *writer, size_t *count, struct error *err)
{
    *count = 0;
    char *parent = path_join(work_dir, "talosctl");
    char *dir = path_join(parent, image->manifest_digest + 7); /* after "sha256:" */
    int rc = -1;
    char **names = NULL;
    size_t n = 0;
    if (!fs_is_dir(dir) && (fs_mkdir_p(parent, 0755, err) != 0 || layer_flatten(store, image, dir, NULL, err) != 0))
        goto out;
    if (list_files(dir, &names, &n, err) != 0)
        goto out;
    if (n == 0) {
        error_set(err, ERROR_INPUT, "%s (talosctl-all): no talosctl-<os>-<arch>[.exe] file at the image root; is "
                  "this a siderolabs/talosctl-all image?", image->reference ? image->reference : image->digest);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char *path = path_join(dir, names[i]);
        char digest[BUNDLE_DIGEST_SIZE];
        int added = bundle_writer_add_blob_file(writer, path, talosctl_media_type(names[i]), BUNDLE_BLOB_COPY, NULL,
                                                digest, NULL, err);
        free(path);
        if (added != 0 || bundle_writer_add_talosctl(writer, version, names[i], digest, err) != 0)
            goto out;
    }
    *count = n;
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dir);
    free(parent);
    return rc;
}
