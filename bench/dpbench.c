/* dpbench.c - measuring instrument for daemonproxy (see bench/run.py).
 *
 * Each subcommand measures one figure once and prints "key value" lines;
 * run.py repeats them, takes medians and computes the ratios against the
 * baselines, which are measured by the same program in the same run.
 *
 *   dpbench forkexec N PROG              N children started at once, then all reaped
 *   dpbench spawn DP N PROG DEFINED HANDLES [OPT...]
 *                                        the same through daemonproxy: N starts,
 *                                        N "down" events (DEFINED extra services and
 *                                        HANDLES handles defined beforehand; each
 *                                        service with service.opts OPT... if given)
 *   dpbench tput CMD... -- N             N "echo\tx" lines through CMD, all replies read
 *   dpbench rtt CMD... -- N              one-at-a-time round trips (pinned to CPU 0)
 *   dpbench stormrtt DP NSVC N -- ARGS...
 *                                        N echo round trips, 5-15 ms apart (not
 *                                        pinned), of a controller of "DP ARGS..."
 *                                        while NSVC services "true" crash-loop
 *                                        (auto-up always, 1 s); also counts the
 *                                        overflows and the restart rate
 *   dpbench exitlat DP N                 child exit -> "down" event latency
 *   dpbench waitlat N                    child exit -> waitpid() latency (baseline)
 *   dpbench dump DP NSVC NHANDLE         statedump time until the last line is read
 *   dpbench reexec DP NSVC NRUN NHANDLE K
 *                                        K live re-execs of one daemon holding NSVC
 *                                        services (NRUN of them running) and NHANDLE
 *                                        handles: `reexec` sent -> the new process's
 *                                        `reexec` event read -> an echo sent then
 *                                        answered; each preceded by a statedump of the
 *                                        same daemon (its time as a reference)
 *   dpbench execfloor N K                the kernel's floor for a re-exec handing over N
 *                                        fds: spawn and wait for a trivial check, clear
 *                                        close-on-exec on N fds, exec, set it again with
 *                                        close_range and poll() the N; K rounds
 *   dpbench up DP N                      N long-running services -> N "up" events
 *   dpbench bareup N                     N posix_spawn()s of the same (baseline)
 *   dpbench mem DP                       VmRSS / private memory at several sizes
 *   dpbench notifylat DP N               readiness notification latency: a service's
 *                                        sd_notify datagram -> the "service.notify"
 *                                        line read by the controller (pinned to CPU 0)
 *   dpbench pipelat N                    two pipe hops A -> B -> A (baseline; pinned)
 *   dpbench relaylat N                   a datagram to a minimal relay, a pipe back (pinned)
 *   dpbench dpctl DP DPCTL NSVC NHANDLE  "dpctl status" (and --json) to /dev/null with NSVC
 *                                        services and NHANDLE handles, against the
 *                                        baseline: a statedump read by a bare socket
 *                                        client (median of 7 each, taking turns)
 *   dpbench statusrun DP N K SVSTAT DPCTL...
 *                                        "dpctl status" (whole process, output to
 *                                        /dev/null) of each DPCTL with N running
 *                                        services, against daemontools' SVSTAT ("-":
 *                                        none) on N directories laid out as supervise
 *                                        leaves them (see svstat_dir); K rounds taking
 *                                        turns, medians
 *   dpbench stamp FILE                   (helper) write CLOCK_MONOTONIC ns to FILE, exit
 *   dpbench notifier                     (helper) the notifylat service: for each byte
 *                                        read on fd 0, send "STATUS=t<ns>" to $NOTIFY_SOCKET
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dpbench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* --- a child process on two pipes ------------------------------------------ */

struct peer {
    pid_t pid;
    int in, out;        /* we write to in, read from out */
    char buf[1 << 16];
    size_t start, len;
    /* Commands are queued and written by a thread, so that the reader
     * never deadlocks against a peer whose replies fill the pipe. */
    char *wbuf;
    size_t wlen, wcap;
    pthread_t writer;
    bool writing;
};

static void peer_start(struct peer *p, char **argv, int cpu)
{
    int a[2], b[2];
    if (pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0)
        die("pipe: %s", strerror(errno));
    p->pid = fork();
    if (p->pid < 0)
        die("fork: %s", strerror(errno));
    if (p->pid == 0) {
        if (cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            sched_setaffinity(0, sizeof set, &set);
        }
        dup2(a[0], 0);
        dup2(b[1], 1);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(a[0]);
    close(b[1]);
    p->in = a[1];
    p->out = b[0];
    p->start = p->len = 0;
    p->wbuf = NULL;
    p->wlen = p->wcap = 0;
    p->writing = false;
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            die("write: %s", strerror(errno));
        }
        s += k;
        n -= (size_t)k;
    }
}

static void *writer_main(void *arg)
{
    struct peer *p = arg;
    write_all(p->in, p->wbuf, p->wlen);
    return NULL;
}

static void peer_join(struct peer *p)
{
    if (p->writing) {
        pthread_join(p->writer, NULL);
        p->writing = false;
        p->wlen = 0;
    }
}

/* Queue bytes; peer_flush() sends them. */
static void peer_queue(struct peer *p, const char *s, size_t n)
{
    peer_join(p);
    if (p->wlen + n > p->wcap) {
        p->wcap = (p->wlen + n) * 2;
        p->wbuf = realloc(p->wbuf, p->wcap);
    }
    memcpy(p->wbuf + p->wlen, s, n);
    p->wlen += n;
}

/* Start writing what is queued, in the background. */
static void peer_flush(struct peer *p)
{
    peer_join(p);
    if (p->wlen && pthread_create(&p->writer, NULL, writer_main, p) == 0)
        p->writing = true;
}

static void peer_printf(struct peer *p, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    peer_queue(p, line, (size_t)n);
}

/* Send queued commands and wait until they are written (small batches). */
static void peer_write(struct peer *p, const char *s, size_t n)
{
    peer_queue(p, s, n);
    peer_flush(p);
    peer_join(p);
}

/* The next line already read (without '\n', NUL-terminated), or NULL. */
static char *peer_buffered_line(struct peer *p)
{
    char *nl = memchr(p->buf + p->start, '\n', p->len - p->start);
    if (nl) {
        char *l = p->buf + p->start;
        *nl = '\0';
        p->start = (size_t)(nl - p->buf) + 1;
        return l;
    }
    if (p->start) {
        memmove(p->buf, p->buf + p->start, p->len - p->start);
        p->len -= p->start;
        p->start = 0;
    }
    return NULL;
}

