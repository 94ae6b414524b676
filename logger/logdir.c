/* logdir.c - the directory dplog writes (logdir.h). */
#include "logdir.h"
#include "stamp.h"
#include "../src/fmt.h"
#include "../src/sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>              /* renameat */
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NAME_LEN 27             /* "@" 24 hex ".s" */

struct logdir {
    char *path;                 /* DIR as given */
    char *cur_path;             /* DIR/current */
    int dirfd, lockfd, curfd;
    dev_t dev;                  /* of DIR */
    ino_t ino;
    uint64_t size;              /* of current */
    long keep;                  /* -1: all */
    char newest[NAME_LEN + 1];  /* the greatest @ name in DIR, or "" */
    bool linked;                /* a rotation linked current to newest, and
                                   has yet to replace current */
    bool process;               /* rotate to @NAME.u, for a processor (-p) */
};

static const char lock_name[] = "lock", cur_name[] = "current", tmp_name[] = "current.tmp";
static const char processed_name[] = "processed", state_name[] = "state",
                  newstate_name[] = "newstate";

/* An @ file of DIR: "@", 24 lowercase hex digits, ".s" (or ".u", being
 * processed: it counts for the order of names, not for KEEP). */
static bool rotated_name(const char *n, bool *done)
{
    struct timespec ts;
    if (n[0] != '@' || strlen(n) != NAME_LEN || n[25] != '.' || (n[26] != 's' && n[26] != 'u')
        || !stamp_tai64n_parse(n + 1, &ts))
        return false;
    *done = n[26] == 's';
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Learn the newest @ name; with prune, delete the oldest .s files beyond
 * KEEP.  A name deleted meanwhile is no error. */
static bool dir_scan(struct logdir *d, bool prune, char *err, size_t errlen)
{
    int fd = openat(d->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        fmt_snprintf(err, errlen, "%s: cannot list: %s", d->path, sys_strerror(errno));
        if (fd >= 0)
            sys_close(fd);
        return false;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    bool ok = true, done;
    while ((e = readdir(dir)) != NULL) {
        if (!rotated_name(e->d_name, &done))
            continue;
        if (strcmp(e->d_name, d->newest) > 0)
            memcpy(d->newest, e->d_name, NAME_LEN + 1);
        if (!prune || !done)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) {
                ok = false;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            ok = false;
            break;
        }
        n++;
    }
    closedir(dir);
    if (!ok)
        fmt_snprintf(err, errlen, "%s: cannot list: %s", d->path, sys_strerror(ENOMEM));
    if (ok && d->keep >= 0 && n > (size_t)d->keep) {
        qsort(names, n, sizeof *names, by_name);
        for (size_t i = 0; i < n - (size_t)d->keep; i++)
            if (unlinkat(d->dirfd, names[i], 0) < 0 && errno != ENOENT && ok) {
                fmt_snprintf(err, errlen, "%s/%s: cannot remove: %s", d->path, names[i],
                             sys_strerror(errno));
                ok = false;
            }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return ok;
}

/* mkdir -p: the missing parents 0755, DIR 0750.  An error names the
 * first directory that could not be made. */
static bool dir_make(const char *path, char *err, size_t errlen)
{
    size_t len = strlen(path);
    char *p = malloc(len + 1);
    if (!p) {
        fmt_snprintf(err, errlen, "%s: cannot create: %s", path, sys_strerror(ENOMEM));
        return false;
    }
    memcpy(p, path, len + 1);
    bool ok = true;
    for (size_t i = 1; i <= len && ok; i++) {
        if ((p[i] != '/' && p[i]) || p[i - 1] == '/')
            continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, c ? 0755 : 0750) < 0 && errno != EEXIST) {
            fmt_snprintf(err, errlen, "%s: cannot create: %s", p, sys_strerror(errno));
            ok = false;
        }
        p[i] = c;
    }
    free(p);
    return ok;
}

