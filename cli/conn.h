/* conn.h - dpctl's connection to daemonproxy's control socket: connect with
 * a bound, check who serves it, send one command line, read lines against
 * a deadline in a fixed buffer (frame.h).
 *
 * Every failure prints one "dpctl: ..." line on stderr and maps to an exit
 * code (dpctl.h), so callers only pass the code on.
 */
#ifndef DPCTL_CONN_H
#define DPCTL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct conn;

/* No uid trusted beyond root and our own. */
#define CONN_TRUST_NONE ((uid_t)-1)

/* Milliseconds of CLOCK_MONOTONIC, the daemon's clock too. */
int64_t conn_now_ms(void);

/* Connect to path within timeout_ms, and accept the peer only if
 * SO_PEERCRED says it is root, our euid or trust.  NULL on failure
 * (message printed; the exit code is DPCTL_NOCONNECT); nothing was sent. */
struct conn *conn_open(const char *path, int64_t timeout_ms, uid_t trust);
void conn_close(struct conn *c);
const char *conn_path(const struct conn *c);

/* Send argv joined by TABs as one line.  Returns 0, or an exit code after
 * printing why (lost connection). */
int conn_send(struct conn *c, int argc, char *const *argv);

/* Send "echo<TAB>marker" and return the marker, unique per connection. */
const char *conn_send_marker(struct conn *c, int *rc);

/* Send argv as one line and the echo marker after it in the same write:
 * the daemon reads both at once, so the marker's reply comes before
 * anything the command starts that ends in a later loop iteration (the
 * outcome of a reexec).  Returns the marker, *rc as conn_send_marker(). */
const char *conn_send_marked(struct conn *c, int argc, char *const *argv, int *rc);

/* Next line (without its newline, NUL-terminated, valid until the next
 * call) by deadline_ms.  Returns DPCTL_OK with *line set; DPCTL_TIMEOUT at
 * the deadline (nothing printed: the caller knows what it waited for);
 * DPCTL_LOST when the daemon closed the connection or it failed (message
 * printed unless conn_expect_eof() was called); DPCTL_NOCONNECT when the
 * peer sent what daemonproxy never sends (message printed). */
int conn_read_line(struct conn *c, int64_t deadline_ms, char **line, size_t *len);

/* Say that no reply came within seconds, and what the peer did instead:
 * nothing, or which bytes; and who it is. */
void conn_say_no_reply(const struct conn *c, double seconds);

/* The next end of stream is the expected outcome (send exit/terminate):
 * conn_read_line() returns DPCTL_LOST without a message. */
void conn_expect_eof(struct conn *c);
bool conn_eof_seen(const struct conn *c);

#endif
