/* logtext.h - what dpctl logs knows of a record's bytes: the timestamp
 * dplog puts first (RFC 3339 or TAI64N), the time --since names, and the
 * escaping that keeps a service's bytes from driving a terminal.  Pure:
 * no I/O, no allocation (docs/dpctl.1, logs).
 */
#ifndef DPCTL_LOGTEXT_H
#define DPCTL_LOGTEXT_H

#include <stdbool.h>
#include <stddef.h>

/* A moment as Unix seconds and nanoseconds (nsec 0 .. 999999999). */
struct logtime {
    long long sec;
    long nsec;
};

/* The longest stamp with its separator: RFC 3339's 27 bytes and ' '. */
#define LOGTEXT_STAMP_MAX 28

/* The stamp at the start of a record of n bytes: dplog's
 * "2026-12-07T23:03:12.123456Z" or "@" and 24 hex digits (TAI64N, the
 * daemontools label), followed by its separator, ' ' or '+' ('+': the
 * line goes on in the next record).  Returns the stamp's length with the
 * separator, *t and *cont set; 0 when the record starts with no stamp. */
size_t logtext_stamp(const char *p, size_t n, struct logtime *t, bool *cont);

/* --since TIME: RFC 3339 ("2026-12-07T10:00:00Z", "+01:00", fraction
 * optional, ' ' for 'T'), "YYYY-MM-DD[ HH:MM[:SS]]" in local time (TZ),
 * or a duration before now ("30s", "10m", "2h", "1d", "1h30m").  Returns
 * false for anything else. */
bool logtext_since(const char *s, long long now, struct logtime *t);

/* a before b: -1; the same: 0; after: 1. */
int logtext_cmp(const struct logtime *a, const struct logtime *b);

/* Bytes made safe for a terminal: a control byte other than TAB and
 * newline (0x00-0x1f, 0x7f) as "\xNN", a backslash as "\\"; the rest,
 * bytes >= 0x80 too, as they are.  out has room for 4 * n bytes; returns
 * how many were written. */
size_t logtext_escape(const char *p, size_t n, char *out);

#endif
