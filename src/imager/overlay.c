/* overlay — see overlay.h. */
#include "imager/overlay.h"
#include "core/fs_root.h"
#include "core/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#define STDERR_MAX 4096

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- confinement (Landlock) ----
 * The rights the installer loses outside its scratch directory: every way to change the file
 * system (write, truncate, create, remove, link or rename). Reading is left alone: it must read
 * its own image and libraries. ABI 4 adds TCP (bind/connect refused: no rule allows any port),
 * ABI 6 scopes abstract unix sockets and signals to the installer's own domain. The bits are the
 * kernel's (linux/landlock.h), spelled out for the ones older headers lack. */
#define LL_FS_WRITE_V1                                                                                                 \
    (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |                  \
     LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |                        \
     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |                     \
     LANDLOCK_ACCESS_FS_MAKE_SYM)
#define LL_FS_REFER (1ull << 13)    /* ABI 2 */
#define LL_FS_TRUNCATE (1ull << 14) /* ABI 3 */
#define LL_NET_TCP (3ull)           /* ABI 4: BIND_TCP | CONNECT_TCP */
#define LL_SCOPE_ALL (3ull)         /* ABI 6: ABSTRACT_UNIX_SOCKET | SIGNAL */
#define LL_CREATE_VERSION (1u << 0) /* LANDLOCK_CREATE_RULESET_VERSION */

struct ll_ruleset_attr {
    uint64_t handled_access_fs, handled_access_net, scoped;
};

struct ll_path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

int overlay_confinement_abi(void)
{
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_VERSION);
    return abi < 0 ? 0 : (int)abi;
}

static int ll_allow(int ruleset, const char *path, uint64_t access, const char *label, struct error *err)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: %s", label, path);
    struct ll_path_beneath rule = {access, fd};
    long rc = syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    int e = errno;
    close(fd);
    return rc == 0 ? 0 : error_errno(err, e, "%s: cannot confine the installer to %s", label, path);
}

/* The ruleset for one run (a file descriptor, -1 with err set): writes only beneath scratch and
 * into writable_file. */
