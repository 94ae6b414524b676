/* show.c - the status table, JSON and watch lines (see show.h). */
#include "show.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The table is built without printf: its cells are formatted twice per
 * service (widths, then rows), 20,000 times for 10,000 services, where
 * musl's printf_core took a third of dpctl status.  A cell holds at most
 * CELL - 1 bytes, cut like snprintf would. */
enum { CELL = 80 };

static size_t put(char *c, size_t at, const char *s)
{
    while (*s && at + 1 < CELL)
        c[at++] = *s++;
    c[at] = '\0';
    return at;
}

/* v >= 0, at least width digits. */
static size_t put_num(char *c, size_t at, long long v, int width)
{
    char d[24];
    int k = 0;
    do
        d[k++] = (char)('0' + v % 10);
    while ((v /= 10) > 0 || k < width);
    while (k > 0 && at + 1 < CELL)
        c[at++] = d[--k];
    c[at] = '\0';
    return at;
}

/* "5s", "2m05s", "1h02m", "3d04h"; "-" for negative. */
static size_t put_duration(char *c, size_t at, long long s)
{
    static const struct { long long unit, sub; char u, su; } steps[] = {
        { 86400, 3600, 'd', 'h' }, { 3600, 60, 'h', 'm' }, { 60, 1, 'm', 's' },
    };
    if (s < 0)
        return put(c, at, "-");
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (s >= steps[i].unit) {
            at = put_num(c, at, s / steps[i].unit, 1);
            at = put(c, at, (char[]){ steps[i].u, '\0' });
            at = put_num(c, at, s % steps[i].unit / steps[i].sub, 2);
            return put(c, at, (char[]){ steps[i].su, '\0' });
        }
    at = put_num(c, at, s, 1);
    return put(c, at, "s");
}

/* --- the table ------------------------------------------------------------ */

size_t show_duration(char *cell, long long s)
{
    return put_duration(cell, 0, s);
}

/* EXITS came last, after the original's columns: a script that counts
 * fields of a row finds them where they were. */
enum { COL_NAME, COL_STATE, COL_PID, COL_SINCE, COL_LAST, COL_READY, COL_AUTO, COL_EXITS,
       NCOL };
static const char *const heads[NCOL] = { "NAME", "STATE", "PID", "SINCE", "LAST", "READY",
                                         "AUTO-UP", "EXITS" };
_Static_assert(CELL == SHOW_CELL, "show.h's cell");

/* "always,SIGHUP/5s" from "5\talways\tSIGHUP". */
static size_t auto_up_text(char *c, const char *a)
{
    if (!a)
        return put(c, 0, "-");
    const char *tab = strchr(a, '\t');
    if (!tab)
        return put(c, put(c, 0, a), "s");
    size_t at = 0;
    for (const char *p = tab + 1; *p && at + 1 < CELL; p++)
        c[at++] = *p == '\t' ? ',' : *p;
    c[at] = '\0';
    at = put(c, at, "/");
    for (const char *p = a; p < tab && at + 1 < CELL; p++)
        c[at++] = *p;
    c[at] = '\0';
    return put(c, at, "s");
}

