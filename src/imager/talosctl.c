/* talosctl — see talosctl.h. */
#include "imager/talosctl.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/fs_root.h"
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

/* The talosctl files at the root of the flattened image, sorted (stable rows and blob order):
 * names[i] and the host path of what each resolves to. A talosctl-* entry that is a symlink is
 * resolved inside the image (core/fs_root.h), as a container of the image would see it; one that
 * leads out of the image is an error naming the image, the link and its target. */
static int list_files(const char *dir, const char *label, char ***out, char ***paths, size_t *count, struct error *err)
{
    *out = *paths = NULL;
    *count = 0;
    struct fs_root r;
    if (fs_root_open(&r, dir, NULL, label, err) != 0)
        return -1;
    char **all = NULL;
    size_t n_all = 0;
    int rc = fs_list_dir(r.fd, dir, &all, &n_all, err);
    for (size_t i = 0; rc == 0 && i < n_all; i++) {
        if (!talosctl_file_name_valid(all[i]))
            continue;
        int fd;
        struct fs_root_entry e;
        int found = fs_open_in_root(&r, all[i], FS_ROOT_ANY, &fd, &e, err);
        if (found < 0) {
            rc = -1;
            break;
        }
        if (found == 0)
            continue;
        close(fd);
        if (S_ISREG(e.st.st_mode)) {
            *out = xrealloc(*out, (*count + 1) * sizeof **out);
            *paths = xrealloc(*paths, (*count + 1) * sizeof **paths);
            (*out)[*count] = xstrdup(all[i]);
            (*paths)[(*count)++] = xstrdup(e.host_path);
        }
        fs_root_entry_free(&e);
    }
    fs_names_free(all, n_all);
    fs_root_close(&r);
    return rc;
}

int talosctl_add_files(struct store *store, const struct oci_image *image, const char *work_dir, const char *version,
                       struct bundle_writer *writer, size_t *count, struct error *err)
{
    *count = 0;
    char *parent = path_join(work_dir, "talosctl");
    char *dir = path_join(parent, image->manifest_digest + 7); /* after "sha256:" */
    int rc = -1;
    char **names = NULL, **paths = NULL;
    size_t n = 0;
    char *label =
        xasprintf("talosctl-all %s (%s)", image->reference ? image->reference : "image", image->manifest_digest);
    if (!fs_is_dir(dir) && (fs_mkdir_p(parent, 0755, err) != 0 || layer_flatten(store, image, dir, NULL, err) != 0))
        goto out;
    if (list_files(dir, label, &names, &paths, &n, err) != 0)
        goto out;
    if (n == 0) {
        error_set(err, ERROR_INPUT,
                  "%s (talosctl-all): no talosctl-<os>-<arch>[.exe] file at the image root; is "
                  "this a siderolabs/talosctl-all image?",
                  image->reference ? image->reference : image->digest);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char digest[BUNDLE_DIGEST_SIZE];
        int added = bundle_writer_add_blob_file(writer, paths[i], talosctl_media_type(names[i]), BUNDLE_BLOB_COPY, NULL,
                                                digest, NULL, err);
        if (added != 0 || bundle_writer_add_talosctl(writer, version, names[i], digest, err) != 0)
            goto out;
    }
    *count = n;
    rc = 0;
out:
    fs_names_free(names, n);
    fs_names_free(paths, n);
    free(label);
    free(dir);
    free(parent);
    return rc;
}
