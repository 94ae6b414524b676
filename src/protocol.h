/* protocol.h - pure parts of the line protocol: framing a byte stream into
 * lines, splitting a line into TAB-separated fields, building event lines.
 * No I/O, no global state and no knowledge of any command (this is the
 * fuzz target's entry surface; the commands are cmd.h's).
 */
#ifndef PROTOCOL_H
#define PROTOCOL_H

#include "state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest accepted line, newline included. */
#define PROTO_LINE_MAX 4096
/* Most fields a command line can carry: 4095 TABs make 4096 empty fields. */
#define PROTO_FIELDS_MAX PROTO_LINE_MAX
/* Longest event line daemonproxy produces (paths up to PATH_MAX and a prefix). */
#define PROTO_EVENT_MAX 8192

/* --- framing --------------------------------------------------------- */

/* Bytes an input framer reads at once.  Larger than a line, so that a
 * pipelined burst of short commands costs one read() per 16 KiB rather
 * than per line. */
#define PROTO_IN_BUF (16 * 1024)

/* Input framer: a fixed buffer of PROTO_IN_BUF bytes.  Feed it bytes with
 * proto_in_space() and proto_in_commit(), take lines with proto_in_next().
 * Lines longer than PROTO_LINE_MAX (newline included) are reported as
 * over-long, whatever the buffer size. */
struct proto_in {
    size_t start;       /* first unconsumed byte */
    size_t len;         /* bytes held (from 0) */
    size_t scanned;     /* bytes from start already searched for '\n' */
    bool discarding;    /* inside an over-long line */
    bool discard_comment;   /* the over-long line is a comment */
    char buf[PROTO_IN_BUF];
};

enum proto_next {
    PROTO_NONE = 0,     /* no complete line yet */
    PROTO_LINE,         /* *line and *len hold one line (no '\n', NUL-terminated) */
    PROTO_TOO_LONG,     /* an over-long line was discarded */
    PROTO_TOO_LONG_COMMENT, /* ... and it was a comment (report silently) */
};

void proto_in_init(struct proto_in *in);
/* Where to read into, and how much room there is (never 0 after
 * proto_in_next() returned PROTO_NONE). */
char *proto_in_space(struct proto_in *in, size_t *room);
void proto_in_commit(struct proto_in *in, size_t n);
/* Extract the next line.  The returned line lives in the framer's buffer
 * and is valid until the next proto_in_* call. */
enum proto_next proto_in_next(struct proto_in *in, char **line, size_t *len);
/* At EOF: a partial final line, if any (for config files).  Returns false
 * when there is none or it was part of an over-long line. */
bool proto_in_final(struct proto_in *in, char **line, size_t *len);
/* True if bytes of an incomplete line are held. */
bool proto_in_pending(const struct proto_in *in);

/* Re-exec (state.h): a framer's contents as fields of its owner's record
 * (a sub-table): a line its owner took and holds (a command waiting for
 * room, split in place into held_argc NUL-separated fields; held_argc -1:
 * none), the bytes not taken yet, and whether an over-long line is being
 * discarded. */
struct proto_in_rec {     /* never appended to: see docs/design.md, "Live re-exec" */
    struct state_val held, held_argc, rest, discarding, discard_comment;
};
extern const struct state_table proto_in_record;
/* in may be NULL (no framer); line: the held line (len bytes, argc
 * fields), or NULL. */
void proto_in_save(const struct proto_in *in, const char *line, size_t len, int argc,
                   struct proto_in_rec *rec);
/* in from rec: the held line first, at the start of the buffer where it
 * lived before (*line, *len, *argc; *line NULL when none is held), then
 * the bytes after it.  False with *err when they do not fit. */
bool proto_in_restore(struct proto_in *in, const struct proto_in_rec *rec, char **line,
                      size_t *len, int *argc, const char **err);

/* --- fields ---------------------------------------------------------- */

/* True if name is 1..max bytes of [A-Za-z0-9._-] (handle and service
 * names). */
bool proto_name_valid(const char *name, size_t max);

/* True for comment lines ('#' first) and lines of only whitespace. */
bool proto_line_ignored(const char *line, size_t len);
/* The same, answered inline for a line that starts with a printable byte
 * other than '#', as every command does. */
static inline bool proto_line_skipped(const char *line, size_t len)
{
    unsigned char c = (unsigned char)line[0];
    return (len == 0 || c <= ' ' || c == '#') && proto_line_ignored(line, len);
}

/* Split line (NUL-terminated, no newline) in place at TABs into at most max
 * fields.  Returns the field count, or -1 if a byte < 0x20 other than TAB
 * is present, or -2 if there are more than max fields; then the line is
 * left as it was. */
int proto_split(char *line, size_t len, char **fields, int max);

/* --- event lines ----------------------------------------------------- */

/* Builder for one outgoing line.  Fields are joined by TABs; the result is
 * always one line: control characters in fields are replaced by '?', and a
 * line that would exceed PROTO_EVENT_MAX is truncated. */
struct proto_line {
    size_t len;
    bool nfields;       /* false until the first field */
    char buf[PROTO_EVENT_MAX];
};

void proto_line_begin(struct proto_line *l, const char *first);
void proto_line_add(struct proto_line *l, const char *field);
void proto_line_addn(struct proto_line *l, const char *field, size_t n);
/* Append a field that may itself contain TABs (a TAB-joined list), so it
 * becomes several fields; other control characters are replaced. */
void proto_line_addtsv(struct proto_line *l, const char *tsv);
void proto_line_addi(struct proto_line *l, int64_t v);
/* Append a formatted field. */
void proto_line_addf(struct proto_line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append raw text to the current field (no TAB). */
void proto_line_cat(struct proto_line *l, const char *text);
/* Bytes of a command an error's `for command "..."` shows. */
#define PROTO_EXCERPT 30
/* Append to the current field the first PROTO_EXCERPT bytes of command line
 * cmd (len bytes), and "..." if it is longer: its TABs kept, as the
 * original shows them; NULs too when split (a line proto_split took apart:
 * they are its TABs); any other control character (only a refused line has
 * them) shown as '?', so the result is still one line. */
void proto_line_cat_excerpt(struct proto_line *l, const char *cmd, size_t len, bool split);
/* Terminate with '\n'; returns the length including it. */
size_t proto_line_end(struct proto_line *l);

#endif
