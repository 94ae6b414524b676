/* fmt.h - snprintf for the daemon, without stdio.
 *
 * The daemon formats every message with these instead of libc's printf
 * family: a static musl build then links no stdio and no floating-point
 * formatter (musl's vfprintf alone is 10.5 kB of code, more than any
 * module of ours; README "Footprint").  Behaviour is snprintf's for the
 * directives the daemon uses, and gcc's format checking applies:
 *
 *   flags - 0 + space #, a width and a precision (digits or *),
 *   lengths hh h l ll z j t, conversions d i u o x X c s %.
 *
 * No floating point, %n or %p.  A directive outside this set is copied to
 * the output as written, never read as an argument; tests/modgraph.py
 * checks that src/ uses none, and tests/unit/test_fmt.c compares the
 * output with libc's snprintf.  Async-signal-safe: no locks, no malloc.
 */
#ifndef FMT_H
#define FMT_H

#include <stdarg.h>
#include <stddef.h>

/* As snprintf/vsnprintf: at most size - 1 bytes and a NUL into buf (when
 * size > 0); returns the length the whole output would have had. */
int fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
