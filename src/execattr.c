/* execattr.c - the service.opts words of what a service runs as (see
 * execattr.h and docs/protocol.md, "Execution attributes"). */
#include "execattr.h"
#include "fmt.h"
#include "protocol.h"
#include "spawn.h"
#include "sys.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

/* The limits, in the order of the protocol's table (and of the words). */
static const struct { const char *name; int resource; } res_table[] = {
    { "as", RLIMIT_AS }, { "core", RLIMIT_CORE }, { "cpu", RLIMIT_CPU },
    { "data", RLIMIT_DATA }, { "fsize", RLIMIT_FSIZE }, { "locks", RLIMIT_LOCKS },
    { "memlock", RLIMIT_MEMLOCK }, { "msgqueue", RLIMIT_MSGQUEUE },
    { "nice", RLIMIT_NICE }, { "nofile", RLIMIT_NOFILE }, { "nproc", RLIMIT_NPROC },
    { "rss", RLIMIT_RSS }, { "rtprio", RLIMIT_RTPRIO }, { "rttime", RLIMIT_RTTIME },
    { "sigpending", RLIMIT_SIGPENDING }, { "stack", RLIMIT_STACK },
};
#define NRES (sizeof res_table / sizeof res_table[0])

/* Capability names by number (linux/capability.h), without "cap_". */
static const char *const cap_names[] = {
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
    "setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast",
    "net_admin", "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio",
    "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write",
    "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
    "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};
#define NCAPS (sizeof cap_names / sizeof cap_names[0])

#define LIM_INFINITY (~0ULL)

/* The keys, for "given twice" (a limit: its bit in limits_given). */
enum { K_USER = 1, K_GROUP = 2, K_GROUPS = 4, K_UMASK = 8, K_NICE = 16, K_NNP = 32,
       K_CWD = 64, K_CAPS = 128 };

struct execattr {
    struct spawn_attr sa;
    unsigned given;                 /* K_* */
    uint32_t limits_given;          /* bit i: res_table[i] */
    char *user, *group, *groups;    /* the values as given, or NULL */
    char *cwd;
    bool groups_known;              /* gidv holds the supplementary groups */
    struct spawn_limit lim[NRES];   /* by res_table index */
    struct spawn_limit packed[NRES];        /* the given ones: sa.limits */
    gid_t *gidv;
};

/* --- words ----------------------------------------------------------------------- */

/* A uid or gid in decimal digits only (no sign, no -1). */
static bool parse_id(const char *s, uint32_t *out)
{
    int64_t v;
    if (*s < '0' || *s > '9' || !sys_parse_int(s, 0, UINT32_MAX - 1, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool parse_limit_value(const char *s, size_t n, unsigned long long *out)
{
    char buf[24];
    if (n == 8 && strncmp(s, "infinity", 8) == 0) {
        *out = LIM_INFINITY;
        return true;
    }
    if (n == 0 || n >= sizeof buf || *s < '0' || *s > '9')
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    int64_t v;
    if (!sys_parse_int(buf, 0, INT64_MAX, &v))
        return false;
    *out = (unsigned long long)v;
    return true;
}

/* limit-RES=V or limit-RES=SOFT:HARD (word after "limit-"). */
static int parse_limit(struct execattr *a, const char *w, char *msg, size_t msglen)
{
    const char *eq = strchr(w, '=');
    if (!eq)
        return -1;
    size_t i = 0;
    while (i < NRES && (strlen(res_table[i].name) != (size_t)(eq - w) ||
                        strncmp(res_table[i].name, w, (size_t)(eq - w)) != 0))
        i++;
    if (i == NRES)
        return -1;
    const char *v = eq + 1, *colon = strchr(v, ':');
    struct spawn_limit l = { .resource = res_table[i].resource };
    if (!parse_limit_value(v, colon ? (size_t)(colon - v) : strlen(v), &l.cur))
        return -1;
    l.max = l.cur;
    if (colon && !parse_limit_value(colon + 1, strlen(colon + 1), &l.max))
        return -1;
    if (l.cur > l.max) {
        fmt_snprintf(msg, msglen, "soft limit above hard limit");
        return -1;
    }
    if (a->limits_given & 1u << i) {
        fmt_snprintf(msg, msglen, "given twice");
        return -1;
    }
    a->limits_given |= 1u << i;
    a->lim[i] = l;
    /* Kept packed in table order: what the child walks. */
    int n = 0;
    for (size_t k = 0; k < NRES; k++)
        if (a->limits_given & 1u << k)
            a->packed[n++] = a->lim[k];
    a->sa.nlimits = n;
    a->sa.limits = a->packed;
    return 1;
}

static bool parse_umask(const char *s, mode_t *out)
{
    unsigned v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 4)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '7')
            return false;
        v = v * 8 + (unsigned)(*s - '0');
    }
    if (v > 0777)
        return false;
    *out = (mode_t)v;
    return true;
}

/* caps=NAME,NAME...: "cap_" optional, any case. */
static int parse_caps(const char *s, uint64_t *out, char *msg, size_t msglen)
{
    uint64_t caps = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        const char *name = s;
        if (n > 4 && strncasecmp(name, "cap_", 4) == 0)
            name += 4, n -= 4;
        size_t c = 0;
        while (c < NCAPS && (strlen(cap_names[c]) != n || strncasecmp(cap_names[c], name, n)))
            c++;
        if (c == NCAPS) {
            size_t whole = strcspn(s, ",");
            fmt_snprintf(msg, msglen, "no such capability '%.*s'", (int)whole, s);
            return -1;
        }
        caps |= 1ULL << c;
        s += strcspn(s, ",");
        if (*s == ',' && !*++s)
            return -1;      /* a trailing comma */
    }
    *out = caps;
    return 1;
}

