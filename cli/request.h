/* request.h - dpctl's verbs addressed to the controller (docs/dpctl.1,
 * reload and shutdown; docs/protocol.md, "Requests"): a ctl.request, its
 * ctl.reply lines followed to the final one, and for shutdown the
 * daemon's own `shutdown` when no controller serves it, does not answer
 * in time, or --force says so.
 */
#ifndef DPCTL_REQUEST_H
#define DPCTL_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

struct conn;

/* dpctl reload: 0 on ok, 1 on error, 3 when no controller serves reload,
 * 4 when no final reply came within wait_ms; reply_ms bounds the
 * daemon's own reply. */
int request_reload(struct conn *c, int64_t wait_ms, int64_t reply_ms);

/* dpctl shutdown [--force] [CODE] (code: the operand or NULL for 0),
 * then wait until the daemon's socket closes. */
int request_shutdown(struct conn *c, const char *code, bool force, int64_t wait_ms,
                     int64_t reply_ms);

/* shutdown's operand: an exit code 0..255 (message printed if not). */
bool request_code_valid(int argc, char **argv);

#endif
