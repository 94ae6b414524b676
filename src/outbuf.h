/* outbuf.h - the output side of a controller: its event stream.
 *
 * A bounded buffer of whole lines, written without blocking, with the
 * flow-control rules of docs/protocol.md ("Flow control"): a line that does
 * not fit is dropped and the stream flagged overflowed until it has
 * drained, when it gets the single line "overflow"; while output is pending
 * and the reader takes nothing, the RESET clock flags it overflowed and the
 * CLOSE clock gives up on it.
 *
 * The owner learns of what happens on its own (the fd became writable, a
 * clock ran out, the reader went away) through one callback.
 *
 * Fds (the rule everywhere): a function never takes ownership of an fd it
 * is given unless its comment says it takes it; one that takes an fd owns
 * it from the call on and closes it itself, also when it fails.
 * outbuf_new takes its fd; it is closed when the stream dies or is freed.
 */
#ifndef OUTBUF_H
#define OUTBUF_H

#include "state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Upper bound of the buffer. */
#define OUTBUF_MAX (64 * 1024)

struct outbuf;

enum outbuf_event {
    OUTBUF_WRITABLE,    /* a blocked write may go on now */
    OUTBUF_RESET,       /* RESET ran out: now overflowed (output is dropped) */
    OUTBUF_CLOSE,       /* CLOSE ran out: the owner should give up */
    OUTBUF_DEAD,        /* the reader went away (hang-up or error seen by the
                         * watch): the stream is closed */
};

typedef void (*outbuf_fn)(void *ctx, enum outbuf_event ev);

/* A stream writing to fd; name is for log lines and must outlive it.
 * Returns NULL (errno set, fd closed) when out of memory. */
struct outbuf *outbuf_new(int fd, const char *name, outbuf_fn fn, void *ctx);
/* Close the stream if alive, and free it.  Never from the owner's callback:
 * owners free from a task. */
void outbuf_free(struct outbuf *o);
/* Close the stream: the fd is closed and what is pending dropped.  The
 * struct stays (outbuf_alive false) until outbuf_free. */
void outbuf_close(struct outbuf *o);
bool outbuf_alive(const struct outbuf *o);

/* Append one whole line, or drop it and flag the overflow.  Returns where
 * it went in the buffer (valid until the next call), or NULL if dropped. */
char *outbuf_put(struct outbuf *o, const char *line, size_t len);

size_t outbuf_pending(const struct outbuf *o);
/* Bytes a line may take now: 0 when overflowed or dead. */
size_t outbuf_room(const struct outbuf *o);
bool outbuf_overflowed(const struct outbuf *o);
/* The last write could not finish: more waits for OUTBUF_WRITABLE. */
bool outbuf_blocked(const struct outbuf *o);

/* One write of everything pending (and of the "overflow" line, if the
 * buffer drained while overflowed).  Returns false when the write failed:
 * the stream is then closed (and no OUTBUF_DEAD follows). */
bool outbuf_flush(struct outbuf *o);

/* conn.event_timeout: the RESET and CLOSE clocks, in milliseconds. */
void outbuf_set_timeouts(struct outbuf *o, int64_t reset_ms, int64_t close_ms);

/* Re-exec (state.h): the stream's fd, its pending bytes and settings as
 * fields of its owner's record (a sub-table; o may be NULL: none); and a
 * stream back from them (NULL, *err untouched, when there was none; NULL
 * with *err set on failure). */
struct outbuf_rec {       /* never appended to: see docs/design.md, "Live re-exec" */
    struct state_val fd, pending, overflowed, reset_ms, close_ms;
};
extern const struct state_table outbuf_record;
void outbuf_save(const struct outbuf *o, struct outbuf_rec *rec);
struct outbuf *outbuf_restore(const struct outbuf_rec *rec, const char *name, outbuf_fn fn,
                              void *ctx, const char **err);

#endif
