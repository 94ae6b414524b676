/* test_sdnotify.c - NOTIFY_SOCKET values as addresses (sdnotify.h). */
#include "sdnotify.h"
#include "unit.h"

#include <stddef.h>

static struct sockaddr_un sa;
static socklen_t len;

static void test_path(void)
{
    CHECK(sdnotify_parse_addr("/run/systemd/notify", &sa, &len));
    CHECK_EQ(sa.sun_family, AF_UNIX);
    CHECK_STREQ(sa.sun_path, "/run/systemd/notify");
    /* A path is counted with its terminating NUL. */
    CHECK_EQ(len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/systemd/notify") + 1);
}

static void test_abstract(void)
{
    memset(&sa, 'Z', sizeof sa);
    CHECK(sdnotify_parse_addr("@dp/notify", &sa, &len));
    CHECK_EQ(sa.sun_path[0], '\0');
    CHECK(memcmp(sa.sun_path + 1, "dp/notify", 9) == 0);
    /* An abstract name is counted by its length, without a NUL. */
    CHECK_EQ(len, offsetof(struct sockaddr_un, sun_path) + 10);
}

static void test_refused(void)
{
    const char *bad[] = { "", "/", "@", "run/notify", "vsock:2:1234", "./x" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (!CHECK(!sdnotify_parse_addr(bad[i], &sa, &len)))
            fprintf(stderr, "  accepted '%s'\n", bad[i]);
    CHECK(!sdnotify_parse_addr(NULL, &sa, &len));
}

static void test_lengths(void)
{
    char s[sizeof sa.sun_path + 2];
    size_t max = sizeof sa.sun_path;
    /* A path fills sun_path with its NUL; an abstract name without one. */
    memset(s, 'a', sizeof s);
    s[0] = '/';
    s[max - 1] = '\0';
    CHECK(sdnotify_parse_addr(s, &sa, &len));
    CHECK_EQ(len, sizeof sa);
    s[max - 1] = 'a';
    s[max] = '\0';
    CHECK(!sdnotify_parse_addr(s, &sa, &len));
    s[0] = '@';
    CHECK(sdnotify_parse_addr(s, &sa, &len));
    CHECK_EQ(len, sizeof sa);
    s[max] = 'a';
    s[max + 1] = '\0';
    CHECK(!sdnotify_parse_addr(s, &sa, &len));
}

static void test_init(void)
{
    sdnotify_init(NULL);
    CHECK(!sdnotify_enabled());
    sdnotify_init("");
    CHECK(!sdnotify_enabled());
    sdnotify_init("relative");
    CHECK(!sdnotify_enabled());
    sdnotify_init("@x");
    CHECK(sdnotify_enabled());
    sdnotify_init(NULL);
    CHECK(!sdnotify_enabled());
}

UNIT_MAIN(test_path, test_abstract, test_refused, test_lengths, test_init)
