/* fuzz_notify.c - libFuzzer target for the notification message parser
 * (src/notify.c: notify_parse, notify_get), which reads whatever a
 * service's process sends to its sd_notify socket.
 *
 * Each input is one datagram.  Checked: the parser never reads or writes
 * outside the message (ASan), and what it accepts is what it promises: at
 * least one assignment, each NUL-terminated inside the buffer, with a
 * nonempty name before its '=', no more than asked for; notify_get finds
 * the last assignment of each name; and notify_barrier calls a message a
 * barrier exactly when it is BARRIER=1 alone with one fd, malformed when
 * it has BARRIER=1 otherwise (the fd count comes from the input too).
 */
#include "fuzz.h"
#include "../../src/notify.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

static struct notify_msg m;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > NOTIFY_MSG_MAX)
        return 0;               /* the socket refuses these before parsing */
    char *buf = malloc(size + 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    int max = 1 + (size ? data[0] % NOTIFY_ASSIGNS_MAX : 0);
    int n = notify_parse(buf, size, m.assign, max);
    if (n == 0 || n > max || n < -1)
        abort();
    if (n < 0) {
        free(buf);
        return 0;
    }
    m.nassign = n;
    m.nfds = size > 1 ? data[1] % 3 : 0;
    bool barrier = false;
    for (int i = 0; i < n; i++)
        barrier |= strcmp(m.assign[i], "BARRIER=1") == 0;
    int b = notify_barrier(&m);
    if (b != (!barrier ? 0 : n == 1 && m.nfds == 1 ? 1 : -1))
        abort();
    m.nfds = 0;
    for (int i = 0; i < n; i++) {
        const char *a = m.assign[i];
        if (a < buf || a >= buf + size)
            abort();
        size_t len = strlen(a);
        const char *eq = strchr(a, '=');
        if (a + len > buf + size || !eq || eq == a)
            abort();
        /* The last assignment of this name is what notify_get finds. */
        char name[NOTIFY_MSG_MAX + 1];
        size_t nl = (size_t)(eq - a);
        memcpy(name, a, nl);
        name[nl] = '\0';
        const char *v = notify_get(&m, name);
        const char *last = NULL;
        for (int k = 0; k < n; k++)
            if (strncmp(m.assign[k], name, nl) == 0 && m.assign[k][nl] == '=')
                last = m.assign[k] + nl + 1;
        if (v != last)
            abort();
    }
    free(buf);
    return 0;
}
