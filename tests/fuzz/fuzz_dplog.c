/* fuzz_dplog.c - libFuzzer target for dplog's line splitter and record
 * formats (logger/record.c) and its time stamps (logger/stamp.c).
 *
 * An input is: a byte choosing --line-max, a byte seeding the chunk sizes,
 * a byte choosing where a stop (SIGTERM) falls, then the stream.  The
 * stream goes through the loop dplog's main.c runs (hold the partial line,
 * take records until only a partial line is left, read more), in chunks
 * split at arbitrary points; once it stops as at SIGTERM (the partial line
 * written as a continued record, a new "dplog" reading the rest), and it
 * ends as at EOF.  Checked:
 *   - the records rejoined (a '+' record goes on in the next) are the
 *     input's lines, byte for byte, a last line without '\n' included;
 *   - every record's text is at most line_max bytes, holds no '\n', and
 *     its file and copy forms are what the format says;
 *   - a piece cut for length is cut at line_max, or up to 3 bytes earlier
 *     at a UTF-8 boundary when there is one;
 *   - the cuts do not depend on the chunking: fed in one piece, the same
 *     stream gives the same records (before the stop);
 *   - the time stamps match gmtime_r and parse back; any bytes parse or
 *     not without reading outside them.
 */
#include "fuzz.h"
#include "../../logger/record.h"
#include "../../logger/stamp.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

#define STAMP "2026-12-07T23:03:12.123456Z"

struct out {
    char *file, *copy;          /* the formatted records */
    size_t flen, clen;
    size_t nrec;
};

static void fail(const char *why)
{
    fprintf(stderr, "fuzz_dplog: %s\n", why);
    abort();
}

static void add(struct out *o, const struct rec *r, size_t line_max)
{
    if (r->len > line_max || memchr(r->text, '\n', r->len))
        fail("record too long or with a newline");
    size_t fl = rec_file_len(sizeof STAMP - 1, r), cl = rec_copy_len(3, r);
    o->file = realloc(o->file, o->flen + fl);
    o->copy = realloc(o->copy, o->clen + cl);
    if (!o->file || !o->copy)
        abort();
    char *e = rec_put_file(o->file + o->flen, STAMP, sizeof STAMP - 1, r);
    if ((size_t)(e - (o->file + o->flen)) != fl)
        fail("rec_file_len disagrees with rec_put_file");
    e = rec_put_copy(o->copy + o->clen, "app", 3, r);
    if ((size_t)(e - (o->copy + o->clen)) != cl)
        fail("rec_copy_len disagrees with rec_put_copy");
    o->flen += fl;
    o->clen += cl;
    o->nrec++;
}

/* The loop of main.c over data[0..n): chunk sizes from the seed (0: all at
 * once); at stop_at (<= n) a stop, the held line written as continued.
 * Returns the records in o. */
static void run(const uint8_t *data, size_t n, size_t line_max, unsigned seed, size_t stop_at,
                struct out *o)
{
    char *buf = malloc(line_max + n + 1);
    size_t pos = 0, fill = 0, fed = 0;
    if (!buf)
        abort();
    unsigned x = seed * 2654435761u + 1;
    while (fed < n) {
        size_t want = n - fed;
        if (seed) {
            x = x * 1103515245u + 12345u;
            want = 1 + (x >> 16) % (2 * line_max + 3);
        }
        size_t limit = fed < stop_at ? stop_at : n;
        if (want > limit - fed)
            want = limit - fed;
        if (pos) {
            memmove(buf, buf + pos, fill - pos);
            fill -= pos;
            pos = 0;
        }
        memcpy(buf + fill, data + fed, want);
        fill += want;
        fed += want;
        struct rec r;
        size_t k;
        while ((k = rec_next(buf + pos, fill - pos, line_max, &r)) > 0) {
            if (r.cont) {
                /* the cut rule, from the bytes that follow */
                const unsigned char *t = (const unsigned char *)r.text;
                if (r.len + 3 < line_max || r.len > line_max)
                    fail("piece not near line_max");
                if (r.len < line_max && (t[r.len] & 0xc0) == 0x80)
                    fail("backed off to no boundary");
                if (r.len == line_max && (t[r.len] & 0xc0) == 0x80)
                    for (size_t b = 0; b <= 3; b++)
                        if ((t[line_max - b] & 0xc0) != 0x80)
                            fail("a boundary within 3 bytes was missed");
            }
            add(o, &r, line_max);
            pos += k;
        }
        if (fill - pos > line_max)
            fail("held more than line_max");
        if (fed == stop_at && stop_at < n && fill > pos) {
            /* SIGTERM: the partial line continued; the next dplog starts empty */
            r = (struct rec){ buf + pos, fill - pos, true };
            add(o, &r, line_max);
            pos = fill;
        }
    }
    if (fill > pos) {
        struct rec r = { buf + pos, fill - pos, false };
        add(o, &r, line_max);
    }
    free(buf);
}

