/* pidfile.c - --pidfile (see pidfile.h).
 *
 * The pid goes into a temporary file in the same directory, which is then
 * renamed over the path: rename() within one filesystem is atomic, so a
 * reader sees the old file or the complete new one, never an empty or
 * half-written file.  No fsync: after a crash of the machine the pid is
 * stale anyway.
 */
#include "pidfile.h"
#include "fmt.h"
#include "log.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>             /* rename */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *pf_path;           /* absolute; NULL when there is no pidfile */

bool pidfile_write(const char *path, const char **err)
{
    static const char suffix[] = ".tmp.XXXXXX";
    char *abs = NULL, *tmp = NULL;
    int fd = -1;
    if (!*path) {
        errno = ENOENT;
        *err = "empty path";
        return false;
    }
    if (!(abs = sys_absolute(path))) {
        *err = "make the path absolute";
        return false;
    }
    if (!(tmp = malloc(strlen(abs) + sizeof suffix))) {
        *err = "allocate";
        goto fail;
    }
    strcpy(tmp, abs);
    strcat(tmp, suffix);
    /* A fresh name (O_EXCL inside): never a stale or planted file, and a
     * symlink there is not followed. */
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
        *err = "create temporary file";
        free(tmp);
        tmp = NULL;
        goto fail;
    }
    /* mkostemp creates 0600 and our umask is 077; the pidfile is for
     * others to read (init scripts, monitoring), as is customary. */
    if (fchmod(fd, 0644) < 0) {
        *err = "chmod temporary file";
        goto fail;
    }
    char buf[24];
    int n = fmt_snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    ssize_t w = sys_write(fd, buf, (size_t)n);
    if (w != n) {
        if (w >= 0)
            errno = ENOSPC;     /* a short write to a regular file: it is full */
        *err = "write temporary file";
        goto fail;
    }
    sys_close(fd);
    fd = -1;
    if (rename(tmp, abs) < 0) {
        *err = "rename temporary file";
        goto fail;
    }
    free(tmp);
    free(pf_path);
    pf_path = abs;
    return true;

fail:;
    int e = errno;
    if (fd >= 0)
        sys_close(fd);
    if (tmp)
        unlink(tmp);
    free(tmp);
    free(abs);
    errno = e;
    return false;
}

const char *pidfile_path(void)
{
    return pf_path;
}

void pidfile_adopt(const char *path)
{
    free(pf_path);
    pf_path = path ? sys_absolute(path) : NULL;
}

/* Whether the file at path is exactly our pid, with or without its
 * newline.  O_NONBLOCK: a FIFO put there must not hang the exit. */
static bool holds_our_pid(const char *path)
{
    char buf[32];
    int fd = sys_open(path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return false;
    ssize_t n = sys_read(fd, buf, sizeof buf - 1);
    sys_close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    if (buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    int64_t pid;
    return sys_parse_int(buf, 1, INT_MAX, &pid) && pid == (int64_t)getpid();
}

void pidfile_remove(void)
{
    if (!pf_path)
        return;
    if (!holds_our_pid(pf_path))
        log_info("pidfile %s no longer holds our pid: not removed", pf_path);
    else if (unlink(pf_path) < 0)
        log_errno(LOG_WARN, "pidfile %s: unlink", pf_path);
    free(pf_path);
    pf_path = NULL;
}
