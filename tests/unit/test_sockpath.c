/* test_sockpath.c - the default control socket path (sockpath.h), which
 * daemonproxy --default-socket and dpctl must compute alike. */
#include "sockpath.h"
#include "unit.h"

#include <errno.h>
#include <unistd.h>

static char buf[256];

static void test_env_wins(void)
{
    setenv("DAEMONPROXY_SOCKET", "/x/y.sock", 1);
    setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
    CHECK_EQ(sockpath_default(buf, sizeof buf), 0);
    CHECK_STREQ(buf, "/x/y.sock");
    /* Relative paths are the user's business: used as given. */
    setenv("DAEMONPROXY_SOCKET", "rel.sock", 1);
    CHECK_EQ(sockpath_default(buf, sizeof buf), 0);
    CHECK_STREQ(buf, "rel.sock");
}

static void test_fallbacks(void)
{
    char want[64];
    setenv("DAEMONPROXY_SOCKET", "", 1);        /* empty = unset */
    setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
    CHECK_EQ(sockpath_default(buf, sizeof buf), 0);
    if (geteuid() == 0) {
        CHECK_STREQ(buf, "/run/daemonproxy.sock");
        return;
    }
    CHECK_STREQ(buf, "/run/user/7/daemonproxy.sock");
    setenv("XDG_RUNTIME_DIR", "relative", 1);   /* not absolute: ignored */
    CHECK_EQ(sockpath_default(buf, sizeof buf), 0);
    snprintf(want, sizeof want, "/tmp/daemonproxy-%lu.sock", (unsigned long)geteuid());
    CHECK_STREQ(buf, want);
    unsetenv("XDG_RUNTIME_DIR");
    CHECK_EQ(sockpath_default(buf, sizeof buf), 0);
    CHECK_STREQ(buf, want);
}

static void test_too_long(void)
{
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    setenv("DAEMONPROXY_SOCKET", longp, 1);
    errno = 0;
    CHECK_EQ(sockpath_default(buf, sizeof buf), -1);   /* over sun_path */
    CHECK_EQ(errno, ENAMETOOLONG);
    setenv("DAEMONPROXY_SOCKET", "/a/b.sock", 1);
    CHECK_EQ(sockpath_default(buf, 5), -1);             /* over the buffer */
}

int main(void)
{
    test_env_wins();
    test_fallbacks();
    test_too_long();
    return unit_done();
}
