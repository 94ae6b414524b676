/* test_signals.c - the one table of signals (signals.h): names both ways,
 * the control and fatal lists and their order. */
#include "signals.h"
#include "unit.h"

#include <signal.h>

static void test_names(void)
{
    /* Every name parses back to its number, with or without SIG, any case. */
    for (int s = 1; s < 32; s++) {
        const char *n = sig_name(s);
        CHECK(strncmp(n, "SIG", 3) == 0);
        if (!CHECK_EQ(sig_parse(n), s))
            fprintf(stderr, "  signal %d named %s\n", s, n);
    }
    CHECK_EQ(sig_parse("TERM"), SIGTERM);
    CHECK_EQ(sig_parse("sigusr2"), SIGUSR2);
    CHECK_EQ(sig_parse("9"), SIGKILL);
    CHECK_EQ(sig_parse("SIGNOPE"), 0);
    CHECK_EQ(sig_parse(""), 0);
    CHECK_EQ(sig_parse("0"), 0);
    CHECK_STREQ(sig_name(SIGRTMIN + 3), "SIGRTMIN+3");
}

static void test_control(void)
{
    static const int want[] = { SIGINT, SIGHUP, SIGTERM, SIGUSR1, SIGUSR2, SIGQUIT };
    for (int i = 0; i < SIG_NCONTROL; i++) {
        CHECK_EQ(sig_control_nth(i), want[i]);
        CHECK_EQ(sig_control_index(want[i]), i);
    }
    CHECK_EQ(sig_control_nth(SIG_NCONTROL), 0);
    CHECK_EQ(sig_control_nth(-1), 0);
    CHECK_EQ(sig_control_index(SIGKILL), -1);
    CHECK_EQ(sig_control_index(SIGSEGV), -1);
    CHECK_EQ(sig_control_index(0), -1);
    CHECK_STREQ(sig_control_list(), "SIGINT, SIGHUP, SIGTERM, SIGUSR1, SIGUSR2 or SIGQUIT");
    CHECK_EQ(sig_count(SIGKILL), 0);
    CHECK(!sig_clear(SIGKILL, 1));
}

static void test_fatal(void)
{
    static const int want[] = { SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGTRAP };
    for (int i = 0; i < SIG_NFATAL; i++)
        CHECK_EQ(sig_fatal_nth(i), want[i]);
    CHECK_EQ(sig_fatal_nth(SIG_NFATAL), 0);
    CHECK_EQ(sig_fatal_nth(-1), 0);
}

UNIT_MAIN(test_names, test_control, test_fatal)
