/* airfactory-oci-image — writes a single-layer container image as an oci-archive with airfactory's
 * own OCI writer: the layer by installer_layer_write_modes (sorted ustar entries, uid/gid 0, one mtime,
 * gzip without timestamp), config by oci_config_write, manifest by installer_manifest_build, the archive
 * by oci_archive_write.
 * Same inputs, same bytes. `make image` (scripts/make-image) gives it the release binaries, the
 * shared libraries they need, /etc/passwd and /etc/group; this program decides nothing about them.
 *
 *   airfactory-oci-image -o OUT --tag TAG --arch ARCH --mtime EPOCH --user UID:GID
 *       --entrypoint PATH [--cmd ARG]... [--env K=V]... [--expose PORT/tcp]... [--workdir DIR]
 *       [--label K=V]... IMAGE_PATH=FILE[:MODE]...
 * A build tool, not installed. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"
#include "imager/installer.h"
#include "oci/oci_archive.h"
#include "oci/oci_config_writer.h"
#include "oci/oci_image.h"

#define LAYER_MAX (512u << 20)

struct list {
    const char **items;
    size_t count;
};

static void list_add(struct list *l, const char *s)
{
    l->items = xrealloc(l->items, (l->count + 1) * sizeof *l->items);
    l->items[l->count++] = s;
}

static const char usage_text[] =
    "usage: airfactory-oci-image -o OUT --tag TAG --arch ARCH --mtime EPOCH --user UID:GID --entrypoint PATH\n"
    "       [--cmd ARG]... [--env K=V]... [--expose PORT/tcp]... [--workdir DIR] [--label K=V]...\n"
    "       IMAGE_PATH=FILE[:MODE]...\n";

static int fail(const char *what)
{
    fprintf(stderr, "airfactory-oci-image: %s\n", what);
    return 2;
}

/* "K=V" list as a JSON object of strings (labels) or of {} (exposed ports, key only) */
static void kv_object(struct json_writer *w, const char *key, const struct list *l, bool empty_values)
{
    json_key(w, key);
    json_object_begin(w);
    for (size_t i = 0; i < l->count; i++) {
        if (empty_values) {
            json_key(w, l->items[i]);
            json_raw(w, "{}");
            continue;
        }
        const char *eq = strchr(l->items[i], '=');
        char *k = xstrndup(l->items[i], (size_t)(eq - l->items[i]));
        json_kv_string(w, k, eq + 1);
        free(k);
    }
    json_object_end(w);
}

static void string_array(struct json_writer *w, const char *key, const char *first, const struct list *l)
{
    json_key(w, key);
    json_array_begin(w);
    if (first)
        json_string(w, first);
    for (size_t i = 0; i < l->count; i++)
        json_string(w, l->items[i]);
    json_array_end(w);
}

/* The image's "config" (runtime settings), in go-containerregistry's key order. */
struct runtime {
    const char *user, *entrypoint, *workdir;
    const struct list *cmd, *env, *expose, *labels;
};

static void write_runtime(struct json_writer *w, void *context)
{
    const struct runtime *r = context;
    json_object_begin(w);
    json_kv_string(w, "User", r->user);
    if (r->expose->count)
        kv_object(w, "ExposedPorts", r->expose, true);
    if (r->env->count)
        string_array(w, "Env", NULL, r->env);
    string_array(w, "Entrypoint", r->entrypoint, &(struct list){0});
    if (r->cmd->count)
        string_array(w, "Cmd", NULL, r->cmd);
    json_kv_string(w, "WorkingDir", r->workdir);
    if (r->labels->count)
        kv_object(w, "Labels", r->labels, false);
    json_object_end(w);
}

