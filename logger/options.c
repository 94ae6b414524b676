/* options.c - dplog's command line (options.h). */
#include "options.h"
#include "record.h"
#include "../src/fmt.h"

#include <string.h>

/* Decimal digits then at most one suffix from units (each with its
 * multiplier); no sign, no space, no overflow. */
static bool parse_scaled(const char *s, const char *units, const uint64_t *mult,
                         uint64_t *out)
{
    uint64_t n = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (UINT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        return false;
    if (*p) {
        const char *u = strchr(units, *p);
        if (!u || p[1])
            return false;
        uint64_t m = mult[u - units];
        if (n > UINT64_MAX / m)
            return false;
        n *= m;
    }
    *out = n;
    return true;
}

bool opts_size(const char *s, uint64_t *out)
{
    static const uint64_t mult[] = { 1024, 1024, 1u << 20, 1u << 20, 1u << 30, 1u << 30 };
    return parse_scaled(s, "kKmMgG", mult, out);
}

bool opts_duration(const char *s, uint64_t *out)
{
    static const uint64_t mult[] = { 1, 60, 3600, 86400 };
    return parse_scaled(s, "smhd", mult, out);
}

struct optdef {
    char short_name;
    const char *long_name;
    bool arg;
};

static const struct optdef optdefs[] = {
    { 's', "size", true },
    { 'n', "keep", true },
    { 'a', "age", true },
    { 't', "timestamps", true },
    { 'l', "line-max", true },
    { 'o', "stdout", true },
    { 'e', "stderr", true },
    { 'p', "processor", true },
    { 'h', "help", false },
    { 'V', "version", false },
};

/* The option argv[*i] names (and its value, from the same word or the
 * next); NULL with err set if it is unknown or lacks its value. */
static const struct optdef *opt_find(int argc, char **argv, int *i, const char **val,
                                     char *err, size_t errlen)
{
    const char *a = argv[*i];
    const struct optdef *d = NULL;
    const char *inl = NULL;
    size_t n = sizeof optdefs / sizeof *optdefs;
    if (a[1] == '-') {
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        for (size_t k = 0; k < n && !d; k++)
            if (strlen(optdefs[k].long_name) == len && !memcmp(optdefs[k].long_name, name, len))
                d = &optdefs[k];
        if (d && eq) {
            if (!d->arg) {
                fmt_snprintf(err, errlen, "--%s takes no value", d->long_name);
                return NULL;
            }
            inl = eq + 1;
        }
    } else {
        for (size_t k = 0; k < n && !d; k++)
            if (optdefs[k].short_name == a[1])
                d = &optdefs[k];
        if (d && a[2]) {
            if (!d->arg) {
                fmt_snprintf(err, errlen, "%s: unknown option", a);
                return NULL;
            }
            inl = a + 2;
        }
    }
    if (!d) {
        fmt_snprintf(err, errlen, "%s: unknown option", a);
        return NULL;
    }
    if (d->arg && !inl) {
        if (*i + 1 >= argc) {
            fmt_snprintf(err, errlen, "%s needs a value", a);
            return NULL;
        }
        inl = argv[++*i];
    }
    *val = inl;
    return d;
}

static bool opt_value(struct dplog_opts *o, char c, const char *v, char *err, size_t errlen)
{
    uint64_t n;
    switch (c) {
    case 's':
        if (!opts_size(v, &n) || n < OPT_SIZE_MIN) {
            fmt_snprintf(err, errlen, "-s: %s: not a size of at least %d bytes "
                         "(k, M, G suffixes)", v, OPT_SIZE_MIN);
            return false;
        }
        o->max_size = n;
        return true;
    case 'n':
        if (strcmp(v, "all") == 0) {
            o->keep = OPT_KEEP_ALL;
            return true;
        }
        if (!parse_scaled(v, "", NULL, &n) || n > 1000000) {
            fmt_snprintf(err, errlen, "-n: %s: not a count of files (0 .. 1000000, or all)", v);
            return false;
        }
        o->keep = (long)n;
        return true;
    case 'a':
        if (!opts_duration(v, &n) || n == 0 || n > 100u * 365 * 86400) {
            fmt_snprintf(err, errlen,
                         "-a: %s: not a duration (1s .. 100 years; s, m, h, d suffixes)", v);
            return false;
        }
        o->age = n;
        return true;
    case 't':
        if (strcmp(v, "rfc3339") == 0)
            o->ts = TS_RFC3339;
        else if (strcmp(v, "tai64n") == 0)
            o->ts = TS_TAI64N;
        else if (strcmp(v, "none") == 0)
            o->ts = TS_NONE;
        else {
            fmt_snprintf(err, errlen, "-t: %s: not rfc3339, tai64n or none", v);
            return false;
        }
        return true;
    case 'l':
        if (!opts_size(v, &n) || n < REC_LINE_MIN || n > REC_LINE_MAX) {
            fmt_snprintf(err, errlen, "-l: %s: not a length from %d to %d", v,
                         REC_LINE_MIN, REC_LINE_MAX);
            return false;
        }
        o->line_max = (size_t)n;
        return true;
    case 'p':
        if (!*v) {
            fmt_snprintf(err, errlen, "-p: an empty command");
            return false;
        }
        o->processor = v;
        return true;
    case 'o':
    case 'e':
        if (!*v || strlen(v) > OPT_NAME_MAX || strchr(v, '\n')) {
            fmt_snprintf(err, errlen, "-%c: a name of 1 to %d bytes, without a newline",
                         c, OPT_NAME_MAX);
            return false;
        }
        *(c == 'o' ? &o->out_name : &o->err_name) = v;
        return true;
    }
    return false;
}

enum opts_result opts_parse(struct dplog_opts *o, int argc, char **argv,
                            char *err, size_t errlen)
{
    *o = (struct dplog_opts){
        .max_size = OPT_SIZE_DEFAULT, .keep = OPT_KEEP_DEFAULT, .ts = TS_RFC3339,
        .line_max = OPT_LINE_DEFAULT,
    };
    int i = 1;
    bool line_given = false;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1])
            break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        const char *v = NULL;
        const struct optdef *d = opt_find(argc, argv, &i, &v, err, errlen);
        if (!d)
            return OPTS_USAGE;
        if (d->short_name == 'h')
            return OPTS_HELP;
        if (d->short_name == 'V')
            return OPTS_VERSION;
        if (!opt_value(o, d->short_name, v, err, errlen))
            return OPTS_USAGE;
        line_given |= d->short_name == 'l';
    }
    if (i < argc)
        o->dir = argv[i++];
    if (i < argc) {
        fmt_snprintf(err, errlen, "%s: one directory only", argv[i]);
        return OPTS_USAGE;
    }
    if (o->dir && !*o->dir) {
        fmt_snprintf(err, errlen, "the directory is an empty string");
        return OPTS_USAGE;
    }
    if (!o->dir && o->processor) {
        fmt_snprintf(err, errlen, "-p needs a directory");
        return OPTS_USAGE;
    }
    if (!o->dir && !o->out_name && !o->err_name) {
        fmt_snprintf(err, errlen, "a directory, -o NAME or -e NAME is needed");
        return OPTS_USAGE;
    }
    if (!line_given && o->line_max + 64 > o->max_size)
        o->line_max = (size_t)o->max_size - 64;     /* a small -s: records to fit it */
    if (o->line_max + 64 > o->max_size) {
        fmt_snprintf(err, errlen, "-l %zu does not fit in -s %llu: the size must be at "
                     "least the line length + 64", o->line_max,
                     (unsigned long long)o->max_size);
        return OPTS_USAGE;
    }
    return OPTS_RUN;
}