static void cells(const struct svc *s, long long now_s, char c[NCOL][CELL], size_t len[NCOL])
{
    bool up = strcmp(s->state, "up") == 0, start = strcmp(s->state, "start") == 0;
    len[COL_NAME] = put(c[COL_NAME], 0, s->name);
    len[COL_STATE] = put(c[COL_STATE], 0, svc_shown_state(s));
    len[COL_PID] = s->pid >= 0 && up ? put_num(c[COL_PID], 0, s->pid, 1)
                                     : put(c[COL_PID], 0, "-");
    if (start && s->ts >= 0)
        len[COL_SINCE] = put_duration(c[COL_SINCE], put(c[COL_SINCE], 0, "in "),
                                      s->ts > now_s ? s->ts - now_s : 0);
    else
        len[COL_SINCE] = put_duration(c[COL_SINCE], 0, s->ts >= 0 && !start ? now_s - s->ts
                                                                            : -1);
    if (s->reason[0])
        len[COL_LAST] = put(c[COL_LAST], put(c[COL_LAST], put(c[COL_LAST], 0, s->reason), " "),
                            s->value);
    else
        len[COL_LAST] = put(c[COL_LAST], 0, "-");
    /* "5 in 2m05s": exits since counting began, and how long ago that was;
     * none since (a start asked for resets the count): "-", as never. */
    if (s->exits_since >= 0 && s->exits > 0)
        len[COL_EXITS] = put_duration(c[COL_EXITS],
                                      put(c[COL_EXITS], put_num(c[COL_EXITS], 0, s->exits, 1),
                                          " in "),
                                      now_s >= s->exits_since ? now_s - s->exits_since : 0);
    else
        len[COL_EXITS] = put(c[COL_EXITS], 0, "-");
    len[COL_READY] = put(c[COL_READY], 0, !up || !svc_has_channel(s) ? "-"
                                          : svc_ready(s) ? "yes" : "no");
    len[COL_AUTO] = auto_up_text(c[COL_AUTO], s->auto_up);
}

/* A stop that was asked for is no alarm: no colour. */
static const char *state_color(const char *state)
{
    if (strcmp(state, "up") == 0)
        return "\033[32m";
    if (strcmp(state, "start") == 0)
        return "\033[33m";
    if (strcmp(state, "stopped") == 0)
        return NULL;
    return "\033[31m";
}

/* One line of the table: cells padded to the widths w, two spaces apart. */
static void put_row(FILE *out, char c[NCOL][CELL], const size_t len[NCOL], const size_t w[NCOL],
                    bool color)
{
    char line[NCOL * (2 * CELL + 16)];
    size_t at = 0;
    for (int k = 0; k < NCOL; k++) {
        const char *paint = color && k == COL_STATE ? state_color(c[k]) : NULL;
        if (paint)
            at = (size_t)(stpcpy(line + at, paint) - line);
        memcpy(line + at, c[k], len[k]);
        at += len[k];
        if (k + 1 < NCOL) {
            memset(line + at, ' ', w[k] - len[k]);
            at += w[k] - len[k];
        }
        if (paint)
            at = (size_t)(stpcpy(line + at, "\033[0m") - line);
        if (k + 1 < NCOL) {
            memcpy(line + at, "  ", 2);
            at += 2;
        }
    }
    line[at++] = '\n';
    fwrite(line, 1, at, out);
}

/* Two passes that format each row twice: cheaper than holding every cell
 * of 10,000 rows, whose pages cost more than the formatting. */
void show_table(FILE *out, struct svc **v, size_t n, long long now_s, bool color)
{
    size_t w[NCOL], len[NCOL];
    char c[NCOL][CELL];
    for (int k = 0; k < NCOL; k++)
        len[k] = w[k] = put(c[k], 0, heads[k]);
    for (size_t i = 0; i < n; i++) {
        cells(v[i], now_s, c, len);
        for (int k = 0; k < NCOL; k++)
            if (len[k] > w[k])
                w[k] = len[k];
    }
    for (int k = 0; k < NCOL; k++)
        len[k] = put(c[k], 0, heads[k]);
    put_row(out, c, len, w, false);
    for (size_t i = 0; i < n; i++) {
        cells(v[i], now_s, c, len);
        put_row(out, c, len, w, color);
    }
}

/* --- JSON ------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t k;
    uint32_t cp;
    if (p[0] < 0x80)
        return 1;
    else if ((p[0] & 0xe0) == 0xc0)
        k = 2, cp = p[0] & 0x1f;
    else if ((p[0] & 0xf0) == 0xe0)
        k = 3, cp = p[0] & 0x0f;
    else if ((p[0] & 0xf8) == 0xf0)
        k = 4, cp = p[0] & 0x07;
    else
        return 0;
    if (k > n)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    /* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
    static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < min[k] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return k;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD.  Runs of plain
 * ASCII, nearly everything, go out in one fwrite. */
