/* term.c - exit guard, exec-on-exit and the fatal-signal path.
 *
 * The exec argv, the program's path (searched in PATH once, when the args
 * are set) and an environment with two reserved slots are built ahead, so
 * the fatal-signal handler only fills two static strings and calls
 * execve(): everything in it is async-signal-safe.
 */
#include "term.h"
#include "log.h"
#include "signals.h"
#include "sys.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static char **exec_argv;        /* NULL-terminated; one allocation */
static char *exec_path;         /* argv[0] found in PATH (or argv[0] itself) */
static char **exec_envp;        /* environ + 2 slots + NULL */
static char env_code[40];
static char env_err[512];
static bool guard_on, guard_code_set, pid1;
static int64_t guard_code;
static void (*term_hook)(int code);

void term_set_atexit(void (*fn)(int code)) { term_hook = fn; }
bool term_exec_set(void) { return exec_argv != NULL; }
bool term_guard_code(int64_t *code) { *code = guard_code; return guard_code_set; }

char *term_exec_tsv(void)
{
    size_t n = 1;
    for (char **a = exec_argv; a && *a; a++)
        n += strlen(*a) + 1;
    char *s = malloc(n), *p = s;
    if (!s)
        return NULL;
    for (char **a = exec_argv; a && *a; a++) {
        size_t l = strlen(*a);
        memcpy(p, *a, l);
        p += l;
        *p++ = a[1] ? '\t' : '\0';
    }
    if (p == s)
        *p = '\0';
    return s;
}

void term_set_pid1(bool p) { pid1 = p; }
bool term_guarded(void) { return guard_on || pid1; }
bool term_guard_has_code(void) { return guard_code_set; }
bool term_guard_matches(int64_t code) { return guard_code_set && code == guard_code; }

void term_guard_set(int64_t code)
{
    guard_on = guard_code_set = true;
    guard_code = code;
}

void term_guard_clear(void)
{
    guard_on = guard_code_set = false;
    guard_code = 0;
}

static bool build_envp(void)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **e = malloc((n + 3) * sizeof *e);
    if (!e)
        return false;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "DAEMONPROXY_EXITCODE=", 21) != 0 &&
            strncmp(environ[i], "DAEMONPROXY_ERROR=", 18) != 0)
            e[k++] = environ[i];
    e[k++] = env_code;
    e[k++] = env_err;
    e[k] = NULL;
    free(exec_envp);
    exec_envp = e;
    return true;
}

/* argv0 as execvp would find it: itself when it has a '/', else the
 * first executable file of that name in a directory of PATH.  NULL when out
 * of memory; argv0 itself when nothing is found (execve then fails as
 * execvp would, with ENOENT). */
static char *find_program(const char *argv0)
{
    const char *path = getenv("PATH");
    if (strchr(argv0, '/') || !*argv0)
        return strdup(argv0);
    if (!path)
        path = "/usr/local/bin:/bin:/usr/bin";
    size_t alen = strlen(argv0);
    char *buf = malloc(strlen(path) + alen + 2);
    if (!buf)
        return NULL;
    for (const char *p = path;; p++) {
        const char *e = strchr(p, ':');
        size_t dlen = e ? (size_t)(e - p) : strlen(p);
        /* An empty entry is the current directory, as for execvp. */
        memcpy(buf, dlen ? p : ".", dlen ? dlen : 1);
        size_t n = dlen ? dlen : 1;
        buf[n] = '/';
        memcpy(buf + n + 1, argv0, alen + 1);
        if (access(buf, X_OK) == 0)
            return buf;
        if (!e)
            break;
        p = e;
    }
    free(buf);
    return strdup(argv0);
}

bool term_set_exec(int n, char **args)
{
    if (n <= 0) {
        free(exec_argv);
        free(exec_path);
        exec_argv = NULL;
        exec_path = NULL;
        return true;
    }
    size_t bytes = (size_t)(n + 1) * sizeof(char *);
    for (int i = 0; i < n; i++)
        bytes += strlen(args[i]) + 1;
    char **v = malloc(bytes);
    char *prog = find_program(args[0]);
    if (!v || !prog || !build_envp()) {
        free(v);
        free(prog);
        return false;
    }
    char *p = (char *)(v + n + 1);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(args[i]) + 1;
        memcpy(p, args[i], len);
        v[i] = p;
        p += len;
    }
    v[n] = NULL;
    free(exec_argv);
    free(exec_path);
    exec_argv = v;
    exec_path = prog;
    return true;
}

