/* logdir.c - a log directory's files in order (see logdir.h). */
#include "logdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* "@" + 24 lowercase hex digits + ".s" */
#define ROTATED_LEN 27

/* How often a scan starts again when `current` was replaced while the
 * names were listed (each retry sees a later state; dplog would have to
 * rotate faster than a directory can be listed to use them all). */
#define SCAN_TRIES 100

/* The files that were given recently: a file is given once. */
#define SEEN 16

struct file_id {
    dev_t dev;
    ino_t ino;
};

struct entry {
    char name[ROTATED_LEN + 1];     /* "" for current */
    int fd;                         /* -1 until opened */
    bool opened;
    off_t size;
};

struct logdir {
    int dirfd;
    int inotify;                /* -1: none, poll */
    /* The last scan: rotated files, then current (when there is one). */
    struct entry *v;
    size_t n, cap;
    char newest[ROTATED_LEN + 1];   /* the newest rotated name listed so far */
    int cur;                    /* current at the last scan, -1: none */
    struct file_id cur_id;
    /* The current of the scan before: kept open until the next scan, so
     * that no new file can have its inode while it is told apart. */
    int prev;
    struct file_id seen[SEEN];
    unsigned nseen;
    bool scanned;
    bool cur_failed;            /* the last scan failed at opening current */
};

static bool is_rotated(const char *name)
{
    if (strlen(name) != ROTATED_LEN || name[0] != '@' || strcmp(name + 25, ".s") != 0)
        return false;
    for (int i = 1; i < 25; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    return true;
}

static struct file_id id_of(const struct stat *st)
{
    return (struct file_id){ st->st_dev, st->st_ino };
}

static bool same(struct file_id a, struct file_id b)
{
    return a.dev == b.dev && a.ino == b.ino;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

struct logdir *logdir_open(const char *path)
{
    struct logdir *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cur = d->prev = d->inotify = -1;
    d->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->dirfd < 0) {
        int e = errno;
        free(d);
        errno = e;
        return NULL;
    }
    /* A rotation is a link and a rename; writes are modifications. */
    d->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (d->inotify >= 0 && inotify_add_watch(d->inotify, path, IN_MODIFY | IN_CREATE |
                                             IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF) < 0)
        close_fd(&d->inotify);
    return d;
}

static void entries_close(struct logdir *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].name[0])        /* current's fd is d->cur */
            close_fd(&d->v[i].fd);
    d->n = 0;
}

void logdir_close(struct logdir *d)
{
    if (!d)
        return;
    entries_close(d);
    free(d->v);
    close_fd(&d->cur);
    close_fd(&d->prev);
    close_fd(&d->inotify);
    close(d->dirfd);
    free(d);
}

static bool entry_add(struct logdir *d, const char *name)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct entry *v = realloc(d->v, cap * sizeof *v);
        if (!v)
            return false;
        d->v = v;
        d->cap = cap;
    }
    struct entry *e = &d->v[d->n++];
    memset(e, 0, sizeof *e);
    strcpy(e->name, name);
    e->fd = -1;
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* The rotated names after `after` (all for ""), sorted.  -1 with errno. */
static int list_rotated(struct logdir *d, const char *after)
{
    entries_close(d);
    int fd = openat(d->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        errno = e;
        return -1;
    }
    struct dirent *de;
    errno = 0;
    while ((de = readdir(dir))) {
        if (is_rotated(de->d_name) && strcmp(de->d_name, after) > 0 && !entry_add(d, de->d_name)) {
            closedir(dir);
            errno = ENOMEM;
            return -1;
        }
        errno = 0;
    }
    int e = errno;
    closedir(dir);
    if (e) {
        errno = e;
        return -1;
    }
    if (d->n)
        qsort(d->v, d->n, sizeof *d->v, by_name);
    return 0;
}

/* Open a file of the directory: a regular file only (a FIFO named
 * current would block a reader for ever; O_NONBLOCK keeps the open from
 * blocking, and changes nothing for a regular file).  -1 with errno;
 * ENOTSUP: not a regular file. */