static void json_str(FILE *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', out);
    for (size_t i = 0; i < n; ) {
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            fwrite(p + i, 1, run - i, out);
            i = run;
            continue;
        }
        unsigned char ch = p[i];
        size_t k = ch < 0x80 ? 1 : utf8_len(p + i, n - i);
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\u%04x", ch);
        else if (k == 0)
            fputs("\xef\xbf\xbd", out);
        else
            fwrite(p + i, 1, k, out);
        i += k ? k : 1;
    }
    fputc('"', out);
}

static void json_cstr(FILE *out, const char *s)
{
    if (s)
        json_str(out, s, strlen(s));
    else
        fputs("null", out);
}

static void json_num(FILE *out, long long v)
{
    char c[CELL];
    fputs(v < 0 ? "null" : (put_num(c, 0, v, 1), c), out);
}

/* A TAB-separated list as a JSON array of strings; from skips words. */
static void json_list(FILE *out, const char *list, int from)
{
    fputc('[', out);
    int i = 0, shown = 0;
    for (const char *p = list; p && *p; i++) {
        const char *e = strchr(p, '\t');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (i >= from) {
            if (shown++)
                fputc(',', out);
            json_str(out, p, n);
        }
        p = e ? e + 1 : NULL;
    }
    fputc(']', out);
}

/* ,"key": */
static void key(FILE *out, const char *k)
{
    fputs(",\"", out);
    fputs(k, out);
    fputs("\":", out);
}

static void key_str(FILE *out, const char *k, const char *val)
{
    key(out, k);
    json_cstr(out, val);
}

static void key_num(FILE *out, const char *k, long long val)
{
    key(out, k);
    json_num(out, val);
}

/* A number the daemon sent, or null ("-", junk). */
static void json_field_num(FILE *out, const char *f, size_t n)
{
    long long v = 0;
    size_t i = 0;
    for (; i < n && i < 13 && f[i] >= '0' && f[i] <= '9'; i++)
        v = v * 10 + (f[i] - '0');
    if (i == n && n > 0)
        json_num(out, v);
    else
        fputs("null", out);
}

/* service.want as {"want":W,"by":B,"ts":N,"why":[...]}, or null. */
static void json_want(FILE *out, const char *want)
{
    if (!want) {
        fputs("null", out);
        return;
    }
    static const char *const keys[] = { "want", "by", "ts" };
    const char *p = want;
    for (int i = 0; i < 3; i++) {
        const char *e = strchr(p, '\t');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        fputs(i ? ",\"" : "{\"", out);
        fputs(keys[i], out);
        fputs("\":", out);
        if (i == 2)
            json_field_num(out, p, n);
        else
            json_str(out, p, n);
        p = e ? e + 1 : p + n;
    }
    fputs(",\"why\":", out);
    json_list(out, p, 0);
    fputc('}', out);
}

/* service.exits as {"count":N,"ts":SINCE,"last":[{"ts","reason","value",
 * "uptime"}...]} (newest first), or null. */
static void json_exits(FILE *out, const char *exits)
{
    if (!exits) {
        fputs("null", out);
        return;
    }
    const char *p = exits;
    for (int i = 0; i < 2; i++) {
        const char *e = strchr(p, '\t');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        fputs(i ? ",\"ts\":" : "{\"count\":", out);
        json_field_num(out, p, n);
        p = e ? e + 1 : p + n;
    }
    fputs(",\"last\":[", out);
    for (int k = 0; *p; k++) {
        const char *e = strchr(p, '\t');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        static const char *const keys[] = { "ts", "reason", "value", "uptime" };
        fputs(k ? ",{" : "{", out);
        const char *q = p;
        for (int i = 0; i < 4; i++) {
            const char *c = memchr(q, ',', (size_t)(p + n - q));
            size_t m = i < 3 && c ? (size_t)(c - q) : (size_t)(p + n - q);
            fputs(i ? ",\"" : "\"", out);
            fputs(keys[i], out);
            fputs("\":", out);
            if (i == 0 || i == 3)
                json_field_num(out, q, m);
            else
                json_str(out, q, m);
            q = q + m < p + n ? q + m + 1 : p + n;
        }
        fputc('}', out);
        p = e ? e + 1 : p + n;
    }
    fputs("]}", out);
}

