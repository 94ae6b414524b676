/* request.c - dpctl reload and dpctl shutdown (see request.h). */
#include "request.h"
#include "conn.h"
#include "dpctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long dpctl waits beyond GRACE for the socket to
 * close (the daemon's own wait after SIGKILL, src/shutdown.h, and a
 * margin). */
#define AFTER_KILL_MS 10000

/* Outcomes of ask(): the request is on its way; nobody serves the verb;
 * its server is not reading (its output is full: it would never see it);
 * all pending requests are taken (by others: no room for this one). */
enum { ASKED, UNSERVED, UNREAD, NOROOM };

/* follow()'s outcome when the server went away with the request pending
 * (the daemon's `controller gone`): nobody will carry the request out. */
#define FOLLOW_GONE (-1)

bool request_code_valid(int argc, char **argv)
{
    if (argc == 0)
        return true;
    char *end;
    long v = strtol(argv[0], &end, 10);
    if (argv[0][0] < '0' || argv[0][0] > '9' || *end || v > 255) {
        fprintf(stderr, "dpctl: invalid exit code '%s' (0 to 255)\n", argv[0]);
        return false;
    }
    return true;
}

/* Print a reply's TEXT fields (from p, TAB-separated) as one line. */
static void print_text(FILE *to, const char *prefix, char *p)
{
    for (char *t = p; *t; t++)
        if (*t == '\t')
            *t = ' ';
    fprintf(to, "%s%s\n", prefix, p);
}

/* Send ctl.request for argv and read the daemon's reply: its ID into id.
 * Returns an exit code, with *how ASKED or UNSERVED on DPCTL_OK. */
static int ask(struct conn *c, int argc, char **argv, int64_t reply_ms, char *id, size_t idlen,
               int *how)
{
    int rc;
    const char *marker = conn_send_marked(c, argc, argv, &rc);
    if (rc)
        return rc;
    int64_t deadline = conn_now_ms() + reply_ms;
    id[0] = '\0';
    *how = UNSERVED;
    for (;;) {
        char *line;
        size_t len;
        int r = conn_read_line(c, deadline, &line, &len);
        if (r == DPCTL_TIMEOUT)
            conn_say_no_reply(c, (double)reply_ms / 1000);
        if (r)
            return r;
        if (strcmp(line, marker) == 0)
            break;
        if (strncmp(line, "ctl.request\t", 12) == 0 && !id[0]) {
            size_t n = strcspn(line + 12, "\t");
            if (n < idlen) {
                memcpy(id, line + 12, n);
                id[n] = '\0';
                *how = ASKED;
            }
        } else if (strncmp(line, "error\t", 6) == 0) {
            if (strstr(line, "no controller serves '"))
                continue;       /* UNSERVED */
            if (strstr(line, "' is not reading")) {
                *how = UNREAD;
                continue;
            }
            if (strstr(line, "\ttoo many pending requests")) {
                *how = NOROOM;
                continue;
            }
            char *cut = strstr(line, ", for command \"");
            if (cut)
                *cut = '\0';
            fprintf(stderr, "dpctl: %s\n", line + 6);
            return DPCTL_FAILED;
        }
    }
    return DPCTL_OK;
}

/* Follow the replies to request id until its final one or deadline:
 * info and ok lines' text to stdout, an error's to stderr.  Returns
 * DPCTL_OK (ok), DPCTL_FAILED (error), FOLLOW_GONE (the server went away,
 * reported only when gone_ok), DPCTL_TIMEOUT or another exit code. */
static int follow(struct conn *c, const char *verb, const char *id, int64_t deadline,
                  bool gone_ok)
{
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "ctl.reply\t%s\t", id);
    for (;;) {
        char *line;
        size_t len;
        int r = conn_read_line(c, deadline, &line, &len);
        if (r)
            return r;
        if (strncmp(line, prefix, (size_t)n) != 0)
            continue;           /* an event */
        char *status = line + n, *text = strchr(status, '\t');
        if (text)
            *text++ = '\0';
        else
            text = status + strlen(status);
        if (strcmp(status, "info") == 0) {
            if (*text)
                print_text(stdout, "", text);
            fflush(stdout);
        } else if (strcmp(status, "ok") == 0) {
            if (*text)
                print_text(stdout, "", text);
            return DPCTL_OK;
        } else {
            if (gone_ok && strcmp(status, "error") == 0 && strcmp(text, "controller gone") == 0)
                return FOLLOW_GONE;
            char p[64];
            snprintf(p, sizeof p, "dpctl: %s: ", verb);
            print_text(stderr, p, *text ? text : (char *)"failed");
            return DPCTL_FAILED;
        }
    }
}