/* A list of names or ids, comma-separated, none empty ("" is no group). */
static bool list_valid(const char *s)
{
    if (!*s)
        return true;
    for (;;) {
        size_t n = strcspn(s, ",");
        if (n == 0)
            return false;
        s += n;
        if (!*s)
            return true;
        if (!*++s)
            return false;
    }
}

static char *keep(char **slot, const char *v)
{
    return *slot = strdup(v);
}

/* The word of key k (K_*): its value kept, or -1. */
static int set_text(struct execattr *a, unsigned k, char **slot, const char *v)
{
    a->given |= k;
    return keep(slot, v) ? 1 : -1;
}

int execattr_parse(struct execattr **ap, const char *w, char *msg, size_t msglen)
{
    static const struct { const char *prefix; unsigned key; } keys[] = {
        { "user=", K_USER }, { "group=", K_GROUP }, { "groups=", K_GROUPS },
        { "umask=", K_UMASK }, { "nice=", K_NICE }, { "no-new-privs", K_NNP },
        { "cwd=", K_CWD }, { "caps=", K_CAPS }, { "limit-", 0 },
    };
    size_t i = 0, plen = 0;
    for (; i < sizeof keys / sizeof keys[0]; i++) {
        plen = strlen(keys[i].prefix);
        if (strncmp(w, keys[i].prefix, plen) == 0)
            break;
    }
    if (i == sizeof keys / sizeof keys[0] || (keys[i].key == K_NNP && w[plen]))
        return 0;
    msg[0] = '\0';
    struct execattr *a = *ap;
    if (!a && !(a = *ap = calloc(1, sizeof *a))) {
        fmt_snprintf(msg, msglen, "%s", sys_strerror(ENOMEM));
        return -1;
    }
    unsigned k = keys[i].key;
    if (k && (a->given & k)) {
        fmt_snprintf(msg, msglen, "given twice");
        return -1;
    }
    const char *v = w + plen;
    int64_t n;
    switch (k) {
    case 0:
        return parse_limit(a, v, msg, msglen);
    case K_USER:
        return *v ? set_text(a, k, &a->user, v) : -1;
    case K_GROUP:
        return *v ? set_text(a, k, &a->group, v) : -1;
    case K_GROUPS:
        return list_valid(v) ? set_text(a, k, &a->groups, v) : -1;
    case K_CWD:
        if (!*v) {
            fmt_snprintf(msg, msglen, "empty path");
            return -1;
        }
        if (set_text(a, k, &a->cwd, v) < 0)
            return -1;
        a->sa.cwd = a->cwd;
        return 1;
    case K_UMASK:
        if (!parse_umask(v, &a->sa.umask))
            return -1;
        a->sa.flags |= SPAWN_A_UMASK;
        break;
    case K_NICE:
        if (!sys_parse_int(v, -20, 19, &n))
            return -1;
        a->sa.nice = (int)n;
        a->sa.flags |= SPAWN_A_NICE;
        break;
    case K_NNP:
        a->sa.flags |= SPAWN_A_NNP;
        break;
    case K_CAPS:
        if (parse_caps(v, &a->sa.caps, msg, msglen) < 0)
            return -1;
        if (*v)
            a->sa.flags |= SPAWN_A_CAPS;
        break;
    }
    a->given |= k;
    return 1;
}

