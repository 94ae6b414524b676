/* frame.h - dpctl's reading side of the line protocol: the bytes from the
 * control socket cut into lines in a fixed buffer, and the first sign that
 * whatever sends them is not daemonproxy.  Pure: no I/O, no allocation,
 * so the fuzz target runs it as conn.c does.
 *
 * daemonproxy sends lines of at most PROTO_EVENT_MAX bytes, newline
 * included, with no byte below 0x20 but TAB (protocol.h builds them all).
 * Anything else is a violation: the framer reports it and stops there, so
 * a peer that sends an endless line costs one buffer, not memory without
 * end.
 */
#ifndef DPCTL_FRAME_H
#define DPCTL_FRAME_H

#include "../src/protocol.h"    /* PROTO_EVENT_MAX */

#include <stdbool.h>
#include <stddef.h>

/* The longest line daemonproxy sends, newline included. */
#define FRAME_LINE_MAX PROTO_EVENT_MAX
/* The first bytes received, kept to show who answered (frame_excerpt). */
#define FRAME_HEAD 64
/* Room for frame_excerpt() to show them all: \xHH each, quotes, "...". */
#define FRAME_EXCERPT_SIZE (FRAME_HEAD * 4 + 6)

enum frame_next {
    FRAME_NONE = 0,     /* no complete line yet: read more */
    FRAME_LINE,         /* *line and *len hold one line (no '\n', NUL-terminated) */
    FRAME_TOO_LONG,     /* a line over FRAME_LINE_MAX bytes: not daemonproxy */
    FRAME_CONTROL,      /* a control byte other than TAB: not daemonproxy */
};

struct frame {
    size_t start, len;          /* unconsumed bytes are buf[start..len) */
    size_t scanned;             /* buf[start..scanned) holds no newline */
    enum frame_next broken;     /* a violation seen: reported from then on */
    unsigned char bad;          /* the control byte, for FRAME_CONTROL */
    unsigned long long bytes;   /* received in all */
    size_t nhead;
    char head[FRAME_HEAD];
    char buf[2 * FRAME_LINE_MAX];
};

void frame_init(struct frame *f);
/* Where to read into and how much room there is: after frame_next()
 * said FRAME_NONE, more than a line's worth; 0 after a violation. */
char *frame_space(struct frame *f, size_t *room);
void frame_commit(struct frame *f, size_t n);
/* The next line; it lives in the framer's buffer until the next call. */
enum frame_next frame_next(struct frame *f, char **line, size_t *len);

/* The first bytes received, quoted and escaped for a terminal ("" when
 * none came): printable ASCII as is, \t \r \n, other bytes as \xHH, and
 * "..." when more followed.  out gets at most size bytes with its NUL. */
void frame_excerpt(const struct frame *f, char *out, size_t size);
/* The same escaping for any bytes (a process name, say). */
void frame_escape(const char *p, size_t n, bool more, char *out, size_t size);

#endif
