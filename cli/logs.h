/* logs.h - dpctl logs, and the last records in dpctl status NAME: a log
 * directory (logdir.h) read in order, the last N records, those since a
 * time, followed across rotations, escaped for a terminal (logtext.h).
 */
#ifndef DPCTL_LOGS_H
#define DPCTL_LOGS_H

#include "logtext.h"

#include <stdbool.h>
#include <stdio.h>

struct logs_opts {
    long long lines;            /* -n: the last N records; -1: all */
    bool since_given;           /* --since: only records from since on */
    struct logtime since;
    bool follow;                /* -f */
};

/* The records of the log directory dir on stdout, escaped when stdout is
 * a terminal; with follow, until a signal ends dpctl or stdout's reader
 * goes away.  Returns an exit code (dpctl.h) after saying what failed. */
int logs_print(const char *dir, const struct logs_opts *o);

/* The detail view's "log:" entry: dir, then its last n records, escaped
 * and indented; one line saying why when dir cannot be read.  Never a
 * failure of the view. */
void logs_show_recent(FILE *out, const char *dir, int n);

#endif
