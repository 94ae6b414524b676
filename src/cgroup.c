/* cgroup.c - per-service cgroups under --cgroup DIR (see cgroup.h). */
#include "cgroup.h"
#include "fmt.h"
#include "log.h"
#include "loop.h"
#include "sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#define CGROUP2_SUPER_MAGIC 0x63677270

/* The largest /proc/self/mountinfo or /proc/PID/cgroup read. */
#define PROC_TEXT_MAX (16 << 20)

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
static char *root_hpath;        /* DIR in the hierarchy, as /proc/PID/cgroup says it */
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
    const char *p = sys_find(b, "populated ");
    return p && p[10] == '1';
}

static void events_readable(void *ctx, uint32_t ev)
{
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

/* Undo mountinfo's octal escapes ("\040" for a space) in place. */
static void unescape(char *s)
{
    char *o = s;
    for (const char *p = s; *p;) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
            p[3] >= '0' && p[3] <= '7') {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 4;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
}

/* Where the directory open as fd is in the cgroup v2 hierarchy, as
 * /proc/PID/cgroup names it ("" for the root daemonproxy sees): from
 * /proc/self/mountinfo, the cgroup2 mount of fd's device with the longest
 * mount point that its real path is in; that mount's root, then the rest
 * of the path.  Both are relative to daemonproxy's cgroup namespace, as
 * /proc/PID/cgroup is.
 * NULL if it cannot be told. */
static char *hierarchy_path(int fd)
{
    struct stat st;
    size_t len, best = 0;
    const char *root = NULL;
    char dev[32], link[32], *real = malloc(PATH_MAX);
    ssize_t got = -1;
    /* Its real path: what the kernel says fd is (realpath() would pull
     * in some kB of libc for the same answer) */
    fmt_snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    if (real && (got = readlink(link, real, PATH_MAX - 1)) >= 0)
        real[got] = '\0';
    char *text = got > 0 && real[0] == '/' && fstat(fd, &st) == 0
               ? sys_read_file("/proc/self/mountinfo", PROC_TEXT_MAX, &len) : NULL;
    if (text)
        fmt_snprintf(dev, sizeof dev, "%u:%u", major(st.st_dev), minor(st.st_dev));
    for (char *line = text, *next; line && *line; line = next) {
        /* ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS... - FSTYPE ... */
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *f[5], *sep = sys_find(line, " - "), *save = NULL;
        int n = 0;
        if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
            continue;
        *sep = '\0';
        for (char *t = strtok_r(line, " ", &save); t && n < 5; t = strtok_r(NULL, " ", &save))
            f[n++] = t;
        if (n < 5 || strcmp(f[2], dev) != 0)
            continue;
        unescape(f[3]);
        unescape(f[4]);
        size_t ml = strcmp(f[4], "/") == 0 ? 0 : strlen(f[4]);
        if (strncmp(real, f[4], ml) != 0 || (real[ml] != '/' && real[ml] != '\0') ||
            (root && ml < best))
            continue;
        root = f[3];    /* of two on the same mount point, the later is on top */
        best = ml;
    }
    char *out = NULL;
    if (root) {
        if (strcmp(root, "/") == 0)
            root = "";
        size_t rl = strlen(root), pl = strlen(real + best);
        if ((out = malloc(rl + pl + 1)) != NULL) {
            memcpy(out, root, rl);
            memcpy(out + rl, real + best, pl + 1);
        }
    }
    free(text);
    free(real);
    return out;
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
    } else if ((root_hpath = hierarchy_path(root_fd)) == NULL) {
        *err = "cannot tell where it is in the cgroup hierarchy (/proc/self/mountinfo)";
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
    free(root_hpath);
    root_fd = ino_fd = -1;
    root_path = root_hpath = NULL;
    errno = e;
    return false;
}

static bool limit_descendants(const struct cgroup *cg);

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
    bool made = mkdirat(root_fd, name, 0755) == 0;
    if (!made && errno != EEXIST)
        *err = "mkdir";
    else if ((cg->dirfd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        *err = "open";
    else if (made && !limit_descendants(cg))
        *err = "cannot set cgroup.max.descendants";
    else if ((cg->procs_fd = openat(cg->dirfd, "cgroup.procs", O_WRONLY | O_CLOEXEC)) < 0)
        *err = "open cgroup.procs";
    else if (fmt_snprintf(path, sizeof path, "%s/%s/cgroup.events", root_path, name) >=
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
 * they are still the service's.  Signals and the removal walk the whole
 * subtree by directory fds, never by path, so that any depth works (a
 * relative mkdir goes far past PATH_MAX): down with openat(fd, name), back
 * up with openat(fd, ".."), which is the cgroup we came from since a
 * cgroup can be renamed only within its parent.  One directory fd is open
 * at a time, and the names below each cgroup on the way down (read before
 * descending).  Which cgroup a process is in is read from
 * /proc/PID/cgroup, no walk.
 *
 * The walk runs on the event loop and a hostile service shapes the
 * subtree, so a walk enters at most CGROUP_WALK_MAX cgroups, however they
 * are arranged: a chain that deep costs what as many side by side do,
 * about 10 system calls each (signalling 1,024 took some 60 ms on a busy
 * 2-core box, removing them 0.1 to 0.5 s, most of it the kernel's rmdir).
 * So that a service cannot reach that bound, its cgroup gets
 * cgroup.max.descendants CGROUP_WALK_MAX - 1 when daemonproxy creates it:
 * the kernel refuses the mkdir of one more, and a service that is not
 * root cannot raise the limit (the file is daemonproxy's, never
 * delegated).  Should a walk still stop at the bound (a root service
 * raised it), its caller says so: a signal may have missed processes,
 * cgroups are left behind.
 */

#define CGROUP_WALK_MAX 1024

/* A new service cgroup: no more below it than a walk enters (see above). */
static bool limit_descendants(const struct cgroup *cg)
{
    char v[16];
    int n = fmt_snprintf(v, sizeof v, "%d", CGROUP_WALK_MAX - 1);
    int fd = openat(cg->dirfd, "cgroup.max.descendants", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;     /* before Linux 4.14: the walk's bound alone */
    bool ok = sys_write(fd, v, (size_t)n) == n;
    sys_close(fd);
    return ok;
}

/* One walk: what it does at each cgroup, and what it met. */
struct walk {
    /* At each cgroup (its fd), before the ones below it. */
    void (*pre)(struct walk *w, int fd);
    /* At each cgroup below the top, after the ones below it: its parent's
     * fd and its name. */
    void (*post)(struct walk *w, int parent, const char *name);
    int signo;              /* signal_procs: the signal */
    unsigned failed;        /* remove_one: rmdirs that failed */
    int rm_err;             /* remove_one: the reason of the first */
    unsigned entered;       /* cgroups entered, the top included */
    bool cut;               /* stopped at CGROUP_WALK_MAX */
    int err;                /* the first error that was not "gone meanwhile" */
};

/* A level of the walk: the names of the cgroups below one cgroup,
 * NUL-separated; next is where the next one to enter starts, cur where
 * the one entered last starts. */
struct level {
    char *names;
    size_t used, next, cur;
};

static void walk_error(struct walk *w, int e)
{
    if (!w->err && e != ENOENT && e != ENOTDIR)
        w->err = e;
}

/* The names of the directories in the cgroup at fd, into l.  False (with
 * w->err) if they cannot be read. */
static bool list_below(struct walk *w, int fd, struct level *l)
{
    *l = (struct level){ 0 };
    int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        walk_error(w, errno);
        sys_close(dfd);
        return false;
    }
    size_t cap = 0;
    bool ok = true;
    for (struct dirent *e; ok && (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name) + 1;
        if ((e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) ||
            strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (l->used + n > cap) {
            size_t ncap = cap ? cap : 256;
            while (ncap < l->used + n)
                ncap *= 2;
            char *g = realloc(l->names, ncap);
            if (!g) {
                walk_error(w, ENOMEM);
                ok = false;
                break;
            }
            l->names = g;
            cap = ncap;
        }
        memcpy(l->names + l->used, e->d_name, n);
        l->used += n;
    }
    closedir(d);
    return ok;
}

/* Walk cg's subtree depth first (see above): w->pre at each cgroup on the
 * way down, w->post at each below the top on the way up.  Stops after
 * CGROUP_WALK_MAX cgroups (w->cut), or where a level cannot be read or
 * left (w->err). */
static void walk(const struct cgroup *cg, struct walk *w)
{
    struct level *lv = NULL;
    size_t depth = 0, cap = 0;
    int fd = openat(cg->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool go = fd >= 0;
    if (fd < 0)
        walk_error(w, errno);
    while (go) {
        /* fd is a cgroup just entered */
        w->entered++;
        if (w->pre)
            w->pre(w, fd);
        if (depth == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct level *g = realloc(lv, ncap * sizeof *g);
            if (!g) {
                walk_error(w, ENOMEM);
                break;
            }
            lv = g;
            cap = ncap;
        }
        if (!list_below(w, fd, &lv[depth]))
            break;
        depth++;
        /* The next cgroup to enter: the next name of the deepest level
         * that has one left, going up as levels run out. */
        for (;;) {
            struct level *l = &lv[depth - 1];
            if (l->next < l->used) {
                if (w->entered >= CGROUP_WALK_MAX) {
                    w->cut = true;
                    go = false;
                    break;
                }
                const char *name = l->names + l->next;
                l->cur = l->next;
                l->next += strlen(name) + 1;
                int c = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (c < 0) {
                    walk_error(w, errno);   /* gone meanwhile, or not a cgroup */
                    continue;
                }
                sys_close(fd);
                fd = c;
                break;
            }
            free(l->names);
            if (--depth == 0) {
                go = false;
                break;
            }
            int p = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            sys_close(fd);
            fd = p;
            if (p < 0) {
                walk_error(w, errno == ENOENT ? ESTALE : errno);
                go = false;
                break;
            }
            struct level *up = &lv[depth - 1];
            if (w->post)
                w->post(w, fd, up->names + up->cur);
        }
    }
    while (depth > 0)
        free(lv[--depth].names);
    free(lv);
    sys_close(fd);
}

/* Signal each pid in the cgroup.procs of the cgroup at fd. */
static void signal_procs(struct walk *w, int fd)
{
    int pfd = openat(fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    if (pfd < 0) {
        walk_error(w, errno);
        return;
    }
    char b[4096];
    size_t have = 0;
    ssize_t n;
    while ((n = sys_read(pfd, b + have, sizeof b - have - 1)) > 0) {
        have += (size_t)n;
        b[have] = '\0';
        char *p = b, *nl;
        while ((nl = strchr(p, '\n')) != NULL) {
            *nl = '\0';
            int64_t v;
            if (sys_parse_int(p, 1, INT_MAX, &v))
                kill((pid_t)v, w->signo);
            p = nl + 1;
        }
        have = strlen(p);
        memmove(b, p, have);
    }
    if (n < 0)
        walk_error(w, errno);
    sys_close(pfd);
}

int cgroup_signal(const struct cgroup *cg, int signo, const char **err)
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
    struct walk w = { .pre = signal_procs, .signo = signo };
    walk(cg, &w);
    if (w.cut) {
        static char msg[160];
        fmt_snprintf(msg, sizeof msg, "the service's cgroup has more than %d below it: the "
                 "processes of only %d were signalled (SIGKILL, by cgroup.kill, reaches all)",
                 CGROUP_WALK_MAX - 1, CGROUP_WALK_MAX);
        *err = msg;
        return -1;
    }
    if (w.err) {
        *err = sys_strerror(w.err);
        errno = w.err;
        return -1;
    }
    return 0;
}

/* Whether the "0::" line of a /proc/PID/cgroup (text) names the cgroup
 * hpath/name or one below it.  The kernel cuts that line at PATH_MAX - 1
 * bytes; a cut line still holds the part compared, which is shorter. */
static bool names_cgroup(const char *text, const char *hpath, const char *name)
{
    const char *line = text;
    while (strncmp(line, "0::", 3) != 0) {
        line = strchr(line, '\n');
        if (!line)
            return false;
        line++;
    }
    const char *p = line + 3;
    size_t hl = strlen(hpath), nl = strlen(name);
    if (strncmp(p, hpath, hl) != 0 || p[hl] != '/' || strncmp(p + hl + 1, name, nl) != 0)
        return false;
    p += hl + 1 + nl;
    return *p == '/' || *p == '\n' || *p == '\0';
}

bool cgroup_contains(const struct cgroup *cg, pid_t pid)
{
    char path[32];
    size_t len;
    fmt_snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    char *text = sys_read_file(path, PROC_TEXT_MAX, &len);
    bool in = text && names_cgroup(text, root_hpath, cg->name);
    free(text);
    return in;
}

/* Remove the cgroup name below parent (those below it are gone already). */
static void remove_one(struct walk *w, int parent, const char *name)
{
    if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT && !w->failed++)
        w->rm_err = errno;
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
    if (remove) {
        struct walk w = { .post = remove_one };
        walk(cg, &w);       /* the ones below first */
        remove_one(&w, root_fd, cg->name);
        /* The cause first: the path may be long, and a log line is not. */
        if (w.cut)
            log_warn("cgroups left behind: more than %d below cgroup %s/%s (no more are "
                     "walked)", CGROUP_WALK_MAX - 1, root_path, cg->name);
        else if (w.failed)
            log_warn("cgroups left behind (rmdir: %s): %u in cgroup %s/%s and below",
                     sys_strerror(w.rm_err), w.failed, root_path, cg->name);
        else if (w.err)
            log_warn("cgroups may be left behind (%s while walking those below cgroup %s/%s)",
                     sys_strerror(w.err), root_path, cg->name);
    }
    sys_close(cg->dirfd);
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
