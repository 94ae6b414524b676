/* event.c - the one outlet for event lines (event.h). */
#include "event.h"

static event_sink_fn sink;

void event_set_sink(event_sink_fn fn) { sink = fn; }

void event_emit(const char *line, size_t len)
{
    if (sink)
        sink(line, len);
}
