/* test_execattr.c - the execution attribute words (execattr.h): what each
 * parses to, the canonical words it gives back, the re-exec state's round
 * trip, and the words refused.  Lookups use only root (uid and gid 0),
 * which every system has; the integration tests (test_execattr.py) run
 * real children as other users. */
#include "execattr.h"
#include "spawn.h"
#include "unit.h"

#include <sys/resource.h>

static char joined[4096];

static void join(void *ctx, const char *word)
{
    size_t at = strlen(joined);
    snprintf(joined + at, sizeof joined - at, "%s%s", at ? " " : "", word);
    (void)ctx;
}

/* The words (space-separated) parsed and resolved, or NULL. */
static struct execattr *parse(const char *words)
{
    char buf[1024], msg[200];
    snprintf(buf, sizeof buf, "%s", words);
    struct execattr *a = NULL;
    for (char *p = buf, *w; (w = strsep(&p, " ")) != NULL;) {
        if (execattr_parse(&a, w, msg, sizeof msg) != 1) {
            execattr_free(a);
            return NULL;
        }
    }
    const char *key;
    if (a && !execattr_resolve(a, &key, msg, sizeof msg)) {
        execattr_free(a);
        return NULL;
    }
    return a;
}

static const char *words_of(const struct execattr *a)
{
    joined[0] = '\0';
    execattr_each(a, join, NULL);
    return joined;
}

static void test_canonical(void)
{
    struct execattr *a = parse("caps=NET_BIND_SERVICE,cap_chown limit-nofile=10:20 "
                               "umask=27 cwd=/tmp no-new-privs nice=-3 limit-as=infinity "
                               "groups=0 user=0");
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK_STREQ(words_of(a), "user=0 groups=0 umask=0027 nice=-3 limit-as=infinity "
                             "limit-nofile=10:20 no-new-privs cwd=/tmp "
                             "caps=cap_chown,cap_net_bind_service");
    const struct spawn_attr *sa = execattr_spawn(a);
    CHECK_EQ(sa->uid, 0);
    CHECK_EQ(sa->gid, 0);
    CHECK_EQ(sa->umask, 027);
    CHECK_EQ(sa->nice, -3);
    CHECK_EQ(sa->caps, (1ULL << 0) | (1ULL << 10));
    CHECK_EQ(sa->nlimits, 2);
    /* The child walks them in table order: as, then nofile. */
    CHECK_EQ(sa->limits[0].resource, RLIMIT_AS);
    CHECK(sa->limits[0].cur == ~0ULL && sa->limits[0].max == ~0ULL);
    CHECK_EQ(sa->limits[1].resource, RLIMIT_NOFILE);
    CHECK_EQ(sa->limits[1].cur, 10);
    CHECK_EQ(sa->limits[1].max, 20);
    CHECK_STREQ(sa->cwd, "/tmp");
    CHECK(sa->flags & SPAWN_A_UID);
    CHECK(sa->flags & SPAWN_A_GID);
    CHECK(sa->flags & SPAWN_A_NNP);
    CHECK(sa->flags & SPAWN_A_CAPS);
    execattr_free(a);
}

/* The words and ids of the state give back the same attributes, with no
 * lookup (an id that no name has survives). */
static void test_restore(void)
{
    struct execattr *a = parse("user=0 group=0 groups=0 umask=0022 limit-core=0");
    CHECK(a != NULL);
    if (!a)
        return;
    char ids[200];
    execattr_ids(a, ids, sizeof ids);
    CHECK_STREQ(ids, "u=0 g=0 G=0");
    const char *err = NULL;
    struct execattr *b = execattr_restore("user=0\tgroup=0\tgroups=0\tumask=0022\tlimit-core=0",
                                          ids, &err);
    CHECK(b != NULL);
    if (b) {
        CHECK_STREQ(words_of(b), "user=0 group=0 groups=0 umask=0022 limit-core=0");
        CHECK_EQ(execattr_spawn(b)->ngroups, 1);
        execattr_free(b);
    }
    b = execattr_restore("user=nosuchuser\tgroup=7", "u=4242 g=7 G=7,8", &err);
    CHECK(b != NULL);
    if (b) {
        CHECK_EQ(execattr_spawn(b)->uid, 4242);
        CHECK_EQ(execattr_spawn(b)->ngroups, 2);
        execattr_free(b);
    }
    /* Ids that do not fit the words, or junk. */
    static const char *const bad[][2] = {
        { "user=0", "" }, { "user=0", "u=0" }, { "user=0", "u=0 g=0" },
        { "group=0", "u=0 g=0 G=" }, { "umask=022", "u=0" }, { "user=0", "u=x g=0 G=" },
        { "user=0", "u=0 u=0 g=0 G=" }, { "user=0", "u=0 g=0 G=1,,2" },
        { "user=0", "u=0 g=0 G=-1" }, { "bogus", "" }, { "user=0", "u=0 g=0 G= " },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = NULL;
        b = execattr_restore(bad[i][0], bad[i][1], &err);
        if (!CHECK(b == NULL && err != NULL))
            fprintf(stderr, "  restored: %s / %s\n", bad[i][0], bad[i][1]);
        execattr_free(b);
    }
    execattr_free(a);
}

static void test_refused(void)
{
    static const char *const bad[] = {
        "user=", "group=", "groups=,", "groups=0,", "umask=8", "umask=01777", "umask=",
        "nice=20", "nice=-21", "nice=x", "limit-nofile=", "limit-nofile=5:4",
        "limit-nofile=-1", "limit-nofile=1:2:3", "limit-bogus=1", "limit-nofile",
        "cwd=", "caps=cap_bogus", "caps=net_admin,", "user=nosuch-user-xyz",
        "group=nosuch-group-xyz", "groups=0,nosuch-group-xyz", "user=4242424",
        "nice=1 nice=2", "limit-core=1 limit-core=2", "no-new-privs no-new-privs",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct execattr *a = parse(bad[i]);
        if (!CHECK(a == NULL))
            fprintf(stderr, "  accepted: %s\n", bad[i]);
        execattr_free(a);
    }
    /* Not attribute words at all: the caller's to judge. */
    char msg[80];
    struct execattr *a = NULL;
    CHECK_EQ(execattr_parse(&a, "notify", msg, sizeof msg), 0);
    CHECK_EQ(execattr_parse(&a, "no-new-privsX", msg, sizeof msg), 0);
    CHECK(a == NULL);
    /* Why, where there is more to say than "invalid". */
    CHECK_EQ(execattr_parse(&a, "limit-nofile=5:4", msg, sizeof msg), -1);
    CHECK_STREQ(msg, "soft limit above hard limit");
    CHECK_EQ(execattr_parse(&a, "caps=chown,cap_nope", msg, sizeof msg), -1);
    CHECK_STREQ(msg, "no such capability 'cap_nope'");
    execattr_free(a);
}

int main(void)
{
    test_canonical();
    test_restore();
    test_refused();
    return unit_done();
}