bool term_set_exec_tsv(const char *tsv)
{
    char *copy = strdup(tsv);
    if (!copy)
        return false;
    int n = 1;
    for (const char *p = tsv; *p; p++)
        n += (*p == '\t');
    char **args = malloc((size_t)n * sizeof *args);
    if (!args) {
        free(copy);
        return false;
    }
    int k = 0;
    for (char *s = copy, *t; (t = strsep(&s, "\t")) != NULL;)
        args[k++] = t;
    bool ok = (k == 1 && args[0][0] == '\0') ? term_set_exec(0, NULL) : term_set_exec(k, args);
    free(args);
    free(copy);
    return ok;
}

/* Async-signal-safe string helpers for the fatal path. */
static size_t s_cat(char *dst, size_t pos, size_t size, const char *src)
{
    while (*src && pos + 1 < size)
        dst[pos++] = *src++;
    dst[pos] = '\0';
    return pos;
}

static size_t s_catnum(char *dst, size_t pos, size_t size, long v)
{
    char tmp[24];
    int i = 0;
    unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
    do
        tmp[i++] = (char)('0' + u % 10);
    while ((u /= 10) && i < 23);
    if (v < 0)
        tmp[i++] = '-';
    while (i && pos + 1 < size)
        dst[pos++] = tmp[--i];
    dst[pos] = '\0';
    return pos;
}

/* Restore what exec would otherwise inherit from us and exec.  Only
 * async-signal-safe calls: the fatal-signal handler runs it. */
static void do_exec(int code, const char *msg)
{
    size_t p = s_cat(env_code, 0, sizeof env_code, "DAEMONPROXY_EXITCODE=");
    s_catnum(env_code, p, sizeof env_code, code);
    p = s_cat(env_err, 0, sizeof env_err, "DAEMONPROXY_ERROR=");
    s_cat(env_err, p, sizeof env_err, msg ? msg : "");
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigaction(SIGPIPE, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(exec_path, exec_argv, exec_envp);
}

/* Leave with code: exec-on-exit, or exit, logging msg as the reason at
 * level when it is not a plain success (0: not logged). */
__attribute__((noreturn))
static void leave(int code, const char *msg, int level)
{
    if (term_hook)
        term_hook(code);
    if (exec_argv) {
        log_info("exec-on-exit (code %d%s%s): %s", code, msg ? ": " : "",
                 msg ? msg : "", exec_argv[0]);
        log_flush_final(200);
        do_exec(code, msg);
        log_errno(LOG_FATAL, "exec-on-exit %s failed", exec_argv[0]);
    } else if (msg && code != 0 && level) {
        log_msg(level, "%s", msg);
    }
    log_flush_final(500);
    exit(code);
}

void term_exit(int code, const char *msg)
{
    leave(code, msg, code == EXIT_HELP ? LOG_INFO : LOG_FATAL);
}

void term_exit_asked(int code, const char *who)
{
    /* The normal end (of a container, say): no error, whatever the code. */
    log_info("exiting with code %d, as asked by %s", code, who);
    leave(code, "terminated by command", 0);
}

static void fatal_handler(int signo)
{
    char msg[64];
    /* sig_name() of these signals is a table lookup: safe here. */
    size_t p = s_cat(msg, 0, sizeof msg, "fatal signal ");
    s_cat(msg, p, sizeof msg, sig_name(signo));
    if (exec_argv)
        do_exec(EXIT_BROKEN, msg);
    static const char text[] = "fatal: daemonproxy received a fatal signal\n";
    sys_write(2, text, sizeof text - 1);     /* async-signal-safe (sys.h) */
    _exit(EXIT_BROKEN);
}

void term_init_fatal(void)
{
    static char altstack[32 * 1024] SYS_LARGE_BSS;
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack };
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fatal_handler;
    sa.sa_flags = SA_ONSTACK | SA_NODEFER | SA_RESETHAND;
    sigfillset(&sa.sa_mask);
    for (int i = 0, s; (s = sig_fatal_nth(i)) != 0; i++)
        sigaction(s, &sa, NULL);
}
