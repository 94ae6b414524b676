/* main.c - dplog, the logger that ships with daemonproxy (docs/dplog.1).
 *
 * Start-up (options, signals, stdin, the directory), then one loop:
 * write what is formatted, rotate when due, format the records of what
 * was read, and read again only when everything before is written.  So
 * nothing read is lost at a stop, and a full disk stops the reading (the
 * pipe fills: back-pressure on the service) instead of dropping lines.
 *
 * The hot path per read(2): one clock_gettime, one time stamp formatted,
 * memchr and memcpy per line, one write(2) per destination.  Signal
 * handlers only set flags, which the loop looks at every turn; a wait
 * blocks the signals, looks at the flags and then waits in ppoll with them
 * open, so no flag is missed between its test and the wait (and while the
 * input flows, no wait and no extra syscall happens at all).
 */
#include "logdir.h"
#include "options.h"
#include "proc.h"
#include "record.h"
#include "sink.h"
#include "stamp.h"
#include "../src/fmt.h"
#include "../src/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdnoreturn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef DP_VERSION
#define DP_VERSION "unknown"
#endif

static const char usage_text[] =
#include "dplog_usage.h"
    ;

/* What one read(2) may bring; a pipe gives at most its size (64 KiB). */
#define READ_SIZE (128 * 1024)
/* A destination's buffer; a chunk's records fit in it unless its lines
 * are very short (then it is written more than once per read). */
#define SINK_SIZE (512 * 1024)
#define RETRY_MAX_MS 1000

static struct dplog_opts opt;
static struct logdir *dir;

/* Input: ibuf[ipos..ifill) is read and not yet formatted; it starts with
 * the partial line held from earlier reads. */
static int in_fd;
static bool in_poll_first;      /* a blocking fd we may not make non-blocking */
static char *ibuf;
static size_t ipos, ifill;
static bool in_eof;

static char stamp[STAMP_MAX];
static size_t stamp_len;
static struct timespec stamp_ts;    /* of the last read */

/* Destinations: current, and the prefixed copies. */
enum { D_FILE, D_OUT, D_ERR, D_N };
struct dest {
    struct sink s;
    bool on;
    const char *name;           /* the copy's prefix */
    size_t name_len;
    bool failing;               /* an error episode: said once, retrying */
    int64_t failing_since;
};
static struct dest dests[D_N];

static bool want_rotate;        /* the next record would not fit */
static bool rotate_failing;
static int64_t first_rec;       /* when current got its first record (-a) */

/* The processor (-p): the rotated file it works on, whether it runs, or
 * is still to run (a rotation waits for it: svlogd's rule), and when. */
static char proc_name[32];
static pid_t proc_pid;
static bool proc_todo;
static int64_t proc_at;         /* sys_mono_ms() */

static volatile sig_atomic_t got_term, got_hup, got_alrm, got_chld;
static sigset_t our_sigs;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        got_hup = 1;
    else if (sig == SIGALRM)
        got_alrm = 1;
    else if (sig == SIGCHLD)
        got_chld = 1;
    else
        got_term = 1;
}

static void signals_setup(void)
{
    static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGALRM, SIGCHLD };
    sigemptyset(&our_sigs);
    /* no SA_RESTART; SA_NOCLDSTOP: the processor's exit only */
    struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_NOCLDSTOP };
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        sigaddset(&our_sigs, sigs[i]);
        sigaction(sigs[i], &sa, NULL);
    }
    sigprocmask(SIG_UNBLOCK, &our_sigs, NULL);
    /* A closed stdout is an error to report, not a death. */
    signal(SIGPIPE, SIG_IGN);
}

enum { WAKE_TERM, WAKE_ANY };

/* Wait for fd (or just the time, fd < 0) up to ms (-1: no bound) or a
 * signal; not at all when SIGTERM (WAKE_TERM), or any signal (WAKE_ANY),
 * came already.  The fd's revents (0 after a timeout or a signal). */
static short wait_for(int fd, short events, int64_t ms, int wake)
{
    sigset_t open;
    short rev = 0;
    sigprocmask(SIG_BLOCK, &our_sigs, &open);
    if (!got_term && (wake == WAKE_TERM || (!got_hup && !got_alrm && !got_chld))) {
        struct pollfd p = { .fd = fd, .events = events };
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };
        if (ppoll(&p, fd >= 0, ms < 0 ? NULL : &ts, &open) > 0)
            rev = p.revents;
    }
    sigprocmask(SIG_SETMASK, &open, NULL);
    return rev;
}