/* One blocking read() of whatever the peer has written. */
static void peer_read(struct peer *p)
{
    if (p->len == sizeof p->buf)
        die("line too long");
    ssize_t k = read(p->out, p->buf + p->len, sizeof p->buf - p->len);
    if (k <= 0)
        die("peer closed its output");
    p->len += (size_t)k;
}

/* Next line (without '\n', NUL-terminated), blocking. */
static char *peer_line(struct peer *p)
{
    char *l;
    while ((l = peer_buffered_line(p)) == NULL)
        peer_read(p);
    return l;
}

/* Next line, or NULL if none arrives before DEADLINE (now_ns(); -1: never). */
static char *peer_line_until(struct peer *p, int64_t deadline)
{
    char *l;
    while ((l = peer_buffered_line(p)) == NULL) {
        if (deadline >= 0) {
            int64_t left = deadline - now_ns();
            if (left <= 0)
                return NULL;
            struct pollfd pf = { p->out, POLLIN, 0 };
            if (poll(&pf, 1, (int)((left + 999999) / 1000000)) <= 0)
                continue;
        }
        peer_read(p);
    }
    return l;
}

static void peer_sync(struct peer *p, const char *mark)
{
    peer_printf(p, "echo\t%s\n", mark);
    peer_flush(p);
    while (strcmp(peer_line(p), mark) != 0)
        ;
    peer_join(p);
}

static void peer_end(struct peer *p)
{
    peer_join(p);
    free(p->wbuf);
    close(p->in);
    close(p->out);
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
}

static void dp_start(struct peer *p, const char *dp, int cpu)
{
    char *argv[] = { (char *)dp, "-i", "-q", "-q", NULL };
    peer_start(p, argv, cpu);
}

/* DP on a control socket of its own, /tmp/dpbench-TAG-PID.sock (in sock). */
static void dp_start_sock(struct peer *p, const char *dp, const char *tag, char sock[108])
{
    snprintf(sock, 108, "/tmp/dpbench-%s-%d.sock", tag, (int)getpid());
    unlink(sock);
    char *argv[] = { (char *)dp, "-i", "-q", "-q", "-S", sock, NULL };
    peer_start(p, argv, -1);
}

static int has_prefix(const char *s, const char *pre) { return strncmp(s, pre, strlen(pre)) == 0; }

/* Count "service.state NAME STATE" lines with the given state. */
static int is_state(const char *line, const char *state)
{
    if (!has_prefix(line, "service.state\t"))
        return 0;
    const char *t = strchr(line + 14, '\t');
    return t && has_prefix(t + 1, state) && t[1 + strlen(state)] == '\t';
}

/* SIGKILL services PREFIX%0*d (width digits) for 0..n-1, in chunks whose
 * "down" events fit the 64 KiB event buffer (they come from the reaper,
 * not throttled by our commands, so a burst of 10,000 would overflow by
 * design). */
static void kill_all(struct peer *p, const char *prefix, int width, int n)
{
    char line[64];
    for (int base = 0; base < n; base += 500) {
        int end = base + 500 < n ? base + 500 : n;
        for (int i = base; i < end; i++) {
            snprintf(line, sizeof line, "service.signal\t%s%0*d\tSIGKILL\n", prefix, width, i);
            peer_queue(p, line, strlen(line));
        }
        peer_flush(p);
        for (int down = base; down < end;) {
            const char *l = peer_line(p);
            if (strcmp(l, "overflow") == 0)
                die("overflow while killing");
            down += is_state(l, "down");
        }
    }
}

/* Define extra idle services and handles, as ballast. */
static void ballast(struct peer *p, int defined, int handles)
{
    for (int i = 0; i < defined; i++)
        peer_printf(p, "service.args\tidle%06d\tsleep\t1000\n", i);
    for (int i = 0; i < handles; i++)
        peer_printf(p, "fd.open\th%06d\tread\t/dev/null\n", i);
    peer_sync(p, "ballast-done");
}

/* --- figures ----------------------------------------------------------------- */

static int cmd_forkexec(int n, const char *prog)
{
    int64_t t0 = now_ns();
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0) {
            execl(prog, prog, (char *)NULL);
            _exit(127);
        }
    }
    for (int i = 0; i < n; i++)
        if (wait(NULL) < 0)
            die("wait: %s", strerror(errno));
    printf("seconds %.6f\n", (now_ns() - t0) / 1e9);
    return 0;
}

static int cmd_spawn(const char *dp, int n, const char *prog, int defined, int handles,
                     char **opts, int nopts)
{
    struct peer p;
    dp_start(&p, dp, -1);
    ballast(&p, defined, handles);
    for (int i = 0; i < n; i++) {
        peer_printf(&p, "service.args\ts%06d\t%s\n", i, prog);
        if (nopts) {
            peer_printf(&p, "service.opts\ts%06d", i);
            for (int k = 0; k < nopts; k++)
                peer_printf(&p, "\t%s", opts[k]);
            peer_printf(&p, "\n");
        }
    }
    peer_sync(&p, "defined");
    int64_t t0 = now_ns();
    char *batch = malloc((size_t)n * 32);
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(batch + len, "service.start\ts%06d\n", i);
    peer_queue(&p, batch, len);
    peer_flush(&p);
    int down = 0;
    while (down < n)
        down += is_state(peer_line(&p), "down");
    printf("seconds %.6f\n", (now_ns() - t0) / 1e9);
    free(batch);
    peer_end(&p);
    return 0;
}