static int dir_open(const char *path, struct stat *st, char *err, size_t errlen)
{
    if (!dir_make(path, err, errlen))
        return -1;
    int fd = sys_open(path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0 || fstat(fd, st) < 0) {
        fmt_snprintf(err, errlen, "%s: cannot open: %s", path, sys_strerror(errno));
        if (fd >= 0)
            sys_close(fd);
        return -1;
    }
    /* Logs are what services said, secrets included, and a directory
     * someone else controls (made in advance under /tmp, say) lets that
     * user delete or replace them: like sshd's StrictModes, refuse it. */
    uid_t me = geteuid();
    if ((st->st_uid != me && st->st_uid != 0) || (st->st_mode & S_IWOTH)) {
        if (st->st_mode & S_IWOTH)
            fmt_snprintf(err, errlen, "%s: writable by any user: refusing it for logs "
                         "(chmod o-w, or choose another directory)", path);
        else
            fmt_snprintf(err, errlen, "%s: owned by uid %u, not by uid %u or root: "
                         "refusing it for logs (chown it, or choose another directory)",
                         path, (unsigned)st->st_uid, (unsigned)me);
        sys_close(fd);
        return -1;
    }
    return fd;
}

static bool dir_lock(struct logdir *d, logdir_wait_fn *wait, char *err, size_t errlen)
{
    d->lockfd = openat(d->dirfd, lock_name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (d->lockfd < 0) {
        fmt_snprintf(err, errlen, "%s: cannot write: %s", d->path, sys_strerror(errno));
        return false;
    }
    bool said = false;
    while (flock(d->lockfd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK) {
            fmt_snprintf(err, errlen, "%s/%s: cannot lock: %s", d->path, lock_name,
                         sys_strerror(errno));
            return false;
        }
        if (!said) {
            char pid[32] = "";
            ssize_t n = pread(d->lockfd, pid, sizeof pid - 1, 0);
            pid[n > 0 ? n : 0] = 0;
            pid[strspn(pid, "0123456789")] = 0;
            sys_dprintf(2, "dplog: %s: in use by another dplog (pid %s); waiting for it to exit\n",
                        d->path, *pid ? pid : "?");
            said = true;
        }
        if (!wait()) {
            *err = 0;
            return false;
        }
    }
    char pid[24];
    int n = fmt_snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(d->lockfd, 0) < 0 || pwrite(d->lockfd, pid, (size_t)n, 0) != n) {
        fmt_snprintf(err, errlen, "%s/%s: cannot write: %s", d->path, lock_name,
                     sys_strerror(errno));
        return false;
    }
    return true;
}

/* A new empty current, put in place of the old name atomically. */
static int cur_replace(struct logdir *d, char *err, size_t errlen)
{
    if (unlinkat(d->dirfd, tmp_name, 0) < 0 && errno != ENOENT) {
        fmt_snprintf(err, errlen, "%s/%s: cannot remove: %s", d->path, tmp_name,
                     sys_strerror(errno));
        return -1;
    }
    int fd = openat(d->dirfd, tmp_name,
                    O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0) {
        fmt_snprintf(err, errlen, "%s/%s: cannot create: %s", d->path, tmp_name,
                     sys_strerror(errno));
        return -1;
    }
    if (renameat(d->dirfd, tmp_name, d->dirfd, cur_name) < 0) {
        fmt_snprintf(err, errlen, "%s/%s: cannot rename to current: %s", d->path, tmp_name,
                     sys_strerror(errno));
        sys_close(fd);
        return -1;
    }
    return fd;
}

/* Recovery, then current opened: a stale current.tmp goes; a current that
 * is still the newest @ file (a rotation ended between its link and its
 * rename) is replaced by an empty one. */
