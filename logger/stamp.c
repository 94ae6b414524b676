/* stamp.c - RFC 3339 and TAI64N time stamps (stamp.h). */
#include "stamp.h"

#include <string.h>

#define TAI64_BASE 0x400000000000000aull   /* 2^62 + 10: TAI-UTC in 1970 */

static const char hexdig[] = "0123456789abcdef";

/* n as exactly w decimal digits, most significant first. */
static void put_dec(char *out, unsigned n, int w)
{
    while (w-- > 0) {
        out[w] = (char)('0' + n % 10);
        n /= 10;
    }
}

static void put_hex(char *out, uint64_t n, int w)
{
    while (w-- > 0) {
        out[w] = hexdig[n & 15];
        n >>= 4;
    }
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian; H. Hinnant's
 * civil_from_days): no gmtime_r, so no time zone file is ever read. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* A civil date to days since 1970-01-01 (days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void stamp_rfc3339(char *out, const struct timespec *ts)
{
    int64_t s = ts->tv_sec;
    const int64_t lo = -62167219200LL, hi = 253402300799LL;   /* 0000-01-01 .. 9999-12-31 */
    if (s < lo)
        s = lo;
    if (s > hi)
        s = hi;
    int64_t days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
    unsigned sod = (unsigned)(s - days * 86400);
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    unsigned long ns = (unsigned long)ts->tv_nsec;
    put_dec(out, (unsigned)y, 4);
    out[4] = '-';
    put_dec(out + 5, m, 2);
    out[7] = '-';
    put_dec(out + 8, d, 2);
    out[10] = 'T';
    put_dec(out + 11, sod / 3600, 2);
    out[13] = ':';
    put_dec(out + 14, sod / 60 % 60, 2);
    out[16] = ':';
    put_dec(out + 17, sod % 60, 2);
    out[19] = '.';
    put_dec(out + 20, (unsigned)(ns < 1000000000ul ? ns / 1000 : 999999), 6);
    out[26] = 'Z';
}

void stamp_tai64n(char *out, const struct timespec *ts)
{
    out[0] = '@';
    put_hex(out + 1, TAI64_BASE + (uint64_t)ts->tv_sec, 16);
    put_hex(out + 17, (uint64_t)ts->tv_nsec, 8);
}

static bool get_hex(const char *p, int w, uint64_t *out)
{
    uint64_t n = 0;
    for (int i = 0; i < w; i++) {
        const char *c = memchr(hexdig, p[i], 16);
        if (!c || !p[i])
            return false;
        n = n << 4 | (uint64_t)(c - hexdig);
    }
    *out = n;
    return true;
}

bool stamp_tai64n_parse(const char *p, struct timespec *ts)
{
    uint64_t s, ns;
    if (!get_hex(p, 16, &s) || !get_hex(p + 16, 8, &ns) || ns >= 1000000000u
        || s < TAI64_BASE || s - TAI64_BASE > (uint64_t)INT64_MAX)
        return false;
    ts->tv_sec = (time_t)(s - TAI64_BASE);
    ts->tv_nsec = (long)ns;
    return true;
}

/* w decimal digits at p, or -1. */
static long get_dec(const char *p, int w)
{
    long n = 0;
    for (int i = 0; i < w; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        n = n * 10 + (p[i] - '0');
    }
    return n;
}

bool stamp_parse(const char *p, size_t n, struct timespec *ts)
{
    if (n >= STAMP_TAI64N_LEN && p[0] == '@')
        return stamp_tai64n_parse(p + 1, ts);
    if (n < STAMP_RFC3339_LEN || p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':'
        || p[16] != ':' || p[19] != '.' || p[26] != 'Z')
        return false;
    long y = get_dec(p, 4), mo = get_dec(p + 5, 2), d = get_dec(p + 8, 2);
    long h = get_dec(p + 11, 2), mi = get_dec(p + 14, 2), s = get_dec(p + 17, 2);
    long us = get_dec(p + 20, 6);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59
        || s < 0 || s > 60 || us < 0)
        return false;
    ts->tv_sec = (time_t)(days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400
                          + h * 3600 + mi * 60 + s);
    ts->tv_nsec = us * 1000;
    return true;
}
