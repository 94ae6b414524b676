/* test_sockpath.c - the default control socket path (sockpath.h), which
 * daemonproxy --default-socket and dpctl must compute alike, and the check
 * of its fallback directory, with the base directory and the uid given so
 * that every case runs as any user. */
#include "sockpath.h"
#include "unit.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static char buf[256], msg[512];

static void test_choose(void)
{
    /* $DAEMONPROXY_SOCKET wins, relative paths included: the user's business. */
    CHECK_EQ(sockpath_choose("/x/y.sock", "/run/user/7", 7, "/tmp", buf, sizeof buf), 0);
    CHECK_STREQ(buf, "/x/y.sock");
    CHECK_EQ(sockpath_choose("rel.sock", NULL, 0, "/tmp", buf, sizeof buf), 0);
    CHECK_STREQ(buf, "rel.sock");
    /* empty = unset; root: /run whatever XDG says */
    CHECK_EQ(sockpath_choose("", "/run/user/7", 0, "/tmp", buf, sizeof buf), 0);
    CHECK_STREQ(buf, "/run/daemonproxy.sock");
    CHECK_EQ(sockpath_choose(NULL, NULL, 0, "/tmp", buf, sizeof buf), 0);
    CHECK_STREQ(buf, "/run/daemonproxy.sock");
    CHECK_EQ(sockpath_choose("", "/run/user/7", 7, "/tmp", buf, sizeof buf), 0);
    CHECK_STREQ(buf, "/run/user/7/daemonproxy.sock");
    /* the fallback: a per-user directory, not a name anyone can take in /tmp */
    const char *no_xdg[] = { NULL, "", "relative" };
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(sockpath_choose(NULL, no_xdg[i], 1000, "/tmp", buf, sizeof buf), 1);
        CHECK_STREQ(buf, "/tmp/daemonproxy-1000/daemonproxy.sock");
    }
    CHECK_EQ(sockpath_choose(NULL, NULL, 4294967294u, "/base", buf, sizeof buf), 1);
    CHECK_STREQ(buf, "/base/daemonproxy-4294967294/daemonproxy.sock");
}

static void test_too_long(void)
{
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    errno = 0;
    CHECK_EQ(sockpath_choose(longp, NULL, 7, "/tmp", buf, sizeof buf), -1);   /* over sun_path */
    CHECK_EQ(errno, ENAMETOOLONG);
    CHECK_EQ(sockpath_choose("/a/b.sock", NULL, 7, "/tmp", buf, 5), -1);      /* over the buffer */
    CHECK_EQ(sockpath_choose(NULL, longp, 7, "/tmp", buf, sizeof buf), -1);
    CHECK_EQ(sockpath_choose(NULL, NULL, 7, longp, buf, sizeof buf), -1);
    setenv("DAEMONPROXY_SOCKET", longp, 1);
    CHECK_EQ(sockpath_for_client(buf, sizeof buf, msg, sizeof msg), SOCKPATH_TOO_LONG);
    CHECK(strstr(msg, "too long") != NULL);
    CHECK_EQ(sockpath_for_daemon(buf, sizeof buf, msg, sizeof msg), SOCKPATH_TOO_LONG);
}

/* The process's own rule: getenv and geteuid, as both binaries call it. */
static void test_for_process(void)
{
    setenv("DAEMONPROXY_SOCKET", "/x/given.sock", 1);
    CHECK_EQ(sockpath_for_client(buf, sizeof buf, msg, sizeof msg), SOCKPATH_OK);
    CHECK_STREQ(buf, "/x/given.sock");
    CHECK_EQ(sockpath_for_daemon(buf, sizeof buf, msg, sizeof msg), SOCKPATH_OK);
    CHECK_STREQ(buf, "/x/given.sock");      /* given: no directory made or checked */
    unsetenv("DAEMONPROXY_SOCKET");
    unsetenv("XDG_RUNTIME_DIR");
    char want[64];
    if (geteuid() == 0)
        snprintf(want, sizeof want, "/run/daemonproxy.sock");
    else
        snprintf(want, sizeof want, "/tmp/daemonproxy-%lu/daemonproxy.sock",
                 (unsigned long)geteuid());
    /* (a user's real /tmp/daemonproxy-UID may be anything: only the path counts) */
    enum sockpath_result r = sockpath_for_client(buf, sizeof buf, msg, sizeof msg);
    CHECK(r == SOCKPATH_OK || geteuid() != 0);
    CHECK_STREQ(buf, want);
}

static char base[64];

/* base/NAME/daemonproxy.sock */
static const char *in(const char *name)
{
    snprintf(buf, sizeof buf, "%s/%s/daemonproxy.sock", base, name);
    return buf;
}