void execattr_free(struct execattr *a)
{
    if (!a)
        return;
    free(a->user);
    free(a->group);
    free(a->groups);
    free(a->cwd);
    free(a->gidv);
    free(a);
}

/* --- ids --------------------------------------------------------------------------- */

static int gid_cmp(const void *x, const void *y)
{
    gid_t a = *(const gid_t *)x, b = *(const gid_t *)y;
    return a < b ? -1 : a > b;
}

/* Whether the list is daemonproxy's own supplementary groups: then the
 * child keeps them without setgroups, which only root may call.  Its
 * groups never change (daemonproxy never sets them), so this holds. */
static bool own_groups(const gid_t *v, int n)
{
    int own = getgroups(0, NULL);
    if (own < 0 || own != n)
        return false;
    gid_t *mine = malloc(((size_t)own + 1) * sizeof *mine);
    gid_t *want = malloc(((size_t)n + 1) * sizeof *want);
    bool same = mine && want && getgroups(own, mine) == own;
    if (same) {
        memcpy(want, v, (size_t)n * sizeof *want);
        qsort(mine, (size_t)own, sizeof *mine, gid_cmp);
        qsort(want, (size_t)n, sizeof *want, gid_cmp);
        same = memcmp(mine, want, (size_t)n * sizeof *want) == 0;
    }
    free(mine);
    free(want);
    return same;
}

/* Take v (n groups) as the supplementary groups. */
static void set_groups(struct execattr *a, gid_t *v, int n)
{
    free(a->gidv);
    a->gidv = v;
    a->sa.groups = v;
    a->sa.ngroups = n;
    a->groups_known = true;
    if (own_groups(v, n))
        a->sa.flags &= ~SPAWN_A_GROUPS;
    else
        a->sa.flags |= SPAWN_A_GROUPS;
}

static bool lookup_group(const char *name, size_t n, gid_t *out)
{
    char buf[256];
    if (n >= sizeof buf)
        return false;
    memcpy(buf, name, n);
    buf[n] = '\0';
    uint32_t id;
    if (parse_id(buf, &id)) {
        *out = (gid_t)id;
        return true;
    }
    struct group *gr = getgrnam(buf);
    if (!gr)
        return false;
    *out = gr->gr_gid;
    return true;
}

/* groups=: each listed group.  False with msg. */
static bool resolve_list(struct execattr *a, char *msg, size_t msglen)
{
    const char *s = a->groups;
    size_t n = *s ? 1 : 0;
    for (const char *c = s; *c; c++)
        n += *c == ',';
    gid_t *v = malloc((n + 1) * sizeof *v);
    if (!v) {
        fmt_snprintf(msg, msglen, "%s", sys_strerror(ENOMEM));
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(s, ",");
        if (!lookup_group(s, len, &v[i])) {
            fmt_snprintf(msg, msglen, "no such group '%.*s'", (int)len, s);
            free(v);
            return false;
        }
        s += len + (s[len] == ',');
    }
    set_groups(a, v, (int)n);
    return true;
}

/* The groups of user name with primary group gid (initgroups' list). */
static bool resolve_user_groups(struct execattr *a, const char *name, gid_t gid,
                                char *msg, size_t msglen)
{
    int n = 32;
    for (int tries = 0; tries < 4; tries++) {
        gid_t *v = malloc(((size_t)n + 1) * sizeof *v);
        if (!v)
            break;
        int got = n;
        if (getgrouplist(name, gid, v, &got) >= 0) {
            set_groups(a, v, got);
            return true;
        }
        free(v);
        if (got <= n || got > 65536)
            break;
        n = got;
    }
    fmt_snprintf(msg, msglen, "cannot list the groups of user '%s'", name);
    return false;
}