static int cmd_tput(char **argv, long n)
{
    struct peer p;
    peer_start(&p, argv, -1);
    static const char line[] = "echo\tx\n";
    size_t ll = sizeof line - 1, total = (size_t)n * ll, off = 0;
    char *all = malloc(total);
    for (long i = 0; i < n; i++)
        memcpy(all + (size_t)i * ll, line, ll);
    fcntl(p.in, F_SETFL, O_NONBLOCK);
    long got = 0;
    int64_t t0 = now_ns();
    while (got < n) {
        struct pollfd pf[2] = { { p.out, POLLIN, 0 }, { p.in, POLLOUT, 0 } };
        poll(pf, off < total ? 2 : 1, -1);
        if (pf[0].revents) {
            ssize_t k = read(p.out, p.buf, sizeof p.buf);
            if (k <= 0)
                die("peer closed");
            for (char *q = p.buf; (q = memchr(q, '\n', (size_t)(p.buf + k - q))) != NULL; q++)
                got++;
        }
        if (off < total && (pf[1].revents & POLLOUT)) {
            ssize_t k = write(p.in, all + off, total - off);
            if (k > 0)
                off += (size_t)k;
        }
    }
    double s = (now_ns() - t0) / 1e9;
    printf("seconds %.6f\nlines_per_sec %.0f\n", s, n / s);
    free(all);
    peer_end(&p);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void print_pcts(const char *what, int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    printf("%s_p50_us %.2f\n%s_p99_us %.2f\n", what, v[n / 2] / 1e3, what, v[n * 99 / 100] / 1e3);
}

static int cmd_rtt(char **argv, int n)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof set, &set);
    struct peer p;
    peer_start(&p, argv, 0);
    int64_t *lat = malloc(sizeof *lat * (size_t)n);
    for (int i = -100; i < n; i++) {    /* 100 warm-up round trips */
        int64_t t0 = now_ns();
        peer_write(&p, "echo\tx\n", 7);
        peer_line(&p);
        if (i >= 0)
            lat[i] = now_ns() - t0;
    }
    print_pcts("rtt", lat, n);
    free(lat);
    peer_end(&p);
    return 0;
}

/* --- stormrtt: a controller's round trip while services crash-loop --------- */

/* Every event is broadcast to the controller, so it reads all the time: the
 * lines it is not waiting for are counted (up events, overflows) and dropped. */
struct storm {
    struct peer p;
    long ups;           /* "up" events seen */
    int overflows;      /* "overflow" lines seen */
    int marks;          /* echo markers used so far (each is unique) */
};

/* Next line before DEADLINE (-1: never), or NULL; counts what it passes. */
static char *storm_line(struct storm *st, int64_t deadline)
{
    char *l = peer_line_until(&st->p, deadline);
    if (l && is_state(l, "up"))
        st->ups++;
    else if (l && strcmp(l, "overflow") == 0)
        st->overflows++;
    return l;
}

/* Read (and drop) everything that arrives in the next MS milliseconds. */
static void storm_drain(struct storm *st, int ms)
{
    int64_t deadline = now_ns() + (int64_t)ms * 1000000;
    while (storm_line(st, deadline))
        ;
}

/* Send what is queued plus an echo marker and read until the marker comes
 * back.  Returns false if an "overflow" came first: output was lost (the
 * marker too, perhaps; a late one is ignored, as markers are unique). */
static bool storm_echo(struct storm *st)
{
    char mark[32];
    snprintf(mark, sizeof mark, "mark%d", st->marks++);
    peer_printf(&st->p, "echo\t%s\n", mark);
    peer_flush(&st->p);
    for (;;) {
        const char *l = storm_line(st, -1);
        if (strcmp(l, "overflow") == 0)
            break;
        if (strcmp(l, mark) == 0) {
            peer_join(&st->p);
            return true;
        }
    }
    peer_join(&st->p);
    return false;
}

/* storm_echo() until one gets through. */
static void storm_sync(struct storm *st)
{
    while (!storm_echo(st))
        if (st->overflows > 1000)
            die("overflow after overflow");
}

/* Gap between measured round trips: 5..15 ms, so that the N samples spread
 * over a few restart periods (1 s) instead of landing in one burst. */
#define STORM_GAP_MIN_MS 5
#define STORM_GAP_SPAN_MS 10
#define STORM_WARMUP 10

static int cmd_stormrtt(char **argv, int nsvc, int n)
{
    struct storm st = { .ups = 0 };
    peer_start(&st.p, argv, -1);
    storm_sync(&st);
    int64_t t_setup = now_ns();
    for (int i = 0; i < nsvc; i++)
        peer_printf(&st.p, "service.args\ts%d\ttrue\n", i);
    for (int i = 0; i < nsvc; i++)
        peer_printf(&st.p, "service.auto_up\ts%d\t1\talways\n", i);
    storm_sync(&st);
    /* The storm runs once every service has been restarted about once
     * (the first starts come from the auto_up commands themselves); events
     * lost to an overflow would undercount, hence the time limit too. */
    int64_t t_limit = t_setup + 4 * (int64_t)1000000000;
    while (st.ups < 2L * nsvc && storm_line(&st, t_limit))
        ;

    int64_t *lat = malloc(sizeof *lat * (size_t)n);
    unsigned seed = 12345;
    long ups0 = st.ups;
    int over0 = st.overflows;
    int64_t t0 = now_ns();
    for (int i = -STORM_WARMUP; i < n;) {
        storm_drain(&st, STORM_GAP_MIN_MS + (int)(rand_r(&seed) % STORM_GAP_SPAN_MS));
        int64_t t = now_ns();
        if (!storm_echo(&st)) {     /* lost to an overflow: measure again */
            if (st.overflows - over0 > 100 + n)
                die("overflow after overflow");
            continue;
        }
        if (i >= 0)
            lat[i] = now_ns() - t;
        i++;
    }
    double secs = (now_ns() - t0) / 1e9;
    long ups = st.ups - ups0;
    int overflows = st.overflows - over0;

    /* Stop the storm: no more restarts, then wait until statedump shows
     * every service down (so no "true" outlives the daemon). */
    for (int i = 0; i < nsvc; i++)
        peer_printf(&st.p, "service.auto_up\ts%d\t-\n", i);
    storm_sync(&st);
    for (int64_t give_up = now_ns() + 30 * (int64_t)1000000000;;) {
        if (now_ns() > give_up)
            die("services still running 30 s after auto-up was turned off");
        char mark[32];
        snprintf(mark, sizeof mark, "mark%d", st.marks++);
        peer_printf(&st.p, "statedump\necho\t%s\n", mark);
        peer_flush(&st.p);
        /* Live events come interleaved with the dump; once auto-up is off
         * they are only "down"s, so counting non-down states is safe. */
        int alive = 0;
        bool lost = false;
        for (;;) {
            const char *l = storm_line(&st, -1);
            if (strcmp(l, mark) == 0)
                break;
            if (strcmp(l, "overflow") == 0) {
                lost = true;
                break;
            }
            if (has_prefix(l, "service.state\t") && !is_state(l, "down"))
                alive++;
        }
        peer_join(&st.p);
        if (!lost && alive == 0)
            break;
        storm_drain(&st, 100);
    }

    /* End it cleanly: EOF on its stdin, read its output to the end. */
    close(st.p.in);
    for (;;) {
        struct pollfd pf = { st.p.out, POLLIN, 0 };
        if (poll(&pf, 1, 5000) <= 0) {
            kill(st.p.pid, SIGKILL);
            break;
        }
        if (read(st.p.out, st.p.buf, sizeof st.p.buf) <= 0)
            break;
    }
    close(st.p.out);
    int status;
    waitpid(st.p.pid, &status, 0);
    free(st.p.wbuf);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("daemon did not exit cleanly (status 0x%x)", status);

    print_pcts("storm_rtt", lat, n);
    printf("storm_overflows %d\nstorm_overflows_total %d\n", overflows, st.overflows);
    printf("storm_starts_per_sec %.0f\nstorm_seconds %.3f\n", ups / secs, secs);
    free(lat);
    return 0;
}

