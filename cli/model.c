/* model.c - the services as the daemon describes them (see model.h). */
#include "model.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Services are never freed one by one (a deleted one is reused if its name
 * comes back), so they live in slabs that double up to SLAB_MAX: 8
 * allocations for 10,000 services instead of 10,000, whose freeing at exit
 * made musl's allocator unmap a page group at a time (320 munmaps).  When
 * the model keeps lists, each service's struct svc_json follows the cap
 * services, at the same index. */
struct slab {
    struct slab *next;
    size_t used, cap;
    struct svc s[];
};
#define SLAB_FIRST 64
#define SLAB_MAX 4096

struct model {
    struct svc **slot;          /* open addressing by name; never shrinks */
    struct slab *slabs, *last;  /* every service, in the order first seen */
    struct svc *recent;         /* the last one a line was about */
    size_t cap, count;
    bool lists;
    struct svc **sorted;
    size_t bytes;               /* held for services, counted against MODEL_BYTES_MAX */
    bool full;                  /* something was not kept for lack of budget */
};

/* Take n bytes of the budget, or say the model is full. */
static bool spend(struct model *m, size_t n)
{
    if (n > MODEL_BYTES_MAX - m->bytes) {
        m->full = true;
        return false;
    }
    m->bytes += n;
    return true;
}

static size_t str_cost(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* The first TAB (or the NUL) at or after p.  The fields of a statedump
 * are a few bytes long: a plain loop beats musl's strchr, whose set-up
 * cost more than the scan (100,000 calls for 10,000 services). */
static char *field_end(const char *p)
{
    while (*p && *p != '\t')
        p++;
    return (char *)p;
}

/* src cut to size - 1 bytes, as snprintf "%s" would. */
static void copy_field(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++)
        dst[i] = src[i];
    dst[i] = '\0';
}

static bool starts_with(const char *s, const char *prefix)
{
    while (*prefix && *s == *prefix)
        s++, prefix++;
    return !*prefix;
}

