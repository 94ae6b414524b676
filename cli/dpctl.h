/* dpctl.h - exit codes, one meaning each (docs/dpctl.1, EXIT STATUS). */
#ifndef DPCTL_H
#define DPCTL_H

enum {
    DPCTL_OK = 0,
    DPCTL_FAILED = 1,       /* refused by the daemon, or the outcome did not happen */
    DPCTL_USAGE = 2,        /* bad command line; nothing was sent */
    DPCTL_NOSERVICE = 3,    /* no such service */
    DPCTL_TIMEOUT = 4,      /* a wait passed its -t bound */
    DPCTL_NOCONNECT = 5,    /* cannot connect, or the peer is not trusted or not daemonproxy */
    DPCTL_LOST = 6,         /* the connection broke mid-command */
};

#endif