static int64_t read_stamp(const char *file)
{
    char buf[64] = "";
    int fd = open(file, O_RDONLY);
    if (fd < 0)
        die("stamp file %s: %s", file, strerror(errno));
    ssize_t k = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (k <= 0)
        die("empty stamp file");
    buf[k] = '\0';
    return strtoll(buf, NULL, 10);
}

static int cmd_exitlat(const char *dp, const char *self, int n)
{
    struct peer p;
    dp_start(&p, dp, -1);
    char file[] = "/tmp/dpbench-stamp-XXXXXX";
    int fd = mkstemp(file);
    close(fd);
    peer_printf(&p, "service.args\tst\t%s\tstamp\t%s\n", self, file);
    peer_sync(&p, "ready");
    int64_t *lat = malloc(sizeof *lat * (size_t)n);
    for (int i = 0; i < n; i++) {
        static const char start[] = "service.start\tst\n";
        peer_write(&p, start, sizeof start - 1);
        while (!is_state(peer_line(&p), "down"))
            ;
        lat[i] = now_ns() - read_stamp(file);
    }
    unlink(file);
    print_pcts("exit", lat, n);
    free(lat);
    peer_end(&p);
    return 0;
}

static int cmd_waitlat(const char *self, int n)
{
    char file[] = "/tmp/dpbench-stamp-XXXXXX";
    int fd = mkstemp(file);
    close(fd);
    int64_t *lat = malloc(sizeof *lat * (size_t)n);
    for (int i = 0; i < n; i++) {
        char *argv[] = { (char *)self, "stamp", file, NULL };
        pid_t pid;
        if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0)
            die("posix_spawn");
        waitpid(pid, NULL, 0);
        lat[i] = now_ns() - read_stamp(file);
    }
    unlink(file);
    print_pcts("exit", lat, n);
    free(lat);
    return 0;
}

static int cmd_stamp(const char *file)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld", (long long)now_ns());
    int fd = open(file, O_WRONLY | O_TRUNC);
    if (fd < 0 || write(fd, buf, (size_t)n) != n)
        _exit(1);
    /* No close(): exit now, the stamp is the moment of exit. */
    _exit(0);
}

/* A daemon holding nsvc defined services (tagged) and nhandle handles. */
static void dp_load(struct peer *p, const char *dp, int nsvc, int nhandle)
{
    dp_start(p, dp, -1);
    for (int i = 0; i < nsvc; i++)
        peer_printf(p, "service.args\tsvc%06d\tsleep\t1000\nservice.tags\tsvc%06d\tt\n", i, i);
    for (int i = 0; i < nhandle; i++)
        peer_printf(p, "fd.open\th%06d\tread\t/dev/null\n", i);
    peer_sync(p, "loaded");
}

static int cmd_dump(const char *dp, int nsvc, int nhandle)
{
    struct peer p;
    dp_load(&p, dp, nsvc, nhandle);
    int64_t t0 = now_ns();
    static const char dump[] = "statedump\necho\tdump-end\n";
    peer_write(&p, dump, sizeof dump - 1);
    long lines = 0;
    while (strcmp(peer_line(&p), "dump-end") != 0)
        lines++;
    printf("seconds %.6f\nlines %ld\n", (now_ns() - t0) / 1e9, lines);
    peer_end(&p);
    return 0;
}

/* --- reexec: live re-exec time ------------------------------------------------ */

/* What a controller sees of a re-exec: it sends `reexec`; the old process
 * runs `NEW --state-check`, writes its state and execs NEW, which restores
 * it and broadcasts `reexec VERSION PATH`; commands are served again from
 * then on.  An echo sent together with `reexec` says nothing: the old
 * process has read it already and answers it during the check.  So the
 * clock starts when `reexec` is written and stops when the answer to an
 * echo sent on reading the event arrives: an answer that can only come
 * from the new process (the old one is gone once the event exists, which
 * the new one writes when it has restored everything).  event_s.K is the
 * part until the event; dump_s.K a statedump of the same daemon just
 * before, as a reference for the size of its state. */
static int cmd_reexec(const char *dp, int nsvc, int nrun, int nhandle, int k)
{
    struct peer p;
    dp_load(&p, dp, nsvc, nhandle);
    for (int i = 0; i < nrun; i++)
        peer_printf(&p, "service.start\tsvc%06d\n", i);
    peer_flush(&p);
    for (int up = 0; up < nrun;)
        up += is_state(peer_line(&p), "up");
    peer_sync(&p, "running");
    for (int r = 0; r < k; r++) {
        int64_t t0 = now_ns();
        static const char dump[] = "statedump\necho\tdump-end\n";
        peer_write(&p, dump, sizeof dump - 1);
        while (strcmp(peer_line(&p), "dump-end") != 0)
            ;
        int64_t t1 = now_ns();
        peer_write(&p, "reexec\n", 7);
        for (;;) {
            const char *l = peer_line(&p);
            if (has_prefix(l, "reexec\t"))
                break;
            if (has_prefix(l, "error\t"))
                die("reexec: %s", l);
        }
        int64_t t2 = now_ns();
        peer_write(&p, "echo\tnew\n", 9);
        while (strcmp(peer_line(&p), "new") != 0)
            ;
        int64_t t3 = now_ns();
        printf("dump_s.%d %.6f\nevent_s.%d %.6f\necho_s.%d %.6f\n", r, (t1 - t0) / 1e9,
               r, (t2 - t1) / 1e9, r, (t3 - t1) / 1e9);
    }
    kill_all(&p, "svc", 6, nrun);
    peer_end(&p);
    return 0;
}

/* execfloor: what the kernel alone charges for daemonproxy's re-exec of
 * N handles, the same system calls with no state: a check child spawned
 * and reaped, N fcntl(F_SETFD, 0), execve of this binary, then one
 * close_range(CLOSE_RANGE_CLOEXEC) and one poll() over the N fds.  Each
 * round measures from before the check to after the poll. */
