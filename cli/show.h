/* show.h - how dpctl prints for people (the status table, watch lines)
 * and for scripts (JSON).  Pure formatting: no I/O besides the FILE given.
 */
#ifndef DPCTL_SHOW_H
#define DPCTL_SHOW_H

#include "model.h"

#include <stdbool.h>
#include <stdio.h>

/* The status table: a header, then one row per service. */
void show_table(FILE *out, struct svc **v, size_t n, long long now_s, bool color);

/* The services as a JSON array (docs/dpctl.1, status --json). */
void show_json(FILE *out, struct svc **v, size_t n, long long now_s);

/* One event line (NUL-terminated, writable) in words, prefixed with the
 * wall-clock time of its monotonic TS (or of now_ms when it has none). */
void show_event(FILE *out, char *line, long long now_ms);

#endif
