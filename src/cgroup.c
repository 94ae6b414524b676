/* cgroup.c - per-service cgroups under --cgroup DIR (see cgroup.h). */
#include "cgroup.h"
#include "log.h"
#include "loop.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define CGROUP2_SUPER_MAGIC 0x63677270

struct cgroup {
    struct cgroup *next;        /* every open cgroup, for the inotify watch */
    int dirfd;                  /* DIR/name */
    int procs_fd;               /* its cgroup.procs, for writing */
    int wd;                     /* inotify watch of its cgroup.events */
    bool populated;
    cgroup_fn fn;
    void *owner;
    char name[];
};

static int root_fd = -1;        /* DIR */
static char *root_path;
static int ino_fd = -1;
static loop_watch ino_watch;
static struct cgroup *all;

bool cgroup_enabled(void) { return root_fd >= 0; }
int cgroup_procs_fd(const struct cgroup *cg) { return cg->procs_fd; }
bool cgroup_populated(const struct cgroup *cg) { return cg->populated; }

/* Read "populated N" from cgroup.events. */
static bool read_populated(const struct cgroup *cg)
{
    char b[256];
    int fd = openat(cg->dirfd, "cgroup.events", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : sys_read(fd, b, sizeof b - 1);
    sys_close(fd);
    if (n <= 0)
        return cg->populated;
    b[n] = '\0';
    const char *p = strstr(b, "populated ");
    return p && p[10] == '1';
}

static void events_readable(void *ctx, uint32_t ev)
{
    (void)ctx;
    (void)ev;
    union {
        char b[4096];
        struct inotify_event align;
    } u;
    ssize_t n = sys_read(ino_fd, u.b, sizeof u.b);
    for (ssize_t off = 0; n > 0 && off < n;) {
        struct inotify_event e;
        memcpy(&e, u.b + off, sizeof e);
        off += (ssize_t)(sizeof e + e.len);
        for (struct cgroup *cg = all; cg; cg = cg->next) {
            if (cg->wd != e.wd)
                continue;
            bool p = read_populated(cg);
            if (p != cg->populated) {
                cg->populated = p;
                cg->fn(cg->owner, p);
            }
            break;
        }
    }
}

bool cgroup_init(const char *dir, const char **err)
{
    struct statfs sf;
    root_fd = sys_open(dir, O_RDONLY | O_DIRECTORY, 0);
    if (root_fd < 0) {
        *err = "cannot open";
        return false;
    }
    if (fstatfs(root_fd, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
        *err = "not a cgroup v2 directory";
        errno = ENOTDIR;
    } else if (faccessat(root_fd, ".", W_OK, AT_EACCESS) < 0) {
        *err = "not writable";
    } else if ((root_path = strdup(dir)) == NULL) {
        *err = "out of memory";
    } else if ((ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
        *err = "inotify";
    } else {
        loop_watch_init(&ino_watch, ino_fd, events_readable, NULL);
        if (loop_watch_set(&ino_watch, LOOP_IN) == 0)
            return true;
        *err = "cannot watch inotify";
    }
    int e = errno;
    sys_close(root_fd);
    sys_close(ino_fd);
    free(root_path);
    root_fd = ino_fd = -1;
    root_path = NULL;
    errno = e;
    return false;
}

struct cgroup *cgroup_open(const char *name, cgroup_fn fn, void *owner, const char **err)
{
    size_t nl = strlen(name) + 1;
    struct cgroup *cg = calloc(1, sizeof *cg + nl);
    char path[PATH_MAX];
    if (!cg) {
        *err = "out of memory";
        return NULL;
    }
    memcpy(cg->name, name, nl);
    cg->dirfd = cg->procs_fd = cg->wd = -1;
    if (mkdirat(root_fd, name, 0755) < 0 && errno != EEXIST)
        *err = "mkdir";
    else if ((cg->dirfd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        *err = "open";
    else if ((cg->procs_fd = openat(cg->dirfd, "cgroup.procs", O_WRONLY | O_CLOEXEC)) < 0)
        *err = "open cgroup.procs";
    else if (snprintf(path, sizeof path, "%s/%s/cgroup.events", root_path, name) >=
             (int)sizeof path)
        *err = "path too long";
    else if ((cg->wd = inotify_add_watch(ino_fd, path, IN_MODIFY)) < 0)
        *err = "inotify_add_watch";
    else {
        cg->fn = fn;
        cg->owner = owner;
        cg->populated = read_populated(cg);
        cg->next = all;
        all = cg;
        return cg;
    }
    int e = errno;
    sys_close(cg->procs_fd);
    sys_close(cg->dirfd);
    free(cg);
    errno = e;
    return NULL;
}

void cgroup_close(struct cgroup *cg, bool remove)
{
    if (!cg)
        return;
    for (struct cgroup **pp = &all; *pp; pp = &(*pp)->next) {
        if (*pp == cg) {
            *pp = cg->next;
            break;
        }
    }
    inotify_rm_watch(ino_fd, cg->wd);
    sys_close(cg->procs_fd);
    sys_close(cg->dirfd);
    if (remove && unlinkat(root_fd, cg->name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        log_errno(LOG_WARN, "cgroup %s/%s: rmdir", root_path, cg->name);
    free(cg);
}

/* Call fn(pid, ctx) for each pid in cgroup.procs; stops when fn says so. */
static int each_pid(const struct cgroup *cg, bool (*fn)(pid_t pid, void *ctx), void *ctx)
{
    int fd = openat(cg->dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char b[4096];
    size_t have = 0;
    ssize_t n;
    while ((n = sys_read(fd, b + have, sizeof b - have - 1)) > 0) {
        have += (size_t)n;
        b[have] = '\0';
        char *p = b, *nl;
        while ((nl = strchr(p, '\n')) != NULL) {
            *nl = '\0';
            int64_t v;
            if (sys_parse_int(p, 1, INT_MAX, &v) && !fn((pid_t)v, ctx)) {
                sys_close(fd);
                return 0;
            }
            p = nl + 1;
        }
        have = strlen(p);
        memmove(b, p, have);
    }
    sys_close(fd);
    return n < 0 ? -1 : 0;
}

static bool kill_one(pid_t pid, void *ctx)
{
    kill(pid, *(int *)ctx);
    return true;
}

int cgroup_signal(const struct cgroup *cg, int signo)
{
    if (signo == SIGKILL) {
        int fd = openat(cg->dirfd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = sys_write(fd, "1", 1);
            sys_close(fd);
            if (n == 1)
                return 0;
        }
        /* Before Linux 5.14: one by one (a process forking meanwhile may
         * escape this round). */
    }
    return each_pid(cg, kill_one, &signo);
}

struct find {
    pid_t pid;
    bool found;
};

static bool find_one(pid_t pid, void *ctx)
{
    struct find *f = ctx;
    f->found = pid == f->pid;
    return !f->found;
}

bool cgroup_contains(const struct cgroup *cg, pid_t pid)
{
    struct find f = { .pid = pid, .found = false };
    each_pid(cg, find_one, &f);
    return f.found;
}

/* --- re-exec ------------------------------------------------------------------ */

void cgroup_assume(struct cgroup *cg, bool populated)
{
    cg->populated = populated;
}

void cgroup_recheck_all(void)
{
    for (struct cgroup *cg = all, *next; cg; cg = next) {
        next = cg->next;    /* a callback may close cg */
        bool p = read_populated(cg);
        if (p != cg->populated) {
            cg->populated = p;
            cg->fn(cg->owner, p);
        }
    }
}