static int execfloor_round(int n, int k, int round, int64_t t0)
{
    if (round > 0) {
#ifdef SYS_close_range
        syscall(SYS_close_range, 3u, ~0u, 1u << 2);
#endif
        struct pollfd *p = calloc((size_t)n, sizeof *p);
        for (int i = 0; i < n; i++)
            p[i].fd = 64 + i;
        poll(p, (nfds_t)n, 0);
        for (int i = 0; i < n; i++)
            if (p[i].revents & POLLNVAL)
                die("execfloor: fd %d not open", 64 + i);
        free(p);
        printf("floor_s.%d %.6f\n", round - 1, (now_ns() - t0) / 1e9);
        fflush(stdout);
        if (round == k)
            return 0;
    }
    t0 = now_ns();
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = '\0';
    pid_t pid;
    char *targv[] = { self, "true", NULL };
    if (posix_spawn(&pid, self, NULL, NULL, targv, environ) != 0 || waitpid(pid, NULL, 0) != pid)
        die("execfloor: check child");
    for (int i = 0; i < n; i++)
        fcntl(64 + i, F_SETFD, 0);
    char a[4][32];
    snprintf(a[0], sizeof a[0], "%d", n);
    snprintf(a[1], sizeof a[1], "%d", k);
    snprintf(a[2], sizeof a[2], "%d", round + 1);
    snprintf(a[3], sizeof a[3], "%lld", (long long)t0);
    char *argv[] = { self, "execfloor-next", a[0], a[1], a[2], a[3], NULL };
    execve(self, argv, environ);
    die("execfloor: exec");
    return 1;
}

/* The N fds are 64 .. 63+N (daemonproxy's handles sit above its own few
 * fds too): dups of /dev/null, close-on-exec. */
static int cmd_execfloor(int n, int k)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < n; i++)
        if (dup3(null, 64 + i, O_CLOEXEC) != 64 + i)
            die("execfloor: dup3 to %d", 64 + i);
    close(null);
    return execfloor_round(n, k, 0, 0);
}

/* One statedump through a fresh socket connection, read to its marker:
 * what any client of the control socket pays before it can show anything. */
static double socket_dump_seconds(const char *sock)
{
    int64_t t0 = now_ns();
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect %s", sock);
    static const char req[] = "statedump\necho\tdump-end\n";
    if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
        die("write");
    static char buf[1 << 16];
    size_t keep = 0;
    for (;;) {
        ssize_t n = read(fd, buf + keep, sizeof buf - keep - 1);
        if (n <= 0)
            die("statedump: connection closed");
        keep += (size_t)n;
        buf[keep] = '\0';
        if (strstr(buf, "\ndump-end\n"))
            break;
        /* Keep a tail long enough to hold a split marker. */
        if (keep > 16) {
            memmove(buf, buf + keep - 16, 16);
            keep = 16;
        }
    }
    close(fd);
    return (now_ns() - t0) / 1e9;
}

static double run_seconds(char **argv)
{
    int64_t t0 = now_ns();
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        die("posix_spawn %s", argv[0]);
    posix_spawn_file_actions_destroy(&fa);
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("%s %s failed", argv[0], argv[3]);
    return (now_ns() - t0) / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmd_dpctl(const char *dp, const char *dpctl, int nsvc, int nhandle)
{
    char sock[108];
    struct peer p;
    dp_start_sock(&p, dp, "dpctl", sock);
    for (int i = 0; i < nsvc; i++)
        peer_printf(&p, "service.args\tsvc%06d\tsleep\t1000\nservice.tags\tsvc%06d\tt\n"
                    "service.auto_up\tsvc%06d\t5\tSIGUSR2\n", i, i, i);
    for (int i = 0; i < nhandle; i++)
        peer_printf(&p, "fd.open\th%06d\tread\t/dev/null\n", i);
    peer_sync(&p, "loaded");
    enum { K = 7 };
    double base[K], table[K], json[K];
    char *status[] = { (char *)dpctl, "-S", sock, "status", NULL };
    char *status_json[] = { (char *)dpctl, "-S", sock, "status", "--json", NULL };
    for (int k = 0; k < K; k++) {
        base[k] = socket_dump_seconds(sock);
        table[k] = run_seconds(status);
        json[k] = run_seconds(status_json);
    }
    qsort(base, K, sizeof base[0], cmp_double);
    qsort(table, K, sizeof table[0], cmp_double);
    qsort(json, K, sizeof json[0], cmp_double);
    printf("dump_seconds %.6f\nstatus_seconds %.6f\njson_seconds %.6f\n",
           base[K / 2], table[K / 2], json[K / 2]);
    peer_end(&p);
    unlink(sock);
    return 0;
}

/* --- statusrun: dpctl status against daemontools' svstat ------------------------ */

/* What svstat reads for one running service, laid out as daemontools'
 * supervise leaves it: DIR/supervise/status (18 bytes: TAI64N of the last
 * change, the pid little-endian, paused, want) and the FIFO DIR/supervise/ok
 * held open for reading, so that svstat finds "supervise running" and walks
 * its full path for each directory.  No supervise processes: svstat's work
 * per directory is the same, and 10,000 of them would swamp the machine. */
static void svstat_dir(const char *dir, int i, pid_t pid, int *okfd)
{
    char path[256];
    snprintf(path, sizeof path, "%s/s%05d", dir, i);
    if (mkdir(path, 0755) < 0)
        die("mkdir %s: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/s%05d/supervise", dir, i);
    if (mkdir(path, 0700) < 0)
        die("mkdir %s: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/s%05d/supervise/ok", dir, i);
    if (mkfifo(path, 0600) < 0)
        die("mkfifo %s: %s", path, strerror(errno));
    *okfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (*okfd < 0)
        die("open %s: %s", path, strerror(errno));
    unsigned char st[18] = { 0 };
    uint64_t sec = ((uint64_t)1 << 62) + (uint64_t)time(NULL) - 60;
    for (int k = 0; k < 8; k++)
        st[k] = (unsigned char)(sec >> (56 - 8 * k));
    for (int k = 0; k < 4; k++)
        st[12 + k] = (unsigned char)((uint32_t)pid >> (8 * k));
    st[17] = 'u';
    snprintf(path, sizeof path, "%s/s%05d/supervise/status", dir, i);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, st, sizeof st) != (ssize_t)sizeof st)
        die("write %s: %s", path, strerror(errno));
    close(fd);
}

