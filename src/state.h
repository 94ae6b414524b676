/* state.h - the state format a re-exec hands to the new binary: writing
 * and reading records, with no knowledge of any module (the reader is a
 * fuzz target).  Each module saves and restores its own records.  The only
 * system calls are state_fds_verify()'s poll() and, for an fd poll() cannot
 * look at (O_PATH), fcntl().
 *
 * The format is text, one record per line:
 *
 *     TAG<TAB>FIELD<TAB>FIELD...\n
 *
 * Inside a field, '\\', TAB, newline and every other byte below 0x20 or
 * 0x7f are written as \xHH, so a field holds any bytes (a controller's
 * unread input, a log buffer) and a record is always one line.  The first
 * record is `daemonproxy-state<TAB>VERSION`, the last `end`: a truncated
 * state is refused, never half restored.
 *
 * Compatibility: STATE_VERSION counts incompatible changes.  A binary
 * restores every version from STATE_VERSION_MIN to its own; an older one
 * refuses a newer state (its --state-check says so before anything
 * happens).  A record's fields are only ever appended to, and a reader
 * takes missing trailing fields as their defaults, so adding a field is
 * not a new version; changing the meaning of one is.
 */
#ifndef STATE_H
#define STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_VERSION 1
#define STATE_VERSION_MIN 1
#define STATE_MAGIC "daemonproxy-state"
/* Most fields in one record. */
#define STATE_FIELDS_MAX 64

/* --- writing ------------------------------------------------------------ */

/* A growing buffer of records.  Out of memory sticks: every later call
 * does nothing and state_out_ok() says false. */
struct state_out {
    char *buf;
    size_t len, cap;
    bool failed;
    int *fds;           /* every fd written with state_fd(): they must */
    size_t nfds, fds_cap;   /* survive the exec */
};

void state_out_init(struct state_out *o);
void state_out_free(struct state_out *o);
bool state_out_ok(const struct state_out *o);

/* A record is begun by its tag, given fields, and ended. */
void state_rec(struct state_out *o, const char *tag);
void state_str(struct state_out *o, const char *s);     /* NULL: empty */
void state_bytes(struct state_out *o, const void *p, size_t n);
void state_int(struct state_out *o, int64_t v);
/* An fd that the new binary finds at the same number: written as an
 * integer and listed in o->fds (-1 is written as is, not listed). */
void state_fd(struct state_out *o, int fd);
void state_end(struct state_out *o);

/* --- reading ------------------------------------------------------------ */

struct state_in {
    char *p, *end;      /* the unread rest (the buffer is decoded in place) */
    unsigned line;      /* of the record last read, for messages */
};

/* One record: its tag and fields, decoded, NUL-terminated (a field's
 * length counts bytes that may include NULs).  f[i] and len[i] beyond n
 * are "" and 0. */
struct state_rec {
    const char *tag;
    int n;                              /* fields after the tag */
    char *f[STATE_FIELDS_MAX];
    size_t len[STATE_FIELDS_MAX];
};

/* Read from buf (len bytes, modified in place).  The header is checked:
 * returns false with *err set when it is missing or its version is not
 * one this binary restores; *version gets the version. */
bool state_in_init(struct state_in *in, char *buf, size_t len, int *version,
                   const char **err);
/* The next record.  Returns 1 with r filled, 0 after the `end` record, or
 * -1 with *err set (a malformed record, or the end of the data before
 * `end`). */
int state_next(struct state_in *in, struct state_rec *r, const char **err);

/* Field i of r: its text ("" when the record has fewer fields). */
const char *state_field(const struct state_rec *r, int i);
/* Field i as an integer in [min, max]; a missing field gives def. */
bool state_field_int(const struct state_rec *r, int i, int64_t min, int64_t max,
                     int64_t def, int64_t *v);

/* Field i as an fd the new process was handed, or -1 when the field says
 * -1 (allow_none).  False when it is not an fd number.  Whether it is open
 * is checked for all of them at once by state_fds_verify().  (Every fd
 * above 2 is close-on-exec again already: reexec_load.) */
bool state_field_fd(const struct state_rec *r, int i, bool allow_none, int *fd);
/* True if every fd state_field_fd() gave since the last call is open and
 * named once (two objects never own one fd); else false with *err. */
bool state_fds_verify(const char **err);

/* --- records described as data ------------------------------------------ */

