/* service_impl.c - the inside of a service that its files share
 * (service_impl.h): the extension, and the listener every report goes
 * through.  It calls none of them: svc_ready.c and svc_child.c reach the
 * listener here, never service.c.
 */
#include "service_impl.h"

#include <errno.h>
#include <stdlib.h>

static const struct svc_listener *listener;

void svc_listener_set(const struct svc_listener *l) { listener = l; }

struct svc_ext *svc_ext(struct service *s)
{
    if (!s->x)
        s->x = calloc(1, sizeof *s->x);
    return s->x;
}

int svc_fds_listed(const struct service *s)
{
    const char *f = svc_field(s, SVC_FDS);
    int n = *f != '\0';
    for (; *f; f++)
        n += *f == '\t';
    return n;
}

int svc_listener_channel(struct service *s, unsigned kinds)
{
    if (!listener || !listener->channel) {
        errno = ENOSYS;
        return -1;
    }
    return listener->channel(s, kinds);
}

void svc_report(enum svc_event ev, struct service *s, struct proto_line *l,
                const void *cause)
{
    size_t n = proto_line_end(l);
    if (!listener)
        return;
    struct svc_report r = { .ev = ev, .s = s, .line = l->buf, .len = n, .cause = cause };
    listener->report(&r);
}