/* argv[0] run in dir (NULL: here), its output to /dev/null; seconds from
 * spawn to exit. */
static double run_seconds_in(const char *dir, char **argv)
{
    char here[4096];
    if (dir && (!getcwd(here, sizeof here) || chdir(dir) < 0))
        die("chdir %s: %s", dir, strerror(errno));
    double t = run_seconds(argv);
    if (dir && chdir(here) < 0)
        die("chdir %s: %s", here, strerror(errno));
    return t;
}

static int cmd_statusrun(const char *dp, int n, int k, const char *svstat, char **dpctls,
                         int ndpctl)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    char sock[108], dir[64];
    snprintf(dir, sizeof dir, "/tmp/dpbench-svstat-%d", (int)getpid());
    struct peer p;
    dp_start_sock(&p, dp, "status", sock);
    for (int i = 0; i < n; i++)
        peer_printf(&p, "service.args\ts%05d\tsleep\t1000\nservice.start\ts%05d\n", i, i);
    peer_flush(&p);
    for (int up = 0; up < n;)
        up += is_state(peer_line(&p), "up");
    peer_sync(&p, "running");

    bool sv = strcmp(svstat, "-") != 0;
    int *okfds = NULL;
    char **svargv = NULL;
    if (sv) {
        if (mkdir(dir, 0755) < 0)
            die("mkdir %s: %s", dir, strerror(errno));
        okfds = malloc(sizeof *okfds * (size_t)n);
        svargv = calloc((size_t)n + 2, sizeof *svargv);
        svargv[0] = (char *)svstat;
        for (int i = 0; i < n; i++) {
            svstat_dir(dir, i, p.pid, &okfds[i]);
            svargv[i + 1] = malloc(16);
            snprintf(svargv[i + 1], 16, "s%05d", i);
        }
    }
    double *t = calloc((size_t)(ndpctl + 1) * (size_t)k, sizeof *t);
    for (int r = 0; r < k; r++) {       /* taking turns: a drift hits all */
        for (int j = 0; j < ndpctl; j++) {
            char *st[] = { dpctls[j], "-S", sock, "status", NULL };
            t[j * k + r] = run_seconds_in(NULL, st);
        }
        if (sv)
            t[ndpctl * k + r] = run_seconds_in(dir, svargv);
    }
    for (int j = 0; j <= ndpctl; j++) {
        if (j == ndpctl && !sv)
            break;
        qsort(t + j * k, (size_t)k, sizeof *t, cmp_double);
        if (j < ndpctl)
            printf("dpctl%d_seconds %.6f\n", j, t[j * k + k / 2]);
        else
            printf("svstat_seconds %.6f\n", t[j * k + k / 2]);
    }
    free(t);
    if (sv) {
        char path[256];
        for (int i = 0; i < n; i++) {
            close(okfds[i]);
            free(svargv[i + 1]);
            static const char *const parts[] = { "supervise/ok", "supervise/status", "supervise",
                                                 "" };
            for (int q = 0; q < 4; q++) {
                snprintf(path, sizeof path, "%s/s%05d/%s", dir, i, parts[q]);
                (q < 2 ? unlink : rmdir)(path);
            }
        }
        rmdir(dir);
        free(okfds);
        free(svargv);
    }
    kill_all(&p, "s", 5, n);
    peer_end(&p);
    unlink(sock);
    return 0;
}

static int cmd_up(const char *dp, int n)
{
    struct peer p;
    dp_start(&p, dp, -1);
    for (int i = 0; i < n; i++)
        peer_printf(&p, "service.args\tu%06d\tsleep\t1000\n", i);
    peer_sync(&p, "defined");
    int64_t t0 = now_ns();
    for (int i = 0; i < n; i++)
        peer_printf(&p, "service.start\tu%06d\n", i);
    peer_flush(&p);
    int up = 0;
    while (up < n)
        up += is_state(peer_line(&p), "up");
    printf("seconds %.6f\n", (now_ns() - t0) / 1e9);
    /* Stop them (not counted). */
    kill_all(&p, "u", 6, n);
    peer_end(&p);
    return 0;
}

static int cmd_bareup(int n)
{
    pid_t *pids = malloc(sizeof *pids * (size_t)n);
    char *argv[] = { "sleep", "1000", NULL };
    int64_t t0 = now_ns();
    for (int i = 0; i < n; i++)
        if (posix_spawnp(&pids[i], "sleep", NULL, NULL, argv, environ) != 0)
            die("posix_spawnp");
    printf("seconds %.6f\n", (now_ns() - t0) / 1e9);
    for (int i = 0; i < n; i++)
        kill(pids[i], SIGKILL);
    for (int i = 0; i < n; i++)
        waitpid(pids[i], NULL, 0);
    free(pids);
    return 0;
}

/* VmRSS (kB) and private bytes (Private_Clean + Private_Dirty, kB). */
static void mem_of(pid_t pid, long *rss, long *priv)
{
    char path[64], line[256];
    *rss = *priv = 0;
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        long v;
        if (sscanf(line, "Rss: %ld", &v) == 1)
            *rss = v;
        else if (sscanf(line, "Private_Clean: %ld", &v) == 1 ||
                 sscanf(line, "Private_Dirty: %ld", &v) == 1)
            *priv += v;
    }
    fclose(f);
}

