/* logtext.c - a record's timestamp, --since, escaping (see logtext.h). */
#include "logtext.h"

#include <string.h>
#include <time.h>

/* TAI64 labels count from 2^62, and 10 seconds ahead of Unix time (the
 * daemontools convention, which tai64nlocal reads). */
#define TAI64_UNIX 0x400000000000000aULL

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian):
 * H. Hinnant's days_from_civil. */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static bool leap(long long y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static unsigned month_days(long long y, unsigned m)
{
    static const unsigned char days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* n decimal digits at p into *v; false if one is not a digit. */
static bool digits(const char *p, size_t n, unsigned *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        *v = *v * 10 + (unsigned)(p[i] - '0');
    }
    return true;
}

/* The calendar part shared by records and --since. */
struct civil {
    unsigned year, mon, day, hour, min, sec;
    long nsec;
};

/* "YYYY-MM-DD" at p (10 bytes). */
static bool parse_date(const char *p, struct civil *c)
{
    return digits(p, 4, &c->year) && p[4] == '-' && digits(p + 5, 2, &c->mon) &&
           p[7] == '-' && digits(p + 8, 2, &c->day) && c->mon >= 1 && c->mon <= 12 &&
           c->day >= 1 && c->day <= month_days(c->year, c->mon);
}

/* "HH:MM" at p (5 bytes). */
static bool parse_hm(const char *p, struct civil *c)
{
    return digits(p, 2, &c->hour) && p[2] == ':' && digits(p + 3, 2, &c->min) &&
           c->hour <= 23 && c->min <= 59;
}

/* ":SS" at p (3 bytes); 60 for a leap second. */
static bool parse_sec(const char *p, struct civil *c)
{
    return p[0] == ':' && digits(p + 1, 2, &c->sec) && c->sec <= 60;
}

static long long civil_utc(const struct civil *c)
{
    return days_from_civil(c->year, c->mon, c->day) * 86400 +
           (long long)c->hour * 3600 + c->min * 60 + c->sec;
}

size_t logtext_stamp(const char *p, size_t n, struct logtime *t, bool *cont)
{
    size_t len;
    if (n >= 26 && p[0] == '@') {
        unsigned long long label = 0;
        unsigned long frac = 0;
        static const char hex[16] = "0123456789abcdef";     /* lower case only */
        for (int i = 1; i <= 24; i++) {
            const char *q = memchr(hex, p[i], sizeof hex);
            if (!q)
                return 0;
            unsigned h = (unsigned)(q - hex);
            if (i <= 16)
                label = label << 4 | h;
            else
                frac = frac << 4 | h;
        }
        if (label < TAI64_UNIX - 10 || label >= TAI64_UNIX + (1ULL << 40) || frac > 999999999)
            return 0;
        t->sec = (long long)(label - TAI64_UNIX);
        t->nsec = (long)frac;
        len = 25;
    } else if (n >= 28) {
        struct civil c;
        unsigned us;
        if (!parse_date(p, &c) || p[10] != 'T' || !parse_hm(p + 11, &c) ||
            !parse_sec(p + 16, &c) || p[19] != '.' || !digits(p + 20, 6, &us) || p[26] != 'Z')
            return 0;
        t->sec = civil_utc(&c);
        t->nsec = (long)us * 1000;
        len = 27;
    } else {
        return 0;
    }
    if (p[len] != ' ' && p[len] != '+')
        return 0;
    *cont = p[len] == '+';
    return len + 1;
}

/* "30s", "10m", "2h", "1d", or several: "1h30m". */
static bool parse_duration(const char *s, long long *secs)
{
    *secs = 0;
    if (!*s)
        return false;
    while (*s) {
        long long v = 0;
        const char *start = s;
        for (; *s >= '0' && *s <= '9'; s++) {
            v = v * 10 + (*s - '0');
            if (v > 100LL * 365 * 86400)
                return false;
        }
        long long unit = *s == 's' ? 1 : *s == 'm' ? 60 : *s == 'h' ? 3600 : *s == 'd' ? 86400
                                                                                         : 0;
        if (s == start || !unit)
            return false;
        *secs += v * unit;
        if (*secs > 100LL * 365 * 86400)
            return false;
        s++;
    }
    return true;
}

bool logtext_since(const char *s, long long now, struct logtime *t)
{
    long long secs;
    if (parse_duration(s, &secs)) {
        t->sec = now - secs;
        t->nsec = 0;
        return true;
    }
    struct civil c = { 0 };
    size_t n = strlen(s);
    if (n < 10 || !parse_date(s, &c))
        return false;
    const char *p = s + 10;
    if (*p && (*p == 'T' || *p == 't' || *p == ' ')) {
        if (!parse_hm(p + 1, &c))
            return false;
        p += 6;
        if (*p == ':') {
            if (!parse_sec(p, &c))
                return false;
            p += 3;
            if (*p == '.' || *p == ',') {
                long scale = 100000000;
                if (p[1] < '0' || p[1] > '9')
                    return false;
                for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                    c.nsec += (*p - '0') * scale;
            }
        }
    }
    t->nsec = c.nsec;
    if (!*p) {      /* no offset: local time */
        struct tm tm = { .tm_year = (int)c.year - 1900, .tm_mon = (int)c.mon - 1,
                         .tm_mday = (int)c.day, .tm_hour = (int)c.hour, .tm_min = (int)c.min,
                         .tm_sec = (int)c.sec, .tm_isdst = -1 };
        /* -1 is also 1969-12-31T23:59:59 UTC; the years here fit a 64-bit
         * time_t, so mktime() fails only on a 32-bit one. */
        time_t when = mktime(&tm);
        if (when == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mday == 31))
            return false;
        t->sec = (long long)when;
        return true;
    }
    if (p == s + 10)
        return false;       /* a date with an offset but no time */
    long long off = 0;
    if ((*p == 'Z' || *p == 'z') && !p[1]) {
        off = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        unsigned h, m;
        if (!digits(p + 1, 2, &h) || !digits(p + 4, 2, &m) || h > 23 || m > 59)
            return false;
        off = (*p == '-' ? -1 : 1) * (long long)(h * 3600 + m * 60);
    } else {
        return false;
    }
    t->sec = civil_utc(&c) - off;
    return true;
}

int logtext_cmp(const struct logtime *a, const struct logtime *b)
{
    if (a->sec != b->sec)
        return a->sec < b->sec ? -1 : 1;
    return a->nsec < b->nsec ? -1 : a->nsec > b->nsec;
}

size_t logtext_escape(const char *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
        } else if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}
