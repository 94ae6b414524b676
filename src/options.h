/* options.h - the only argv parser: argv -> struct options.
 *
 * Pure: it prints nothing and never exits, so it can be unit-tested; main
 * decides what to do with the result.
 */
#ifndef OPTIONS_H
#define OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct options {
    const char *config;         /* -c FILE ("-" = stdin), or NULL */
    const char *socket_path;    /* -S PATH, or NULL */
    bool default_socket;        /* --default-socket (extension): see sockpath.h */
    const char *socket_group;   /* --socket-group GROUP (extension), or NULL */
    const char *cgroup;         /* --cgroup DIR (extension), or NULL */
    const char *pidfile;        /* --pidfile PATH (extension), or NULL */
    bool container;             /* --container (extension): PID 1 may exit */
    bool failsafe_set;
    int64_t failsafe;           /* --failsafe SECONDS|off (extension): -1 = off */
    bool interactive;           /* -i */
    bool daemonize;             /* -D */
    bool mlockall;              /* -M */
    bool help;                  /* -h */
    bool version;               /* -V */
    int verbosity;              /* +1 per -v, -1 per -q */
    bool exit_guard_set;
    int64_t exit_guard;         /* --exit-guard N (nonzero) */
    const char *exit_exec;      /* -E ARGS: one TAB-separated string */
    bool fd_pool_set;
    int64_t fd_pool_count, fd_pool_size;     /* size 0 = default */
    /* Re-exec (reexec.h), not for people: --restore FD continues a
     * daemonproxy from the state in FD; --state-check N says whether this
     * binary restores state version N. */
    int restore_fd;             /* -1 unless --restore */
    const char *state_check;    /* or NULL */
    bool svc_pool_set;
    int64_t svc_pool_count, svc_pool_size;
};

enum opt_result {
    OPT_OK = 0,
    OPT_ERROR,      /* bad usage: message in errbuf, exit code 2 */
};

/* Parse argv.  On OPT_ERROR, errbuf holds a one-line message.  Does not
 * enforce "one of -i/-c/-S" (main does, since PID 1 has a default). */
enum opt_result opt_parse(int argc, char **argv, struct options *o,
                          char *errbuf, size_t errlen);

/* Parse "N[xM]" with K/M suffixes on M.  Returns false on junk. */
bool opt_parse_pool(const char *s, int64_t *count, int64_t *size);

/* The --help text. */
const char *opt_usage(void);

#endif
