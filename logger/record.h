/* record.h - lines into records, and records into bytes (dplog(1) FILES).
 *
 * Pure: no I/O, no clock, no allocation; the fuzz target
 * (tests/fuzz/fuzz_dplog.c) and the unit tests run it in-process.
 *
 * A line is the bytes before a '\n' (any other byte kept as it is).  It
 * becomes one record, or when longer than line_max several: every record
 * but the last of a line "continues" (cont), and the reader joins it with
 * the next.  A piece is cut at line_max bytes, or up to 3 bytes earlier
 * where that is the start of a UTF-8 sequence, so a split never cuts a
 * character in two.  The cut of a line depends only on its bytes, never on
 * how they arrived, so chunks split anywhere give the same records.
 */
#ifndef DPLOG_RECORD_H
#define DPLOG_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#define REC_LINE_MIN 16
#define REC_LINE_MAX 1048576

struct rec {
    const char *text;
    size_t len;                 /* bytes of text, at most line_max */
    bool cont;                  /* the line goes on in the next record */
};

/* The first record of p[0..n): fills *r and returns the bytes it took
 * (its text, and the '\n' if it ended its line).  0 when p[0..n) is a
 * partial line of at most line_max bytes: hold it until more comes. */
size_t rec_next(const char *p, size_t n, size_t line_max, struct rec *r);

/* Where to cut a piece of a line that has more than line_max bytes at p:
 * line_max, or up to 3 bytes less where p[cut] starts a UTF-8 sequence. */
size_t rec_cut(const char *p, size_t line_max);

/* A record as a file holds it: STAMP SEP TEXT '\n' (SEP ' ', or '+' when
 * it continues); with stamp_len 0 (-t none) TEXT ['\\' when it continues]
 * '\n'.  rec_file_len is the byte count rec_put_file writes at dst and
 * returns the end of. */
static inline size_t rec_file_len(size_t stamp_len, const struct rec *r)
{
    return stamp_len ? stamp_len + r->len + 2 : r->len + 1 + r->cont;
}
char *rec_put_file(char *dst, const char *stamp, size_t stamp_len, const struct rec *r);

/* A copy for stdout/stderr: NAME ": " TEXT '\n', or NAME "+ " TEXT '\n'
 * for a piece that continues. */
static inline size_t rec_copy_len(size_t name_len, const struct rec *r)
{
    return name_len + r->len + 3;
}
char *rec_put_copy(char *dst, const char *name, size_t name_len, const struct rec *r);

#endif