static int ll_ruleset(const char *scratch, const char *writable_file, const char *label, struct error *err)
{
    int abi = overlay_confinement_abi();
    if (abi <= 0)
        return error_set(err, ERROR_RUNTIME,
                         "%s: this kernel has no Landlock (Linux 5.13 or later with lsm=landlock), which confines "
                         "the overlay installer's writes to its scratch directory; enable it on the build host",
                         label);
    struct ll_ruleset_attr attr = {.handled_access_fs = LL_FS_WRITE_V1};
    if (abi >= 2)
        attr.handled_access_fs |= LL_FS_REFER;
    if (abi >= 3)
        attr.handled_access_fs |= LL_FS_TRUNCATE;
    size_t size = sizeof attr.handled_access_fs;
    if (abi >= 4)
        attr.handled_access_net = LL_NET_TCP, size = 2 * sizeof(uint64_t);
    if (abi >= 6)
        attr.scoped = LL_SCOPE_ALL, size = sizeof attr;
    int fd = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot create a Landlock ruleset", label);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    int rc = ll_allow(fd, scratch, attr.handled_access_fs, label, err);
    if (rc == 0 && writable_file)
        rc = ll_allow(fd, writable_file, LANDLOCK_ACCESS_FS_WRITE_FILE, label, err);
    if (rc != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int overlay_run(const struct overlay_installer *o, const char *command, const char *input, size_t input_len,
                const char *scratch, const char *writable_file, struct buffer *out, struct error *err)
{
    const char *label = o->label ? o->label : o->root;
    if (!o->name[0] || strchr(o->name, '/') || !strcmp(o->name, "..") || !strcmp(o->name, "."))
        return error_set(err, ERROR_INPUT, "%s: overlay name \"%s\" is not a file name", label, o->name);
    struct fs_root r;
    if (fs_root_open(&r, o->root, NULL, label, err) != 0)
        return -1;
    char *path = xasprintf("installers/%s", o->name);
    int exe = -1;
    int found = fs_open_in_root(&r, path, FS_ROOT_FILE, &exe, NULL, err);
    fs_root_close(&r);
    if (found <= 0) {
        if (found == 0)
            error_set(err, ERROR_INPUT, "%s: the image has no /%s; check overlay.name", label, path);
        free(path);
        return -1;
    }
    int ruleset = ll_ruleset(scratch, writable_file, label, err);
    if (ruleset < 0) {
        close(exe);
        free(path);
        return -1;
    }
    int in[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) || pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
        int e = errno;
        close(exe);
        close(ruleset);
        close_fd(&in[0]), close_fd(&in[1]), close_fd(&outp[0]), close_fd(&outp[1]), close_fd(&errp[0]);
        close_fd(&errp[1]);
        free(path);
        return error_errno(err, e, "%s: %s: cannot create pipes", label, command);
    }
    char *home = xasprintf("HOME=%s", scratch), *tmp = xasprintf("TMPDIR=%s", scratch);
    char *const envp[] = {home, tmp, NULL};
    char *const argv[] = {(char *)o->name, (char *)command, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        /* the child: its own process group (killed whole on timeout), scratch as cwd, no shell,
         * no new privileges, writes confined (Landlock) to scratch and the writable file */
        setpgid(0, 0);
        if (chdir(scratch) != 0 || dup2(in[0], 0) < 0 || dup2(outp[1], 1) < 0 || dup2(errp[1], 2) < 0)
            _exit(126);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(__NR_landlock_restrict_self, ruleset, 0) != 0) {
            static const char msg[] = "cannot confine the installer (Landlock)";
            ssize_t ignored = write(2, msg, sizeof msg - 1);
            (void)ignored;
            _exit(126);
        }
        fexecve(exe, argv, envp);
        _exit(127);
    }
    int fork_errno = errno;
    free(home);
    free(tmp);
    close(exe);
    close(ruleset);
    close_fd(&in[0]), close_fd(&outp[1]), close_fd(&errp[1]);
    if (pid < 0) {
        close_fd(&in[1]), close_fd(&outp[0]), close_fd(&errp[0]);
        error_errno(err, fork_errno, "%s: %s: cannot start /%s", label, command, path);
        free(path);
        return -1;
    }
    setpgid(pid, pid);
    /* an installer that exits without reading stdin must not kill us with SIGPIPE: blocked in this
     * thread while we write, and a pending one consumed afterwards (no process-wide handler) */
    sigset_t pipe_set, old_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    unsigned timeout = o->timeout_s ? o->timeout_s : OVERLAY_TIMEOUT_DEFAULT;
    int64_t deadline = now_ms() + (int64_t)timeout * 1000;
    struct buffer errbuf = BUFFER_INIT;
    size_t written = 0;
    bool timed_out = false, too_big = false;
    if (input_len == 0)
        close_fd(&in[1]);
    while (outp[0] >= 0 || errp[0] >= 0) {
        struct pollfd p[3];
        int n = 0, iw = -1, io = -1, ie = -1;
        if (in[1] >= 0)
            iw = n, p[n++] = (struct pollfd){in[1], POLLOUT, 0};
        if (outp[0] >= 0)
            io = n, p[n++] = (struct pollfd){outp[0], POLLIN, 0};
        if (errp[0] >= 0)
            ie = n, p[n++] = (struct pollfd){errp[0], POLLIN, 0};
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        int pr = poll(p, (nfds_t)n, (int)(left > 1000 ? 1000 : left));
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;
        if (iw >= 0 && p[iw].revents) {
            ssize_t w = write(in[1], input + written, input_len - written);
            if (w > 0)
                written += (size_t)w;
            if (w < 0 || written == input_len)
                close_fd(&in[1]);
        }
        char chunk[4096];
        if (io >= 0 && p[io].revents) {
            ssize_t rd = read(outp[0], chunk, sizeof chunk);
            if (rd <= 0)
                close_fd(&outp[0]);
            else if (out->len + (size_t)rd > OVERLAY_OUTPUT_MAX) {
                too_big = true;
                break;
            } else
                buffer_append(out, chunk, (size_t)rd);
        }
        if (ie >= 0 && p[ie].revents) {
            ssize_t rd = read(errp[0], chunk, sizeof chunk);
            if (rd <= 0)
                close_fd(&errp[0]);
            else if (errbuf.len < STDERR_MAX)
                buffer_append(&errbuf, chunk,
                              (size_t)rd < STDERR_MAX - errbuf.len ? (size_t)rd : STDERR_MAX - errbuf.len);
        }
    }
    close_fd(&in[1]), close_fd(&outp[0]), close_fd(&errp[0]);
    const struct timespec no_wait = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &no_wait) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    int status = 0;
    if (timed_out || too_big) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    } else {
        /* stdout and stderr are closed: give it the rest of the time to exit */
        while (waitpid(pid, &status, WNOHANG) == 0) {
            if (now_ms() >= deadline) {
                timed_out = true;
                kill(-pid, SIGKILL);
                kill(pid, SIGKILL);
                break;
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (!timed_out)
            goto reaped;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
reaped:;
    /* one line: the installer's stderr with newlines folded */
    for (size_t i = 0; i < errbuf.len; i++)
        if (errbuf.data[i] == '\n' || errbuf.data[i] == '\r')
            errbuf.data[i] = ' ';
    const char *why = buffer_cstr(&errbuf);
    int rc = 0;
    if (timed_out)
        rc = error_set(err, ERROR_INPUT, "%s: /%s %s did not finish within %u s: killed", label, path, command, timeout);
    else if (too_big)
        rc = error_set(err, ERROR_INPUT, "%s: /%s %s wrote more than %u bytes: killed", label, path, command,
                       OVERLAY_OUTPUT_MAX);
    else if (WIFSIGNALED(status))
        rc = error_set(err, ERROR_INPUT, "%s: /%s %s was killed by signal %d%s%s", label, path, command,
                       WTERMSIG(status), *why ? ": " : "", why);
    else if (WEXITSTATUS(status) == 127 && !*why)
        rc = error_set(err, ERROR_INPUT,
                       "%s: /%s cannot be executed on this build host (it must be a program for "
                       "the host's architecture)",
                       label, path);
    else if (WEXITSTATUS(status) != 0)
        rc = error_set(err, ERROR_INPUT, "%s: /%s %s failed (exit %d)%s%s", label, path, command, WEXITSTATUS(status),
                       *why ? ": " : "", why);
    buffer_free(&errbuf);
    free(path);
    return rc;
}

/* ---- get-options ---- */

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(doc, p->key));
        if (k && !strcmp(k, key))
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

int overlay_options_parse(const char *text, size_t len, const char *what, struct overlay_options *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return error_set(err, ERROR_RUNTIME, "%s: cannot initialise the YAML parser", what);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        error_set(err, ERROR_INPUT, "%s: get-options output:%zu:%zu: %s", what, parser.problem_mark.line + 1,
                  parser.problem_mark.column + 1, parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_parser_delete(&parser);
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = error_set(err, ERROR_INPUT, "%s: get-options printed no overlay options mapping", what);
        goto done;
    }
    const char *name = scalar(get(&doc, root, "name"));
    out->name = xstrdup(name ? name : "");
    yaml_node_t *args = get(&doc, root, "kernelArgs");
    if (args && args->type == YAML_SEQUENCE_NODE) {
        size_t n = (size_t)(args->data.sequence.items.top - args->data.sequence.items.start);
        out->kernel_args = xcalloc(n ? n : 1, sizeof *out->kernel_args);
        for (size_t i = 0; i < n; i++) {
            const char *a = scalar(yaml_document_get_node(&doc, args->data.sequence.items.start[i]));
            if (!a || !*a) {
                rc = error_set(err, ERROR_INPUT, "%s: get-options: kernelArgs item %zu is not a string", what, i + 1);
                goto done;
            }
            out->kernel_args[out->kernel_arg_count++] = xstrdup(a);
        }
    } else if (args && !(args->type == YAML_SCALAR_NODE && !strcmp(scalar(args), "null"))) {
        rc = error_set(err, ERROR_INPUT, "%s: get-options: kernelArgs is not a list", what);
        goto done;
    }
    const char *offset = scalar(get(&doc, get(&doc, root, "partitionOptions"), "offset"));
    if (offset) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(offset, &end, 10);
        if (errno || end == offset || *end || offset[0] == '-' || v > (1ull << 40)) {
            rc = error_set(err, ERROR_INPUT, "%s: get-options: partitionOptions.offset \"%s\" is not a sector count",
                           what, offset);
            goto done;
        }
        out->partition_offset = v;
    }
done:
    yaml_document_delete(&doc);
    if (rc)
        overlay_options_free(out);
    return rc;
}