bool execattr_resolve(struct execattr *a, const char **key, char *msg, size_t msglen)
{
    char name[256] = "";
    bool found = false;
    gid_t pw_gid = 0;
    if (a->user) {
        *key = "user";
        uint32_t id;
        bool numeric = parse_id(a->user, &id);
        struct passwd *pw = numeric ? getpwuid((uid_t)id) : getpwnam(a->user);
        if (pw && strlen(pw->pw_name) < sizeof name) {
            found = true;
            memcpy(name, pw->pw_name, strlen(pw->pw_name) + 1);
            pw_gid = pw->pw_gid;
            id = pw->pw_uid;
        } else if (!numeric) {
            fmt_snprintf(msg, msglen, "no such user");
            return false;
        } else if (!a->group) {
            fmt_snprintf(msg, msglen, "uid %s is not in /etc/passwd: give group= too",
                         a->user);
            return false;
        }
        a->sa.uid = (uid_t)id;
        a->sa.flags |= SPAWN_A_UID | SPAWN_A_GID;
        a->sa.gid = pw_gid;
    }
    if (a->group) {
        *key = "group";
        if (!lookup_group(a->group, strlen(a->group), &a->sa.gid)) {
            fmt_snprintf(msg, msglen, "no such group");
            return false;
        }
        a->sa.flags |= SPAWN_A_GID;
    }
    if (a->groups) {
        *key = "groups";
        return resolve_list(a, msg, msglen);
    }
    if (found)
        return resolve_user_groups(a, name, a->sa.gid, msg, msglen);
    if (a->group) {
        gid_t *v = malloc(sizeof *v);
        if (!v) {
            fmt_snprintf(msg, msglen, "%s", sys_strerror(ENOMEM));
            return false;
        }
        *v = a->sa.gid;
        set_groups(a, v, 1);
    }
    return true;
}

/* --- out ---------------------------------------------------------------------------- */

static void limit_value(char *buf, size_t size, unsigned long long v)
{
    if (v == LIM_INFINITY)
        fmt_snprintf(buf, size, "infinity");
    else
        fmt_snprintf(buf, size, "%llu", v);
}

void execattr_each(const struct execattr *a, void (*fn)(void *ctx, const char *word),
                   void *ctx)
{
    static char w[PROTO_LINE_MAX + 32] SYS_LARGE_BSS;
    const struct spawn_attr *sa = &a->sa;
    if (a->user)
        fmt_snprintf(w, sizeof w, "user=%s", a->user), fn(ctx, w);
    if (a->group)
        fmt_snprintf(w, sizeof w, "group=%s", a->group), fn(ctx, w);
    if (a->groups)
        fmt_snprintf(w, sizeof w, "groups=%s", a->groups), fn(ctx, w);
    if (sa->flags & SPAWN_A_UMASK)
        fmt_snprintf(w, sizeof w, "umask=%04o", (unsigned)sa->umask), fn(ctx, w);
    if (sa->flags & SPAWN_A_NICE)
        fmt_snprintf(w, sizeof w, "nice=%d", sa->nice), fn(ctx, w);
    for (size_t i = 0; i < NRES; i++) {
        if (!(a->limits_given & 1u << i))
            continue;
        char cur[24], max[24];
        limit_value(cur, sizeof cur, a->lim[i].cur);
        limit_value(max, sizeof max, a->lim[i].max);
        if (a->lim[i].cur == a->lim[i].max)
            fmt_snprintf(w, sizeof w, "limit-%s=%s", res_table[i].name, cur);
        else
            fmt_snprintf(w, sizeof w, "limit-%s=%s:%s", res_table[i].name, cur, max);
        fn(ctx, w);
    }
    if (sa->flags & SPAWN_A_NNP)
        fn(ctx, "no-new-privs");
    if (a->cwd)
        fmt_snprintf(w, sizeof w, "cwd=%s", a->cwd), fn(ctx, w);
    if (sa->flags & SPAWN_A_CAPS) {
        size_t at = (size_t)fmt_snprintf(w, sizeof w, "caps=");
        for (size_t c = 0; c < NCAPS; c++)
            if (sa->caps >> c & 1)
                at += (size_t)fmt_snprintf(w + at, sizeof w - at, "%scap_%s",
                                           at > 5 ? "," : "", cap_names[c]);
        fn(ctx, w);
    }
}