/* The file form back into the stream: stamp, SEP, text; '+' joins. */
static void rejoin_file(const struct out *o, const uint8_t *data, size_t n)
{
    size_t i = 0, at = 0;
    const size_t sl = sizeof STAMP - 1;
    while (i < o->flen) {
        const char *nl = memchr(o->file + i, '\n', o->flen - i);
        if (!nl || (size_t)(nl - (o->file + i)) < sl + 1 || memcmp(o->file + i, STAMP, sl))
            fail("file record malformed");
        char sep = o->file[i + sl];
        if (sep != ' ' && sep != '+')
            fail("file record: bad separator");
        size_t tl = (size_t)(nl - (o->file + i)) - sl - 1;
        if (at + tl > n || memcmp(data + at, o->file + i + sl + 1, tl))
            fail("file records differ from the input");
        at += tl;
        if (sep == ' ') {
            if (at < n && data[at] != '\n')
                fail("a record ends where the line does not");
            if (at < n)
                at++;
        }
        i = (size_t)(nl - o->file) + 1;
    }
    if (at != n)
        fail("records lost input");
}

static void rejoin_copy(const struct out *o, const uint8_t *data, size_t n)
{
    size_t i = 0, at = 0;
    while (i < o->clen) {
        const char *nl = memchr(o->copy + i, '\n', o->clen - i);
        if (!nl || (size_t)(nl - (o->copy + i)) < 5 || memcmp(o->copy + i, "app", 3)
            || o->copy[i + 4] != ' ')
            fail("copy malformed");
        char sep = o->copy[i + 3];
        size_t tl = (size_t)(nl - (o->copy + i)) - 5;
        if ((sep != ':' && sep != '+') || at + tl > n || memcmp(data + at, o->copy + i + 5, tl))
            fail("copies differ from the input");
        at += tl;
        if (sep == ':' && at < n)
            at++;
        i = (size_t)(nl - o->copy) + 1;
    }
    if (at != n)
        fail("copies lost input");
}

static void check_stamps(const uint8_t *data, size_t size)
{
    int64_t s = 0;
    uint32_t ns = 0;
    memcpy(&s, data, size < 8 ? size : 8);
    if (size > 8)
        memcpy(&ns, data + 8, size - 8 < 4 ? size - 8 : 4);
    s %= 253402300800LL;        /* up to 9999-12-31 */
    if (s < 0)
        s = -s;
    struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)(ns % 1000000000u) };
    char got[STAMP_MAX + 1] = "", want[64];
    stamp_rfc3339(got, &ts);
    struct tm tm;
    if (!gmtime_r(&ts.tv_sec, &tm))
        abort();
    snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    if (memcmp(got, want, STAMP_RFC3339_LEN))
        fail("rfc3339 differs from gmtime_r");
    struct timespec back;
    if (!stamp_parse(got, STAMP_RFC3339_LEN, &back) || back.tv_sec != ts.tv_sec
        || back.tv_nsec != ts.tv_nsec / 1000 * 1000)
        fail("rfc3339 does not parse back");
    (void)stamp_parse((const char *)data, size, &back);     /* any bytes: no crash */
    stamp_tai64n(got, &ts);
    if (got[0] != '@' || !stamp_tai64n_parse(got + 1, &back) || back.tv_sec != ts.tv_sec
        || back.tv_nsec != ts.tv_nsec)
        fail("tai64n label does not parse back");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    check_stamps(data, size);
    size_t line_max = REC_LINE_MIN + data[0] % 48;
    if (data[0] >= 0xf0)
        line_max = 1000 + data[0];
    unsigned seed = data[1];
    const uint8_t *in = data + 3;
    size_t n = size - 3, stop_at = data[2] < 0x80 ? n : (size_t)(data[2] - 0x80) * n / 0x7f;

    struct out chunked = { 0 }, whole = { 0 };
    run(in, n, line_max, seed, stop_at, &chunked);
    rejoin_file(&chunked, in, n);
    rejoin_copy(&chunked, in, n);
    if (stop_at == n) {
        run(in, n, line_max, 0, n, &whole);
        if (whole.flen != chunked.flen
            || (whole.flen && memcmp(whole.file, chunked.file, whole.flen)))
            fail("the records depend on the chunking");
    }
    free(chunked.file);
    free(chunked.copy);
    free(whole.file);
    free(whole.copy);
    return 0;
}