/* Split s in place at sep into at most max fields; returns the count. */
static int split_at(char *s, char sep, char **f, int max)
{
    int n = 0;
    f[n++] = s;
    for (char *p = s; *p && n < max; p++)
        if (*p == sep) {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

int split_tabs(char *line, char **f, int max)
{
    return split_at(line, '\t', f, max);
}

struct model *model_new(bool lists)
{
    struct model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->lists = lists;
    m->cap = 1024;
    m->bytes = m->cap * sizeof *m->slot;
    m->slot = calloc(m->cap, sizeof *m->slot);
    if (!m->slot) {
        free(m);
        return NULL;
    }
    return m;
}

/* The strings a service holds, for freeing and for the budget. */
static size_t svc_strings(const struct svc *s, char **str)
{
    size_t n = 0;
    str[n++] = s->auto_up;
    const struct svc_json *j = s->json;
    if (j) {
        char *more[] = { j->status, j->args, j->fds, j->tags, j->env, j->opts, j->want,
                         j->exits };
        memcpy(str + n, more, sizeof more);
        n += sizeof more / sizeof more[0];
    }
    return n;
}

/* Most strings a service holds (svc_strings). */
#define SVC_STRINGS 9

static void svc_clear(struct svc *s)
{
    char *str[SVC_STRINGS];
    for (size_t i = 0, n = svc_strings(s, str); i < n; i++)
        free(str[i]);
}

void model_free(struct model *m)
{
    if (!m)
        return;
    for (struct slab *b = m->slabs, *next; b; b = next) {
        next = b->next;
        for (size_t i = 0; i < b->used; i++)
            svc_clear(&b->s[i]);
        free(b);
    }
    free(m->slot);
    free(m->sorted);
    free(m);
}

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

static struct svc **lookup(const struct model *m, const char *name)
{
    size_t i = hash(name) & (m->cap - 1);
    while (m->slot[i] && strcmp(m->slot[i]->name, name) != 0)
        i = (i + 1) & (m->cap - 1);
    return &m->slot[i];
}

static bool grow(struct model *m)
{
    struct model bigger = { .cap = m->cap * 2 };
    if (!spend(m, bigger.cap * sizeof *bigger.slot))
        return false;
    bigger.slot = calloc(bigger.cap, sizeof *bigger.slot);
    if (!bigger.slot) {
        m->bytes -= bigger.cap * sizeof *bigger.slot;
        return false;
    }
    m->bytes -= m->cap * sizeof *m->slot;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slot[i])
            *lookup(&bigger, m->slot[i]->name) = m->slot[i];
    free(m->slot);
    m->slot = bigger.slot;
    m->cap = bigger.cap;
    return true;
}

/* Room for one more service, zeroed; NULL when out of budget or memory. */
static struct svc *svc_alloc(struct model *m)
{
    struct slab *b = m->last;
    if (!b || b->used == b->cap) {
        size_t cap = b ? (b->cap < SLAB_MAX ? b->cap * 2 : SLAB_MAX) : SLAB_FIRST;
        size_t each = sizeof b->s[0] + (m->lists ? sizeof (struct svc_json) : 0);
        size_t size = sizeof *b + cap * each;
        if (!spend(m, size))
            return NULL;
        if (!(b = calloc(1, size))) {
            m->bytes -= size;
            return NULL;
        }
        b->cap = cap;
        if (m->last)
            m->last->next = b;
        else
            m->slabs = b;
        m->last = b;
    }
    struct svc *s = &b->s[b->used];
    if (m->lists)
        s->json = (struct svc_json *)(b->s + b->cap) + b->used;
    b->used++;
    return s;
}

/* The service called name; created (down, empty) if new or deleted. */
static struct svc *get(struct model *m, const char *name)
{
    struct svc **p = lookup(m, name);
    if (*p) {
        if (strcmp((*p)->state, "deleted") != 0)
            return *p;
        struct svc *s = *p;
        char *str[SVC_STRINGS];
        for (size_t i = 0, n = svc_strings(s, str); i < n; i++)
            m->bytes -= str_cost(str[i]);
        svc_clear(s);
        struct svc_json *j = s->json;
        memset(s, 0, sizeof *s);
        if (j)
            memset(j, 0, sizeof *j);
        s->json = j;
        strcpy(s->name, name);
    } else {
        if (strlen(name) >= sizeof (*p)->name)
            return NULL;        /* not a service name: the daemon never sends it */
        if ((m->count + 1) * 2 > m->cap) {
            if (!grow(m))
                return NULL;
            p = lookup(m, name);
        }
        struct svc *s = svc_alloc(m);
        if (!s)
            return NULL;
        strcpy(s->name, name);
        *p = s;
        m->count++;
    }
    struct svc *s = *p;
    strcpy(s->state, "down");
    s->ts = s->pid = s->exits_since = -1;
    if (s->json)
        s->json->uptime = s->json->downtime = s->json->mainpid = -1;
    s->cgroup = -1;
    return s;
}

struct svc *model_find(const struct model *m, const char *name)
{
    struct svc *s = *lookup(m, name);
    return s && strcmp(s->state, "deleted") != 0 ? s : NULL;
}

/* model_find() for the lines of one service, which come together (five
 * a service in a statedump): the last one found is tried first. */
static struct svc *find_recent(struct model *m, const char *name)
{
    struct svc *s = m->recent;
    if (!s || strcmp(s->name, name) != 0)
        s = m->recent = *lookup(m, name);
    return s && strcmp(s->state, "deleted") != 0 ? s : NULL;
}

/* Times, pids and durations from the daemon are small non-negative
 * integers; anything else (junk from whatever listens on the path) is
 * "-", so that no later subtraction can overflow. */
#define NUM_MAX (1LL << 40)

static long long num(const char *f)
{
    if (!f || !*f)
        return -1;
    long long v = 0;
    for (; *f >= '0' && *f <= '9'; f++)
        if ((v = v * 10 + (*f - '0')) > NUM_MAX)
            return -1;
    return *f ? -1 : v;
}

static void set_str(struct model *m, char **dst, const char *src)
{
    m->bytes -= str_cost(*dst);
    free(*dst);
    *dst = NULL;
    if (src && spend(m, str_cost(src)) && !(*dst = strdup(src)))
        m->bytes -= str_cost(src);
}

/* A run ended or a new one began: what the last run notified is gone. */
static void forget_notify(struct model *m, struct svc *s)
{
    s->notify[0] = '\0';
    if (s->json) {
        set_str(m, &s->json->status, NULL);
        s->json->mainpid = -1;
    }
}

static void apply_state(struct model *m, struct svc *s, char **f, int n)
{
    const char *state = f[2];
    long long pid = num(n > 4 ? f[4] : NULL);
    if (strcmp(state, "up") != 0 || pid != s->pid)
        forget_notify(m, s);
    copy_field(s->state, sizeof s->state, state);
    s->ts = num(n > 3 ? f[3] : NULL);
    s->pid = pid;
    if (s->json) {
        s->json->uptime = num(n > 7 ? f[7] : NULL);
        s->json->downtime = num(n > 8 ? f[8] : NULL);
    }
    /* The last exit stays known while the service is up again. */
    if (n > 6 && strcmp(f[5], "-") != 0) {
        copy_field(s->reason, sizeof s->reason, f[5]);
        copy_field(s->value, sizeof s->value, f[6]);
    }
    if (strcmp(state, "deleted") == 0)
        s->cgroup = -1;
    s->changes++;
}

/* rest: TS, PID, then the assignments, TAB-separated (any number). */
static void apply_notify(struct model *m, struct svc *s, char *rest)
{
    int i = 0;
    for (char *p = rest; p; i++) {
        char *tab = field_end(p);
        if (*tab)
            *tab = '\0';
        else
            tab = NULL;
        if (i < 2)
            ;                   /* TS and PID: the event's, not the state's */
        else if (strcmp(p, "READY=1") == 0 || strcmp(p, "RELOADING=1") == 0 ||
                 strcmp(p, "STOPPING=1") == 0)
            copy_field(s->notify, sizeof s->notify, p);
        else if (s->json && starts_with(p, "STATUS="))
            set_str(m, &s->json->status, p + 7);
        else if (s->json && starts_with(p, "MAINPID="))
            s->json->mainpid = num(p + 8);
        p = tab ? tab + 1 : NULL;
    }
}

/* Is word one of the TAB-separated words of list? */
static bool has_word(const char *list, const char *word)
{
    size_t k = strlen(word);
    for (const char *p = list; p && *p; ) {
        const char *e = field_end(p);
        if ((size_t)(e - p) == k && memcmp(p, word, k) == 0)
            return true;
        p = *e ? e + 1 : NULL;
    }
    return false;
}

/* What a service.fds list says of s, in one pass over it: a notification
 * fd, and whether it is a controller (any control.* placeholder). */
static void scan_fds(struct svc *s, const char *list)
{
    static const struct { const char *word; size_t n; bool ctl; } marks[] = {
        { "notify.fd", 9, false }, { "control.event", 13, true },
        { "control.cmd", 11, true }, { "control.socket", 14, true },
    };
    s->notify_fd = s->controller = false;
    for (const char *p = list; p && *p; ) {
        const char *e = field_end(p);
        size_t k = (size_t)(e - p);
        if (k >= 9 && (p[0] == 'n' || p[0] == 'c'))
            for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
                if (marks[i].n == k && memcmp(p, marks[i].word, k) == 0) {
                    if (marks[i].ctl)
                        s->controller = true;
                    else
                        s->notify_fd = true;
                }
        p = *e ? e + 1 : NULL;
    }
}

enum kind { K_OTHER, K_STATE, K_NOTIFY, K_CGROUP, K_ARGS, K_FDS, K_TAGS, K_ENV, K_OPTS,
            K_AUTO_UP, K_WANT, K_EXITS };

/* The word after "service." (n bytes): compared by length first, where a
 * chain of strcmp()s tried up to ten words for each of the five lines a
 * service has in a statedump. */
static enum kind kind_of(const char *k, size_t n)
{
#define KIND(word, kind) { word, sizeof word - 1, kind }
    static const struct { const char *word; size_t n; enum kind kind; } kinds[] = {
        KIND("state", K_STATE), KIND("tags", K_TAGS), KIND("args", K_ARGS),
        KIND("fds", K_FDS), KIND("auto_up", K_AUTO_UP), KIND("notify", K_NOTIFY),
        KIND("cgroup", K_CGROUP), KIND("env", K_ENV), KIND("opts", K_OPTS),
        KIND("want", K_WANT), KIND("exits", K_EXITS),
    };
#undef KIND
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].n == n && memcmp(kinds[i].word, k, n) == 0)
            return kinds[i].kind;
    return K_OTHER;
}