int overlay_get_options(const struct overlay_installer *o, const char *extra_options, const char *scratch,
                        struct overlay_options *out, struct error *err)
{
    const char *input = extra_options && *extra_options ? extra_options : "{}\n";
    struct buffer text = BUFFER_INIT;
    int rc = overlay_run(o, "get-options", input, strlen(input), scratch, NULL, &text, err);
    if (!rc)
        rc = overlay_options_parse(text.data ? text.data : "", text.len, o->label ? o->label : o->root, out, err);
    buffer_free(&text);
    return rc;
}

/* ---- install ---- */

/* A YAML scalar as Go's encoder writes a path: plain when it is safe, else double-quoted. */
static void yaml_path(struct buffer *b, const char *s)
{
    bool plain = *s != '\0';
    for (const char *p = s; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                strchr("/._+-", *p) != NULL;
    if (plain) {
        buffer_appendf(b, "%s\n", s);
        return;
    }
    buffer_append(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            buffer_appendf(b, "\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            buffer_appendf(b, "\\x%02x", (unsigned char)*p);
        else
            buffer_append(b, p, 1);
    }
    buffer_append(b, "\"\n", 2);
}

void overlay_install_input(const struct overlay_install_options *io, struct buffer *out)
{
    buffer_appendf(out, "installDisk: ");
    yaml_path(out, io->install_disk);
    buffer_appendf(out, "mountPrefix: ");
    yaml_path(out, io->mount_prefix);
    buffer_appendf(out, "artifactsPath: ");
    yaml_path(out, io->artifacts_path);
    const char *x = io->extra_options;
    if (x && *x && strcmp(x, "{}\n") != 0 && strcmp(x, "{}") != 0) {
        /* extraOptions (omitempty), nested with Go's 4-space indent */
        buffer_appendf(out, "extraOptions:\n");
        while (*x) {
            const char *nl = strchr(x, '\n');
            size_t n = nl ? (size_t)(nl - x) : strlen(x);
            if (n)
                buffer_append(out, "    ", 4);
            buffer_append(out, x, n);
            buffer_append(out, "\n", 1);
            x += n + (nl ? 1 : 0);
        }
    }
}

int overlay_install(const struct overlay_installer *o, const struct overlay_install_options *io, const char *scratch,
                    struct error *err)
{
    const char *label = o->label ? o->label : o->root;
    struct stat before, after;
    if (stat(io->install_disk, &before) != 0)
        return error_errno(err, errno, "%s: install: the disk %s", label, io->install_disk);
    struct buffer input = BUFFER_INIT, output = BUFFER_INIT;
    overlay_install_input(io, &input);
    int rc = overlay_run(o, "install", input.data, input.len, scratch, io->install_disk, &output, err);
    if (rc == 0 && stat(io->install_disk, &after) != 0)
        rc = error_errno(err, errno, "%s: install: the disk %s", label, io->install_disk);
    else if (rc == 0 && (after.st_size != before.st_size || after.st_ino != before.st_ino))
        rc = error_set(err, ERROR_INPUT,
                       "%s: /installers/%s install changed the size of the disk (%lld -> %lld "
                       "bytes): it may write only inside it",
                       label, o->name, (long long)before.st_size, (long long)after.st_size);
    buffer_free(&input);
    buffer_free(&output);
    return rc;
}

void overlay_options_free(struct overlay_options *o)
{
    for (size_t i = 0; i < o->kernel_arg_count; i++)
        free(o->kernel_args[i]);
    free(o->kernel_args);
    free(o->name);
    memset(o, 0, sizeof *o);
}

/* ---- profiles/<name>.yaml ---- */

int overlay_profile_bootloader(const char *root, const char *name, const char *label, char **bootloader, struct error *err)
{
    *bootloader = NULL;
    struct fs_root r;
    if (fs_root_open(&r, root, NULL, label, err) != 0)
        return -1;
    char *path = xasprintf("profiles/%s.yaml", name);
    int fd = -1;
    int found = fs_open_in_root(&r, path, FS_ROOT_FILE, &fd, NULL, err);
    fs_root_close(&r);
    if (found <= 0) {
        free(path);
        return found; /* 0: no profile for this board, nothing to merge */
    }
    struct buffer text = BUFFER_INIT;
    char chunk[4096];
    ssize_t n;
    int rc = 0;
    while ((n = read(fd, chunk, sizeof chunk)) > 0 && text.len < OVERLAY_OUTPUT_MAX)
        buffer_append(&text, chunk, (size_t)n);
    if (n < 0)
        rc = error_errno(err, errno, "%s: /%s: read", label, path);
    close(fd);
    yaml_parser_t parser;
    yaml_document_t doc;
    if (rc == 0 && !yaml_parser_initialize(&parser))
        rc = error_set(err, ERROR_RUNTIME, "%s: cannot initialise the YAML parser", label);
    else if (rc == 0) {
        yaml_parser_set_input_string(&parser, (const unsigned char *)(text.data ? text.data : ""), text.len);
        if (!yaml_parser_load(&parser, &doc)) {
            rc = error_set(err, ERROR_INPUT, "%s: /%s:%zu:%zu: %s", label, path, parser.problem_mark.line + 1,
                           parser.problem_mark.column + 1, parser.problem ? parser.problem : "invalid YAML");
        } else {
            yaml_node_t *root_node = yaml_document_get_root_node(&doc);
            yaml_node_t *b = get(&doc, get(&doc, get(&doc, root_node, "output"), "imageOptions"), "bootloader");
            const char *value = scalar(b);
            if (b && !value)
                rc = error_set(err, ERROR_INPUT, "%s: /%s: output.imageOptions.bootloader is not a string", label, path);
            else if (value && strcmp(value, "grub") && strcmp(value, "sd-boot") && strcmp(value, "dual-boot"))
                rc = error_set(err, ERROR_INPUT, "%s: /%s: unknown bootloader \"%s\" (grub, sd-boot or dual-boot)",
                               label, path, value);
            else if (value)
                *bootloader = xstrdup(value);
            yaml_document_delete(&doc);
        }
        yaml_parser_delete(&parser);
    }
    buffer_free(&text);
    free(path);
    return rc == 0 ? 1 : -1;
}