int request_reload(struct conn *c, int64_t wait_ms, int64_t reply_ms)
{
    char *f[] = { (char *)"ctl.request", (char *)"reload" };
    char id[32];
    int how, rc = ask(c, 2, f, reply_ms, id, sizeof id, &how);
    if (rc)
        return rc;
    if (how == UNSERVED) {
        fprintf(stderr, "dpctl: no controller serves reload (the controller reads its "
                "configuration only at start, or there is none)\n");
        return DPCTL_NOSERVICE;
    }
    if (how == UNREAD) {
        fprintf(stderr, "dpctl: the controller serving reload is not reading its "
                "requests\n");
        return DPCTL_FAILED;
    }
    if (how == NOROOM) {
        fprintf(stderr, "dpctl: too many pending requests\n");
        return DPCTL_FAILED;
    }
    rc = follow(c, "reload", id, conn_now_ms() + wait_ms, false);
    if (rc == DPCTL_TIMEOUT)
        fprintf(stderr, "dpctl: the controller did not finish the reload within %gs "
                "(it may still)\n", (double)wait_ms / 1000);
    return rc;
}

/* Wait for the daemon to close the socket: it has exited. */
static int wait_gone(struct conn *c, int64_t deadline, const char *how)
{
    conn_expect_eof(c);
    for (;;) {
        char *line;
        size_t len;
        int r = conn_read_line(c, deadline, &line, &len);
        if (r == DPCTL_LOST && conn_eof_seen(c)) {
            printf("daemonproxy has shut down (%s)\n", how);
            return DPCTL_OK;
        }
        if (r)
            return r;       /* DPCTL_TIMEOUT: the caller says what it does */
        if (strncmp(line, "error\t", 6) == 0) {
            char *cut = strstr(line, ", for command \"");
            if (cut)
                *cut = '\0';
            fprintf(stderr, "dpctl: %s\n", line + 6);
            return DPCTL_FAILED;
        }
    }
}

/* The daemon's own shutdown: SIGTERM to every service, SIGKILL after
 * grace_s. */
static int native(struct conn *c, const char *code, int64_t grace_s, const char *why)
{
    char grace[24];
    snprintf(grace, sizeof grace, "%lld", (long long)grace_s);
    char *f[] = { (char *)"shutdown", (char *)code, grace };
    int rc = conn_send(c, 3, f);
    if (rc)
        return rc;
    char how[160];
    snprintf(how, sizeof how, "%s: SIGTERM to every service, SIGKILL after %llds", why,
             (long long)grace_s);
    rc = wait_gone(c, conn_now_ms() + grace_s * 1000 + AFTER_KILL_MS, how);
    if (rc == DPCTL_TIMEOUT)
        fprintf(stderr, "dpctl: daemonproxy is still running %llds after its shutdown's "
                "SIGKILL\n", (long long)(AFTER_KILL_MS / 1000));
    return rc;
}

int request_shutdown(struct conn *c, const char *code, bool force, int64_t wait_ms,
                     int64_t reply_ms)
{
    /* No CODE: the controller's own (dpcontroller's exit_code); the
     * daemon's shutdown, which has none, exits 0. */
    char *f[] = { (char *)"ctl.request", (char *)"shutdown", (char *)code };
    int argc = code ? 3 : 2;
    if (!code)
        code = "0";
    int64_t grace_s = wait_ms > 0 ? (wait_ms + 999) / 1000 : 0;
    if (force)
        return native(c, code, grace_s, "--force");
    char id[32];
    int how, rc = ask(c, argc, f, reply_ms, id, sizeof id, &how);
    if (rc)
        return rc;
    if (how == UNSERVED)
        return native(c, code, grace_s, "no controller serves shutdown");
    if (how == UNREAD)
        return native(c, code, grace_s, "the controller is not reading");
    if (how == NOROOM)
        return native(c, code, grace_s, "too many pending requests");
    int64_t deadline = conn_now_ms() + wait_ms;
    rc = follow(c, "shutdown", id, deadline, true);
    if (rc == DPCTL_TIMEOUT)
        return native(c, code, grace_s, "the controller did not answer in time");
    if (rc == FOLLOW_GONE)
        return native(c, code, grace_s, "the controller went away");
    if (rc == DPCTL_LOST && conn_eof_seen(c)) {
        printf("daemonproxy has shut down (by its controller)\n");
        return DPCTL_OK;
    }
    if (rc)
        return rc;
    /* The controller stops everything in its order, then terminates: it
     * has the same bound, and the daemon's own shutdown ends what is left. */
    rc = wait_gone(c, conn_now_ms() + wait_ms, "by its controller");
    if (rc == DPCTL_TIMEOUT)
        return native(c, code, grace_s, "the controller's shutdown did not end in time");
    return rc;
}
