/* fuzz_dpctl.c - libFuzzer target for what dpctl parses: the daemon's
 * lines (cli/model.c) and how it prints them (cli/show.c).
 *
 * Each input is a stream of lines as a daemon (or anything listening on
 * the socket path) might send.  Checked: no read or write outside a buffer
 * (ASan), no leak across inputs (the model is freed each time), and the
 * model's promises: sorted names strictly increasing, every state a short
 * NUL-terminated word, readiness only for running services.
 */
#include "fuzz.h"
#include "../../cli/model.h"
#include "../../cli/show.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sink = fopen("/dev/null", "w");
    return sink ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct model *m = model_new(size && data[0] & 1);
    char *buf = malloc(size + 1);
    if (!m || !buf)
        abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    for (char *line = buf, *next; line; line = next) {
        next = memchr(line, '\n', (size_t)(buf + size - line));
        if (next)
            *next++ = '\0';
        char copy[16384];
        snprintf(copy, sizeof copy, "%s", line);
        show_event(sink, copy, 1000000);
        model_apply(m, line);
    }
    size_t n;
    struct svc **v = model_sorted(m, &n);
    for (size_t i = 0; i < n; i++) {
        if (memchr(v[i]->state, '\0', sizeof v[i]->state) == NULL)
            abort();
        if (i && strcmp(v[i - 1]->name, v[i]->name) >= 0)
            abort();
        if (svc_ready(v[i]) && strcmp(v[i]->state, "up") != 0)
            abort();
        if (model_find(m, v[i]->name) != v[i])
            abort();
    }
    show_table(sink, v, n, 1000, false);
    show_json(sink, v, n, 1000);
    model_free(m);
    free(buf);
    return 0;
}
