/* logs.c - dpctl logs and the detail view's last records (see logs.h). */
#include "logs.h"
#include "dpctl.h"
#include "logdir.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/* Read and write this much at a time. */
#define CHUNK 65536

/* How long a follow sleeps without a notice from inotify: the bound on
 * noticing a change inotify did not report (an overflow of its queue),
 * and the poll period without inotify. */
#define FOLLOW_WAKE_MS 1000
#define FOLLOW_POLL_MS 200

/* Where records go: a FILE, escaped or not, each line indented or not. */
struct sink {
    FILE *out;
    bool escape;
    const char *indent;         /* before each line, or NULL */
    bool line_start;            /* the next byte starts a line */
};

static void sink_put(struct sink *s, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) + 1 : n;
        if (s->line_start && s->indent)
            fputs(s->indent, s->out);
        if (s->escape) {
            static char buf[4 * 4096];
            for (size_t done = 0; done < k; ) {
                size_t piece = k - done < 4096 ? k - done : 4096;
                fwrite(buf, 1, logtext_escape(p + done, piece, buf), s->out);
                done += piece;
            }
        } else {
            fwrite(p, 1, k, s->out);
        }
        s->line_start = nl != NULL;
        p += k;
        n -= k;
    }
}

/* The records of one file after another, through --since when given:
 * a record is judged by its stamp (the first LOGTEXT_STAMP_MAX bytes,
 * gathered across reads), and one that continues a line ('+' before it)
 * goes with the record it continues. */
struct reader {
    struct sink sink;
    const char *dir;
    FILE *err;                  /* where failures are said: stderr, or the view */
    const char *pre, *post;     /* around such a line */
    const struct logtime *since;    /* NULL: every record */
    bool start;                 /* the next byte starts a record */
    bool keep;                  /* the record being read is shown */
    bool cont;                  /* the last record went on in the next */
    size_t nhead;
    char head[LOGTEXT_STAMP_MAX];
};

/* Judge the record whose head (its first bytes, or all of it) is held. */
static bool judge(struct reader *r)
{
    struct logtime t;
    bool cont;
    if (!logtext_stamp(r->head, r->nhead, &t, &cont))
        return false;
    if (!r->cont)
        r->keep = logtext_cmp(&t, r->since) >= 0;
    r->cont = cont;
    r->start = false;
    if (r->keep)
        sink_put(&r->sink, r->head, r->nhead);
    if (r->head[r->nhead - 1] == '\n')
        r->start = true;
    r->nhead = 0;
    return true;
}

/* n bytes read from a file.  False when --since met a record without a
 * stamp. */
static bool feed(struct reader *r, const char *p, size_t n)
{
    if (!r->since) {
        sink_put(&r->sink, p, n);
        if (n)
            r->start = p[n - 1] == '\n';
        return true;
    }
    while (n) {
        if (r->start) {
            size_t k = sizeof r->head - r->nhead;
            k = n < k ? n : k;
            const char *nl = memchr(p, '\n', k);
            if (nl)
                k = (size_t)(nl - p) + 1;
            memcpy(r->head + r->nhead, p, k);
            r->nhead += k;
            p += k;
            n -= k;
            if (!nl && r->nhead < sizeof r->head)
                return true;        /* the rest of the head comes later */
            if (!judge(r))
                return false;
            continue;
        }
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) + 1 : n;
        if (r->keep)
            sink_put(&r->sink, p, k);
        r->start = nl != NULL;
        p += k;
        n -= k;
    }
    return true;
}

/* The end of a file that is read to its end: a last record without its
 * newline (a partial line) is ended, so that the next file's first
 * record starts a line. */
static bool finish(struct reader *r)
{
    if (r->since && r->nhead && !judge(r))
        return false;
    if (!r->start && (!r->since || r->keep))
        sink_put(&r->sink, "\n", 1);
    r->start = true;
    return true;
}

/* Say why the directory or one of its files failed (errno); returns
 * DPCTL_FAILED. */
