/* detail.c - `dpctl status NAME`: one service in full, for people (see
 * show.h).  One service, so plain stdio: the table's care for speed
 * (show.c) is not needed here. */
#include "show.h"

#include <stdlib.h>
#include <string.h>

/* Labels are padded to this width. */
enum { LABEL = 10 };

static void label(FILE *out, const char *name)
{
    fprintf(out, "  %-*s", LABEL, name);
}

/* n bytes of p as a monotonic second, or -1. */
static long long num(const char *p, size_t n)
{
    long long v = 0;
    if (n == 0 || n > 13)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* "2m05s ago" for a monotonic second ts, "-" when unknown. */
static void put_ago(FILE *out, long long ts, long long now_s)
{
    char c[SHOW_CELL];
    if (ts < 0) {
        fputc('-', out);
        return;
    }
    show_duration(c, now_s >= ts ? now_s - ts : 0);
    fprintf(out, "%s ago", c);
}

/* A word as a shell would need it: as is when it is plain, else in single
 * quotes. */
static void put_word(FILE *out, const char *p, size_t n)
{
    bool plain = n > 0;
    for (size_t i = 0; i < n && plain; i++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                       "_./=:,@%+-", p[i]) != NULL && p[i] != '\0';
    if (plain) {
        fwrite(p, 1, n, out);
        return;
    }
    fputc('\'', out);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\'')
            fputs("'\\''", out);
        else
            fputc(p[i], out);
    }
    fputc('\'', out);
}

/* A TAB-separated list as a line of words, quoted and space-separated;
 * "-" when empty or NULL. */
static void put_list(FILE *out, const char *list)
{
    if (!list || !*list)
        fputc('-', out);
    for (const char *p = list && *list ? list : NULL; p; ) {     /* '' for an empty word */
        const char *e = strchr(p, '\t');
        put_word(out, p, e ? (size_t)(e - p) : strlen(p));
        if (e)
            fputc(' ', out);
        p = e ? e + 1 : NULL;
    }
    fputc('\n', out);
}

static void state_line(FILE *out, const struct svc *s, long long now_s)
{
    char c[SHOW_CELL];
    bool start = strcmp(s->state, "start") == 0;
    label(out, "state:");
    fputs(svc_shown_state(s), out);
    if (start && s->ts >= 0) {
        show_duration(c, s->ts > now_s ? s->ts - now_s : 0);
        fprintf(out, " in %s", c);
    } else if (s->ts >= 0) {
        show_duration(c, now_s >= s->ts ? now_s - s->ts : 0);
        fprintf(out, " for %s", c);
    }
    if (strcmp(s->state, "up") == 0 && s->pid >= 0)
        fprintf(out, ", pid %lld", s->pid);
    if (start && s->reason[0])
        fprintf(out, " (a restart: the last run ended with %s %s)", s->reason, s->value);
    fputc('\n', out);
}

/* want: "WANT\tBY\tTS\tWHY..." */
static void want_line(FILE *out, const char *want, long long now_s)
{
    label(out, "want:");
    if (!want) {
        fputs("-\n", out);
        return;
    }
    const char *f[3], *p = want;
    size_t n[3];
    for (int i = 0; i < 3; i++) {
        const char *e = strchr(p, '\t');
        f[i] = p;
        n[i] = e ? (size_t)(e - p) : strlen(p);
        p = e ? e + 1 : p + n[i];
    }
    fprintf(out, "%.*s, by %.*s, ", (int)n[0], f[0], (int)n[1], f[1]);
    put_ago(out, num(f[2], n[2]), now_s);
    if (*p) {
        fputs(": ", out);
        for (; *p; p++)
            fputc(*p == '\t' ? ' ' : *p, out);
    }
    fputc('\n', out);
}

