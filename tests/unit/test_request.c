/* test_request.c - the request table (request.h) in-process: verbs, the
 * routing of a request and its replies between two controllers, the
 * limits, and a server or asker that goes away.  Nothing stays pending. */
#include "controller.h"
#include "loop.h"
#include "request.h"
#include "unit.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_verbs(void)
{
    const char *good[] = { "reload", "shutdown", "a", "0", "x.y-z_9",
                           "abcdefghijklmnopqrstuvwxyz012345" };
    const char *bad[] = { "", "Reload", "a b", "a\tb", "a/b", "\xc3\xa9",
                          "abcdefghijklmnopqrstuvwxyz0123456" };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK(req_verb_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(!req_verb_valid(bad[i]));
}

/* A controller on one end of a socketpair; *peer gets the other end. */
static struct ctl *client(int *peer)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        return NULL;
    *peer = sv[1];
    return ctl_new(CTL_CLIENT, sv[0], sv[0]);
}

/* What the daemon wrote to peer so far. */
static const char *got(int peer)
{
    static char buf[8192];
    for (int i = 0; i < 4; i++)
        loop_poll(0);
    ssize_t n = read(peer, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void test_routing(void)
{
    int sp, ap;
    struct ctl *srv = client(&sp), *ask = client(&ap);
    if (!CHECK(srv && ask))
        return;
    char err[128];
    const char *e;
    char *verbs[] = { (char *)"reload", (char *)"BAD" };
    CHECK(!req_serve(srv, 2, verbs, &e));
    CHECK(!req_ask(ask, "uid=0", "reload", 0, NULL, err, sizeof err));
    CHECK_STREQ(err, "no controller serves 'reload'");
    CHECK(req_serve(srv, 1, verbs, &e));
    CHECK(req_serves(srv) && !req_serves(ask));
    char *args[] = { (char *)"now" };
    CHECK(req_ask(ask, "uid=0", "reload", 1, args, err, sizeof err));
    CHECK_STREQ(got(sp), "ctl.request\t1\tuid=0\treload\tnow\n");
    char *text[] = { (char *)"half", (char *)"way" };
    CHECK(!req_answer(ask, "1", "ok", 0, NULL, &e));     /* not the server */
    CHECK(!req_answer(srv, "1", "done", 0, NULL, &e));
    CHECK(!req_answer(srv, "01", "ok", 0, NULL, &e));
    CHECK(req_answer(srv, "1", "info", 2, text, &e));
    CHECK(req_answer(srv, "1", "ok", 0, NULL, &e));
    CHECK(!req_answer(srv, "1", "ok", 0, NULL, &e));
    /* The asker's reply is a command's: written with what its task writes
     * next (here, the forwarded replies). */
    CHECK_STREQ(got(ap), "ctl.request\t1\treload\nctl.reply\t1\tinfo\thalf\tway\n"
                         "ctl.reply\t1\tok\n");
    CHECK_EQ(req_pending(), 0);

    /* limits: 16 for one asker */
    for (int i = 0; i < REQ_PER_ASKER; i++)
        CHECK(req_ask(ask, "uid=0", "reload", 0, NULL, err, sizeof err));
    CHECK(!req_ask(ask, "uid=0", "reload", 0, NULL, err, sizeof err));
    CHECK_STREQ(err, "too many pending requests");
    got(sp);
    got(ap);
    /* the server goes: every asker hears it, nothing stays */
    ctl_close(srv);
    const char *gone = got(ap);
    CHECK(strstr(gone, "ctl.request\t17\treload\n") != NULL);
    CHECK(strstr(gone, "ctl.reply\t2\terror\tcontroller gone\n") != NULL);
    CHECK(strstr(gone, "ctl.reply\t17\terror\tcontroller gone\n") != NULL);
    CHECK_EQ(req_pending(), 0);
    CHECK(!req_ask(ask, "uid=0", "reload", 0, NULL, err, sizeof err));

    /* an asker that goes leaves its request to be answered into nothing */
    srv = client(&sp);
    CHECK(req_serve(srv, 1, verbs, &e));
    CHECK(req_ask(ask, "uid=0", "reload", 0, NULL, err, sizeof err));
    ctl_close(ask);
    CHECK_EQ(req_pending(), 1);
    CHECK(req_answer(srv, "18", "ok", 0, NULL, &e));
    CHECK_EQ(req_pending(), 0);
    ctl_close(srv);
    loop_poll(0);
    close(sp);
    close(ap);
}

static void setup(void)
{
    if (loop_init() < 0)
        abort();
    ctl_set_gone_listener(req_ctl_gone);
    test_verbs();
    test_routing();
}

UNIT_MAIN(setup)