static bool cur_open(struct logdir *d, char *err, size_t errlen)
{
    if (unlinkat(d->dirfd, tmp_name, 0) < 0 && errno != ENOENT) {
        fmt_snprintf(err, errlen, "%s/%s: cannot remove: %s", d->path, tmp_name,
                     sys_strerror(errno));
        return false;
    }
    if (!dir_scan(d, false, err, errlen))
        return false;
    struct stat cs, ns;
    int fd = -1;
    if (d->newest[0] && fstatat(d->dirfd, cur_name, &cs, AT_SYMLINK_NOFOLLOW) == 0
        && fstatat(d->dirfd, d->newest, &ns, AT_SYMLINK_NOFOLLOW) == 0
        && cs.st_dev == ns.st_dev && cs.st_ino == ns.st_ino) {
        if ((fd = cur_replace(d, err, errlen)) < 0)
            return false;
    } else {
        fd = openat(d->dirfd, cur_name, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                    0640);
        if (fd < 0) {
            fmt_snprintf(err, errlen, "%s: cannot open: %s", d->cur_path, sys_strerror(errno));
            return false;
        }
    }
    if (fstat(fd, &cs) < 0 || !S_ISREG(cs.st_mode)) {
        fmt_snprintf(err, errlen, "%s: not a regular file", d->cur_path);
        sys_close(fd);
        return false;
    }
    if (d->curfd >= 0)
        sys_close(d->curfd);
    d->curfd = fd;
    d->size = (uint64_t)cs.st_size;
    d->linked = false;
    return true;
}

struct logdir *logdir_open(const char *path, long keep, logdir_wait_fn *wait,
                           char *err, size_t errlen)
{
    struct logdir *d = calloc(1, sizeof *d);
    size_t len = strlen(path);
    if (!d || !(d->path = strdup(path)) || !(d->cur_path = malloc(len + sizeof "/current"))) {
        fmt_snprintf(err, errlen, "%s: %s", path, sys_strerror(ENOMEM));
        if (d)
            free(d->path);
        free(d);
        return NULL;
    }
    memcpy(d->cur_path, path, len);
    memcpy(d->cur_path + len, "/current", sizeof "/current");
    d->keep = keep;
    d->lockfd = d->curfd = -1;
    struct stat st;
    d->dirfd = dir_open(path, &st, err, errlen);
    if (d->dirfd < 0 || !dir_lock(d, wait, err, errlen) || !cur_open(d, err, errlen)) {
        logdir_close(d);
        return NULL;
    }
    d->dev = st.st_dev;
    d->ino = st.st_ino;
    return d;
}

bool logdir_reopen(struct logdir **dp, logdir_wait_fn *wait, char *err, size_t errlen)
{
    struct logdir *d = *dp;
    struct stat st;
    int fd = dir_open(d->path, &st, err, errlen);
    if (fd < 0)
        return false;
    if (st.st_dev == d->dev && st.st_ino == d->ino) {
        sys_close(fd);
        return cur_open(d, err, errlen);
    }
    sys_close(fd);
    struct logdir *n = logdir_open(d->path, d->keep, wait, err, errlen);
    if (!n)
        return false;
    n->process = d->process;
    logdir_close(d);
    *dp = n;
    return true;
}

void logdir_close(struct logdir *d)
{
    if (!d)
        return;
    if (d->curfd >= 0)
        sys_close(d->curfd);
    if (d->lockfd >= 0)
        sys_close(d->lockfd);
    if (d->dirfd >= 0)
        sys_close(d->dirfd);
    free(d->cur_path);
    free(d->path);
    free(d);
}

int logdir_fd(const struct logdir *d)
{
    return d->curfd;
}

uint64_t logdir_size(const struct logdir *d)
{
    return d->size;
}

void logdir_wrote(struct logdir *d, size_t n)
{
    d->size += n;
}

