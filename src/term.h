/* term.h - how daemonproxy ends: the exit guard, exec-on-exit and the
 * fatal-signal path.
 *
 * Every exit goes through term_exit(): when exec-on-exit args are set it
 * execs them with DAEMONPROXY_EXITCODE and DAEMONPROXY_ERROR in the
 * environment instead of exiting.
 */
#ifndef TERM_H
#define TERM_H

#include <stdbool.h>
#include <stdint.h>

/* Exit codes (docs/daemonproxy.1, EXIT STATUS). */
enum {
    EXIT_NORMAL = 0,
    EXIT_HELP = 1,
    EXIT_BADOPT = 2,
    EXIT_ENV = 3,
    EXIT_BROKEN = 4,
};

/* Install handlers for the fatal signals (SIGSEGV SIGABRT SIGBUS SIGFPE
 * SIGILL SIGTRAP): they exec the exit-exec args with code 4. */
void term_init_fatal(void);

/* Set the exec-on-exit argv from n strings (copied); n == 0 clears.
 * Returns false on allocation failure. */
bool term_set_exec(int n, char **args);
/* Same from one TAB-separated string (the -E option). */
bool term_set_exec_tsv(const char *tsv);
bool term_exec_set(void);
/* The exec-on-exit argv TAB-joined as -E takes it ("" if none; malloc'd,
 * NULL when out of memory), and the guard's code (false: no code): what a
 * re-exec passes on as options. */
char *term_exec_tsv(void);
bool term_guard_code(int64_t *code);

/* The exit guard.  PID 1 has an implicit guard without a code. */
void term_set_pid1(bool pid1);
bool term_guarded(void);
bool term_guard_has_code(void);
bool term_guard_matches(int64_t code);
void term_guard_set(int64_t code);
void term_guard_clear(void);

/* Exit (or exec) with code; msg goes to DAEMONPROXY_ERROR and the log
 * (at fatal level for codes other than 0 and 1).  Flushes the log
 * (briefly) and logs services still running. */
__attribute__((noreturn)) void term_exit(int code, const char *msg);
/* The same for an exit a controller asked for (`terminate`): logged at
 * info as "exiting with code N, as asked by WHO", never as fatal;
 * DAEMONPROXY_ERROR is "terminated by command". */
__attribute__((noreturn)) void term_exit_asked(int code, const char *who);

/* Hook run by term_exit before leaving, with the exit code (e.g. list
 * running services). */
void term_set_atexit(void (*fn)(int code));

#endif
