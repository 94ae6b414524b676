/* signals.h - signal intake behind one small API, and the one table of
 * signal names and roles.
 *
 * The six catchable "control" signals (SIGINT SIGHUP SIGTERM SIGUSR1
 * SIGUSR2 SIGQUIT) and SIGCHLD are blocked and read from a signalfd, so no
 * handler ever runs for them.  Control signals increment a pending count and
 * are broadcast as "signal" events; SIGCHLD calls the reaper.  The "fatal"
 * signals (SIGSEGV SIGABRT SIGBUS SIGFPE SIGILL SIGTRAP) have handlers that
 * take the exec-on-exit path (term.c).  Every list of signals elsewhere
 * comes from here.
 */
#ifndef SIGNALS_H
#define SIGNALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Block the signals and start watching them.  Returns 0 or -1. */
int sig_init(void (*on_child)(void));

#define SIG_NCONTROL 6
#define SIG_NFATAL 6

/* Index (0..SIG_NCONTROL-1) of a control signal, or -1.  The order is the
 * one the protocol lists them in: SIGINT SIGHUP SIGTERM SIGUSR1 SIGUSR2
 * SIGQUIT (auto-up triggers in events, signals in statedump). */
int sig_control_index(int signo);
/* The control signals as text: "SIGINT, SIGHUP, ... or SIGQUIT". */
const char *sig_control_list(void);
/* The i-th fatal signal, or 0 past the end.  A table lookup: safe in a
 * signal handler and between clone and exec. */
int sig_fatal_nth(int i);
/* Pending count (0 if not a control signal). */
int64_t sig_count(int signo);
/* Subtract n from signo's count (floor 0).  Returns false if signo is not
 * a control signal. */
bool sig_clear(int signo, int64_t n);
/* Monotonic second the signal was last received (0 = never). */
int64_t sig_last_ts(int signo);
/* Called when a count changes (auto-up triggers re-evaluate). */
void sig_set_count_cb(void (*fn)(int signo));

/* Signal name <-> number: accepts "SIGTERM", "TERM", or a decimal number.
 * Returns 0 if unknown. */
int sig_parse(const char *s);
/* "SIGTERM" etc.; for unknown numbers a static "SIG%d". */
const char *sig_name(int signo);

/* The i-th control signal (in the order above), or 0 past the end. */
int sig_control_nth(int i);

/* Format the event line for signo into buf; returns length (with '\n'). */
size_t sig_format_event(int signo, char *buf, size_t len);


/* Re-exec (reexec.h): the pending counts, and one record back. */
struct state_out;
struct state_rec;
struct state_table;
void sig_save(struct state_out *o);
bool sig_restore(const struct state_rec *r, const char **err);
extern const struct state_table sig_record;      /* "signal" */

#endif
