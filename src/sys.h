/* sys.h - EINTR-safe syscall wrappers and fd helpers.
 *
 * Every retry-on-EINTR loop in daemonproxy lives in sys.c (tests/modgraph.py
 * checks it).  The wrappers return what the syscall returned and leave
 * errno as the syscall set it; they make no call but the syscall's, so
 * they are as async-signal-safe as it is. *
 * Fds (the rule everywhere): a function never takes ownership of an fd it
 * is given unless its comment says it takes it; one that takes an fd owns
 * it from the call on and closes it itself, also when it fails.
 * Here only sys_close takes its fd.
 */
#ifndef SYS_H
#define SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* A static buffer of 4 kB or more.  The static build's linker sorts .bss
 * by alignment (Makefile, --sort-section=alignment): aligned to 64, every
 * such buffer comes before the small variables, which then share a few
 * pages instead of being strewn between buffers that an idle daemon never
 * touches (each strewn one dirties a page: idle RSS, README "Footprint"). */
#define SYS_LARGE_BSS __attribute__((aligned(64)))

/* read()/write() retried on EINTR. */
ssize_t sys_read(int fd, void *buf, size_t len);
ssize_t sys_write(int fd, const void *buf, size_t len);

/* All len bytes to fd, retried on EINTR and short writes; false (errno
 * set) at the first error. */
bool sys_write_all(int fd, const void *buf, size_t len);

/* fmt_snprintf into 4 kB, written whole to fd (cut beyond): the few
 * messages for stdout and stderr, since the daemon links no stdio. */
void sys_dprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* sendmsg() retried on EINTR. */
struct msghdr;
ssize_t sys_sendmsg(int fd, const struct msghdr *m, int flags);

/* recvmsg(), recvmmsg() (no timeout) and waitpid() retried on EINTR. */
struct mmsghdr;
ssize_t sys_recvmsg(int fd, struct msghdr *m, int flags);
int sys_recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags);
pid_t sys_waitpid(pid_t pid, int *status, int options);

/* close() that preserves errno and ignores EINTR (Linux always closes). */
void sys_close(int fd);

/* open() with O_CLOEXEC added, retried on EINTR. */
int sys_open(const char *path, int flags, mode_t mode);

/* Duplicate fd to the lowest free number >= min, close-on-exec. */
int sys_dup_cloexec(int fd, int min);

/* Set or clear O_NONBLOCK / FD_CLOEXEC.  Return 0 or -1 with errno. */
int sys_set_nonblock(int fd, bool on);
int sys_set_cloexec(int fd, bool on);

/* Make a private non-blocking copy of fd when the kernel allows it (pipes,
 * FIFOs and character devices reopened through /proc/self/fd, so the
 * caller's shared file description keeps its blocking mode); otherwise a
 * close-on-exec dup with O_NONBLOCK set on the shared description.
 * `wr` selects the access mode of the reopened copy.  Returns the new fd or -1. */
int sys_private_nonblock(int fd, bool wr);

/* strerror() with the wording of glibc wherever musl words it differently,
 * so that error events read the same with either libc (docs/protocol.md quotes
 * "bind: Address already in use"). */
const char *sys_strerror(int err);

/* Monotonic clock. */
int64_t sys_mono_ms(void);
int64_t sys_mono_sec(void);

/* From /proc/PID/stat: the parent of pid, and when it started (clock
 * ticks since boot: with the pid, it tells one process from another that
 * got the same pid later).  False if it cannot be read (no such process). */
bool sys_proc_stat(pid_t pid, pid_t *ppid, uint64_t *start);

/* The whole of the file at path (a /proc file, whose size stat cannot
 * tell), malloc'd with a NUL after its *len bytes.  NULL with errno, EFBIG
 * when it holds more than max bytes. */
char *sys_read_file(const char *path, size_t max, size_t *len);

/* path made absolute against the current directory (malloc'd), so that a
 * later `chdir` command cannot make a removal miss the file.  Not
 * canonicalized: symlinked directories stay as the user named them.  NULL
 * with errno. */
char *sys_absolute(const char *path);

/* The command name of pid (/proc/PID/comm) into buf, control characters
 * shown as '?'; false if it cannot be read. */
bool sys_proc_comm(pid_t pid, char *buf, size_t len);

/* Parse a whole decimal integer (optional sign) into *out.
 * Returns false on any junk, empty string or overflow of [min,max]. */
bool sys_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* Call fn for each fd >= lo open now, from /proc/self/fd (without /proc:
 * each of lo..1023 that is open).  fn must not open or close fds. */
void sys_each_fd(int lo, void (*fn)(int fd, void *ctx), void *ctx);

/* The first needle in s, or NULL: strstr() for the short needles here.
 * musl's strstr (two-way, linear in the worst case) was 1.3 kB of the
 * static binary; a needle of a few bytes needs none of it. */
char *sys_find(const char *s, const char *needle);

/* --- a word at a time -------------------------------------------------
 * The command path looks at a line's bytes 8 at a time (Hacker's Delight,
 * 6-1): musl's memchr goes byte by byte up to an aligned address, which is
 * most of a short line, and a byte loop costs several instructions a byte. */

/* p[0..n) (n <= 8; no byte outside it is read) as a number, the first
 * byte lowest, zeros above the n-th: at most two loads, overlapping. */
static inline uint64_t sys_word(const char *p, size_t n);
/* Bit 7 of each byte of w below k (1 <= k <= 0x80).  The lowest mark is
 * always right; above it a borrow may also mark a byte equal to k, so a
 * caller that takes more than the lowest checks the bytes it is given. */
static inline uint64_t sys_below(uint64_t w, unsigned k);
/* The marks that belong to the first n bytes (n <= 8). */
static inline uint64_t sys_first(size_t n);

/* The first c in s[0..n), or NULL (memchr). */
char *sys_find_byte(const char *s, size_t n, char c);

/* Inlined always, even at -Os: the constant n makes memcpy one load. */
__attribute__((always_inline))
static inline uint64_t sys_load_le(const char *p, size_t n)
{
    uint64_t w = 0;
    memcpy(&w, p, n);           /* n is 2, 4 or 8: one load */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w) >> (64 - 8 * n);
#endif
    return w;
}

__attribute__((always_inline))
static inline uint64_t sys_word(const char *p, size_t n)
{
    if (n >= 8)
        return sys_load_le(p, 8);
    if (n >= 4)
        return sys_load_le(p, 4) | sys_load_le(p + n - 4, 4) << 8 * (n - 4);
    if (n >= 2)
        return sys_load_le(p, 2) | sys_load_le(p + n - 2, 2) << 8 * (n - 2);
    return n ? (unsigned char)*p : 0;
}

static inline uint64_t sys_below(uint64_t w, unsigned k)
{
    return (w - 0x0101010101010101ull * k) & ~w & 0x8080808080808080ull;
}

static inline uint64_t sys_first(size_t n)
{
    return n >= 8 ? ~0ull : (1ull << 8 * n) - 1;
}

/* Sort v ascending (heapsort: O(n log n), no recursion, no allocation).
 * For the fd lists, which reach tens of thousands at a re-exec; qsort was
 * 2.1 kB of the static binary. */
void sys_sort_ints(int *v, size_t n);

#endif