const struct spawn_attr *execattr_spawn(const struct execattr *a)
{
    return &a->sa;
}

/* --- the re-exec state ------------------------------------------------------------- */

void execattr_ids(const struct execattr *a, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = '\0';
    if (a->sa.flags & SPAWN_A_UID)
        at += (size_t)fmt_snprintf(buf + at, size - at, "u=%u ", (unsigned)a->sa.uid);
    if ((a->sa.flags & SPAWN_A_GID) && at < size)
        at += (size_t)fmt_snprintf(buf + at, size - at, "g=%u ", (unsigned)a->sa.gid);
    if (a->groups_known && at < size) {
        at += (size_t)fmt_snprintf(buf + at, size - at, "G=");
        for (int i = 0; i < a->sa.ngroups && at < size; i++)
            at += (size_t)fmt_snprintf(buf + at, size - at, "%s%u", i ? "," : "",
                                       (unsigned)a->sa.groups[i]);
    }
    if (at > 0 && at < size && buf[at - 1] == ' ')
        buf[at - 1] = '\0';
}

/* "1,2" (or "": none), len bytes at s, into a's groups. */
static bool restore_groups(struct execattr *a, const char *s, size_t len)
{
    size_t n = len ? 1 : 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == ',';
    char *copy = strndup(s, len);
    gid_t *v = malloc((n + 1) * sizeof *v);
    bool ok = copy && v;
    size_t i = 0;
    for (char *p = len ? copy : NULL, *t; ok && (t = strsep(&p, ",")) != NULL; i++) {
        uint32_t id = 0;
        ok = parse_id(t, &id);
        v[i] = (gid_t)id;
    }
    free(copy);
    if (!ok) {
        free(v);
        return false;
    }
    set_groups(a, v, (int)n);
    return true;
}

static bool restore_ids(struct execattr *a, const char *ids)
{
    bool u = false, g = false, G = false;
    while (*ids) {
        size_t len = strcspn(ids, " ");
        char num[16];
        uint32_t id;
        if (len < 2 || ids[1] != '=')
            return false;
        if (ids[0] == 'G') {
            if (G || !restore_groups(a, ids + 2, len - 2))
                return false;
            G = true;
        } else {
            if (len - 2 >= sizeof num)
                return false;
            memcpy(num, ids + 2, len - 2);
            num[len - 2] = '\0';
            if (!parse_id(num, &id))
                return false;
            if (ids[0] == 'u' && !u) {
                a->sa.uid = (uid_t)id;
                u = true;
            } else if (ids[0] == 'g' && !g) {
                a->sa.gid = (gid_t)id;
                g = true;
            } else {
                return false;
            }
        }
        if (ids[len] == ' ' && !ids[len + 1])
            return false;       /* a trailing space */
        ids += len + (ids[len] == ' ');
    }
    /* What resolve would have found: a uid with user=, a gid with either,
     * the groups with any of them. */
    bool any = a->user || a->group || a->groups;
    if (u != !!a->user || g != (a->user || a->group) || G != any)
        return false;
    if (u)
        a->sa.flags |= SPAWN_A_UID;
    if (g)
        a->sa.flags |= SPAWN_A_GID;
    return true;
}

struct execattr *execattr_restore(const char *words, const char *ids, const char **err)
{
    struct execattr *a = NULL;
    char msg[80];
    char *copy = strdup(words);
    if (!copy) {
        *err = "unable to allocate a service's attributes";
        return NULL;
    }
    bool ok = true;
    for (char *p = copy, *w; ok && (w = strsep(&p, "\t")) != NULL;)
        ok = execattr_parse(&a, w, msg, sizeof msg) == 1;
    free(copy);
    if (!ok || !a || !restore_ids(a, ids)) {
        *err = "record service: bad attributes";
        execattr_free(a);
        return NULL;
    }
    return a;
}
