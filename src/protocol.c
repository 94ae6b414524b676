/* protocol.c - framing, field splitting and event line building.  Pure:
 * no I/O, no globals, no commands. */
#include "protocol.h"
#include "fmt.h"
#include "sys.h"

#include <stdarg.h>
#include <string.h>

/* --- framing ------------------------------------------------------------- */

void proto_in_init(struct proto_in *in)
{
    in->start = in->len = in->scanned = 0;
    in->discarding = in->discard_comment = false;
}

static const struct state_def proto_in_defs[] = {
    STATE_BYTES(struct proto_in_rec, held, PROTO_LINE_MAX),
    STATE_INT(struct proto_in_rec, held_argc, -1, PROTO_FIELDS_MAX, -1),
    STATE_BYTES(struct proto_in_rec, rest, PROTO_IN_BUF),
    STATE_INT(struct proto_in_rec, discarding, 0, 1, 0),
    STATE_INT(struct proto_in_rec, discard_comment, 0, 1, 0),
};
STATE_RECORD(proto_in_record, "proto_in", struct proto_in_rec, proto_in_defs, 0, 0);

void proto_in_save(const struct proto_in *in, const char *line, size_t len, int argc,
                   struct proto_in_rec *rec)
{
    *rec = (struct proto_in_rec){
        .held = { .s = line, .len = line ? len : 0 },
        .held_argc.i = line ? argc : -1,
        .rest = { .s = in ? in->buf + in->start : NULL, .len = in ? in->len - in->start : 0 },
        .discarding.i = in && in->discarding,
        .discard_comment.i = in && in->discard_comment,
    };
}

bool proto_in_restore(struct proto_in *in, const struct proto_in_rec *rec, char **line,
                      size_t *len, int *argc, const char **err)
{
    size_t held = rec->held.len, rest = rec->rest.len;
    if (held + 1 + rest > sizeof in->buf) {
        *err = "the held line and the unread input do not fit the framer";
        return false;
    }
    proto_in_init(in);
    *line = NULL;
    *len = 0;
    *argc = -1;
    if (rec->held_argc.i >= 0) {
        memcpy(in->buf, rec->held.s, held);
        in->buf[held] = '\0';
        *line = in->buf;
        *len = held;
        *argc = (int)rec->held_argc.i;
        in->start = in->len = held + 1;
    }
    memcpy(in->buf + in->len, rec->rest.s, rest);
    in->len += rest;
    if (in->start == in->len && rec->held_argc.i < 0)
        in->start = in->len = 0;
    in->discarding = rec->discarding.i;
    in->discard_comment = rec->discard_comment.i;
    return true;
}

char *proto_in_space(struct proto_in *in, size_t *room)
{
    if (in->start && sizeof in->buf - in->len < PROTO_LINE_MAX) {
        /* Move the incomplete line (< PROTO_LINE_MAX bytes) to the front,
         * only when the room behind it could no longer finish a line. */
        memmove(in->buf, in->buf + in->start, in->len - in->start);
        in->len -= in->start;
        in->start = 0;
    }
    *room = sizeof in->buf - in->len;
    return in->buf + in->len;
}

void proto_in_commit(struct proto_in *in, size_t n)
{
    in->len += n;
}

bool proto_in_pending(const struct proto_in *in)
{
    return in->len > in->start || in->discarding;
}

enum proto_next proto_in_next(struct proto_in *in, char **line, size_t *len)
{
    char *l = in->buf + in->start;
    size_t held = in->len - in->start;
    char *nl = sys_find_byte(l + in->scanned, held - in->scanned, '\n');
    if (!nl) {
        if (in->discarding) {
            /* Still inside the over-long line: drop what we have. */
            in->start = in->len = in->scanned = 0;
        } else if (held >= PROTO_LINE_MAX) {
            in->discarding = true;
            in->discard_comment = (l[0] == '#');
            in->start = in->len = in->scanned = 0;
        } else {
            in->scanned = held;
        }
        return PROTO_NONE;
    }
    size_t n = (size_t)(nl - l);
    in->start += n + 1;
    in->scanned = 0;
    if (in->start == in->len)
        in->start = in->len = 0;   /* the line's bytes stay until next write */
    if (in->discarding) {
        in->discarding = false;
        return in->discard_comment ? PROTO_TOO_LONG_COMMENT : PROTO_TOO_LONG;
    }
    if (n >= PROTO_LINE_MAX)
        return l[0] == '#' ? PROTO_TOO_LONG_COMMENT : PROTO_TOO_LONG;
    *nl = '\0';
    *line = l;
    *len = n;
    return PROTO_LINE;
}

