/* request.c - requests addressed to the controller (see request.h).
 *
 * Both tables are small and bounded (REQ_VERBS_MAX verbs, REQ_TOTAL
 * requests), so they are plain arrays searched from one end: a request
 * is looked up once per reply, among the few that are pending.  Nothing
 * here allocates: a request can always be refused, never half made.
 */
#include "request.h"
#include "controller.h"
#include "fmt.h"
#include "log.h"
#include "protocol.h"
#include "state.h"
#include "sys.h"

#include <string.h>

struct verb {
    struct ctl *server;
    char name[REQ_VERB_MAX + 1];
};

struct req {
    uint64_t id;
    struct ctl *asker, *server;     /* asker NULL: it went; replies are dropped */
    char verb[REQ_VERB_MAX + 1];
};

static struct verb verbs[REQ_VERBS_MAX] SYS_LARGE_BSS;
static size_t nverbs;
static struct req reqs[REQ_TOTAL] SYS_LARGE_BSS;
static size_t nreqs;
/* IDs are unique for the daemon's life: kept across a re-exec. */
static uint64_t last_id;

size_t req_pending(void) { return nreqs; }

bool req_verb_valid(const char *verb)
{
    size_t n = strlen(verb);
    if (n == 0 || n > REQ_VERB_MAX)
        return false;
    return strspn(verb, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static struct verb *verb_find(const char *name)
{
    for (size_t i = 0; i < nverbs; i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

bool req_serves(const struct ctl *c)
{
    for (size_t i = 0; i < nverbs; i++)
        if (verbs[i].server == c)
            return true;
    return false;
}

static void req_drop(size_t i)
{
    reqs[i] = reqs[--nreqs];
}

/* The asker of request i hears that its server is gone; the request ends. */
static void req_gone(size_t i)
{
    struct proto_line l;
    proto_line_begin(&l, "ctl.reply");
    proto_line_addi(&l, (int64_t)reqs[i].id);
    proto_line_add(&l, "error");
    proto_line_add(&l, "controller gone");
    size_t n = proto_line_end(&l);
    if (reqs[i].asker && reqs[i].asker != reqs[i].server)
        ctl_send(reqs[i].asker, l.buf, n);
    req_drop(i);
}

/* Every request of verb v that v's server has not answered: gone. */
static void verb_abandon(const struct verb *v)
{
    for (size_t i = nreqs; i-- > 0;)
        if (reqs[i].server == v->server && strcmp(reqs[i].verb, v->name) == 0)
            req_gone(i);
}

static bool listed(const char *name, int n, char **list)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

bool req_serve(struct ctl *c, int n, char **list, const char **err)
{
    size_t after = 0;
    for (int i = 0; i < n; i++) {
        if (!req_verb_valid(list[i])) {
            *err = "invalid verb (1 to 32 of a-z 0-9 _ . -)";
            return false;
        }
        if (!listed(list[i], i, list) && !verb_find(list[i]))
            after++;
    }
    for (size_t i = 0; i < nverbs; i++)
        if (verbs[i].server != c || listed(verbs[i].name, n, list))
            after++;
    if (after > REQ_VERBS_MAX) {
        *err = "too many served verbs";
        return false;
    }
    /* What c serves no more, then what it takes over or adds. */
    for (size_t i = nverbs; i-- > 0;) {
        if (verbs[i].server == c && !listed(verbs[i].name, n, list)) {
            verb_abandon(&verbs[i]);
            verbs[i] = verbs[--nverbs];
        }
    }
    for (int i = 0; i < n; i++) {
        struct verb *v = verb_find(list[i]);
        if (!v) {
            v = &verbs[nverbs++];
            memcpy(v->name, list[i], strlen(list[i]) + 1);
        } else if (v->server != c) {
            /* Said, so that a verb gone elsewhere (a restarted controller,
             * or any client) can be traced. */
            log_info("ctl.serve: %s now serves '%s' (was %s)", ctl_name(c), v->name,
                     ctl_name(v->server));
            verb_abandon(v);
        }
        v->server = c;
    }
    return true;
}

static size_t asked_by(const struct ctl *c)
{
    size_t k = 0;
    for (size_t i = 0; i < nreqs; i++)
        k += reqs[i].asker == c;
    return k;
}

bool req_ask(struct ctl *asker, const char *by, const char *verb, int n, char **args,
             char *err, size_t errlen)
{
    const struct verb *v = req_verb_valid(verb) ? verb_find(verb) : NULL;
    if (!v) {
        fmt_snprintf(err, errlen, "no controller serves '%s'", verb);
        return false;
    }
    if (nreqs >= REQ_TOTAL || asked_by(asker) >= REQ_PER_ASKER) {
        fmt_snprintf(err, errlen, "too many pending requests");
        return false;
    }
    uint64_t id = last_id + 1;
    struct proto_line l;
    proto_line_begin(&l, "ctl.request");
    proto_line_addi(&l, (int64_t)id);
    proto_line_add(&l, by);
    proto_line_add(&l, verb);
    for (int i = 0; i < n; i++)
        proto_line_add(&l, args[i]);
    size_t len = proto_line_end(&l);
    /* The server must get it whole, or the asker would wait for nothing. */
    if (ctl_out_room(v->server) < len) {
        fmt_snprintf(err, errlen, "the controller serving '%s' is not reading", verb);
        return false;
    }
    ctl_send(v->server, l.buf, len);
    last_id = id;
    struct req *r = &reqs[nreqs++];
    r->id = id;
    r->asker = asker;
    r->server = v->server;
    memcpy(r->verb, v->name, sizeof r->verb);
    proto_line_begin(&l, "ctl.request");
    proto_line_addi(&l, (int64_t)id);
    proto_line_add(&l, verb);
    len = proto_line_end(&l);
    ctl_reply(asker, l.buf, len);
    return true;
}

bool req_answer(struct ctl *c, const char *id, const char *status, int n, char **text,
                const char **err)
{
    int64_t v;
    size_t i = nreqs;
    /* Decimal digits only, as the daemon writes it: no sign, no spaces. */
    if (id[0] >= '1' && id[0] <= '9' && strspn(id, "0123456789") == strlen(id) &&
        sys_parse_int(id, 1, INT64_MAX, &v))
        for (i = 0; i < nreqs && !(reqs[i].id == (uint64_t)v && reqs[i].server == c); i++)
            ;
    if (i == nreqs) {
        *err = "no such request ID";
        return false;
    }
    bool final = strcmp(status, "ok") == 0 || strcmp(status, "error") == 0;
    if (!final && strcmp(status, "info") != 0) {
        *err = "invalid status (ok, error or info)";
        return false;
    }
    struct proto_line l;
    proto_line_begin(&l, "ctl.reply");
    proto_line_addi(&l, v);
    proto_line_add(&l, status);
    for (int k = 0; k < n; k++)
        proto_line_add(&l, text[k]);
    size_t len = proto_line_end(&l);
    if (reqs[i].asker)
        ctl_send(reqs[i].asker, l.buf, len);
    if (final)
        req_drop(i);
    return true;
}

void req_ctl_gone(struct ctl *c)
{
    for (size_t i = nreqs; i-- > 0;) {
        if (reqs[i].server == c)
            req_gone(i);
        else if (reqs[i].asker == c)
            reqs[i].asker = NULL;   /* the server's replies are dropped, silently */
    }
    for (size_t i = nverbs; i-- > 0;)
        if (verbs[i].server == c)
            verbs[i] = verbs[--nverbs];
}

void req_reset(void)
{
    nverbs = nreqs = 0;
    last_id = 0;
}

/* --- re-exec ----------------------------------------------------------------- */

/* Pending requests are kept: the controllers at both ends carry on
 * without a disconnect, so a reply after the exec reaches its asker. */
struct req_next_rec { struct state_val last_id; };
struct req_serve_rec { struct state_val verb, ctl; };
struct req_pending_rec { struct state_val id, asker, server, verb; };

static const struct state_def req_next_defs[] = {
    STATE_INT(struct req_next_rec, last_id, 0, INT64_MAX, 0),
};
STATE_RECORD(req_next_record, "req.next_id", struct req_next_rec, req_next_defs, 1, 0);

static const struct state_def req_serve_defs[] = {
    STATE_STR(struct req_serve_rec, verb, REQ_VERB_MAX),
    STATE_INT(struct req_serve_rec, ctl, 1, UINT32_MAX, 0),
};
STATE_RECORD(req_serve_record, "req.serve", struct req_serve_rec, req_serve_defs, 2, 0);

static const struct state_def req_pending_defs[] = {
    STATE_INT(struct req_pending_rec, id, 1, INT64_MAX, 0),
    STATE_INT(struct req_pending_rec, asker, 0, UINT32_MAX, 0),   /* 0: gone */
    STATE_INT(struct req_pending_rec, server, 1, UINT32_MAX, 0),
    STATE_STR(struct req_pending_rec, verb, REQ_VERB_MAX),
};
STATE_RECORD(req_pending_record, "req.pending", struct req_pending_rec, req_pending_defs, 4, 0);

void req_save(struct state_out *o)
{
    /* Each record only when it says something: a state from before
     * requests existed has none. */
    struct req_next_rec next = { .last_id.i = (int64_t)last_id };
    if (last_id)
        state_write(o, &req_next_record, &next);
    for (size_t i = 0; i < nverbs; i++) {
        struct req_serve_rec r = { .verb.s = verbs[i].name, .ctl.i = ctl_id(verbs[i].server) };
        state_write(o, &req_serve_record, &r);
    }
    for (size_t i = 0; i < nreqs; i++) {
        struct req_pending_rec r = {
            .id.i = (int64_t)reqs[i].id,
            .asker.i = reqs[i].asker ? ctl_id(reqs[i].asker) : 0,
            .server.i = ctl_id(reqs[i].server), .verb.s = reqs[i].verb,
        };
        state_write(o, &req_pending_record, &r);
    }
}

bool req_restore(const struct state_rec *r, const char **err)
{
    if (strcmp(r->tag, "req.next_id") == 0) {
        struct req_next_rec rec;
        if (!state_read(r, &req_next_record, &rec, err))
            return false;
        last_id = (uint64_t)rec.last_id.i;
        return true;
    }
    if (strcmp(r->tag, "req.serve") == 0) {
        struct req_serve_rec rec;
        if (!state_read(r, &req_serve_record, &rec, err))
            return false;
        struct ctl *c = ctl_by_id((unsigned)rec.ctl.i);
        if (!c || !req_verb_valid(rec.verb.s) || verb_find(rec.verb.s) ||
            nverbs >= REQ_VERBS_MAX) {
            *err = "record req.serve: no such controller, an invalid verb, or served twice";
            return false;
        }
        struct verb *v = &verbs[nverbs++];
        memcpy(v->name, rec.verb.s, rec.verb.len + 1);
        v->server = c;
        return true;
    }
    struct req_pending_rec rec;
    if (!state_read(r, &req_pending_record, &rec, err))
        return false;
    struct ctl *a = ctl_by_id((unsigned)rec.asker.i), *s = ctl_by_id((unsigned)rec.server.i);
    bool dup = false;
    for (size_t i = 0; i < nreqs; i++)
        dup |= reqs[i].id == (uint64_t)rec.id.i;
    if ((!a && rec.asker.i) || !s || dup || nreqs >= REQ_TOTAL || (uint64_t)rec.id.i > last_id ||
        !req_verb_valid(rec.verb.s)) {
        *err = "record req.pending: no such controller, an ID seen twice or not given yet";
        return false;
    }
    struct req *q = &reqs[nreqs++];
    q->id = (uint64_t)rec.id.i;
    q->asker = a;
    q->server = s;
    memcpy(q->verb, rec.verb.s, rec.verb.len + 1);
    return true;
}
