/* sink.h - one destination of dplog's records (current, stdout, stderr):
 * a buffer filled with a chunk's records and written whole, then emptied.
 *
 * A write that fails keeps its bytes: the caller waits and calls
 * sink_flush again, which goes on where the last write stopped.
 */
#ifndef DPLOG_SINK_H
#define DPLOG_SINK_H

#include <stdbool.h>
#include <stddef.h>

struct sink {
    int fd;
    char *buf;
    size_t cap, len;            /* buf[0..len) to write ... */
    size_t off;                 /* ... of which buf[0..off) is written */
};

enum sink_result {
    SINK_DONE,                  /* everything written, buffer empty */
    SINK_AGAIN,                 /* the fd is non-blocking and full: poll POLLOUT */
    SINK_ERROR,                 /* errno tells */
};

/* Allocate cap bytes; false without memory. */
bool sink_init(struct sink *s, int fd, size_t cap);

/* Room for n more bytes (the buffer grown if need be); false without
 * memory. */
bool sink_reserve(struct sink *s, size_t n);

/* Write buf[off..len); *wrote gets the bytes written by this call. */
enum sink_result sink_flush(struct sink *s, size_t *wrote);

static inline size_t sink_pending(const struct sink *s)
{
    return s->len - s->off;
}

static inline size_t sink_room(const struct sink *s)
{
    return s->cap - s->len;
}

#endif
