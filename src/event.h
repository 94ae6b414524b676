/* event.h - the one outlet for event lines of the modules below the
 * controllers (handles, signals, re-exec).
 *
 * A module that has news formats the event line and emits it; it never
 * learns who hears it.  The controller layer registers the one sink at
 * start-up (main: ctl_broadcast), as service.c's listener is registered
 * by svcctl.  Before that, and in programs that set none, lines go
 * nowhere.
 */
#ifndef EVENT_H
#define EVENT_H

#include <stddef.h>

/* Receives one event line (with its '\n'), len bytes. */
typedef void (*event_sink_fn)(const char *line, size_t len);

/* Where emitted lines go from now on (NULL: nowhere). */
void event_set_sink(event_sink_fn fn);

/* Hand one event line (with its '\n') to the sink. */
void event_emit(const char *line, size_t len);

#endif