/* wall_ms: the wall clock now, in milliseconds. */
static void json_one(FILE *out, const struct svc *s, long long now_s, long long wall_ms)
{
    /* A model kept without lists (never dpctl's for --json) shows none. */
    static const struct svc_json none = { .uptime = -1, .downtime = -1, .mainpid = -1 };
    const struct svc_json *j = s->json ? s->json : &none;
    bool up = strcmp(s->state, "up") == 0, exited = s->reason[0] != '\0';
    fputs("{\"name\":", out);
    json_cstr(out, s->name);
    key_str(out, "state", s->state);
    key_num(out, "pid", up ? s->pid : -1);
    key_num(out, "ts", s->ts);
    fputs(",\"since\":", out);
    long long since_ms = wall_ms - (now_s - s->ts) * 1000;
    if (s->ts >= 0) {
        char c[CELL];
        size_t at = put(c, 0, since_ms < 0 ? "-" : "");
        since_ms = since_ms < 0 ? -since_ms : since_ms;
        put_num(c, put(c, put_num(c, at, since_ms / 1000, 1), "."), since_ms % 1000, 3);
        fputs(c, out);
    } else {
        fputs("null", out);
    }
    key_num(out, "uptime", j->uptime);
    key_num(out, "downtime", j->downtime);
    key_str(out, "reason", exited ? s->reason : NULL);
    key_str(out, "value", exited ? s->value : NULL);
    key(out, "ready");
    fputs(!up || !svc_has_channel(s) ? "null" : svc_ready(s) ? "true" : "false", out);
    key_str(out, "status", j->status);
    key_num(out, "mainpid", j->mainpid);
    fputs(",\"auto_up\":", out);
    if (s->auto_up) {
        long long interval = atoll(s->auto_up);
        fputs("{\"interval\":", out);
        if (interval < 0)
            fprintf(out, "%lld", interval);     /* not from daemonproxy */
        else
            json_num(out, interval);
        fputs(",\"triggers\":", out);
        json_list(out, s->auto_up, 1);
        fputc('}', out);
    } else {
        fputs("null", out);
    }
    const char *names[] = { "args", "fds", "tags", "env", "opts" };
    const char *lists[] = { j->args, j->fds, j->tags, j->env, j->opts };
    for (int k = 0; k < 5; k++) {
        key(out, names[k]);
        json_list(out, lists[k], 0);
    }
    key(out, "want");
    json_want(out, j->want);
    key(out, "exits");
    json_exits(out, j->exits);
    fputc('}', out);
}

void show_json(FILE *out, struct svc **v, size_t n, long long now_s)
{
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    long long wall_ms = (long long)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ",\n " : "\n ", out);
        json_one(out, v[i], now_s, wall_ms);
    }
    fputs(n ? "\n]\n" : "]\n", out);
}

/* --- watch ------------------------------------------------------------------ */

/* Field i, or "-" past the end. */
#define F(i) ((i) < n ? f[i] : "-")