/* rest: WANT, BY, TS, WHY (service.want, the event as the dump line). */
static void apply_want(struct model *m, struct svc *s, const char *rest)
{
    static const char *const words[] = { [WANT_UP] = "up", [WANT_DOWN] = "down",
                                          [WANT_FAILED] = "failed" };
    size_t n = (size_t)(field_end(rest) - rest);
    s->want = WANT_NONE;
    for (int w = WANT_UP; w <= WANT_FAILED; w++)
        if (n == strlen(words[w]) && memcmp(rest, words[w], n) == 0)
            s->want = (unsigned char)w;
    if (s->json)
        set_str(m, &s->json->want, s->want == WANT_NONE ? NULL : rest);
}

/* rest: COUNT, SINCE, then TS,REASON,VALUE,UPTIME per exit, newest first. */
static void apply_exits(struct model *m, struct svc *s, char *rest)
{
    if (s->json)
        set_str(m, &s->json->exits, rest);
    char *f[4];
    int n = split_tabs(rest, f, 4);
    long long count = num(f[0]), since = num(n > 1 ? f[1] : NULL);
    s->exits = count >= 0 && count <= UINT32_MAX ? (unsigned)count : 0;
    s->exits_since = count >= 0 ? since : -1;
    if (n < 3 || s->reason[0])
        return;                 /* the state's own exit is the same one */
    char *part[4];
    if (split_at(f[2], ',', part, 4) == 4 &&
        (strcmp(part[1], "exit") == 0 || strcmp(part[1], "signal") == 0)) {
        copy_field(s->reason, sizeof s->reason, part[1]);
        copy_field(s->value, sizeof s->value, part[2]);
    }
}