static int cmd_mem(const char *dp)
{
    struct peer p;
    long rss, priv, priv0;
    dp_start(&p, dp, -1);
    peer_sync(&p, "idle");
    mem_of(p.pid, &rss, &priv0);
    printf("idle_rss_kb %ld\nidle_private_kb %ld\n", rss, priv0);
    int done = 0;
    long strings = 0;
    static const int steps[] = { 1000, 10000 };
    for (size_t k = 0; k < 2; k++) {
        for (; done < steps[k]; done++) {
            peer_printf(&p, "service.args\tm%06d\tsleep\t1000\n", done);
            /* name + args + default fds + tags, NUL-terminated */
            strings += 8 + 11 + 15 + 1;
        }
        peer_sync(&p, "defined");
        mem_of(p.pid, &rss, &priv);
        printf("defined%d_rss_kb %ld\ndefined%d_private_kb %ld\n", steps[k], rss, steps[k], priv);
        printf("defined%d_private_bytes_per_service %.1f\n", steps[k],
               ((priv - priv0) * 1024.0 - strings) / steps[k]);
    }
    peer_end(&p);
    /* 1,000 running: a fresh instance, so the figure is not hidden by the
     * 10,000 above. */
    dp_start(&p, dp, -1);
    for (int i = 0; i < 1000; i++)
        peer_printf(&p, "service.args\tr%04d\tsleep\t1000\n", i);
    peer_sync(&p, "defined");
    /* Grow the controller's event buffer to its full 64 KiB first (a
     * statedump of 1,000 services fills it), so the figure below is what
     * running services cost, not the buffer the up events pass through. */
    peer_write(&p, "statedump\n", strlen("statedump\n"));
    /* ...and spawn once, so the one-time pages of the spawn path (its
     * stack, argv scratch) are not counted either. */
    static const char warm[] = "service.args\twarm\ttrue\nservice.start\twarm\n";
    peer_write(&p, warm, sizeof warm - 1);
    while (!is_state(peer_line(&p), "down"))
        ;
    peer_sync(&p, "warm");
    mem_of(p.pid, &rss, &priv0);
    for (int i = 0; i < 1000; i++)
        peer_printf(&p, "service.start\tr%04d\n", i);
    peer_flush(&p);
    int up = 0;
    while (up < 1000)
        up += is_state(peer_line(&p), "up");
    mem_of(p.pid, &rss, &priv);
    printf("running1000_rss_kb %ld\nrunning1000_added_private_kb %ld\n", rss, priv - priv0);
    kill_all(&p, "r", 4, 1000);
    peer_end(&p);
    return 0;
}

/* --- notifylat: readiness notification latency ------------------------------- */

/* Both figures time one message over two hops, from a timestamp taken just
 * before the first send (CLOCK_MONOTONIC, carried in the message as
 * "STATUS=t<ns>") to the moment the line is read at the far end; the next
 * message is only sent once that line has arrived, so nothing queues.
 *
 *   notifylat: service --sd_notify datagram--> daemonproxy --event line--> controller
 *   pipelat:   A --pipe--> B (read, write back) --pipe--> A
 *   relaylat:  A --the same kind of datagram--> B (epoll, recvmsg, write
 *              an event line) --pipe--> A: the least any relay of
 *              sd_notify messages costs, daemonproxy's own share aside
 *
 * Everything is pinned to CPU 0 (the daemon, so its service too), like rtt:
 * each hop is then a wakeup on the same CPU, not a cross-CPU one whose cost
 * depends on what the other CPU is doing. */
#define NOTIFY_WARMUP 100
#define STAMP_PREFIX "STATUS=t"

static void pin_cpu0(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof set, &set);
}

/* The stamp in "...STATUS=t<ns>..." (the last one), or die. */
static int64_t parse_stamp(const char *line)
{
    const char *s = NULL;
    for (const char *q = line; (q = strstr(q, STAMP_PREFIX)) != NULL; q++)
        s = q;
    if (!s)
        die("no %s in line '%s'", STAMP_PREFIX, line);
    return strtoll(s + strlen(STAMP_PREFIX), NULL, 10);
}

/* The service: NOTIFY_SOCKET as sd_notify() reads it ("@name" is abstract),
 * one datagram per byte read on fd 0, until end of file. */
static int cmd_notifier(void)
{
    const char *ns = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = ns ? strlen(ns) : 0;
    if (len == 0 || len >= sizeof sa.sun_path || (ns[0] != '@' && ns[0] != '/'))
        die("notifier: bad NOTIFY_SOCKET '%s'", ns ? ns : "(unset)");
    memcpy(sa.sun_path, ns, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        die("notifier: socket: %s", strerror(errno));
    char go, msg[64];
    for (;;) {
        ssize_t k = read(0, &go, 1);
        if (k == 0)
            return 0;
        if (k < 0) {
            if (errno == EINTR)
                continue;
            die("notifier: read: %s", strerror(errno));
        }
        int n = snprintf(msg, sizeof msg, STAMP_PREFIX "%lld", (long long)now_ns());
        if (sendto(s, msg, (size_t)n, 0, (struct sockaddr *)&sa, salen) != n)
            die("notifier: sendto: %s", strerror(errno));
    }
}

/* Like peer_sync, but an error or warning reply (the extension missing,
 * say) ends the measurement. */
static void peer_sync_ok(struct peer *p, const char *mark)
{
    peer_printf(p, "echo\t%s\n", mark);
    peer_flush(p);
    for (;;) {
        const char *l = peer_line(p);
        if (strcmp(l, mark) == 0)
            break;
        if (has_prefix(l, "error\t") || has_prefix(l, "warning\t"))
            die("daemonproxy: %s", l);
    }
    peer_join(p);
}

static int cmd_notifylat(const char *dp, const char *self, int n)
{
    pin_cpu0();
    /* The service's fd 0, on which the controller says "go": the read end
     * is inherited by daemonproxy (handle fd_N), the write end is not. */
    int go[2];
    if (pipe2(go, O_CLOEXEC) < 0)
        die("pipe: %s", strerror(errno));
    int go_r = fcntl(go[0], F_DUPFD, 10);      /* no FD_CLOEXEC */
    if (go_r < 0)
        die("fcntl: %s", strerror(errno));
    close(go[0]);
    struct peer p;
    dp_start(&p, dp, 0);
    close(go_r);
    peer_printf(&p, "service.args\tnl\t%s\tnotifier\n", self);
    peer_printf(&p, "service.fds\tnl\tfd_%d\tnull\tnull\n", go_r);
    peer_printf(&p, "service.opts\tnl\tnotify\n");
    peer_printf(&p, "service.start\tnl\n");
    peer_sync_ok(&p, "started");

    static const char prefix[] = "service.notify\tnl\t";
    int64_t *lat = malloc(sizeof *lat * (size_t)n);
    for (int i = -NOTIFY_WARMUP; i < n; i++) {
        write_all(go[1], "g", 1);
        const char *l;
        while (!has_prefix(l = peer_line(&p), prefix)) {
            if (is_state(l, "down") || strcmp(l, "overflow") == 0 || has_prefix(l, "error\t"))
                die("while waiting for a notification: %s", l);
        }
        int64_t t = now_ns();
        if (i >= 0)
            lat[i] = t - parse_stamp(l);
    }

    /* End of file on its fd 0: the service exits. */
    close(go[1]);
    while (!is_state(peer_line(&p), "down"))
        ;
    print_pcts("notify", lat, n);
    free(lat);
    peer_end(&p);
    return 0;
}

/* Read one line from fd; how long ago the stamp in it was taken. */
static int64_t stamped_line_ns(int fd)
{
    char in[256];
    size_t got = 0;
    while (got == 0 || in[got - 1] != '\n') {
        ssize_t k = read(fd, in + got, sizeof in - 1 - got);
        if (k <= 0)
            die("relay closed");
        got += (size_t)k;
    }
    int64_t t = now_ns();
    in[got] = '\0';
    return t - parse_stamp(in);
}

static int cmd_pipelat(int n)
{
    pin_cpu0();
    int a[2], b[2];
    if (pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0)
        die("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {             /* B: the relay (it inherits the pinning) */
        char buf[256];
        ssize_t k;
        close(a[1]);
        close(b[0]);
        while ((k = read(a[0], buf, sizeof buf)) > 0)
            write_all(b[1], buf, (size_t)k);
        _exit(0);
    }
    close(a[0]);
    close(b[1]);
    int64_t *lat = malloc(sizeof *lat * (size_t)n);
    char msg[64];
    for (int i = -NOTIFY_WARMUP; i < n; i++) {
        int len = snprintf(msg, sizeof msg, STAMP_PREFIX "%lld\n", (long long)now_ns());
        write_all(a[1], msg, (size_t)len);
        int64_t l = stamped_line_ns(b[0]);
        if (i >= 0)
            lat[i] = l;
    }
    close(a[1]);
    close(b[0]);
    waitpid(pid, NULL, 0);
    print_pcts("notify", lat, n);
    free(lat);
    return 0;
}

static int cmd_relaylat(int n)
{
    pin_cpu0();
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1, b[2];
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    socklen_t sl = sizeof(sa_family_t);
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 ||
        bind(s, (struct sockaddr *)&sa, sl) < 0 ||
        (sl = sizeof sa, getsockname(s, (struct sockaddr *)&sa, &sl)) < 0 ||
        pipe2(b, O_CLOEXEC) < 0)
        die("relay socket: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {             /* B: a minimal relay, as daemonproxy's loop is */
        close(b[0]);
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN };
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
        char buf[4096], line[4200];
        union {
            char c[CMSG_SPACE(sizeof(struct ucred))];
            struct cmsghdr align;
        } cm;
        for (;;) {
            if (epoll_wait(ep, &ev, 1, -1) < 0)
                continue;
            struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
            struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                                 .msg_control = cm.c, .msg_controllen = sizeof cm.c };
            ssize_t k = recvmsg(s, &mh, MSG_DONTWAIT);
            if (k <= 0)
                continue;
            int m = snprintf(line, sizeof line, "service.notify\tr\t1\t2\t%.*s\n", (int)k, buf);
            write_all(b[1], line, (size_t)m);
        }
    }
    close(b[1]);
    int c = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int64_t *lat = malloc(sizeof *lat * (size_t)n);
    char msg[64];
    for (int i = -NOTIFY_WARMUP; i < n; i++) {
        int len = snprintf(msg, sizeof msg, STAMP_PREFIX "%lld", (long long)now_ns());
        if (sendto(c, msg, (size_t)len, 0, (struct sockaddr *)&sa, sl) != len)
            die("sendto: %s", strerror(errno));
        int64_t l = stamped_line_ns(b[0]);
        if (i >= 0)
            lat[i] = l;
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    print_pcts("notify", lat, n);
    free(lat);
    return 0;
}