int main(int argc, char **argv)
{
    const char *out = NULL, *tag = NULL, *arch = NULL, *user = NULL, *entrypoint = NULL, *workdir = "/";
    long long mtime = -1;
    struct list cmd = {0}, env = {0}, expose = {0}, labels = {0};
    static const struct option opts[] = {
        {"tag", required_argument, NULL, 't'},
        {"arch", required_argument, NULL, 'a'},
        {"mtime", required_argument, NULL, 'm'},
        {"user", required_argument, NULL, 'u'},
        {"entrypoint", required_argument, NULL, 'e'},
        {"cmd", required_argument, NULL, 'c'},
        {"env", required_argument, NULL, 'E'},
        {"expose", required_argument, NULL, 'x'},
        {"workdir", required_argument, NULL, 'w'},
        {"label", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 't': tag = optarg; break;
        case 'a': arch = optarg; break;
        case 'm': {
            char *end = NULL;
            mtime = strtoll(optarg, &end, 10);
            if (!end || *end || mtime < 0 || mtime > 0xffffffffLL)
                return fail("--mtime: expected seconds since 1970 (SOURCE_DATE_EPOCH)");
            break;
        }
        case 'u': user = optarg; break;
        case 'e': entrypoint = optarg; break;
        case 'c': list_add(&cmd, optarg); break;
        case 'E':
        case 'l':
            if (!strchr(optarg, '=') || optarg[0] == '=')
                return fail("--env/--label: expected KEY=VALUE");
            list_add(c == 'E' ? &env : &labels, optarg);
            break;
        case 'x': list_add(&expose, optarg); break;
        case 'w': workdir = optarg; break;
        default: fputs(usage_text, stderr); return 2;
        }
    }
    if (!out || !tag || !arch || !user || !entrypoint || mtime < 0 || optind >= argc) {
        fputs(usage_text, stderr);
        return 2;
    }

    /* the files: IMAGE_PATH=FILE[:MODE], IMAGE_PATH without its leading '/' */
    size_t nfiles = (size_t)(argc - optind);
    struct installer_file *files = xcalloc(nfiles, sizeof *files);
    unsigned *modes = xcalloc(nfiles, sizeof *modes);
    char **owned = xcalloc(nfiles, sizeof *owned);
    for (size_t i = 0; i < nfiles; i++) {
        char *spec = owned[i] = xstrdup(argv[optind + (int)i]);
        char *eq = strchr(spec, '=');
        if (!eq || eq == spec) {
            fprintf(stderr, "airfactory-oci-image: '%s': expected IMAGE_PATH=FILE[:MODE]\n", spec);
            return 2;
        }
        *eq = '\0';
        char *colon = strrchr(eq + 1, ':');
        modes[i] = 0644;
        if (colon) {
            char *end = NULL;
            unsigned long m = strtoul(colon + 1, &end, 8);
            if (!end || *end || m > 07777) {
                fprintf(stderr, "airfactory-oci-image: '%s': MODE is octal, e.g. 0755\n", argv[optind + (int)i]);
                return 2;
            }
            modes[i] = (unsigned)m;
            *colon = '\0';
        }
        files[i].image_path = spec[0] == '/' ? spec + 1 : spec;
        files[i].source_path = eq + 1;
    }

    struct error err = {0};
    struct buffer layer_path = {0};
    buffer_appendf(&layer_path, "%s.layer.tmp", out);
    char diff_id[OCI_DIGEST_SIZE], layer_digest[OCI_DIGEST_SIZE];
    uint64_t layer_size = 0;
    if (installer_layer_write_modes(files, modes, nfiles, (uint32_t)mtime, buffer_cstr(&layer_path), diff_id,
                                    layer_digest, &layer_size, &err) != 0) {
        fprintf(stderr, "airfactory-oci-image: %s\n", err.message);
        return 1;
    }
    struct buffer layer = {0};
    int rc = fs_read_file(buffer_cstr(&layer_path), LAYER_MAX, &layer, &err);
    unlink(buffer_cstr(&layer_path));
    if (rc != 0) {
        fprintf(stderr, "airfactory-oci-image: %s\n", err.message);
        return 1;
    }

    /* the image config: the one writer (oci_config_writer); the runtime settings are ours */
    char created[OCI_CONFIG_TIME_SIZE];
    oci_config_time(mtime, created);
    struct runtime runtime = {user, entrypoint, workdir, &cmd, &env, &expose, &labels};
    const struct oci_config_history history = {.created_by = "airfactory-oci-image"};
    const char *diff_ids[] = {diff_id};
    struct oci_config_contents contents = {
        .architecture = arch,
        .created = created,
        .history = &history,
        .history_count = 1,
        .diff_ids = diff_ids,
        .diff_id_count = 1,
        .write_runtime = write_runtime,
        .runtime_context = &runtime,
    };
    struct buffer config = {0};
    oci_config_write(&contents, &config);

    char hex[SHA256_HEX_LEN + 1];
    char config_digest[OCI_DIGEST_SIZE], manifest_digest[OCI_DIGEST_SIZE];
    sha256_hex(config.data, config.len, hex);
    snprintf(config_digest, sizeof config_digest, "sha256:%s", hex);
    struct installer_layer il = {.size = (int64_t)layer_size};
    snprintf(il.media_type, sizeof il.media_type, "%s", OCI_MEDIA_TYPE_LAYER_GZIP);
    snprintf(il.digest, sizeof il.digest, "%s", layer_digest);
    struct buffer manifest = {0};
    installer_manifest_build(config_digest, (int64_t)config.len, &il, 1, &manifest);
    sha256_hex(manifest.data, manifest.len, hex);
    snprintf(manifest_digest, sizeof manifest_digest, "sha256:%s", hex);

    struct oci_archive_ref ref = {OCI_MEDIA_TYPE_MANIFEST, manifest_digest, (int64_t)manifest.len, tag, NULL};
    struct buffer index = {0};
    oci_archive_index_json(&ref, 1, &index);
    struct oci_archive_blob blobs[] = {
        {layer_digest, (int64_t)layer.len, layer.data},
        {config_digest, (int64_t)config.len, config.data},
        {manifest_digest, (int64_t)manifest.len, manifest.data},
    };
    struct buffer tmp = {0};
    buffer_appendf(&tmp, "%s.tmp", out);
    int fd = open(buffer_cstr(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "airfactory-oci-image: %s: %s\n", buffer_cstr(&tmp), strerror(errno));
        return 1;
    }
    rc = oci_archive_write(NULL, fd, out, blobs, 3, &index, mtime, &err);
    if (close(fd) != 0 && rc == 0)
        rc = error_errno(&err, errno, "%s: close", buffer_cstr(&tmp));
    if (rc == 0 && rename(buffer_cstr(&tmp), out) != 0)
        rc = error_errno(&err, errno, "%s: rename", out);
    if (rc != 0) {
        unlink(buffer_cstr(&tmp));
        fprintf(stderr, "airfactory-oci-image: %s\n", err.message);
        return 1;
    }
    printf("%s\n", manifest_digest);
    for (size_t i = 0; i < nfiles; i++)
        free(owned[i]);
    free(owned);
    free(files);
    free(modes);
    free(cmd.items);
    free(env.items);
    free(expose.items);
    free(labels.items);
    buffer_free(&layer_path);
    buffer_free(&layer);
    buffer_free(&config);
    buffer_free(&manifest);
    buffer_free(&index);
    buffer_free(&tmp);
    return 0;
}
