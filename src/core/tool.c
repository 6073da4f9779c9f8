/* tool — see tool.h. */
#include "core/tool.h"
#include "airfactory/buffer.h"
#include "core/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int tool_run(char *const argv[], const char *log_path, struct error *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return error_errno(err, rc, "cannot run %s (is it installed? see scripts/install-deps.sh)", argv[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return error_errno(err, errno, "waiting for %s", argv[0]);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    struct buffer log = BUFFER_INIT;
    struct error ignored;
    if (fs_read_file(log_path, 1 << 20, &log, &ignored) != 0)
        buffer_reset(&log);
    const char *text = buffer_cstr(&log);
    size_t len = log.len;
    while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    size_t start = len > 600 ? len - 600 : 0;
    error_set(err, ERROR_RUNTIME, "%s failed (%s %d): %.*s", argv[0], WIFEXITED(status) ? "exit status" : "signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), (int)(len - start), text + start);
    buffer_free(&log);
    return -1;
}
