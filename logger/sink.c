/* sink.c - a destination written a chunk at a time (sink.h). */
#include "sink.h"
#include "../src/sys.h"

#include <errno.h>
#include <stdlib.h>

bool sink_init(struct sink *s, int fd, size_t cap)
{
    s->fd = fd;
    s->cap = cap;
    s->len = s->off = 0;
    s->buf = malloc(cap);
    return s->buf != NULL;
}

bool sink_reserve(struct sink *s, size_t n)
{
    if (s->cap - s->len >= n)
        return true;
    char *b = realloc(s->buf, s->len + n);
    if (!b)
        return false;
    s->buf = b;
    s->cap = s->len + n;
    return true;
}

enum sink_result sink_flush(struct sink *s, size_t *wrote)
{
    *wrote = 0;
    while (s->off < s->len) {
        ssize_t n = sys_write(s->fd, s->buf + s->off, s->len - s->off);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? SINK_AGAIN : SINK_ERROR;
        if (n == 0) {
            errno = EIO;
            return SINK_ERROR;
        }
        s->off += (size_t)n;
        *wrote += (size_t)n;
    }
    s->len = s->off = 0;
    return SINK_DONE;
}
