/* options.h - dplog's command line (dplog(1) OPTIONS).
 *
 * Pure and re-entrant (no getopt state), so tests/unit/test_dplog_record.c
 * can run it many times: long options as "--size 1M" or "--size=1M",
 * short ones as "-s 1M" or "-s1M", "--" ends the options.
 */
#ifndef DPLOG_OPTIONS_H
#define DPLOG_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ts_format { TS_RFC3339, TS_TAI64N, TS_NONE };

#define OPT_KEEP_ALL (-1L)

struct dplog_opts {
    uint64_t max_size;          /* -s: bytes, at least OPT_SIZE_MIN */
    long keep;                  /* -n: rotated files kept, or OPT_KEEP_ALL */
    uint64_t age;               /* -a: seconds; 0: off */
    enum ts_format ts;          /* -t */
    size_t line_max;            /* -l; without it 8192, or -s - 64 if less */
    const char *out_name;       /* -o: copy to stdout as "NAME: line" */
    const char *err_name;       /* -e: the same to stderr */
    const char *processor;      /* -p: run on each rotated file, or NULL */
    const char *dir;            /* DIR, or NULL (prefix-only mode) */
};

#define OPT_SIZE_MIN 4096
#define OPT_SIZE_DEFAULT 1048576
#define OPT_KEEP_DEFAULT 10
#define OPT_LINE_DEFAULT 8192
#define OPT_NAME_MAX 256

enum opts_result { OPTS_RUN, OPTS_HELP, OPTS_VERSION, OPTS_USAGE };

/* Fill *o from argv (defaults first).  OPTS_USAGE: err holds the reason,
 * without the program's name ("-s: 12: not a size (at least 4096)"). */
enum opts_result opts_parse(struct dplog_opts *o, int argc, char **argv,
                            char *err, size_t errlen);

/* The value parsers, each the whole string or false: a size with an
 * optional k, M or G suffix (either case; powers of 1024); a duration in
 * seconds with
 * an optional s, m, h or d suffix. */
bool opts_size(const char *s, uint64_t *out);
bool opts_duration(const char *s, uint64_t *out);

#endif
