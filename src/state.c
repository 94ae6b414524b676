/* state.c - the re-exec state format (see state.h). */
#include "state.h"
#include "fmt.h"
#include "sys.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* --- writing ------------------------------------------------------------ */

void state_out_init(struct state_out *o)
{
    memset(o, 0, sizeof *o);
}

void state_out_free(struct state_out *o)
{
    free(o->buf);
    free(o->fds);
    state_out_init(o);
}

bool state_out_ok(const struct state_out *o) { return !o->failed; }


/* Room for n more bytes; false (and failed from then on) when out of
 * memory. */
static bool room(struct state_out *o, size_t n)
{
    if (o->failed)
        return false;
    if (o->cap - o->len >= n)
        return true;
    size_t cap = o->cap ? o->cap : 64 * 1024;
    while (cap - o->len < n) {
        if (cap > SIZE_MAX / 2) {
            o->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *b = realloc(o->buf, cap);
    if (!b) {
        o->failed = true;
        return false;
    }
    o->buf = b;
    o->cap = cap;
    return true;
}

static bool plain(unsigned char c)
{
    return c >= 0x20 && c != 0x7f && c != '\\';
}

void state_rec(struct state_out *o, const char *tag)
{
    size_t n = strlen(tag);
    if (room(o, n)) {
        memcpy(o->buf + o->len, tag, n);
        o->len += n;
    }
}

void state_bytes(struct state_out *o, const void *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = p;
    /* Names, argv and numbers need no escape: copied as they are. */
    size_t plain_n = 0;
    while (plain_n < n && plain(s[plain_n]))
        plain_n++;
    if (plain_n == n) {
        if (room(o, 1 + n)) {
            o->buf[o->len++] = '\t';
            memcpy(o->buf + o->len, s, n);
            o->len += n;
        }
        return;
    }
    /* Worst case: every byte escaped. */
    if (n > (SIZE_MAX - 1) / 4 || !room(o, 1 + 4 * n))
        return;
    char *d = o->buf + o->len;
    *d++ = '\t';
    for (size_t i = 0; i < n; i++) {
        if (plain(s[i])) {
            *d++ = (char)s[i];
        } else {
            *d++ = '\\';
            *d++ = 'x';
            *d++ = hex[s[i] >> 4];
            *d++ = hex[s[i] & 15];
        }
    }
    o->len = (size_t)(d - o->buf);
}

void state_str(struct state_out *o, const char *s)
{
    state_bytes(o, s ? s : "", s ? strlen(s) : 0);
}

void state_int(struct state_out *o, int64_t v)
{
    char b[24], *p = b + sizeof b;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    state_bytes(o, p, (size_t)(b + sizeof b - p));
}

void state_fd(struct state_out *o, int fd)
{
    state_int(o, fd);
    if (fd < 0 || o->failed)
        return;
    if (o->nfds == o->fds_cap) {
        size_t cap = o->fds_cap ? 2 * o->fds_cap : 256;
        int *f = realloc(o->fds, cap * sizeof *f);
        if (!f) {
            o->failed = true;
            return;
        }
        o->fds = f;
        o->fds_cap = cap;
    }
    o->fds[o->nfds++] = fd;
}

void state_end(struct state_out *o)
{
    if (room(o, 1))
        o->buf[o->len++] = '\n';
}

/* --- reading ------------------------------------------------------------ */

bool state_version_ok(int64_t version)
{
    return version >= STATE_VERSION_MIN && version <= STATE_VERSION;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decode the field [p, end) in place; its length, or SIZE_MAX when an
 * escape is malformed. */
static size_t decode(char *p, char *end)
{
    /* Most fields have no escape: nothing to move. */
    char *first = memchr(p, '\\', (size_t)(end - p));
    if (!first) {
        *end = '\0';
        return (size_t)(end - p);
    }
    char *d = first;
    for (char *s = first; s < end; ) {
        if (*s != '\\') {
            *d++ = *s++;
            continue;
        }
        if (end - s < 4 || s[1] != 'x')
            return SIZE_MAX;
        int hi = hexval(s[2]), lo = hexval(s[3]);
        if (hi < 0 || lo < 0)
            return SIZE_MAX;
        *d++ = (char)(hi << 4 | lo);
        s += 4;
    }
    *d = '\0';
    return (size_t)(d - p);
}

/* Split one line (NUL-terminated at its newline) into r. */
static bool split(char *line, char *end, struct state_rec *r, const char **err)
{
    r->n = 0;
    char *tab = memchr(line, '\t', (size_t)(end - line));
    char *tag_end = tab ? tab : end;
    *tag_end = '\0';
    r->tag = line;
    if (!*line || strlen(line) != (size_t)(tag_end - line)) {
        *err = "record without a tag";
        return false;
    }
    char *p = tab;
    while (p && p < end) {
        char *start = p + 1;
        char *next = memchr(start, '\t', (size_t)(end - start));
        char *fend = next ? next : end;
        if (r->n == STATE_FIELDS_MAX) {
            *err = "record with too many fields";
            return false;
        }
        size_t n = decode(start, fend);
        if (n == SIZE_MAX) {
            *err = "malformed escape in a field";
            return false;
        }
        r->f[r->n] = start;
        r->len[r->n++] = n;
        p = next;
    }
    return true;
}

/* The next raw line, NUL-terminated in place; NULL at the end of data. */
static char *next_line(struct state_in *in, char **end)
{
    if (in->p >= in->end)
        return NULL;
    char *nl = memchr(in->p, '\n', (size_t)(in->end - in->p));
    if (!nl)
        return NULL;
    char *line = in->p;
    *nl = '\0';
    *end = nl;
    in->p = nl + 1;
    in->line++;
    return line;
}

bool state_in_init(struct state_in *in, char *buf, size_t len, int *version,
                   const char **err)
{
    in->p = buf;
    in->end = buf + len;
    in->line = 0;
    *version = 0;
    char *end, *line = next_line(in, &end);
    struct state_rec r;
    if (!line || !split(line, end, &r, err) || strcmp(r.tag, STATE_MAGIC) != 0 || r.n != 1) {
        *err = "not a daemonproxy state (no header)";
        return false;
    }
    int64_t v;
    if (!sys_parse_int(r.f[0], 0, INT32_MAX, &v)) {
        *err = "malformed state version";
        return false;
    }
    *version = (int)v;
    if (!state_version_ok(v)) {
        *err = "unsupported state version";
        return false;
    }
    return true;
}

int state_next(struct state_in *in, struct state_rec *r, const char **err)
{
    char *end, *line = next_line(in, &end);
    if (!line) {
        *err = "the state ends before its end record (truncated)";
        return -1;
    }
    if (!split(line, end, r, err))
        return -1;
    /* A field a record does not have reads as empty, also to a reader
     * that indexes f[] and len[] itself: never a previous record's. */
    static char none[1];
    for (int i = r->n; i < STATE_FIELDS_MAX; i++) {
        r->f[i] = none;
        r->len[i] = 0;
    }
    if (strcmp(r->tag, "end") == 0)
        return 0;
    return 1;
}

const char *state_field(const struct state_rec *r, int i)
{
    return i < r->n ? r->f[i] : "";
}

bool state_field_int(const struct state_rec *r, int i, int64_t min, int64_t max,
                     int64_t def, int64_t *v)
{
    if (i >= r->n) {
        *v = def;
        return true;
    }
    return sys_parse_int(r->f[i], min, max, v);
}

/* The fds state_field_fd() accepted, checked all at once by
 * state_fds_verify(): one poll() for 10,000 handles instead of 10,000
 * system calls. */
static int *named_fds;
static size_t named_n, named_cap;

static void name_fd(int fd)
{
    if (named_n == named_cap) {
        size_t cap = named_cap ? 2 * named_cap : 1024;
        int *a = realloc(named_fds, cap * sizeof *a);
        if (!a)
            return;     /* unchecked: an fd that is not open fails where it is used */
        named_fds = a;
        named_cap = cap;
    }
    named_fds[named_n++] = fd;
}

/* An fd that poll() calls invalid may still be open: poll() cannot look at
 * an O_PATH fd and says POLLNVAL for it.  fcntl() sees every open fd,
 * whatever its kind, so it has the last word (one call, only for those). */
static bool fd_open(const struct pollfd *p)
{
    return !(p->revents & POLLNVAL) || fcntl(p->fd, F_GETFD) >= 0;
}

bool state_fds_verify(const char **err)
{
    static char msg[64];
    bool ok = true;
    struct pollfd *p = named_n ? calloc(named_n, sizeof *p) : NULL;
    if (p) {
        for (size_t i = 0; i < named_n; i++)
            p[i].fd = named_fds[i];
        /* Timeout 0: nothing waits; POLLNVAL marks an fd that may not be open. */
        if (poll(p, named_n, 0) >= 0) {
            for (size_t i = 0; i < named_n && ok; i++) {
                if (!(ok = fd_open(&p[i]))) {
                    fmt_snprintf(msg, sizeof msg, "the state names fd %d, which is not open",
                             p[i].fd);
                    *err = msg;
                }
            }
        }
        free(p);
    }
    /* Each fd has one owner, which closes it: one named twice would be
     * closed twice, the second time perhaps as somebody else's. */
    if (named_n > 1)
        sys_sort_ints(named_fds, named_n);
    for (size_t i = 1; i < named_n && ok; i++) {
        if (!(ok = named_fds[i] != named_fds[i - 1])) {
            fmt_snprintf(msg, sizeof msg, "the state names fd %d twice", named_fds[i]);
            *err = msg;
        }
    }
    free(named_fds);
    named_fds = NULL;
    named_n = named_cap = 0;
    return ok;
}

/* --- records described as data ------------------------------------------ */

static void write_fields(struct state_out *o, const struct state_table *t, const char *rec)
{
    for (unsigned k = 0; k < t->n; k++) {
        const struct state_def *d = &t->defs[k];
        const struct state_val *v = (const void *)(rec + d->off);
        switch (d->kind) {
        case STATE_K_INT: state_int(o, v->i); break;
        case STATE_K_FD: state_fd(o, (int)v->i); break;
        case STATE_K_STR: state_str(o, v->s); break;
        case STATE_K_BYTES: state_bytes(o, v->len ? v->s : "", v->len); break;
        case STATE_K_SUB: write_fields(o, d->sub, rec + d->off); break;
        }
    }
}

void state_write(struct state_out *o, const struct state_table *t, const void *rec)
{
    state_rec(o, t->tag);
    write_fields(o, t, rec);
    state_end(o);
}

/* Field i of r into v as d describes it; NULL, or why it is malformed. */
static const char *read_one(const struct state_rec *r, int i, unsigned required,
                            const struct state_def *d, struct state_val *v)
{
    static char why[64];
    if (i >= r->n && (unsigned)i < required)
        return "missing";
    /* state_next() made the fields past r->n "" */
    v->s = r->f[i];
    v->len = r->len[i];
    v->i = d->def;
    int fd;
    switch (d->kind) {
    case STATE_K_INT:
        if (i >= r->n || sys_parse_int(v->s, d->min, d->max, &v->i))
            return NULL;
        fmt_snprintf(why, sizeof why, "not an integer in %lld..%lld", (long long)d->min,
                 (long long)d->max);
        return why;
    case STATE_K_FD:
        if (!state_field_fd(r, i, d->min < 0, &fd))
            return d->min < 0 ? "not an fd (nor -1)" : "not an fd";
        v->i = fd;
        return NULL;
    case STATE_K_STR:
        if (strlen(v->s) != v->len)
            return "text with a NUL byte";
        /* fall through */
    case STATE_K_BYTES:
        if (v->len <= (uint64_t)d->max)
            return NULL;
        fmt_snprintf(why, sizeof why, "longer than %lld bytes", (long long)d->max);
        return why;
    case STATE_K_SUB:
        break;
    }
    return NULL;
}

/* The fields of t from field *i of r on; prefix names a sub-table's
 * member ("out."). */
static bool read_fields(const struct state_rec *r, const struct state_table *t, char *rec,
                        int *i, unsigned required, const char *prefix, const char **err)
{
    static char msg[160];
    for (unsigned k = 0; k < t->n; k++) {
        const struct state_def *d = &t->defs[k];
        if (d->kind == STATE_K_SUB) {
            char sub[64];
            fmt_snprintf(sub, sizeof sub, "%s%s.", prefix, d->name);
            if (!read_fields(r, d->sub, rec + d->off, i, required, sub, err))
                return false;
            continue;
        }
        const char *why = read_one(r, *i, required, d, (struct state_val *)(void *)(rec + d->off));
        if (why) {
            fmt_snprintf(msg, sizeof msg, "record %s, field %s%s: %s", r->tag, prefix, d->name, why);
            *err = msg;
            return false;
        }
        (*i)++;
    }
    return true;
}

bool state_read(const struct state_rec *r, const struct state_table *t, void *rec,
                const char **err)
{
    int i = 0;
    return read_fields(r, t, rec, &i, t->required, "", err);
}

bool state_table_check(const struct state_table *t, const char **err)
{
    static char msg[160];
    const char *why = NULL, *name = "";
    size_t at = 0;
    for (unsigned k = 0; k < t->n && !why; k++) {
        const struct state_def *d = &t->defs[k];
        name = d->name;
        if (d->off != at)
            why = d->off > at ? "a member before it has no row" : "out of the struct's order";
        else if (d->kind == STATE_K_SUB && !state_table_check(d->sub, err))
            return false;
        for (unsigned j = 0; j < k && !why; j++)
            if (strcmp(t->defs[j].name, d->name) == 0)
                why = "named twice";
        at += d->kind == STATE_K_SUB ? d->sub->size : sizeof(struct state_val);
    }
    if (!why && at != t->size)
        why = "the struct has members after it without a row";
    if (why) {
        fmt_snprintf(msg, sizeof msg, "table %s, field %s: %s", t->tag, name, why);
        *err = msg;
    }
    return !why;
}

static int (*fd_map)(int fd);

void state_set_fd_map(int (*map)(int fd)) { fd_map = map; }

bool state_field_fd(const struct state_rec *r, int i, bool allow_none, int *fd)
{
    int64_t v;
    if (!state_field_int(r, i, -1, INT32_MAX, -1, &v))
        return false;
    if (v >= 0 && fd_map && (v = fd_map((int)v)) < 0)
        return false;
    *fd = (int)v;
    if (v < 0)
        return allow_none;
    name_fd(*fd);
    return true;
}