/* Between tries for the lock another dplog holds. */
static bool lock_wait(void)
{
    static int64_t ms = 10;
    wait_for(-1, 0, ms, WAKE_TERM);
    if (ms < 250)
        ms *= 2;
    return !got_term;
}

static noreturn void die(int code, const char *msg)
{
    if (*msg)
        sys_dprintf(2, "dplog: %s\n", msg);
    exit(code);
}

/* A private non-blocking reopening of a pipe or tty (its own file
 * description: the one daemonproxy holds for the next logger stays
 * blocking), or -1. */
static int reopen_nonblock(int fd, int mode)
{
    struct stat st, nst;
    if (fstat(fd, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)))
        return -1;
    char path[40];
    fmt_snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int nfd = sys_open(path, mode | O_NONBLOCK | O_NOCTTY, 0);
    if (nfd >= 0 && (fstat(nfd, &nst) < 0 || nst.st_ino != st.st_ino || nst.st_dev != st.st_dev)) {
        sys_close(nfd);
        nfd = -1;
    }
    return nfd;
}

static void input_setup(void)
{
    struct stat st;
    if (fstat(0, &st) < 0)
        die(1, "stdin: closed");
    in_fd = S_ISREG(st.st_mode) ? -1 : reopen_nonblock(0, O_RDONLY);
    if (in_fd < 0) {
        in_fd = 0;
        in_poll_first = !S_ISREG(st.st_mode);
    }
    ibuf = malloc(opt.line_max + READ_SIZE);
    if (!ibuf)
        die(1, "out of memory");
}

static void dest_setup(int d, int fd, const char *name)
{
    if (d != D_FILE) {
        int nfd = reopen_nonblock(fd, O_WRONLY);
        if (nfd >= 0)
            fd = nfd;
    }
    size_t need = 2 * (opt.line_max + STAMP_MAX + OPT_NAME_MAX + 8);
    if (!sink_init(&dests[d].s, fd, need > SINK_SIZE ? need : SINK_SIZE))
        die(1, "out of memory");
    dests[d].on = true;
    dests[d].name = name;
    dests[d].name_len = name ? strlen(name) : 0;
}

static const char *dest_what(int d)
{
    return d == D_FILE ? logdir_current_path(dir) : d == D_OUT ? "stdout" : "stderr";
}

static int64_t now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

/* --- formatting ------------------------------------------------------------ */

/* Add r to every destination; false when it must wait: for room in a
 * buffer (flush first), or for a rotation (want_rotate set). */
static bool emit(const struct rec *r)
{
    struct dest *f = &dests[D_FILE];
    uint64_t cur = 0;
    if (f->on) {
        size_t sz = rec_file_len(stamp_len, r);
        cur = logdir_size(dir) + sink_pending(&f->s);
        if (cur > 0 && cur + sz > opt.max_size) {
            want_rotate = true;
            return false;
        }
        if (sink_room(&f->s) < sz)
            return false;
    }
    for (int d = D_OUT; d < D_N; d++)
        if (dests[d].on && sink_room(&dests[d].s) < rec_copy_len(dests[d].name_len, r))
            return false;
    if (f->on) {
        if (cur == 0)
            first_rec = stamp_ts.tv_sec;
        f->s.len = (size_t)(rec_put_file(f->s.buf + f->s.len, stamp, stamp_len, r) - f->s.buf);
    }
    for (int d = D_OUT; d < D_N; d++) {
        struct dest *c = &dests[d];
        if (c->on)
            c->s.len = (size_t)(rec_put_copy(c->s.buf + c->s.len, c->name, c->name_len, r)
                                - c->s.buf);
    }
    return true;
}

/* Format the complete records of ibuf[ipos..ifill); false when emit
 * must wait first. */
static bool format_chunk(void)
{
    struct rec r;
    size_t n;
    while ((n = rec_next(ibuf + ipos, ifill - ipos, opt.line_max, &r)) > 0) {
        if (!emit(&r))
            return false;
        ipos += n;
    }
    return true;
}

