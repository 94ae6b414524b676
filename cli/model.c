/* model.c - the services as the daemon describes them (see model.h). */
#include "model.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct model {
    struct svc **slot;          /* open addressing by name; never shrinks */
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

int split_tabs(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
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

static void svc_clear(struct svc *s)
{
    free(s->status);
    free(s->args);
    free(s->fds);
    free(s->tags);
    free(s->env);
    free(s->opts);
    free(s->auto_up);
}

void model_free(struct model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slot[i]) {
            svc_clear(m->slot[i]);
            free(m->slot[i]);
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

/* The service called name; created (down, empty) if new or deleted. */
static struct svc *get(struct model *m, const char *name)
{
    struct svc **p = lookup(m, name);
    if (*p) {
        if (strcmp((*p)->state, "deleted") != 0)
            return *p;
        struct svc *s = *p;
        char *str[] = { s->status, s->args, s->fds, s->tags, s->env, s->opts, s->auto_up };
        for (size_t i = 0; i < sizeof str / sizeof str[0]; i++)
            m->bytes -= str_cost(str[i]);
        svc_clear(s);
        memset(s, 0, sizeof *s);
        strcpy(s->name, name);
    } else {
        if (strlen(name) >= sizeof (*p)->name)
            return NULL;        /* not a service name: the daemon never sends it */
        if ((m->count + 1) * 2 > m->cap) {
            if (!grow(m))
                return NULL;
            p = lookup(m, name);
        }
        if (!spend(m, sizeof **p))
            return NULL;
        struct svc *s = calloc(1, sizeof *s);
        if (!s) {
            m->bytes -= sizeof *s;
            return NULL;
        }
        strcpy(s->name, name);
        *p = s;
        m->count++;
    }
    struct svc *s = *p;
    strcpy(s->state, "down");
    s->ts = s->pid = s->uptime = s->downtime = s->mainpid = -1;
    s->cgroup = -1;
    return s;
}

struct svc *model_find(const struct model *m, const char *name)
{
    struct svc *s = *lookup(m, name);
    return s && strcmp(s->state, "deleted") != 0 ? s : NULL;
}

/* Times, pids and durations from the daemon are small non-negative
 * integers; anything else (junk from whatever listens on the path) is
 * "-", so that no later subtraction can overflow. */
#define NUM_MAX (1LL << 40)

static long long num(const char *f)
{
    if (!f || !*f || strcmp(f, "-") == 0)
        return -1;
    char *end;
    long long v = strtoll(f, &end, 10);
    return *end || v < 0 || v > NUM_MAX ? -1 : v;
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
    set_str(m, &s->status, NULL);
    s->mainpid = -1;
}

static void apply_state(struct model *m, struct svc *s, char **f, int n)
{
    const char *state = f[2];
    long long pid = num(n > 4 ? f[4] : NULL);
    if (strcmp(state, "up") != 0 || pid != s->pid)
        forget_notify(m, s);
    snprintf(s->state, sizeof s->state, "%s", state);
    s->ts = num(n > 3 ? f[3] : NULL);
    s->pid = pid;
    s->uptime = num(n > 7 ? f[7] : NULL);
    s->downtime = num(n > 8 ? f[8] : NULL);
    /* The last exit stays known while the service is up again. */
    if (n > 6 && strcmp(f[5], "-") != 0) {
        snprintf(s->reason, sizeof s->reason, "%s", f[5]);
        snprintf(s->value, sizeof s->value, "%s", f[6]);
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
        char *tab = strchr(p, '\t');
        if (tab)
            *tab = '\0';
        if (i < 2)
            ;                   /* TS and PID: the event's, not the state's */
        else if (strcmp(p, "READY=1") == 0 || strcmp(p, "RELOADING=1") == 0 ||
                 strcmp(p, "STOPPING=1") == 0)
            snprintf(s->notify, sizeof s->notify, "%s", p);
        else if (strncmp(p, "STATUS=", 7) == 0)
            set_str(m, &s->status, p + 7);
        else if (strncmp(p, "MAINPID=", 8) == 0)
            s->mainpid = num(p + 8);
        p = tab ? tab + 1 : NULL;
    }
}

/* Is word one of the TAB-separated words of list? */
static bool has_word(const char *list, const char *word)
{
    size_t k = strlen(word);
    for (const char *p = list; p && *p; ) {
        const char *e = strchr(p, '\t');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == k && memcmp(p, word, k) == 0)
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

struct svc *model_apply(struct model *m, char *line)
{
    if (strncmp(line, "service.", 8) != 0)
        return NULL;
    /* The definition lines are kept as the text after NAME. */
    char *t1 = strchr(line, '\t');
    if (!t1)
        return NULL;
    char *t2 = strchr(t1 + 1, '\t');
    const char *rest = t2 ? t2 + 1 : "";
    char *f[16];
    char *kind = line + 8;
    *t1 = '\0';
    if (t2)
        *t2 = '\0';
    const char *name = t1 + 1;
    if (!*name)
        return NULL;
    struct svc *s;
    if (strcmp(kind, "state") == 0) {
        if (!t2)
            return NULL;
        s = model_find(m, name);
        if (!s && strncmp(rest, "deleted", 7) == 0)
            return NULL;
        if (!s && !(s = get(m, name)))
            return NULL;
        f[0] = line;
        f[1] = t1 + 1;
        int n = 2 + split_tabs(t2 + 1, f + 2, 14);
        apply_state(m, s, f, n);
        return s;
    }
    if (strcmp(kind, "notify") == 0 || strcmp(kind, "cgroup") == 0) {
        s = model_find(m, name);
        if (!s || !t2)
            return NULL;
        f[0] = line;
        f[1] = t1 + 1;
        if (kind[0] == 'c') {
            int n = 2 + split_tabs(t2 + 1, f + 2, 14);
            s->cgroup = n > 3 ? strcmp(f[3], "populated") == 0 : -1;
        } else {
            apply_notify(m, s, t2 + 1);
        }
        return s;
    }
    char **dst = NULL;
    s = model_find(m, name);
    if (!s && !(s = get(m, name)))
        return NULL;
    if (strcmp(kind, "fds") == 0)
        s->notify_fd = has_word(rest, "notify.fd");
    else if (strcmp(kind, "opts") == 0)
        s->notify_opt = has_word(rest, "notify");
    if (strcmp(kind, "auto_up") == 0)
        dst = &s->auto_up;
    else if (!m->lists)
        return s;
    else if (strcmp(kind, "args") == 0)
        dst = &s->args;
    else if (strcmp(kind, "fds") == 0)
        dst = &s->fds;
    else if (strcmp(kind, "tags") == 0)
        dst = &s->tags;
    else if (strcmp(kind, "env") == 0)
        dst = &s->env;
    else if (strcmp(kind, "opts") == 0)
        dst = &s->opts;
    if (!dst)
        return s;
    set_str(m, dst, dst == &s->auto_up && (strcmp(rest, "-") == 0 || !*rest) ? NULL : rest);
    return s;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(struct svc *const *)a)->name, (*(struct svc *const *)b)->name);
}

struct svc **model_sorted(struct model *m, size_t *n)
{
    free(m->sorted);
    m->sorted = malloc((m->count + 1) * sizeof *m->sorted);
    *n = 0;
    if (!m->sorted)
        return NULL;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slot[i] && strcmp(m->slot[i]->state, "deleted") != 0)
            m->sorted[(*n)++] = m->slot[i];
    qsort(m->sorted, *n, sizeof *m->sorted, by_name);
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

bool svc_ready(const struct svc *s)
{
    if (strcmp(s->state, "up") != 0)
        return false;
    return !svc_has_channel(s) || strcmp(s->notify, "READY=1") == 0;
}
