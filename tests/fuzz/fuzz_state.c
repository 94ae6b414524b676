/* fuzz_state.c - libFuzzer target for the re-exec state reader
 * (src/state.c), which a new binary runs on the state it was handed.
 *
 * Each input is a state.  Checked: the reader never reads or writes
 * outside the buffer (ASan), ends (every call consumes a line), and gives
 * fields that lie inside the buffer and are NUL-terminated.  Then the
 * records read are written again and read back: the same tags and bytes
 * (what is accepted round-trips).
 */
#include "fuzz.h"
#include "../../src/state.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

#define MAX_RECS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    struct state_in in;
    struct state_rec r;
    const char *err;
    int version;
    struct state_out o;
    state_out_init(&o);
    if (!state_in_init(&in, buf, size, &version, &err)) {
        free(buf);
        return 0;
    }
    state_rec(&o, STATE_MAGIC);
    state_int(&o, version);
    state_end(&o);
    int res, nrec = 0;
    while ((res = state_next(&in, &r, &err)) == 1 && nrec < MAX_RECS) {
        nrec++;
        if (r.n < 0 || r.n > STATE_FIELDS_MAX)
            abort();
        state_rec(&o, r.tag);
        for (int i = 0; i < r.n; i++) {
            if (r.f[i] < buf || r.f[i] + r.len[i] > buf + size || r.f[i][r.len[i]] != '\0')
                abort();
            state_bytes(&o, r.f[i], r.len[i]);
        }
        state_end(&o);
    }
    if (res == 0) {
        state_rec(&o, "end");
        state_end(&o);
        /* Read back what was written: the same records. */
        char *b2 = malloc(o.len + 1);
        char *c2 = malloc(o.len + 1);
        if (!b2 || !c2)
            abort();
        memcpy(b2, o.buf, o.len);
        memcpy(c2, o.buf, o.len);
        struct state_in in2;
        struct state_rec r2;
        int v2;
        if (!state_in_init(&in2, b2, o.len, &v2, &err) || v2 != version)
            abort();
        int n2 = 0;
        while ((res = state_next(&in2, &r2, &err)) == 1)
            n2++;
        if (res != 0 || n2 != nrec)
            abort();
        /* Writing is deterministic: the same bytes again. */
        struct state_out o2;
        state_out_init(&o2);
        state_rec(&o2, STATE_MAGIC);
        state_int(&o2, v2);
        state_end(&o2);
        if (o2.len > o.len || memcmp(o2.buf, c2, o2.len) != 0)
            abort();
        state_out_free(&o2);
        free(b2);
        free(c2);
    }
    state_out_free(&o);
    free(buf);
    return 0;
}
