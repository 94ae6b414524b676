/* log.h - daemonproxy's own log: "LEVEL: message" lines into a bounded,
 * non-blocking buffer.
 *
 * Logging never blocks and never fails the caller: lines that do not fit
 * the buffer are counted and later reported as "lost N log messages".
 * A destination that refuses writes is retried only when it is reported
 * writable or after a pacing timer, never once per loop iteration.
 *
 * Fds (the rule everywhere): a function never takes ownership of an fd it
 * is given unless its comment says it takes it; one that takes an fd owns
 * it from the call on and closes it itself, also when it fails.
 * log_set_fd does not take its fd (it writes to a copy, or to fd 2).
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stdbool.h>

/* Message levels, in increasing severity.  The filter is one of these (or
 * LOG_NONE): a message is shown when its level is above the filter. */
enum log_level {
    LOG_NONE = 0,   /* as a filter: show everything */
    LOG_TRACE,
    LOG_DEBUG,
    LOG_INFO,
    LOG_WARN,
    LOG_ERROR,
    LOG_FATAL,
};

#define LOG_FILTER_DEFAULT LOG_DEBUG

/* Start logging to daemonproxy's own standard error: to fd 2 itself,
 * which becomes a private non-blocking open of the same file where the
 * kernel allows it (see sys_private_nonblock), so the caller's terminal or
 * pipe keeps its blocking mode. */
void log_init(void);

/* Level names: "none", "trace", "debug", "info", "warning", "error", "fatal". */
const char *log_level_name(int level);
/* Parse a level name; returns -1 if unknown. */
int log_level_parse(const char *name);

int log_filter(void);
void log_set_filter(int level);   /* clamped to [LOG_NONE, LOG_FATAL] */
static inline bool log_enabled(int level);

/* Append one line.  Never blocks; drops (and counts) when the buffer is full. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Like log_msg with ": strerror(errno)" appended. */
void log_errno(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_trace(...) log_msg(LOG_TRACE, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Switch the destination to fd (-1: hold lines until a destination is set).
 * What is still queued goes to the new destination, at once.  The fd is not taken:
 * a private non-blocking copy is made, except that a destination which is
 * the same file as fd 2 is written through fd 2 itself. */
void log_set_fd(int fd);

/* --- log.dest fd NAME: following a handle -------------------------------
 * The log can follow a handle by its name through deletes and re-adds.
 * log.c keeps the name and knows no handle: the handle module's watch
 * (handle_set_watch_cb, set by main) calls log_follow_changed() on every
 * change of a handle, and at a re-exec log.c asks the lookup main gave it
 * for the fd of the name it restored. */
#define LOG_DEST_NAME_MAX 31    /* = HANDLE_NAME_MAX (asserted in cmd_log.c) */
/* Follow the handle named name ("" = none: stay on the destination set
 * last); its fd now is fd (-1: none yet, lines are held until it comes). */
void log_follow(const char *name, int fd);
/* A handle named name changed: its fd is now fd (-1: it was deleted). */
void log_follow_changed(const char *name, int fd);
/* The fd of the handle named name, or -1 (for the re-exec's restore). */
typedef int (*log_lookup_fn)(const char *name);
void log_set_lookup(log_lookup_fn fn);

/* Try to write out everything queued, blocking for at most timeout_ms
 * (used once at exit). */
void log_flush_final(int timeout_ms);

extern int log_filter_level;
static inline bool log_enabled(int level) { return level > log_filter_level; }

/* Re-exec (reexec.h): the filter, where the log goes, the lines not
 * written yet and the lost count; and back. */
struct state_out;
struct state_rec;
struct state_table;
void log_save(struct state_out *o);
bool log_restore(const struct state_rec *r, const char **err);
/* The handle the log follows ("log.dest", only when one is followed), and
 * back: restored after the handles and the log record. */
void log_dest_save(struct state_out *o);
bool log_dest_restore(const struct state_rec *r, const char **err);
extern const struct state_table log_record, log_dest_record;

#endif