static void stamp_take(void)
{
    clock_gettime(CLOCK_REALTIME, &stamp_ts);
    if (opt.ts == TS_RFC3339)
        stamp_rfc3339(stamp, &stamp_ts);
    else if (opt.ts == TS_TAI64N)
        stamp_tai64n(stamp, &stamp_ts);
}

/* --- writing --------------------------------------------------------------- */

static int64_t retry_ms = 10;

/* Write every destination's buffer; false if one cannot be written now
 * (then we wait here before the caller tries again). */
static bool flush_all(void)
{
    int blocked_fd = -1;
    bool failed = false;
    for (int d = 0; d < D_N; d++) {
        struct dest *c = &dests[d];
        if (!c->on || !sink_pending(&c->s))
            continue;
        size_t wrote;
        enum sink_result res = sink_flush(&c->s, &wrote);
        if (d == D_FILE)
            logdir_wrote(dir, wrote);
        if (res == SINK_DONE && c->failing) {
            sys_dprintf(2, "dplog: %s: writing again (after %llds)\n", dest_what(d),
                        (long long)(sys_mono_sec() - c->failing_since));
            c->failing = false;
        }
        if (res == SINK_AGAIN) {
            blocked_fd = c->s.fd;
        } else if (res == SINK_ERROR) {
            int e = errno;
            if (e == EPIPE && d != D_FILE) {
                sys_dprintf(2, "dplog: %s: %s; no more copies there\n", dest_what(d),
                            sys_strerror(e));
                c->on = false;
                if (!dests[D_FILE].on && !dests[D_OUT].on && !dests[D_ERR].on)
                    die(1, "no destination left");
                continue;
            }
            if (!c->failing) {
                sys_dprintf(2, "dplog: %s: %s; holding %zu bytes, reading no more until "
                            "they are written (retrying)\n", dest_what(d), sys_strerror(e),
                            sink_pending(&c->s) + (ifill - ipos));
                c->failing = true;
                c->failing_since = sys_mono_sec();
            }
            failed = true;
        }
    }
    if (failed) {
        wait_for(-1, 0, retry_ms, WAKE_TERM);
        if (retry_ms < RETRY_MAX_MS)
            retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
        return false;
    }
    retry_ms = 10;
    if (blocked_fd >= 0) {
        wait_for(blocked_fd, POLLOUT, -1, WAKE_TERM);
        return false;
    }
    return true;
}

/* What a copy destination holds, to stderr after a line saying so. */
static void dump_held(int d)
{
    struct dest *c = &dests[d];
    size_t n = c->on ? sink_pending(&c->s) : 0;
    if (!n)
        return;
    sys_dprintf(2, "dplog: %s: stopping with %zu bytes not written; here they are:\n",
                dest_what(d), n);
    sys_write_all(2, c->s.buf + c->s.off, n);
}

/* SIGTERM while a destination cannot be written.  When current can be,
 * only the copies stop: what they hold goes to stderr, and the loop writes
 * the rest to current as at any stop.  Else what was read joins the
 * buffers as records (a partial line as continued), a copy gets one more
 * try, and what is left (all of current's: one more write there could pass
 * the size bound) goes to stderr: never dropped silently.  Then we stop. */
static void stop_held(void)
{
    struct dest *f = &dests[D_FILE];
    if (f->on && !f->failing && !rotate_failing) {
        for (int d = D_OUT; d < D_N; d++) {
            size_t wrote;
            if (dests[d].on)
                (void)sink_flush(&dests[d].s, &wrote);
            dump_held(d);
            dests[d].on = false;
        }
        return;
    }
    while (ipos < ifill) {
        struct rec r;
        size_t n = rec_next(ibuf + ipos, ifill - ipos, opt.line_max, &r);
        if (!n)
            n = (r = (struct rec){ ibuf + ipos, ifill - ipos, true }).len;
        for (int d = 0; d < D_N; d++) {
            struct dest *c = &dests[d];
            size_t need = d == D_FILE ? rec_file_len(stamp_len, &r)
                                      : rec_copy_len(c->name_len, &r);
            if (!c->on || !sink_reserve(&c->s, need))
                continue;
            char *e = d == D_FILE ? rec_put_file(c->s.buf + c->s.len, stamp, stamp_len, &r)
                                  : rec_put_copy(c->s.buf + c->s.len, c->name, c->name_len, &r);
            c->s.len = (size_t)(e - c->s.buf);
        }
        ipos += n;
    }
    for (int d = 0; d < D_N; d++) {
        size_t wrote;
        if (d != D_FILE && dests[d].on)
            (void)sink_flush(&dests[d].s, &wrote);
        dump_held(d);
    }
    exit(0);
}