/* A record is described once, by a table that both directions read: one
 * row per field, in the order they are written (rows are only ever
 * appended).  A module fills a plain struct of its own from its live
 * objects and writes it with state_write(); a restore reads the record
 * into that struct with state_read(), which checks every field against
 * its row, and the module applies it.
 *
 * Every member of such a struct is one struct state_val (or a struct of
 * them, described by a sub-table: STATE_SUB), so the struct's size counts
 * its fields and STATE_SLOTS() lets a _Static_assert tie the table's
 * length to it: a field without a row, or a row without a field, does not
 * compile. */
struct state_val {
    int64_t i;          /* STATE_K_INT, STATE_K_FD (-1: none) */
    const char *s;      /* STATE_K_STR (NULL: ""), STATE_K_BYTES; read: inside the record */
    size_t len;         /* STATE_K_BYTES; read: the length of either */
};
#define STATE_SLOTS(S) (sizeof(S) / sizeof(struct state_val))

enum state_kind {
    STATE_K_INT,        /* an integer in [min, max]; missing: def */
    STATE_K_STR,        /* text without NULs, at most max bytes; missing: "" */
    STATE_K_BYTES,      /* any bytes, at most max; missing: none */
    STATE_K_FD,         /* an fd the new process was handed (min -1: may be -1) */
    STATE_K_SUB,        /* the fields of another table, in a member of that struct */
};

struct state_table;

/* One row: a field (packed: a row costs the static binary 40 bytes). */
struct state_def {
    const char *name;
    const struct state_table *sub;      /* STATE_K_SUB */
    int64_t min, max;
    int32_t def;
    uint16_t off;               /* of its member in the record's struct */
    uint8_t kind;               /* enum state_kind */
};

/* One record: its tag and rows.  A record has at least `required` fields
 * (counting a sub-table's one by one): the ones its first version had and
 * every reader may expect; the rest may be missing and read as defaults. */
struct state_table {
    const char *tag;
    const struct state_def *defs;
    unsigned n, required;
    size_t size;                /* of the struct */
};

/* Rows.  The name is the struct member's; the member must be a state_val
 * (a sub-table's: its struct). */
#define STATE_AT_(S, m) _Generic(((S *)0)->m, struct state_val: offsetof(S, m))
#define STATE_INT(S, m, lo, hi, d) { #m, NULL, (lo), (hi), (d), STATE_AT_(S, m), STATE_K_INT }
#define STATE_STR(S, m, most)      { #m, NULL, 0, (most), 0, STATE_AT_(S, m), STATE_K_STR }
#define STATE_BYTES(S, m, most)    { #m, NULL, 0, (most), 0, STATE_AT_(S, m), STATE_K_BYTES }
#define STATE_FD(S, m, none_ok)    { #m, NULL, (none_ok) ? -1 : 0, INT32_MAX, -1, \
                                     STATE_AT_(S, m), STATE_K_FD }
#define STATE_SUB(S, m, table)     { #m, &(table), 0, 0, 0, offsetof(S, m), STATE_K_SUB }
/* Define the table name of record tag for struct S from the array defs,
 * and check at compile time that the rows cover S: one row per member.
 * extra: the members S's sub-tables add beyond their one row each. */
#define STATE_RECORD(name, tag, S, defs, required, extra)                           \
    _Static_assert(STATE_SLOTS(S) == sizeof (defs) / sizeof *(defs) + (extra),      \
                   #defs ": one row per member of " #S);                             \
    const struct state_table name =                                                  \
        { (tag), (defs), sizeof (defs) / sizeof *(defs), (required), sizeof(S) }
/* Longest text a char array takes (its NUL counted out); no limit. */
#define STATE_FITS(array) ((int64_t)sizeof(array) - 1)
#define STATE_ANY INT64_MAX

/* Write the record rec (a struct t describes): the tag, every field, the
 * end of the line. */
void state_write(struct state_out *o, const struct state_table *t, const void *rec);
/* Read r into rec (a struct t describes) and check every field.  False
 * with *err naming the record and the field ("record ctl, field out.fd:
 * not an fd") when one is malformed.  Text and bytes point into r. */
bool state_read(const struct state_rec *r, const struct state_table *t, void *rec,
                const char **err);
/* A table's rows against its struct, for tests: every member has one row,
 * in order, names unique.  False with *err naming the first field amiss. */
bool state_table_check(const struct state_table *t, const char **err);

/* A testing seam (the restore fuzz target): every fd number a state names
 * goes through map first, which gives the fd to use or -1 (refused as not
 * an fd).  NULL (the default): the numbers are used as they are. */
void state_set_fd_map(int (*map)(int fd));

/* True if `version` is one this binary restores. */
bool state_version_ok(int64_t version);

#endif
