/* frame.c - lines from the control socket, in a fixed buffer (see frame.h). */
#include "frame.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

void frame_init(struct frame *f)
{
    memset(f, 0, offsetof(struct frame, buf));
}

char *frame_space(struct frame *f, size_t *room)
{
    /* The partial line is shorter than FRAME_LINE_MAX (or frame_next()
     * said it is too long): moved to the front, a whole line fits after it. */
    if (f->start && sizeof f->buf - f->len < FRAME_LINE_MAX) {
        memmove(f->buf, f->buf + f->start, f->len - f->start);
        f->len -= f->start;
        f->scanned -= f->start;
        f->start = 0;
    }
    *room = f->broken ? 0 : sizeof f->buf - f->len;
    return f->buf + f->len;
}

void frame_commit(struct frame *f, size_t n)
{
    if (f->nhead < FRAME_HEAD) {
        size_t k = n < FRAME_HEAD - f->nhead ? n : FRAME_HEAD - f->nhead;
        memcpy(f->head + f->nhead, f->buf + f->len, k);
        f->nhead += k;
    }
    f->len += n;
    f->bytes += n;
}

/* Eight bytes at a time: whether none is a control byte other than TAB
 * (the newline included).  Per byte, exactly, with no carry between
 * bytes: (b & 0x7f) + 0x60 has its top bit set when b & 0x7f >= 0x20, and
 * (c & 0x7f) + 0x7f when c is not 0, for c = b ^ TAB. */
static bool word_plain(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof x);
    const uint64_t lo7 = 0x7f7f7f7f7f7f7f7full, hi = 0x8080808080808080ull;
    uint64_t printable = (((x & lo7) + 0x6060606060606060ull) | x) & hi;
    uint64_t t = x ^ 0x0909090909090909ull;
    uint64_t not_tab = (((t & lo7) + lo7) | t) & hi;
    return (~printable & not_tab & hi) == 0;
}

enum frame_next frame_next(struct frame *f, char **line, size_t *len)
{
    if (f->broken)
        return f->broken;
    /* The bytes every line is mostly made of, skipped in locals (stores
     * through f->buf could alias f's fields): a word at a time, which a
     * TAB does not stop (a statedump line has several), then the bytes of
     * the word that holds the end (for the 156 kB statedump of 1,000
     * running services, 7% of dpctl status's time byte by byte, 3% so). */
    const unsigned char *buf = (const unsigned char *)f->buf, *p = buf + f->scanned;
    const unsigned char *end = buf + f->len;
    while (end - p >= 8 && word_plain(p))
        p += 8;
    while (p < end && (*p >= 0x20 || *p == '\t'))
        p++;
    f->scanned = (size_t)(p - buf);
    if (f->scanned - f->start >= FRAME_LINE_MAX) {
        f->broken = FRAME_TOO_LONG;     /* no room left for its newline */
    } else if (p < end && *p != '\n') {
        f->bad = *p;
        f->broken = FRAME_CONTROL;
    } else if (p < end) {
        f->buf[f->scanned] = '\0';
        *line = f->buf + f->start;
        *len = f->scanned - f->start;
        f->start = ++f->scanned;
        return FRAME_LINE;
    }
    return f->broken;
}

void frame_escape(const char *p, size_t n, bool more, char *out, size_t size)
{
    if (size < 8) {
        if (size)
            out[0] = '\0';
        return;
    }
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        char e[5];
        int k = 2;
        e[0] = '\\';
        if (c == '\t' || c == '\r' || c == '\n')
            e[1] = c == '\t' ? 't' : c == '\r' ? 'r' : 'n';
        else if (c == '"' || c == '\\')
            e[1] = (char)c;
        else if (c >= 0x20 && c < 0x7f)
            e[0] = (char)c, k = 1;
        else
            k = snprintf(e, sizeof e, "\\x%02x", c);
        /* Room for it, the closing quote, "..." and the NUL. */
        if (o + (size_t)k + 5 > size) {
            more = true;
            break;
        }
        memcpy(out + o, e, (size_t)k);
        o += (size_t)k;
    }
    out[o++] = '"';
    if (more) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

void frame_excerpt(const struct frame *f, char *out, size_t size)
{
    if (f->nhead == 0 && size)
        out[0] = '\0';
    else
        frame_escape(f->head, f->nhead, f->bytes > f->nhead, out, size);
}