bool proto_in_final(struct proto_in *in, char **line, size_t *len)
{
    size_t held = in->len - in->start;
    if (in->discarding || held == 0 || held >= PROTO_LINE_MAX) {
        proto_in_init(in);
        return false;
    }
    /* Move the partial line to the front so its terminator fits. */
    memmove(in->buf, in->buf + in->start, held);
    in->start = 0;
    char *l = in->buf;
    l[held] = '\0';
    *line = l;
    *len = held;
    proto_in_init(in);
    return true;
}

/* --- fields -------------------------------------------------------------- */

bool proto_name_valid(const char *name, size_t max)
{
    size_t n = strlen(name);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool proto_line_ignored(const char *line, size_t len)
{
    if (len && line[0] == '#')
        return true;
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' &&
            line[i] != '\v' && line[i] != '\f')
            return false;
    return true;
}

int proto_split(char *line, size_t len, char **fields, int max)
{
    /* One pass a word at a time over the line and the NUL written at its
     * end: only the bytes below 0x20 are looked at one by one. */
    char *end = line + len, *f = line, *q = line;
    int n = 0, bad = -1;
    *end = '\0';
    for (char *w = line; w <= end; w += 8) {
        size_t k = (size_t)(end + 1 - w) < 8 ? (size_t)(end + 1 - w) : 8;
        for (uint64_t m = sys_below(sys_word(w, k), 0x20) & sys_first(k); m; m &= m - 1) {
            q = w + __builtin_ctzll(m) / 8;
            if (*q != '\t' && q != end) {
                if ((unsigned char)*q < 0x20)
                    goto refused;
                continue;       /* a space marked by a borrow */
            }
            if (n == max) {
                bad = -2;
                goto refused;
            }
            fields[n++] = f;
            if (q == end)
                return n;
            *q = '\0';
            f = q + 1;
        }
    }
refused:
    /* Give the line back as it came (an error shows it). */
    for (char *p = line; p < q; p++)
        if (*p == '\0')
            *p = '\t';
    return bad;
}

/* --- event lines --------------------------------------------------------- */

static void line_put_tabs(struct proto_line *l, const char *s, size_t n, bool tabs)
{
    size_t room = sizeof l->buf - 2 - l->len;   /* keep room for "\n\0" */
    if (n > room)
        n = room;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        l->buf[l->len++] = (ch < 0x20 && !(tabs && ch == '\t')) ? '?' : (char)ch;
    }
    l->buf[l->len] = '\0';
}

static void line_put(struct proto_line *l, const char *s, size_t n)
{
    line_put_tabs(l, s, n, false);
}

static void line_sep(struct proto_line *l)
{
    if (l->nfields && l->len < sizeof l->buf - 2)
        l->buf[l->len++] = '\t';
    l->nfields = true;
}

void proto_line_begin(struct proto_line *l, const char *first)
{
    l->len = 0;
    l->buf[0] = '\0';
    l->nfields = false;
    if (first)
        proto_line_add(l, first);
}

void proto_line_addn(struct proto_line *l, const char *field, size_t n)
{
    line_sep(l);
    line_put(l, field, n);
}

void proto_line_add(struct proto_line *l, const char *field)
{
    proto_line_addn(l, field, strlen(field));
}

void proto_line_addtsv(struct proto_line *l, const char *tsv)
{
    line_sep(l);
    line_put_tabs(l, tsv, strlen(tsv), true);
}

void proto_line_addi(struct proto_line *l, int64_t v)
{
    char tmp[24];
    int n = fmt_snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    proto_line_addn(l, tmp, (size_t)n);
}

void proto_line_addf(struct proto_line *l, const char *fmt, ...)
{
    char tmp[PROTO_EVENT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = fmt_vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof tmp)
        n = sizeof tmp - 1;
    proto_line_addn(l, tmp, (size_t)n);
}

void proto_line_cat(struct proto_line *l, const char *text)
{
    l->nfields = true;
    line_put(l, text, strlen(text));
}

void proto_line_cat_excerpt(struct proto_line *l, const char *cmd, size_t len, bool split)
{
    l->nfields = true;
    size_t n = len < PROTO_EXCERPT ? len : PROTO_EXCERPT;
    size_t room = sizeof l->buf - 2 - l->len;   /* keep room for "\n\0" */
    for (size_t i = 0; i < n && room; i++, room--) {
        unsigned char ch = (unsigned char)cmd[i];
        if (ch == '\0' && split)
            ch = '\t';
        l->buf[l->len++] = ch < 0x20 && ch != '\t' ? '?' : (char)ch;
    }
    l->buf[l->len] = '\0';
    if (len > n)
        line_put(l, "...", 3);
}

size_t proto_line_end(struct proto_line *l)
{
    l->buf[l->len++] = '\n';
    l->buf[l->len] = '\0';
    return l->len;
}