static int open_file(const struct logdir *d, const char *name, struct stat *st)
{
    int fd = openat(d->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        int e = S_ISREG(st->st_mode) ? errno : ENOTSUP;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* current's identity now; false when it is not there. */
static bool current_id(const struct logdir *d, struct file_id *id)
{
    struct stat st;
    if (fstatat(d->dirfd, "current", &st, AT_SYMLINK_NOFOLLOW) != 0)
        return false;
    *id = id_of(&st);
    return true;
}

ssize_t logdir_scan(struct logdir *d)
{
    close_fd(&d->prev);
    d->prev = d->cur;
    d->cur = -1;
    char after[sizeof d->newest];
    strcpy(after, d->newest);
    for (int tries = 0; ; tries++) {
        close_fd(&d->cur);
        /* current first, then the names: a rotation in between shows as
         * current's file under a rotated name too (given once), or as
         * another current after the listing (then again). */
        struct stat st;
        d->cur = open_file(d, "current", &st);
        d->cur_failed = d->cur < 0 && errno != ENOENT;
        if (d->cur_failed)
            return -1;
        if (d->cur >= 0)
            d->cur_id = id_of(&st);
        if (list_rotated(d, after) != 0)
            return -1;
        struct file_id now;
        bool there = current_id(d, &now);
        if (tries + 1 >= SCAN_TRIES || (there ? d->cur >= 0 && same(now, d->cur_id) : d->cur < 0))
            break;
    }
    if (d->n)
        strcpy(d->newest, d->v[d->n - 1].name);
    if (d->cur >= 0 && !entry_add(d, "")) {
        errno = ENOMEM;
        return -1;
    }
    if (d->cur >= 0) {
        struct entry *e = &d->v[d->n - 1];
        struct stat st;
        e->fd = d->cur;
        e->size = fstat(d->cur, &st) == 0 ? st.st_size : 0;
    }
    d->scanned = true;
    return (ssize_t)d->n;
}

static bool seen(const struct logdir *d, struct file_id id)
{
    unsigned n = d->nseen < SEEN ? d->nseen : SEEN;
    for (unsigned i = 0; i < n; i++)
        if (same(d->seen[i], id))
            return true;
    return false;
}

int logdir_file(struct logdir *d, size_t i)
{
    struct entry *e = &d->v[i];
    if (e->opened || !e->name[0]) {
        errno = 0;
        e->opened = true;
        return e->fd;
    }
    e->opened = true;
    struct stat st;
    int fd = open_file(d, e->name, &st);
    if (fd < 0)
        return -1;
    struct file_id id = id_of(&st), prev_id = { 0, 0 };
    if (d->prev >= 0 && fstat(d->prev, &st) == 0)
        prev_id = id_of(&st);
    if ((d->cur >= 0 && same(id, d->cur_id)) || (d->prev >= 0 && same(id, prev_id)) ||
        seen(d, id)) {
        close(fd);
        errno = 0;
        return -1;
    }
    d->seen[d->nseen++ % SEEN] = id;
    e->fd = fd;
    e->size = st.st_size;
    return fd;
}

const char *logdir_name(const struct logdir *d, size_t i)
{
    return d->v[i].name[0] ? d->v[i].name : "current";
}

off_t logdir_size(const struct logdir *d, size_t i)
{
    return d->v[i].size;
}

bool logdir_is_current(const struct logdir *d, size_t i)
{
    return !d->v[i].name[0];
}

bool logdir_current_failed(const struct logdir *d)
{
    return d->cur_failed;
}

bool logdir_rotated(struct logdir *d)
{
    struct file_id now;
    if (!current_id(d, &now))
        return false;
    return d->cur < 0 || !same(now, d->cur_id);
}

int logdir_notify_fd(const struct logdir *d)
{
    return d->inotify;
}

void logdir_drain(struct logdir *d)
{
    char buf[4096];
    while (d->inotify >= 0 && read(d->inotify, buf, sizeof buf) > 0)
        ;
}
