/* cgroup.c - per-service cgroups under --cgroup DIR (see cgroup.h). */
#include "cgroup.h"
#include "log.h"
#include "loop.h"
#include "sys.h"

#include <dirent.h>
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

/* --- the subtree ------------------------------------------------------------------
 *
 * A service may make cgroups below its own and move processes into them:
 * they are still the service's.  Signals, the membership of a pid and the
 * removal walk the whole subtree, by path from DIR, holding no fd across
 * levels (the names of a level are read first), so its depth is bounded
 * only by what a path can say.
 */

typedef bool (*visit_fn)(const char *path, void *ctx);

/* Call fn with path (relative to DIR, in a buffer of PATH_MAX bytes whose
 * first len are used) and with each cgroup below it: before the ones
 * below (pre-order), or after them (post, to remove).  Returns false as
 * soon as fn does. */
static bool walk(char *path, size_t len, bool post, visit_fn fn, void *ctx)
{
    if (!post && !fn(path, ctx))
        return false;
    int fd = openat(root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    char *names = NULL;
    size_t used = 0, cap = 0;
    if (!d)
        sys_close(fd);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name) + 1;
        if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (used + n > cap) {
            size_t ncap = cap ? cap : 256;
            while (ncap < used + n)
                ncap *= 2;
            char *g = realloc(names, ncap);
            if (!g)
                break;      /* out of memory: the rest is not walked */
            names = g;
            cap = ncap;
        }
        memcpy(names + used, e->d_name, n);
        used += n;
    }
    if (d)
        closedir(d);
    bool go = true;
    for (size_t off = 0; go && off < used; off += strlen(names + off) + 1) {
        size_t n = strlen(names + off);
        if (len + 1 + n >= PATH_MAX)
            continue;
        path[len] = '/';
        memcpy(path + len + 1, names + off, n + 1);
        go = walk(path, len + 1 + n, post, fn, ctx);
        path[len] = '\0';
    }
    free(names);
    return go && (!post || fn(path, ctx));
}

/* Walk cg's subtree (see walk). */
static bool walk_cgroup(const struct cgroup *cg, bool post, visit_fn fn, void *ctx)
{
    char path[PATH_MAX];
    size_t len = strlen(cg->name);
    memcpy(path, cg->name, len + 1);
    return walk(path, len, post, fn, ctx);
}

/* What a walk over the processes does with each. */
struct each_pid {
    bool (*fn)(pid_t pid, void *ctx);   /* false: stop */
    void *ctx;
    int err;                            /* the first that was not ENOENT */
};

/* Call the walk's fn for each pid in cgroup.procs of the cgroup at path. */
static bool procs_of(const char *path, void *ctx)
{
    struct each_pid *w = ctx;
    char procs[PATH_MAX];
    if (snprintf(procs, sizeof procs, "%s/cgroup.procs", path) >= (int)sizeof procs)
        return true;
    int fd = openat(root_fd, procs, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT && !w->err)
        w->err = errno;
    if (fd < 0)
        return true;    /* the others may still be read */
    char b[4096];
    size_t have = 0;
    ssize_t n;
    bool go = true;
    while (go && (n = sys_read(fd, b + have, sizeof b - have - 1)) > 0) {
        have += (size_t)n;
        b[have] = '\0';
        char *p = b, *nl;
        while (go && (nl = strchr(p, '\n')) != NULL) {
            *nl = '\0';
            int64_t v;
            if (sys_parse_int(p, 1, INT_MAX, &v))
                go = w->fn((pid_t)v, w->ctx);
            p = nl + 1;
        }
        have = strlen(p);
        memmove(b, p, have);
    }
    sys_close(fd);
    return go;
}

static bool kill_one(pid_t pid, void *ctx)
{
    kill(pid, *(int *)ctx);
    return true;
}

int cgroup_signal(const struct cgroup *cg, int signo)
{
    if (signo == SIGKILL) {
        /* cgroup.kill takes the subtree with it. */
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
    struct each_pid w = { kill_one, &signo, 0 };
    walk_cgroup(cg, false, procs_of, &w);
    errno = w.err;
    return w.err ? -1 : 0;
}

static bool not_this(pid_t pid, void *ctx)
{
    return pid != *(pid_t *)ctx;
}

bool cgroup_contains(const struct cgroup *cg, pid_t pid)
{
    struct each_pid w = { not_this, &pid, 0 };
    return !walk_cgroup(cg, false, procs_of, &w);
}

/* Remove the cgroup at path (its subtree is gone already); the first
 * failure is logged. */
static bool remove_one(const char *path, void *ctx)
{
    bool *said = ctx;
    if (unlinkat(root_fd, path, AT_REMOVEDIR) < 0 && errno != ENOENT && !*said) {
        log_errno(LOG_WARN, "cgroup %s/%s: rmdir", root_path, path);
        *said = true;
    }
    return true;
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
    bool said = false;
    if (remove)
        walk_cgroup(cg, true, remove_one, &said);   /* the ones below first */
    free(cg);
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