long logdir_head(const struct logdir *d, char *buf, size_t n)
{
    int fd = openat(d->dirfd, cur_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = pread(fd, buf, n, 0);
    sys_close(fd);
    return (long)r;
}

const char *logdir_current_path(const struct logdir *d)
{
    return d->cur_path;
}

/* The next name: now, or the newest + 1 ns when the clock is not past it;
 * ".s", or ".u" for a processor. */
static void name_next(struct logdir *d, char *name)
{
    struct timespec now, last;
    clock_gettime(CLOCK_REALTIME, &now);
    if (d->newest[0] && stamp_tai64n_parse(d->newest + 1, &last)
        && (now.tv_sec < last.tv_sec
            || (now.tv_sec == last.tv_sec && now.tv_nsec <= last.tv_nsec))) {
        now = last;
        if (++now.tv_nsec == 1000000000) {
            now.tv_nsec = 0;
            now.tv_sec++;
        }
    }
    stamp_tai64n(name, &now);
    memcpy(name + 25, d->process ? ".u" : ".s", 3);
}

bool logdir_rotate(struct logdir *d, char *name_out, char *err, size_t errlen)
{
    if (!d->linked) {
        char name[NAME_LEN + 1];
        for (;;) {
            name_next(d, name);
            if (linkat(d->dirfd, cur_name, d->dirfd, name, 0) == 0)
                break;
            if (errno != EEXIST) {
                fmt_snprintf(err, errlen, "%s/%s: cannot link current: %s", d->path, name,
                             sys_strerror(errno));
                return false;
            }
            memcpy(d->newest, name, NAME_LEN + 1);      /* someone made it: go past it */
        }
        memcpy(d->newest, name, NAME_LEN + 1);
        d->linked = true;
    }
    int fd = cur_replace(d, err, errlen);
    if (fd < 0)
        return false;
    sys_close(d->curfd);
    d->curfd = fd;
    d->size = 0;
    d->linked = false;
    if (name_out)
        memcpy(name_out, d->newest, NAME_LEN + 1);
    char perr[512];
    if (!dir_scan(d, true, perr, sizeof perr))
        sys_dprintf(2, "dplog: %s\n", perr);
    return true;
}

void logdir_set_process(struct logdir *d, bool on)
{
    d->process = on;
}

int logdir_dirfd(const struct logdir *d)
{
    return d->dirfd;
}

bool logdir_unprocessed(struct logdir *d, char *name)
{
    int fd = openat(d->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0)
            sys_close(fd);
        return false;
    }
    struct dirent *e;
    bool done, found = false;
    while ((e = readdir(dir)) != NULL) {
        if (!rotated_name(e->d_name, &done) || done)
            continue;
        char s_name[NAME_LEN + 1];
        memcpy(s_name, e->d_name, NAME_LEN + 1);
        s_name[NAME_LEN - 1] = 's';
        struct stat st;
        if (fstatat(d->dirfd, s_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            (void)unlinkat(d->dirfd, e->d_name, 0);     /* processed, not cleaned up */
            continue;
        }
        if (!found || strcmp(e->d_name, name) < 0)
            memcpy(name, e->d_name, NAME_LEN + 1);
        found = true;
    }
    closedir(dir);
    return found;
}

bool logdir_processed(struct logdir *d, const char *name, char *err, size_t errlen)
{
    char s_name[NAME_LEN + 1];
    memcpy(s_name, name, NAME_LEN + 1);
    s_name[NAME_LEN - 1] = 's';
    if (renameat(d->dirfd, processed_name, d->dirfd, s_name) < 0) {
        fmt_snprintf(err, errlen, "%s/%s: cannot rename to %s: %s", d->path, processed_name,
                     s_name, sys_strerror(errno));
        return false;
    }
    if (renameat(d->dirfd, newstate_name, d->dirfd, state_name) < 0 && errno != ENOENT) {
        fmt_snprintf(err, errlen, "%s/%s: cannot rename to %s: %s", d->path, newstate_name,
                     state_name, sys_strerror(errno));
        return false;
    }
    if (unlinkat(d->dirfd, name, 0) < 0 && errno != ENOENT) {
        fmt_snprintf(err, errlen, "%s/%s: cannot remove: %s", d->path, name, sys_strerror(errno));
        return false;
    }
    return dir_scan(d, true, err, errlen);
}
