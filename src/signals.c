/* signals.c - signal intake through a signalfd (see signals.h).
 *
 * The signals are blocked, so they only ever arrive as readable data on the
 * signalfd: there is no handler and nothing async-signal-unsafe to avoid.
 * Children get their mask reset in spawn.
 */
#include "signals.h"
#include "event.h"
#include "fmt.h"
#include "log.h"
#include "loop.h"
#include "protocol.h"
#include "state.h"
#include "sys.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

static int64_t sig_counts[SIG_NCONTROL];
static int64_t sig_ts[SIG_NCONTROL];
static int sig_fd = -1;
static loop_watch sig_watch;
static sigset_t sig_blocked;
static void (*sig_on_child)(void);
static void (*sig_on_count)(int);

/* Every signal name, with the control and the fatal signals first, in
 * their order (signals.h). */
static const struct { int no; const char *name; } sig_names[] = {
    { SIGINT, "SIGINT" }, { SIGHUP, "SIGHUP" }, { SIGTERM, "SIGTERM" },
    { SIGUSR1, "SIGUSR1" }, { SIGUSR2, "SIGUSR2" }, { SIGQUIT, "SIGQUIT" },
    { SIGSEGV, "SIGSEGV" }, { SIGABRT, "SIGABRT" }, { SIGBUS, "SIGBUS" },
    { SIGFPE, "SIGFPE" }, { SIGILL, "SIGILL" }, { SIGTRAP, "SIGTRAP" },
    { SIGKILL, "SIGKILL" }, { SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" },
    { SIGSTKFLT, "SIGSTKFLT" }, { SIGCHLD, "SIGCHLD" }, { SIGCONT, "SIGCONT" },
    { SIGSTOP, "SIGSTOP" }, { SIGTSTP, "SIGTSTP" }, { SIGTTIN, "SIGTTIN" },
    { SIGTTOU, "SIGTTOU" }, { SIGURG, "SIGURG" }, { SIGXCPU, "SIGXCPU" },
    { SIGXFSZ, "SIGXFSZ" }, { SIGVTALRM, "SIGVTALRM" }, { SIGPROF, "SIGPROF" },
    { SIGWINCH, "SIGWINCH" }, { SIGIO, "SIGIO" }, { SIGPWR, "SIGPWR" },
    { SIGSYS, "SIGSYS" },
};
#define NSIGNAMES (int)(sizeof sig_names / sizeof sig_names[0])
_Static_assert(SIG_NCONTROL + SIG_NFATAL <= NSIGNAMES, "signal table");


int sig_control_index(int signo)
{
    for (int i = 0; i < SIG_NCONTROL; i++)
        if (sig_names[i].no == signo)
            return i;
    return -1;
}

int sig_control_nth(int i)
{
    return i >= 0 && i < SIG_NCONTROL ? sig_names[i].no : 0;
}

int sig_fatal_nth(int i)
{
    return i >= 0 && i < SIG_NFATAL ? sig_names[SIG_NCONTROL + i].no : 0;
}

const char *sig_control_list(void)
{
    static char list[96];
    if (!list[0]) {
        size_t n = 0;
        for (int i = 0; i < SIG_NCONTROL; i++)
            n += (size_t)fmt_snprintf(list + n, sizeof list - n, "%s%s",
                                  i == 0 ? "" : i + 1 < SIG_NCONTROL ? ", " : " or ",
                                  sig_names[i].name);
    }
    return list;
}

int64_t sig_count(int signo)
{
    int i = sig_control_index(signo);
    return i < 0 ? 0 : sig_counts[i];
}

int64_t sig_last_ts(int signo)
{
    int i = sig_control_index(signo);
    return i < 0 ? 0 : sig_ts[i];
}

bool sig_clear(int signo, int64_t n)
{
    int i = sig_control_index(signo);
    if (i < 0)
        return false;
    sig_counts[i] = n >= sig_counts[i] ? 0 : sig_counts[i] - n;
    if (sig_on_count)
        sig_on_count(signo);
    return true;
}

void sig_set_count_cb(void (*fn)(int signo)) { sig_on_count = fn; }

const char *sig_name(int signo)
{
    static char buf[16];
    for (int i = 0; i < NSIGNAMES; i++)
        if (sig_names[i].no == signo)
            return sig_names[i].name;
    if (signo >= SIGRTMIN && signo <= SIGRTMAX)
        fmt_snprintf(buf, sizeof buf, "SIGRTMIN+%d", signo - SIGRTMIN);
    else
        fmt_snprintf(buf, sizeof buf, "SIG%d", signo);
    return buf;
}

int sig_parse(const char *s)
{
    int64_t v;
    if (sys_parse_int(s, 1, SIGRTMAX, &v))
        return (int)v;
    const char *bare = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
    for (int i = 0; i < NSIGNAMES; i++)
        if (strcasecmp(sig_names[i].name + 3, bare) == 0)
            return sig_names[i].no;
    return 0;
}

size_t sig_format_event(int signo, char *buf, size_t len)
{
    int n = fmt_snprintf(buf, len, "signal\t%s\t%lld\t%lld\n", sig_name(signo),
                     (long long)sig_last_ts(signo), (long long)sig_count(signo));
    return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

static void sig_readable(void *ctx, uint32_t ev)
{
    struct signalfd_siginfo si[16];
    bool child = false;
    for (;;) {
        ssize_t n = sys_read(sig_fd, si, sizeof si);
        if (n <= 0)
            break;
        for (size_t k = 0; k < (size_t)n / sizeof si[0]; k++) {
            int signo = (int)si[k].ssi_signo;
            if (signo == SIGCHLD) {
                child = true;
                continue;
            }
            int i = sig_control_index(signo);
            if (i < 0)
                continue;
            sig_counts[i]++;
            sig_ts[i] = loop_now() / 1000;
            log_info("received %s", sig_name(signo));
            char line[64];
            size_t len = sig_format_event(signo, line, sizeof line);
            event_emit(line, len);
            if (sig_on_count)
                sig_on_count(signo);
        }
        if ((size_t)n < sizeof si)
            break;
    }
    if (child && sig_on_child)
        sig_on_child();
}

/* The kernel's struct sigaction (x86-64 and arm64 layout). */
struct ksigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};

/* Ignored dispositions survive exec: reset any we inherited so that
 * children start with defaults (spawn resets only what we set).  The raw
 * syscall reaches the signals libc reserves for itself (32, 33, ...),
 * which a parent may still have left ignored. */
static void reset_ignored(void)
{
    for (int s = 1; s < NSIG; s++) {
        struct ksigaction old, dfl;
        memset(&dfl, 0, sizeof dfl);    /* SIG_DFL, no flags, empty mask */
        if (s == SIGKILL || s == SIGSTOP ||
            syscall(SYS_rt_sigaction, s, NULL, &old, sizeof old.mask) != 0)
            continue;
        if (old.handler == (void *)SIG_IGN)
            syscall(SYS_rt_sigaction, s, &dfl, NULL, sizeof dfl.mask);
    }
}

int sig_init(void (*on_child)(void))
{
    sig_on_child = on_child;
    sigemptyset(&sig_blocked);
    for (int i = 0; i < SIG_NCONTROL; i++)
        sigaddset(&sig_blocked, sig_names[i].no);
    sigaddset(&sig_blocked, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &sig_blocked, NULL) < 0)
        return -1;
    reset_ignored();
    /* Writes to a vanished reader must fail with EPIPE, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    sig_fd = signalfd(-1, &sig_blocked, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sig_fd < 0)
        return -1;
    loop_watch_init(&sig_watch, sig_fd, sig_readable, NULL);
    return loop_watch_set(&sig_watch, LOOP_IN);
}

/* --- re-exec ----------------------------------------------------------------- */

/* A control signal's count and when it last came. */
struct sig_rec {
    struct state_val name, count, ts;
};

static const struct state_def sig_defs[] = {
    STATE_STR(struct sig_rec, name, 16),
    STATE_INT(struct sig_rec, count, 0, INT64_MAX, 0),
    STATE_INT(struct sig_rec, ts, 0, INT64_MAX, 0),
};
STATE_RECORD(sig_record, "signal", struct sig_rec, sig_defs, 0, 0);

void sig_save(struct state_out *o)
{
    for (int i = 0; i < SIG_NCONTROL; i++) {
        if (!sig_counts[i] && !sig_ts[i])
            continue;
        struct sig_rec rec = {
            .name.s = sig_names[i].name, .count.i = sig_counts[i], .ts.i = sig_ts[i],
        };
        state_write(o, &sig_record, &rec);
    }
}

bool sig_restore(const struct state_rec *r, const char **err)
{
    struct sig_rec rec;
    if (!state_read(r, &sig_record, &rec, err))
        return false;
    int k = sig_control_index(sig_parse(rec.name.s));
    if (k < 0) {
        *err = "record signal, field name: not a control signal";
        return false;
    }
    sig_counts[k] = rec.count.i;
    sig_ts[k] = rec.ts.i;
    return true;
}
