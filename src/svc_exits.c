/* svc_exits.c - a service's exit history (svc_exits.h): a ring of its
 * last exits and a count since SINCE, allocated by its first exit (or an
 * operator's `service.want up`), so that a service that never exited
 * costs nothing but a pointer in its extension (if it has one).
 *
 * Counting begins at the service's first exit's run (a service is
 * defined, then started: the run its first exit ends is the first it
 * had) and starts again at every `service.want up`: an operator's start
 * is a new beginning, where a restart by auto-up or a controller is the
 * loop the count is there to show.
 */
#include "svc_exits.h"
#include "fmt.h"
#include "protocol.h"
#include "service_impl.h"
#include "signals.h"
#include "state.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* One exit: the run it ended, and how. */
struct svc_exit {
    int64_t up_ms, down_ms;
    int status;                 /* the wait status */
};

struct svc_exits {
    int64_t since_ms;           /* counting began */
    uint32_t count;             /* exits since then */
    uint8_t head;               /* the newest is e[head] */
    uint8_t kept;               /* how many of e[] hold one */
    struct svc_exit e[SVC_EXITS_KEPT];
};

static int64_t sec(int64_t ms) { return ms / 1000; }

/* s's history, allocated (empty, counting from since_ms) if it has none;
 * NULL when out of memory. */
static struct svc_exits *history(struct service *s, int64_t since_ms)
{
    struct svc_ext *x = svc_ext(s);
    if (!x)
        return NULL;
    if (!x->exits && (x->exits = calloc(1, sizeof *x->exits)))
        x->exits->since_ms = since_ms;
    return x->exits;
}

void svc_exits_note(struct service *s)
{
    struct svc_exits *h = history(s, s->up_ms);
    if (!h)
        return;
    if (h->kept)
        h->head = (uint8_t)((h->head + 1) % SVC_EXITS_KEPT);
    if (h->kept < SVC_EXITS_KEPT)
        h->kept++;
    h->e[h->head] = (struct svc_exit){ s->up_ms, s->down_ms, s->status };
    if (h->count < UINT32_MAX)
        h->count++;
}

void svc_exits_reset(struct service *s, int64_t now_ms)
{
    struct svc_exits *h = history(s, now_ms);
    if (!h)
        return;
    h->count = 0;
    h->since_ms = now_ms;
}

/* The i-th newest exit kept (i < h->kept). */
static const struct svc_exit *nth(const struct svc_exits *h, unsigned i)
{
    return &h->e[(h->head + SVC_EXITS_KEPT - i) % SVC_EXITS_KEPT];
}

bool svc_exits_format(const struct service *s, struct proto_line *l, bool all)
{
    const struct svc_exits *h = s->x ? s->x->exits : NULL;
    if (!all && (!h || !h->kept))
        return false;
    proto_line_begin(l, "service.exits");
    proto_line_add(l, s->str);
    if (!h) {
        proto_line_addi(l, 0);
        proto_line_add(l, "-");
        return true;
    }
    proto_line_addi(l, h->count);
    proto_line_addi(l, sec(h->since_ms));
    for (unsigned i = 0; i < h->kept; i++) {
        const struct svc_exit *e = nth(h, i);
        char value[32];
        if (WIFSIGNALED(e->status))
            fmt_snprintf(value, sizeof value, "signal,%s", sig_name(WTERMSIG(e->status)));
        else
            fmt_snprintf(value, sizeof value, "exit,%d", WEXITSTATUS(e->status));
        proto_line_addf(l, "%lld,%s,%lld", (long long)sec(e->down_ms), value,
                        (long long)sec(e->down_ms - e->up_ms));
    }
    return true;
}

void svc_exits_delete(struct service *s)
{
    if (s->x) {
        free(s->x->exits);
        s->x->exits = NULL;
    }
}

/* --- re-exec ------------------------------------------------------------------- */

/* One exit kept, oldest first in the record. */
struct exit_rec {
    struct state_val up_ms, down_ms, status;
};

static const struct state_def exit_defs[] = {
    STATE_INT(struct exit_rec, up_ms, 0, INT64_MAX, 0),
    STATE_INT(struct exit_rec, down_ms, 0, INT64_MAX, 0),
    STATE_INT(struct exit_rec, status, INT32_MIN, INT32_MAX, 0),
};
STATE_RECORD(svc_exit_record, "service.exit", struct exit_rec, exit_defs, 0, 0);

/* A service's history: the count, since when, and the exits kept (the
 * first `kept` of e0..e4, oldest first; the rest zero). */
struct exits_rec {
    struct state_val name, count, since_ms, kept;
    struct exit_rec e0, e1, e2, e3, e4;
};
_Static_assert(SVC_EXITS_KEPT == 5, "one row per exit kept");
#define EXITS_REC_LIST(rec) { &(rec)->e0, &(rec)->e1, &(rec)->e2, &(rec)->e3, &(rec)->e4 }

static const struct state_def exits_defs[] = {
    STATE_STR(struct exits_rec, name, SVC_NAME_MAX),
    STATE_INT(struct exits_rec, count, 0, UINT32_MAX, 0),
    STATE_INT(struct exits_rec, since_ms, 0, INT64_MAX, 0),
    STATE_INT(struct exits_rec, kept, 0, SVC_EXITS_KEPT, 0),
    STATE_SUB(struct exits_rec, e0, svc_exit_record),
    STATE_SUB(struct exits_rec, e1, svc_exit_record),
    STATE_SUB(struct exits_rec, e2, svc_exit_record),
    STATE_SUB(struct exits_rec, e3, svc_exit_record),
    STATE_SUB(struct exits_rec, e4, svc_exit_record),
};
/* Every field was in the first version; each exit adds two to its row. */
STATE_RECORD(svc_exits_record, "service.exits", struct exits_rec, exits_defs,
             STATE_SLOTS(struct exits_rec), SVC_EXITS_KEPT * 2);

void svc_exits_save(const struct service *s, struct state_out *o)
{
    const struct svc_exits *h = s->x ? s->x->exits : NULL;
    if (!h)
        return;
    struct exits_rec rec = {
        .name.s = s->str, .count.i = h->count, .since_ms.i = h->since_ms, .kept.i = h->kept,
    };
    struct exit_rec *e[] = EXITS_REC_LIST(&rec);
    for (unsigned i = 0; i < h->kept; i++) {
        const struct svc_exit *x = nth(h, h->kept - 1 - i);
        *e[i] = (struct exit_rec){ .up_ms.i = x->up_ms, .down_ms.i = x->down_ms,
                                   .status.i = x->status };
    }
    state_write(o, &svc_exits_record, &rec);
}

bool svc_exits_restore(struct service *s, const struct state_rec *r, const char **err)
{
    struct exits_rec rec;
    if (!state_read(r, &svc_exits_record, &rec, err))
        return false;
    if (!s) {
        *err = "record service.exits, field name: no such service";
        return false;
    }
    if (s->x && s->x->exits) {
        *err = "record service.exits: a second record for the service";
        return false;
    }
    struct svc_exits *h = history(s, rec.since_ms.i);
    if (!h) {
        *err = "unable to allocate a service's exit history";
        return false;
    }
    h->count = (uint32_t)rec.count.i;
    const struct exit_rec *e[] = EXITS_REC_LIST(&rec);
    for (int64_t i = 0; i < rec.kept.i; i++) {
        h->head = (uint8_t)i;
        h->e[i] = (struct svc_exit){ e[i]->up_ms.i, e[i]->down_ms.i, (int)e[i]->status.i };
    }
    h->kept = (uint8_t)rec.kept.i;
    return true;
}
