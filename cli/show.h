/* show.h - how dpctl prints for people (the status table, watch lines)
 * and for scripts (JSON).  Pure formatting: no I/O besides the FILE given.
 */
#ifndef DPCTL_SHOW_H
#define DPCTL_SHOW_H

#include "model.h"

#include <stdbool.h>
#include <stdio.h>

/* Room for a cell of the table, and for show_duration(). */
#define SHOW_CELL 80

/* "5s", "2m05s", "1h02m", "3d04h"; "-" for negative: into cell (at least
 * SHOW_CELL bytes).  Returns the length. */
size_t show_duration(char *cell, long long s);

/* The status table: a header, then one row per service. */
void show_table(FILE *out, struct svc **v, size_t n, long long now_s, bool color);

/* One service in full (dpctl status NAME): its state, want, argv,
 * readiness, STATUS= text, tags, fds, auto-up rule and last exits.  s must
 * come from a model that keeps lists (model_new(true)). */
void show_detail(FILE *out, const struct svc *s, long long now_s);

/* The services as a JSON array (docs/dpctl.1, status --json). */
void show_json(FILE *out, struct svc **v, size_t n, long long now_s);

/* One event line (NUL-terminated, writable) in words, prefixed with the
 * wall-clock time of its monotonic TS (or of now_ms when it has none). */
void show_event(FILE *out, char *line, long long now_ms);

#endif