/* Refused for why, with fix: what the user can do (NULL: nothing but the
 * environment variables). */
static void expect_refused(const char *name, uid_t euid, bool create, const char *why,
                           const char *fix)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/%s", base, name);
    msg[0] = '\0';
    CHECK_EQ(sockpath_check_dir(in(name), euid, create, msg, sizeof msg), SOCKPATH_REFUSED);
    char want[600];
    snprintf(want, sizeof want, "refusing %s for the default socket: %s; %s%s"
             "set XDG_RUNTIME_DIR or DAEMONPROXY_SOCKET", dir, why, fix ? fix : "",
             fix ? ", or " : "");
    CHECK_STREQ(msg, want);
}

static void test_check_dir(void)
{
    snprintf(base, sizeof base, "/tmp/test_sockpath.XXXXXX");
    if (!CHECK(mkdtemp(base) != NULL))
        return;
    uid_t me = geteuid();
    char p[256], why[128];

    /* missing: a client goes on (connect() will say no daemon is there),
     * the daemon makes it, 0700 and its own */
    CHECK_EQ(sockpath_check_dir(in("new"), me, false, msg, sizeof msg), SOCKPATH_OK);
    snprintf(p, sizeof p, "%s/new", base);
    struct stat st;
    CHECK_EQ(lstat(p, &st), -1);
    CHECK_EQ(sockpath_check_dir(in("new"), me, true, msg, sizeof msg), SOCKPATH_OK);
    CHECK_EQ(lstat(p, &st), 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK_EQ(st.st_mode & 07777, 0700);
    CHECK_EQ(st.st_uid, me);
    /* present and right: both go on */
    CHECK_EQ(sockpath_check_dir(in("new"), me, false, msg, sizeof msg), SOCKPATH_OK);
    CHECK_EQ(sockpath_check_dir(in("new"), me, true, msg, sizeof msg), SOCKPATH_OK);

    /* someone else's (as another uid sees ours): in the sticky /tmp only
     * its owner or root may remove it */
    snprintf(why, sizeof why, "owned by uid %lu, not %lu", (unsigned long)me,
             (unsigned long)me + 1);
    expect_refused("new", me + 1, false, why, "ask root to remove it");
    expect_refused("new", me + 1, true, why, "ask root to remove it");

    /* open to group or others: its owner can mend it */
    chmod(p, 0750);
    expect_refused("new", me, false, "mode 0750, must not be open to group or others",
                   "chmod 700 it or remove it");
    chmod(p, 01777);
    expect_refused("new", me, true, "mode 1777, must not be open to group or others",
                   "chmod 700 it or remove it");
    chmod(p, 0700);

    /* a symlink, even to a good directory */
    char link[256];
    snprintf(link, sizeof link, "%s/link", base);
    CHECK_EQ(symlink(p, link), 0);
    expect_refused("link", me, false, "a symlink", "remove it");
    expect_refused("link", me, true, "a symlink", "remove it");
    expect_refused("link", me + 1, false, "a symlink", "ask root to remove it");
    /* a dangling one: mkdir must not follow it either */
    char dangling[256], target[256];
    snprintf(dangling, sizeof dangling, "%s/dangling", base);
    snprintf(target, sizeof target, "%s/target", base);
    CHECK_EQ(symlink(target, dangling), 0);
    expect_refused("dangling", me, true, "a symlink", "remove it");
    CHECK_EQ(lstat(target, &st), -1);

    /* not a directory */
    char file[256];
    snprintf(file, sizeof file, "%s/file", base);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    expect_refused("file", me, false, "not a directory", "remove it");
    expect_refused("file", me, true, "not a directory", "remove it");
    expect_refused("file", me + 1, true, "not a directory", "ask root to remove it");
    /* cannot even be looked at: nothing to remove */
    expect_refused("file/sub", me, false, strerror(ENOTDIR), NULL);
    expect_refused("file/sub", me, true, strerror(ENOTDIR), NULL);

    /* cannot be made: the message says so and what else to do */
    CHECK_EQ(sockpath_check_dir(in("nodir/sub"), me, true, msg, sizeof msg), SOCKPATH_REFUSED);
    CHECK(strstr(msg, "cannot create ") == msg);
    CHECK(strstr(msg, "No such file or directory; set XDG_RUNTIME_DIR or DAEMONPROXY_SOCKET"));
    /* no directory at all in the path */
    CHECK_EQ(sockpath_check_dir("x.sock", me, false, msg, sizeof msg), SOCKPATH_REFUSED);

    unlink(dangling);
    unlink(link);
    unlink(file);
    rmdir(p);
    rmdir(base);
}

int main(void)
{
    test_choose();
    test_too_long();
    test_for_process();
    test_check_dir();
    return unit_done();
}