struct svc *model_apply(struct model *m, char *line)
{
    if (!starts_with(line, "service."))
        return NULL;
    /* The definition lines are kept as the text after NAME. */
    char *t1 = field_end(line);
    if (!*t1)
        return NULL;
    char *t2 = field_end(t1 + 1);
    t2 = *t2 ? t2 : NULL;
    const char *rest = t2 ? t2 + 1 : "";
    char *f[16];
    enum kind kind = kind_of(line + 8, (size_t)(t1 - (line + 8)));
    *t1 = '\0';
    if (t2)
        *t2 = '\0';
    const char *name = t1 + 1;
    if (!*name)
        return NULL;
    struct svc *s;
    if (kind == K_STATE) {
        if (!t2)
            return NULL;
        s = find_recent(m, name);
        if (!s && starts_with(rest, "deleted"))
            return NULL;
        if (!s && !(s = get(m, name)))
            return NULL;
        f[0] = line;
        f[1] = t1 + 1;
        int n = 2 + split_tabs(t2 + 1, f + 2, 14);
        apply_state(m, s, f, n);
        return s;
    }
    if (kind == K_NOTIFY || kind == K_CGROUP) {
        s = find_recent(m, name);
        if (!s || !t2)
            return NULL;
        f[0] = line;
        f[1] = t1 + 1;
        if (kind == K_CGROUP) {
            int n = 2 + split_tabs(t2 + 1, f + 2, 14);
            s->cgroup = n > 3 ? strcmp(f[3], "populated") == 0 : -1;
        } else {
            apply_notify(m, s, t2 + 1);
        }
        return s;
    }
    char **dst = NULL;
    s = find_recent(m, name);
    if (!s && !(s = get(m, name)))
        return NULL;
    if (kind == K_FDS)
        scan_fds(s, rest);
    else if (kind == K_OPTS)
        s->notify_opt = has_word(rest, "notify");
    if (kind == K_WANT) {
        apply_want(m, s, rest);
        return s;
    }
    if (kind == K_EXITS) {
        apply_exits(m, s, (char *)rest);
        return s;
    }
    if (kind == K_AUTO_UP)
        dst = &s->auto_up;
    else if (!s->json)
        return s;
    else if (kind == K_ARGS)
        dst = &s->json->args;
    else if (kind == K_FDS)
        dst = &s->json->fds;
    else if (kind == K_TAGS)
        dst = &s->json->tags;
    else if (kind == K_ENV)
        dst = &s->json->env;
    else if (kind == K_OPTS)
        dst = &s->json->opts;
    if (!dst)
        return s;
    set_str(m, dst, dst == &s->auto_up && (strcmp(rest, "-") == 0 || !*rest) ? NULL : rest);
    return s;
}

/* Merge sort by name, tmp holding n / 2.  A statedump names services in
 * order, and v is in the order first seen, so each merge is usually one
 * comparison that finds the halves already in order. */
static void sort_by_name(struct svc **v, struct svc **tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_by_name(v, tmp, h);
    sort_by_name(v + h, tmp, n - h);
    if (strcmp(v[h - 1]->name, v[h]->name) < 0)
        return;
    memcpy(tmp, v, h * sizeof *v);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n)
        v[o++] = strcmp(tmp[i]->name, v[j]->name) <= 0 ? tmp[i++] : v[j++];
    while (i < h)
        v[o++] = tmp[i++];
}

struct svc **model_sorted(struct model *m, size_t *n)
{
    free(m->sorted);
    m->sorted = malloc((m->count + m->count / 2 + 1) * sizeof *m->sorted);
    *n = 0;
    if (!m->sorted)
        return NULL;
    for (struct slab *b = m->slabs; b; b = b->next)
        for (size_t i = 0; i < b->used; i++)
            if (strcmp(b->s[i].state, "deleted") != 0)
                m->sorted[(*n)++] = &b->s[i];
    sort_by_name(m->sorted, m->sorted + m->count, *n);
    return m->sorted;
}

bool model_full(const struct model *m)
{
    return m->full;
}

bool svc_has_channel(const struct svc *s)
{
    return s->notify_opt || s->notify_fd;
}

const char *svc_shown_state(const struct svc *s)
{
    if (strcmp(s->state, "down") != 0)
        return s->state;
    return s->want == WANT_DOWN ? "stopped" : s->want == WANT_FAILED ? "failed" : s->state;
}

bool svc_ready(const struct svc *s)
{
    if (strcmp(s->state, "up") != 0)
        return false;
    return !svc_has_channel(s) || strcmp(s->notify, "READY=1") == 0;
}
