/* stamp.h - dplog's time stamps and the TAI64N labels of rotated files.
 *
 * Pure: a struct timespec in, bytes out; no clock is read here (main.c
 * reads CLOCK_REALTIME once per read(2) and formats it once).  The label
 * is the daemontools convention (tai64nlocal reads it): 0x4000000000000000
 * + 10 + unix seconds as 16 lowercase hex digits, then the nanoseconds as 8.
 */
#ifndef DPLOG_STAMP_H
#define DPLOG_STAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define STAMP_RFC3339_LEN 27    /* 2026-12-07T23:03:12.123456Z */
#define STAMP_TAI64N_LEN 25     /* @4000000069...0a1b2c3d */
#define STAMP_MAX 27

/* UTC, 6 fraction digits (truncated), into out[0..27); no NUL.  Years
 * outside 0..9999 are clamped to them. */
void stamp_rfc3339(char *out, const struct timespec *ts);

/* '@' and 24 lowercase hex digits into out[0..25); no NUL. */
void stamp_tai64n(char *out, const struct timespec *ts);

/* The 24 hex digits after '@' of a label (p[0..24)) back into a time;
 * false if they are not 24 lowercase hex digits with nanoseconds below
 * 10^9 and seconds at or after the epoch's label. */
bool stamp_tai64n_parse(const char *p, struct timespec *ts);

/* A record's time stamp at p[0..n) (RFC 3339 as stamp_rfc3339 writes it,
 * or '@' and 24 hex digits) back into a time; false if p holds neither. */
bool stamp_parse(const char *p, size_t n, struct timespec *ts);

#endif
