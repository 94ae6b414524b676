/* fuzz_dpctl.c - libFuzzer target for what dpctl parses: the bytes from
 * the socket cut into lines (cli/frame.c), the daemon's lines
 * (cli/model.c) and how it prints them (cli/show.c, cli/detail.c).
 *
 * Each input is a stream of bytes as a daemon (or anything listening on
 * the socket path) might send.  Checked: no read or write outside a buffer
 * (ASan), no leak across inputs (the model is freed each time); the
 * framer's promises: the lines it gives are exactly the input's, in order,
 * whatever the read sizes, and it stops at the first byte daemonproxy
 * would not send (a control byte, a line over FRAME_LINE_MAX), its excerpt
 * printable and inside its buffer; and the model's: sorted names strictly
 * increasing, every state a short NUL-terminated word, readiness only for
 * running services.  The model also gets every line the framer would have
 * refused (split here), so that it stays safe on its own.  And what dpctl
 * logs reads of a log record (cli/logtext.c): the stamp at the input's
 * start (inside the input, a nanosecond below 10^9), the input as a
 * --since TIME, and its escaping (no control byte but TAB and newline
 * left, at most 4 bytes for each).
 */
#include "fuzz.h"
#include "../../cli/frame.h"
#include "../../cli/logtext.h"
#include "../../cli/model.h"
#include "../../cli/show.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    sink = fopen("/dev/null", "w");
    return sink ? 0 : 1;
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

static bool is_control(unsigned char c)
{
    return c < 0x20 && c != '\t' && c != '\n';
}

/* Feed the input in reads of step bytes (0: as much as there is room for)
 * and check each line against the bytes it came from. */
static void check_framing(const uint8_t *data, size_t size, size_t step)
{
    static struct frame f;
    frame_init(&f);
    size_t fed = 0, pos = 0;    /* the next line starts at data[pos] */
    enum frame_next r = FRAME_NONE;
    for (;;) {
        char *line;
        size_t len;
        while ((r = frame_next(&f, &line, &len)) == FRAME_LINE) {
            if (len >= FRAME_LINE_MAX || pos + len >= fed || data[pos + len] != '\n' ||
                memcmp(line, data + pos, len) != 0 || line[len] != '\0')
                abort();
            for (size_t i = 0; i < len; i++)
                if (is_control((unsigned char)line[i]))
                    abort();
            pos += len + 1;
        }
        if (r != FRAME_NONE || fed == size)
            break;
        size_t room;
        char *at = frame_space(&f, &room);
        if (room < FRAME_LINE_MAX)
            abort();        /* promised while no violation was seen */
        size_t n = size - fed < room ? size - fed : room;
        if (step && n > step)
            n = step;
        memcpy(at, data + fed, n);
        frame_commit(&f, n);
        fed += n;
    }
    /* What is left from pos: a partial line of allowed bytes, or the
     * violation reported. */
    size_t nl = pos, bad = pos;
    while (nl < fed && data[nl] != '\n')
        nl++;
    while (bad < nl && !is_control(data[bad]))
        bad++;
    if (r == FRAME_CONTROL) {
        if (bad == nl || data[bad] != f.bad || bad - pos >= FRAME_LINE_MAX)
            abort();
    } else if (r == FRAME_TOO_LONG) {
        if (bad - pos < FRAME_LINE_MAX)
            abort();
    } else if (r != FRAME_NONE || nl != fed || bad != nl || fed - pos >= FRAME_LINE_MAX) {
        abort();
    }
    if (r == FRAME_NONE && (f.bytes != size || f.nhead != (size < FRAME_HEAD ? size : FRAME_HEAD)))
        abort();
    /* (frame_space after a violation: no more reading) */
    size_t room;
    frame_space(&f, &room);
    if ((r != FRAME_NONE) != (room == 0))
        abort();
    char ex[FRAME_EXCERPT_SIZE + 8];
    size_t exsize = size ? data[0] % sizeof ex : sizeof ex;
    memset(ex, 'X', sizeof ex);
    frame_excerpt(&f, ex, exsize);
    if (exsize && (memchr(ex, '\0', exsize) == NULL || !printable(ex)))
        abort();
    if (exsize >= 8 && f.bytes && ex[0] != '"')
        abort();
    /* with the room it asks for, all of the head is shown */
    frame_excerpt(&f, ex, FRAME_EXCERPT_SIZE);
    if (f.bytes && strncmp(ex + strlen(ex) - (f.bytes > f.nhead ? 4 : 1),
                           f.bytes > f.nhead ? "\"..." : "\"", 4) != 0)
        abort();
}

static void check_logtext(const uint8_t *data, size_t size)
{
    struct logtime t;
    bool cont;
    size_t n = logtext_stamp((const char *)data, size, &t, &cont);
    if (n > size || n > LOGTEXT_STAMP_MAX || (n && (t.nsec < 0 || t.nsec > 999999999)))
        abort();
    if (n && cont != (data[n - 1] == '+'))
        abort();
    char s[64];
    size_t k = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, k);
    s[k] = '\0';
    if (logtext_since(s, 1796637600, &t) && (t.nsec < 0 || t.nsec > 999999999))
        abort();
    char *out = malloc(4 * size + 1);
    if (!out)
        abort();
    size_t len = logtext_escape((const char *)data, size, out);
    if (len > 4 * size || len < size)
        abort();
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)out[i];
        if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
            abort();
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_logtext(data, size);
    check_framing(data, size, 0);
    check_framing(data, size, size ? 1 + data[size - 1] % 97 : 1);

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
    for (size_t i = 0; i < n && i < 8; i++)
        show_detail(sink, v[i], 1000);
    model_free(m);
    free(buf);
    return 0;
}