static void wall_clock(char *buf, size_t len, long long ts_s, long long now_ms)
{
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    time_t t = rt.tv_sec;
    if (ts_s >= 0)
        t -= (time_t)(now_ms / 1000 - ts_s);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* An event's TS, or -1 unless it is a plausible monotonic second. */
static long long ts_of(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    return *s && !*end && v >= 0 && v <= (1LL << 40) ? v : -1;
}

/* The words for one event; returns the index of its TS field, or 0. */
static int describe(FILE *o, char **f, int n)
{
    const char *k = f[0];
    if (strcmp(k, "service.state") == 0 && n >= 3) {
        const char *st = F(2);
        if (strcmp(st, "up") == 0) {
            fprintf(o, "%s: up, pid %s", F(1), F(4));
        } else if (strcmp(st, "start") == 0) {
            fprintf(o, "%s: start pending", F(1));
        } else if (strcmp(st, "down") == 0 && strcmp(F(5), "-") != 0) {
            fprintf(o, "%s: down (%s %s) after %ss, pid %s", F(1), F(5), F(6), F(7), F(4));
        } else {
            fprintf(o, "%s: %s", F(1), st);
            return 0;
        }
        return 3;
    }
    if (strcmp(k, "service.notify") == 0 && n >= 4) {
        fprintf(o, "%s: notify from pid %s:", F(1), F(3));
        for (int i = 4; i < n; i++)
            fprintf(o, " %s", f[i]);
        return 2;
    }
    if (strcmp(k, "service.want") == 0 && n >= 5) {
        /* service.want NAME WANT BY TS WHY */
        if (strcmp(F(2), "-") == 0)
            fprintf(o, "%s: want cleared by %s", F(1), F(3));
        else
            fprintf(o, "%s: wanted %s by %s", F(1), F(2), F(3));
        /* WHY may be several fields (a reason's TABs): shown as spaces */
        if (n > 6 || (n == 6 && f[5][0]))
            for (int i = 5; i < n; i++)
                fprintf(o, "%s%s%s", i == 5 ? " (" : " ", f[i], i == n - 1 ? ")" : "");
        return 4;
    }
    if (strcmp(k, "service.cgroup") == 0 && n >= 4) {
        fprintf(o, "%s: cgroup %s", F(1), F(3));
        return 2;
    }
    if (strcmp(k, "orphan") == 0 && n >= 5) {
        fprintf(o, "orphan pid %s reaped (%s %s)", F(2), F(3), F(4));
        if (strcmp(F(5), "-") != 0)
            fprintf(o, ", announced by %s", F(5));
        return 1;
    }
    if (strcmp(k, "signal") == 0 && n >= 4) {
        fprintf(o, "signal %s (pending %s)", F(1), F(3));
        return 2;
    }
    if (strcmp(k, "fd.state") == 0 && n >= 3) {
        fprintf(o, "handle %s:", F(1));
        for (int i = 2; i < n; i++)
            fprintf(o, " %s", f[i]);
        return 0;
    }
    if (strncmp(k, "service.", 8) == 0 && n >= 2) {
        fprintf(o, "%s: %s", F(1), k + 8);
        for (int i = 2; i < n; i++)
            fprintf(o, " %s", f[i]);
        return 0;
    }
    if (strcmp(k, "reexec") == 0 && n >= 3) {
        fprintf(o, "daemonproxy re-executed: %s (version %s)", F(2), F(1));
        return 0;
    }
    if (strcmp(k, "overflow") == 0) {
        fputs("events were lost (overflow): run 'dpctl status' for the current state", o);
        return 0;
    }
    fputs(k, o);
    if (strcmp(k, "error") == 0 || strcmp(k, "warning") == 0)
        fputc(':', o);
    for (int i = 1; i < n; i++)
        fprintf(o, " %s", f[i]);
    return 0;
}

void show_event(FILE *out, char *line, long long now_ms)
{
    char *f[64];
    int n = split_tabs(line, f, 64);
    char text[8192];
    FILE *o = fmemopen(text, sizeof text, "w");
    if (!o)
        return;
    int tsi = describe(o, f, n);
    fclose(o);
    char when[32];
    wall_clock(when, sizeof when, tsi ? ts_of(F(tsi)) : -1, now_ms);
    fprintf(out, "%s  %s\n", when, text);
}