/* --- rotation -------------------------------------------------------------- */

static bool age_due(void)
{
    return opt.age && dests[D_FILE].on && logdir_size(dir) > 0
        && now_sec() - first_rec >= (int64_t)opt.age;
}

/* ms until something is due without input: current too old, or a
 * processor to run again; -1: nothing. */
static int64_t due_wait_ms(void)
{
    int64_t ms = -1;
    if (opt.age && dests[D_FILE].on && logdir_size(dir) > 0) {
        int64_t left = first_rec + (int64_t)opt.age - now_sec();
        ms = left <= 0 ? 0 : left * 1000;
    }
    if (proc_todo && !proc_pid) {
        int64_t left = proc_at - sys_mono_ms();
        left = left < 0 ? 0 : left;
        ms = ms < 0 || left < ms ? left : ms;
    }
    return ms;
}

/* The processor's end: its output becomes the rotated file, or it runs
 * again after a second. */
static void proc_done(int status)
{
    char err[1024];
    proc_pid = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (logdir_processed(dir, proc_name, err, sizeof err)) {
            proc_todo = logdir_unprocessed(dir, proc_name);
            proc_at = 0;
            return;
        }
        sys_dprintf(2, "dplog: %s; processing again in 1s\n", err);
    } else {
        sys_dprintf(2, "dplog: processor for %s/%s failed (%s %d); again in 1s\n", opt.dir,
                    proc_name, WIFEXITED(status) ? "exit" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    proc_todo = true;
    proc_at = sys_mono_ms() + 1000;
}

/* Wait for a processor at work to end. */
static void proc_wait(void)
{
    int status;
    if (proc_pid > 0 && sys_waitpid(proc_pid, &status, 0) == proc_pid)
        proc_done(status);
}

/* Collect a processor that ended; start one that is due. */
static void proc_step(void)
{
    int status;
    if (got_chld) {
        got_chld = 0;
        if (proc_pid > 0 && sys_waitpid(proc_pid, &status, WNOHANG) == proc_pid)
            proc_done(status);
    }
    if (proc_todo && !proc_pid && sys_mono_ms() >= proc_at) {
        proc_pid = proc_start(logdir_dirfd(dir), proc_name, opt.processor);
        if (proc_pid < 0) {
            sys_dprintf(2, "dplog: processor: cannot fork: %s; again in 1s\n",
                        sys_strerror(errno));
            proc_pid = 0;
            proc_at = sys_mono_ms() + 1000;
        } else {
            proc_todo = false;
        }
    }
}

/* Rotate now (everything formatted is written); false if it failed:
 * said once, then retried after a wait. */
static bool rotate(void)
{
    char err[1024], name[32];
    if (!logdir_rotate(dir, name, err, sizeof err)) {
        if (!rotate_failing)
            sys_dprintf(2, "dplog: %s; reading no more until it works (retrying)\n", err);
        rotate_failing = true;
        wait_for(-1, 0, RETRY_MAX_MS, WAKE_TERM);
        return false;
    }
    dests[D_FILE].s.fd = logdir_fd(dir);
    if (rotate_failing)
        sys_dprintf(2, "dplog: %s: rotating again\n", logdir_current_path(dir));
    rotate_failing = false;
    if (opt.processor && !proc_pid && !proc_todo) {
        memcpy(proc_name, name, sizeof name);   /* (else proc_done finds it later) */
        proc_todo = true;
        proc_at = 0;
        proc_step();
    }
    return true;
}

/* For -a: the time of current's first record, from its stamp (now when
 * it has none: -t none, or not ours). */
static void first_rec_learn(void)
{
    char head[STAMP_MAX];
    struct timespec ts;
    long n = logdir_size(dir) > 0 ? logdir_head(dir, head, sizeof head) : -1;
    first_rec = n > 0 && stamp_parse(head, (size_t)n, &ts) ? ts.tv_sec : now_sec();
}

static void reopen(void)
{
    char err[1024];
    if (!logdir_reopen(&dir, lock_wait, err, sizeof err)) {
        if (*err)
            sys_dprintf(2, "dplog: %s; still writing the old current\n", err);
        return;
    }
    dests[D_FILE].s.fd = logdir_fd(dir);
    first_rec_learn();
}

/* --- the loop ------------------------------------------------------------------ */

/* Read once, or wait for something to read (a signal or the age of
 * current may end the wait: the loop then sees to them first). */
static void read_chunk(void)
{
    if (ipos > 0) {
        memmove(ibuf, ibuf + ipos, ifill - ipos);
        ifill -= ipos;
        ipos = 0;
    }
    if (in_poll_first && !wait_for(in_fd, POLLIN, due_wait_ms(), WAKE_ANY))
        return;                 /* a signal, or current's age */
    ssize_t n = read(in_fd, ibuf + ifill, READ_SIZE);
    if (n > 0) {
        stamp_take();
        ifill += (size_t)n;
    } else if (n == 0) {
        in_eof = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait_for(in_fd, POLLIN, due_wait_ms(), WAKE_ANY);
    } else if (errno != EINTR) {
        sys_dprintf(2, "dplog: stdin: %s; stopping as at EOF\n", sys_strerror(errno));
        in_eof = true;
    }
}

/* Everything read is written: wait for a processor at work (its file is
 * then done; one still to do is done by the next start), and exit. */
static noreturn void finish(void)
{
    proc_wait();
    exit(0);
}

static noreturn void run(void)
{
    for (;;) {
        if (got_alrm) {
            got_alrm = 0;
            if (dests[D_FILE].on)
                want_rotate = true;
        }
        if (!flush_all()) {
            if (got_term)
                stop_held();
            continue;
        }
        if (opt.processor)
            proc_step();
        if (got_hup && dests[D_FILE].on) {
            proc_wait();        /* it finishes in the directory it began in */
            reopen();
        }
        got_hup = 0;
        if (dests[D_FILE].on && (want_rotate || age_due())) {
            if (logdir_size(dir) > 0 && (proc_pid || proc_todo) && !got_term) {
                /* one rotated file in process at a time (svlogd's rule):
                 * wait, reading no more; a stop does not wait */
                wait_for(-1, 0, due_wait_ms(), WAKE_ANY);
                continue;
            }
            if (logdir_size(dir) > 0 && !rotate()) {
                if (got_term)
                    stop_held();
                continue;
            }
            want_rotate = false;
        }
        if (!format_chunk())
            continue;           /* write, or rotate, before the rest */
        bool pending = false;
        for (int d = 0; d < D_N; d++)
            pending |= dests[d].on && sink_pending(&dests[d].s);
        if (pending)
            continue;           /* this chunk is written before the next read */
        if (got_term || in_eof) {
            if (ifill == ipos)
                finish();
            /* The partial line: whole at EOF; at a stop, continued by the
             * next dplog, to which the rest of it will come. */
            struct rec r = { ibuf + ipos, ifill - ipos, !in_eof };
            if (emit(&r))
                ipos = ifill;
            continue;
        }
        read_chunk();
    }
}

int main(int argc, char **argv)
{
    char err[1024];
    switch (opts_parse(&opt, argc, argv, err, sizeof err)) {
    case OPTS_HELP:
        sys_write_all(1, usage_text, sizeof usage_text - 1);
        return 0;
    case OPTS_VERSION:
        sys_dprintf(1, "dplog %s\n", DP_VERSION);
        return 0;
    case OPTS_USAGE:
        sys_dprintf(2, "dplog: %s\n%s", err, "usage: dplog [options] [DIR]; dplog --help\n");
        return 2;
    case OPTS_RUN:
        break;
    }
    stamp_len = opt.ts == TS_RFC3339 ? STAMP_RFC3339_LEN
              : opt.ts == TS_TAI64N ? STAMP_TAI64N_LEN : 0;
    signals_setup();
    if (opt.dir) {
        dir = logdir_open(opt.dir, opt.keep, lock_wait, err, sizeof err);
        if (!dir)
            die(*err ? 1 : 0, err);
        dest_setup(D_FILE, logdir_fd(dir), NULL);
        first_rec_learn();
        if (opt.processor) {
            logdir_set_process(dir, true);
            proc_todo = logdir_unprocessed(dir, proc_name);
        }
    }
    if (opt.out_name)
        dest_setup(D_OUT, 1, opt.out_name);
    if (opt.err_name)
        dest_setup(D_ERR, 2, opt.err_name);
    input_setup();
    run();
}