static int say(const struct reader *r, const char *name, const char *what)
{
    fprintf(r->err, "%s%s%s%s: %s: %s%s\n", r->pre, r->dir, name ? "/" : "", name ? name : "",
            what, errno == ENOTSUP ? "not a regular file" : strerror(errno), r->post);
    return DPCTL_FAILED;
}

static int say_stampless(const struct reader *r, const char *name)
{
    fprintf(r->err, "%s%s/%s: a record without a timestamp: --since needs the timestamps "
            "dplog writes (rfc3339 or tai64n, not -t none)%s\n", r->pre, r->dir, name, r->post);
    return DPCTL_FAILED;
}

static int scan_failed(const struct reader *r, const struct logdir *d)
{
    bool cur = logdir_current_failed(d);
    return say(r, cur ? "current" : NULL, cur ? "cannot open" : "cannot list");
}

/* File i of the scan: its fd, -1 to skip it, or -2 after saying why. */
static int file_fd(const struct reader *r, struct logdir *d, size_t i)
{
    int fd = logdir_file(d, i);
    if (fd < 0 && errno != 0 && errno != ENOENT) {
        say(r, logdir_name(d, i), "cannot open");
        return -2;
    }
    return fd;
}

/* Where the last `lines` records begin: file *first at offset *off,
 * found by reading the newest files backwards.  Returns 0 or an exit
 * code. */
static int tail_start(const struct reader *r, struct logdir *d, size_t n, long long lines,
                      size_t *first, off_t *off)
{
    static char buf[CHUNK];
    *first = 0;
    *off = 0;
    if (lines == 0) {       /* nothing old: the end of current */
        *first = n;
        if (n && logdir_is_current(d, n - 1) && logdir_file(d, n - 1) >= 0) {
            *first = n - 1;
            *off = logdir_size(d, n - 1);
        }
        return DPCTL_OK;
    }
    for (size_t i = n; i-- > 0; ) {
        int fd = file_fd(r, d, i);
        if (fd == -2)
            return DPCTL_FAILED;
        if (fd < 0)
            continue;
        off_t size = logdir_size(d, i);
        for (off_t end = size; end > 0; ) {
            size_t k = end > (off_t)sizeof buf ? sizeof buf : (size_t)end;
            off_t at = end - (off_t)k;
            ssize_t got = pread(fd, buf, k, at);
            if (got < 0)
                return say(r, logdir_name(d, i), "read");
            if ((size_t)got < k)        /* shorter than it was: from what there is */
                k = (size_t)got;
            for (size_t j = k; j-- > 0; ) {
                /* Each newline but the file's last byte begins a record. */
                if (buf[j] != '\n' || at + (off_t)j == size - 1 || --lines > 0)
                    continue;
                *first = i;
                *off = at + (off_t)j + 1;
                return DPCTL_OK;
            }
            end = at;
        }
        if (size > 0 && --lines == 0) {     /* the file's first record */
            *first = i;
            return DPCTL_OK;
        }
    }
    return DPCTL_OK;
}

/* Read fd from where it is to its end into the reader. */
static int drain(struct reader *r, int fd, const char *name)
{
    static char buf[CHUNK];
    for (;;) {
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return say(r, name, "read");
        if (got == 0)
            return DPCTL_OK;
        if (!feed(r, buf, (size_t)got))
            return say_stampless(r, name);
    }
}

/* Files from..n-1 of the last scan to their ends (the first from off);
 * current's last partial line is left open when following. */
static int read_files(struct reader *r, struct logdir *d, size_t from, size_t n, off_t off,
                      bool follow)
{
    for (size_t i = from; i < n; i++, off = 0) {
        int fd = file_fd(r, d, i);
        if (fd == -2)
            return DPCTL_FAILED;
        if (fd < 0)
            continue;
        if (lseek(fd, off, SEEK_SET) < 0)
            return say(r, logdir_name(d, i), "seek");
        int rc = drain(r, fd, logdir_name(d, i));
        if (rc)
            return rc;
        if ((!follow || !logdir_is_current(d, i)) && !finish(r))
            return say_stampless(r, logdir_name(d, i));
    }
    return DPCTL_OK;
}