static char **split_cmd(char **argv, int argc, int *n_after)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            argv[i] = NULL;
            *n_after = i + 1;
            return argv;
        }
    }
    die("missing --");
    return NULL;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        die("usage: see the comment at the top of bench/dpbench.c");
    const char *c = argv[1];
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = '\0';
    if (!strcmp(c, "forkexec") && argc == 4)
        return cmd_forkexec(atoi(argv[2]), argv[3]);
    if (!strcmp(c, "spawn") && argc >= 7)
        return cmd_spawn(argv[2], atoi(argv[3]), argv[4], atoi(argv[5]), atoi(argv[6]),
                         argv + 7, argc - 7);
    if (!strcmp(c, "stormrtt") && argc >= 6 && !strcmp(argv[5], "--")) {
        int nsvc = atoi(argv[3]), n = atoi(argv[4]);
        if (nsvc < 0 || n < 1)
            die("stormrtt: NSVC >= 0 and N >= 1");
        argv[5] = argv[2];      /* DP followed by the arguments after -- */
        return cmd_stormrtt(argv + 5, nsvc, n);
    }
    if (!strcmp(c, "tput") || !strcmp(c, "rtt")) {
        int k;
        char **cmd = split_cmd(argv + 2, argc - 2, &k);
        long n = atol(argv[2 + k]);
        return !strcmp(c, "tput") ? cmd_tput(cmd, n) : cmd_rtt(cmd, (int)n);
    }
    if (!strcmp(c, "exitlat") && argc == 4)
        return cmd_exitlat(argv[2], self, atoi(argv[3]));
    if (!strcmp(c, "waitlat") && argc == 3)
        return cmd_waitlat(self, atoi(argv[2]));
    if (!strcmp(c, "stamp") && argc == 3)
        return cmd_stamp(argv[2]);
    if (!strcmp(c, "dump") && argc == 5)
        return cmd_dump(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (!strcmp(c, "true"))
        return 0;
    if (!strcmp(c, "execfloor") && argc == 4)
        return cmd_execfloor(atoi(argv[2]), atoi(argv[3]));
    if (!strcmp(c, "execfloor-next") && argc == 6)
        return execfloor_round(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]),
                               strtoll(argv[5], NULL, 10));
    if (!strcmp(c, "reexec") && argc == 7)
        return cmd_reexec(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    if (!strcmp(c, "dpctl") && argc == 6)
        return cmd_dpctl(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    if (!strcmp(c, "statusrun") && argc >= 7)
        return cmd_statusrun(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5], argv + 6,
                             argc - 6);
    if (!strcmp(c, "up") && argc == 4)
        return cmd_up(argv[2], atoi(argv[3]));
    if (!strcmp(c, "bareup") && argc == 3)
        return cmd_bareup(atoi(argv[2]));
    if (!strcmp(c, "mem") && argc == 3)
        return cmd_mem(argv[2]);
    if (!strcmp(c, "notifylat") && argc == 4)
        return cmd_notifylat(argv[2], self, atoi(argv[3]));
    if (!strcmp(c, "pipelat") && argc == 3)
        return cmd_pipelat(atoi(argv[2]));
    if (!strcmp(c, "relaylat") && argc == 3)
        return cmd_relaylat(atoi(argv[2]));
    if (!strcmp(c, "notifier") && argc == 2)
        return cmd_notifier();
    die("bad arguments for %s", c);
    return 1;
}