/* exits: "COUNT\tSINCE\tTS,REASON,VALUE,UPTIME..." */
static void exits_lines(FILE *out, const struct svc *s, const char *exits, long long now_s)
{
    label(out, "exits:");
    if (!exits || s->exits_since < 0) {
        fputs("-\n", out);
        return;
    }
    char c[SHOW_CELL];
    show_duration(c, now_s >= s->exits_since ? now_s - s->exits_since : 0);
    fprintf(out, "%u in %s\n", s->exits, c);
    const char *p = strchr(exits, '\t');
    p = p ? strchr(p + 1, '\t') : NULL;
    while (p && *++p) {
        const char *e = strchr(p, '\t');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *part[4] = { p, "", "", "" };
        size_t len[4] = { n, 0, 0, 0 };
        for (int i = 1; i < 4; i++) {
            const char *comma = memchr(part[i - 1], ',', len[i - 1]);
            if (!comma)
                break;
            part[i] = comma + 1;
            len[i] = (size_t)(part[i - 1] + len[i - 1] - part[i]);
            len[i - 1] = (size_t)(comma - part[i - 1]);
        }
        fprintf(out, "  %-*s", LABEL, "");
        char ago[SHOW_CELL + 8], what[SHOW_CELL];
        long long ts = num(part[0], len[0]), up = num(part[3], len[3]);
        if (ts >= 0) {
            show_duration(c, now_s >= ts ? now_s - ts : 0);
            snprintf(ago, sizeof ago, "%s ago", c);
        } else {
            snprintf(ago, sizeof ago, "-");
        }
        snprintf(what, sizeof what, "%.*s %.*s", (int)len[1], part[1], (int)len[2], part[2]);
        show_duration(c, up);
        fprintf(out, "%-12s %-16s after %s\n", ago, what, c);
        p = e;
    }
}

void show_detail(FILE *out, const struct svc *s, long long now_s)
{
    static const struct svc_json none = { .uptime = -1, .downtime = -1, .mainpid = -1 };
    const struct svc_json *j = s->json ? s->json : &none;
    bool up = strcmp(s->state, "up") == 0;
    fprintf(out, "%s%s\n", s->name, s->controller ? " (a controller: its fds name control.*)"
                                                  : "");
    state_line(out, s, now_s);
    want_line(out, j->want, now_s);
    label(out, "args:");
    put_list(out, j->args);
    label(out, "ready:");
    if (!up)
        fputs("-\n", out);
    else if (!svc_has_channel(s))
        fputs("yes (no notification channel: up is ready)\n", out);
    else
        fprintf(out, "%s%s%s%s\n", svc_ready(s) ? "yes" : "no", s->notify[0] ? " (" : "",
                s->notify, s->notify[0] ? ")" : "");
    label(out, "status:");
    fprintf(out, "%s\n", j->status ? j->status : "-");
    if (j->mainpid >= 0) {
        label(out, "mainpid:");
        fprintf(out, "%lld\n", j->mainpid);
    }
    label(out, "tags:");
    put_list(out, j->tags);
    label(out, "fds:");
    put_list(out, j->fds);
    if (j->env && *j->env) {
        label(out, "env:");
        put_list(out, j->env);
    }
    if (j->opts && *j->opts) {
        label(out, "opts:");
        put_list(out, j->opts);
    }
    label(out, "auto-up:");
    if (s->auto_up) {
        /* "always,SIGHUP/5s" from "5\talways\tSIGHUP", as in the table */
        const char *tab = strchr(s->auto_up, '\t');
        size_t n = tab ? (size_t)(tab - s->auto_up) : strlen(s->auto_up);
        for (const char *p = tab ? tab + 1 : ""; *p; p++)
            fputc(*p == '\t' ? ',' : *p, out);
        fprintf(out, "%s%.*ss\n", tab ? "/" : "", (int)n, s->auto_up);
    } else {
        fputs("-\n", out);
    }
    if (s->cgroup >= 0) {
        label(out, "cgroup:");
        fputs(s->cgroup ? "populated\n" : "empty\n", out);
    }
    exits_lines(out, s, j->exits, now_s);
}