/* What was read so far is written out; false when stdout failed (its
 * reader went away: the end of a follow, as for watch). */
static bool flushed(FILE *out)
{
    return fflush(out) == 0 && !ferror(out);
}

/* -f: wait for the directory to change, read what came, and on a
 * rotation read the file that was current to its end, then the files
 * rotated since, then the new current.  Ends only by a signal or when
 * stdout's reader goes away. */
static int follow(struct reader *r, struct logdir *d, ssize_t n)
{
    int cur = n > 0 && logdir_is_current(d, (size_t)n - 1) ? logdir_file(d, (size_t)n - 1) : -1;
    for (;;) {
        int rc = cur >= 0 ? drain(r, cur, "current") : DPCTL_OK;
        if (rc)
            return rc;
        if (logdir_rotated(d)) {
            /* Everything for the old current was written before the link. */
            if (cur >= 0 && ((rc = drain(r, cur, "current")) || !finish(r)))
                return rc ? rc : say_stampless(r, "current");
            if ((n = logdir_scan(d)) < 0)
                return scan_failed(r, d);
            if ((rc = read_files(r, d, 0, (size_t)n, 0, true)))
                return rc;
            cur = n > 0 && logdir_is_current(d, (size_t)n - 1) ? logdir_file(d, (size_t)n - 1)
                                                             : -1;
            continue;
        }
        if (!flushed(stdout))
            return DPCTL_FAILED;
        int nfd = logdir_notify_fd(d);
        struct pollfd p[2] = { { STDOUT_FILENO, 0, 0 }, { nfd, POLLIN, 0 } };
        int k = poll(p, nfd >= 0 ? 2 : 1, nfd >= 0 ? FOLLOW_WAKE_MS : FOLLOW_POLL_MS);
        if (k < 0 && errno != EINTR) {
            fprintf(stderr, "dpctl: poll: %s\n", strerror(errno));
            return DPCTL_FAILED;
        }
        if (p[0].revents & (POLLERR | POLLHUP))
            return DPCTL_FAILED;        /* stdout's reader went away */
        logdir_drain(d);
    }
}

/* The records of dir into r from the last lines (-1: all), following
 * or not.  Returns an exit code after saying what failed. */
static int read_dir(struct reader *r, long long lines, bool follow_it)
{
    struct logdir *d = logdir_open(r->dir);
    if (!d)
        return say(r, NULL, "cannot open");
    ssize_t n = logdir_scan(d);
    size_t first = 0;
    off_t off = 0;
    int rc = n < 0 ? scan_failed(r, d) : DPCTL_OK;
    if (!rc && lines >= 0)
        rc = tail_start(r, d, (size_t)n, lines, &first, &off);
    if (!rc)
        rc = read_files(r, d, first, (size_t)n, off, follow_it);
    if (!rc && follow_it)
        rc = follow(r, d, n);
    logdir_close(d);
    return rc;
}

int logs_print(const char *dir, const struct logs_opts *o)
{
    static char out[CHUNK];
    setvbuf(stdout, out, _IOFBF, sizeof out);
    struct reader r = {
        .sink = { stdout, isatty(STDOUT_FILENO) == 1, NULL, true },
        .dir = dir, .err = stderr, .pre = "dpctl: ", .post = "",
        .since = o->since_given ? &o->since : NULL,
        .start = true,
    };
    int rc = read_dir(&r, o->lines, o->follow);
    if (!flushed(stdout) && !rc)
        rc = DPCTL_FAILED;
    return rc;
}

void logs_show_recent(FILE *out, const char *dir, int n)
{
    fprintf(out, "  %-10s%s\n", "log:", dir);
    struct reader r = {
        .sink = { out, true, "    ", true },
        .dir = dir, .err = out, .pre = "    (", .post = ")",
        .start = true,
    };
    read_dir(&r, n, false);
}
