/* signals.h - signal intake behind one small API.
 *
 * The six catchable "control" signals (SIGINT SIGHUP SIGTERM SIGUSR1
 * SIGUSR2 SIGQUIT) and SIGCHLD are blocked and read from a signalfd, so no
 * handler ever runs for them.  Control signals increment a pending count and
 * are broadcast as "signal" events; SIGCHLD calls the reaper.
 */
#ifndef SIGNALS_H
#define SIGNALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Block the signals and start watching them.  Returns 0 or -1. */
int sig_init(void (*on_child)(void));

/* Index of a control signal in the pending table, or -1. */
int sig_control_index(int signo);
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

/* The control signals, for statedump: returns the n-th signal number or 0. */
int sig_control_nth(int i);

/* Format the event line for signo into buf; returns length (with '\n'). */
size_t sig_format_event(int signo, char *buf, size_t len);


#endif
