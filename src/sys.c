/* sys.c - EINTR-safe syscall wrappers and fd helpers (see sys.h). */
#include "sys.h"
#include "fmt.h"


#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

ssize_t sys_read(int fd, void *buf, size_t len)
{
    ssize_t n;
    do
        n = read(fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
}

ssize_t sys_write(int fd, const void *buf, size_t len)
{
    ssize_t n;
    do
        n = write(fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
}

bool sys_write_all(int fd, const void *buf, size_t len)
{
    for (const char *p = buf; len;) {
        ssize_t n = sys_write(fd, p, len);
        if (n < 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

void sys_dprintf(int fd, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = fmt_vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sys_write_all(fd, buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
}

ssize_t sys_sendmsg(int fd, const struct msghdr *m, int flags)
{
    ssize_t n;
    do
        n = sendmsg(fd, m, flags);
    while (n < 0 && errno == EINTR);
    return n;
}

ssize_t sys_recvmsg(int fd, struct msghdr *m, int flags)
{
    ssize_t n;
    do
        n = recvmsg(fd, m, flags);
    while (n < 0 && errno == EINTR);
    return n;
}

int sys_recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
    int r;
    do
        r = recvmmsg(fd, v, n, flags, NULL);
    while (r < 0 && errno == EINTR);
    return r;
}

pid_t sys_waitpid(pid_t pid, int *status, int options)
{
    pid_t r;
    do
        r = waitpid(pid, status, options);
    while (r < 0 && errno == EINTR);
    return r;
}

void sys_close(int fd)
{
    int e = errno;
    if (fd >= 0)
        close(fd);
    errno = e;
}

int sys_open(const char *path, int flags, mode_t mode)
{
    int fd;
    do
        fd = open(path, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return fd;
}

int sys_dup_cloexec(int fd, int min)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, min);
}

int sys_set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    int nfl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    if (nfl != fl && fcntl(fd, F_SETFL, nfl) < 0)
        return -1;
    return 0;
}

int sys_set_cloexec(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0)
        return -1;
    int nfl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
    if (nfl != fl && fcntl(fd, F_SETFD, nfl) < 0)
        return -1;
    return 0;
}

int sys_private_nonblock(int fd, bool wr)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) {
        /* A pipe or tty reopened through /proc gets its own file
         * description, so O_NONBLOCK does not leak to whoever else shares
         * the original (a shell's terminal, a child given "stderr"). */
        char path[40];
        fmt_snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        int nfd = sys_open(path, (wr ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_NOCTTY, 0);
        if (nfd >= 0) {
            struct stat nst;
            if (fstat(nfd, &nst) == 0 && nst.st_ino == st.st_ino && nst.st_dev == st.st_dev)
                return nfd;
            sys_close(nfd);
        }
    }
    int nfd = sys_dup_cloexec(fd, 3);
    if (nfd < 0)
        return -1;
    if (!S_ISREG(st.st_mode))
        sys_set_nonblock(nfd, true);
    return nfd;
}

const char *sys_strerror(int err)
{
    switch (err) {
    case EADDRINUSE: return "Address already in use";
    case EADDRNOTAVAIL: return "Cannot assign requested address";
    case EAGAIN: return "Resource temporarily unavailable";
    case ENOTEMPTY: return "Directory not empty";
    case EMFILE: return "Too many open files";
    case ENFILE: return "Too many open files in system";
    default: return strerror(err);
    }
}

int64_t sys_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sys_mono_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

bool sys_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s)
        return false;
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = (*p++ == '-');
    if (*p < '0' || *p > '9')
        return false;
    uint64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    int64_t r;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return false;
        r = (v == (uint64_t)INT64_MAX + 1) ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return false;
        r = (int64_t)v;
    }
    if (r < min || r > max)
        return false;
    *out = r;
    return true;
}

/* Field i of the fields that follow COMM in /proc/PID/stat (0 is STATE),
 * as a number. */
static bool stat_field(const char *p, int i, int64_t *v)
{
    for (;; i--) {
        p += strspn(p, " ");
        size_t k = strcspn(p, " \n");
        if (k == 0)
            return false;
        if (i == 0) {
            char num[24];
            if (k >= sizeof num)
                return false;
            memcpy(num, p, k);
            num[k] = '\0';
            return sys_parse_int(num, 0, INT64_MAX, v);
        }
        p += k;
    }
}

bool sys_proc_stat(pid_t pid, pid_t *ppid, uint64_t *start)
{
    char path[32], b[1024];
    fmt_snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = sys_open(path, O_RDONLY, 0);
    ssize_t n = fd < 0 ? -1 : sys_read(fd, b, sizeof b - 1);
    sys_close(fd);
    if (n <= 0)
        return false;
    b[n] = '\0';
    /* "PID (COMM) STATE PPID ... STARTTIME ...": COMM may hold anything,
     * even ") ", so the fields are counted from its last ')'. */
    const char *p = strrchr(b, ')');
    int64_t pp, st;
    if (!p || !stat_field(p + 1, 1, &pp) || !stat_field(p + 1, 19, &st) || pp > INT32_MAX)
        return false;
    *ppid = (pid_t)pp;
    *start = (uint64_t)st;
    return true;
}

char *sys_read_file(const char *path, size_t max, size_t *len)
{
    int fd = sys_open(path, O_RDONLY, 0);
    if (fd < 0)
        return NULL;
    size_t have = 0, cap = 0;
    char *buf = NULL;
    for (;;) {
        if (have + 1 >= cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            char *g = cap > max ? NULL : realloc(buf, ncap);
            if (!g) {
                int e = cap > max ? EFBIG : errno;
                free(buf);
                sys_close(fd);
                errno = e;
                return NULL;
            }
            buf = g;
            cap = ncap;
        }
        ssize_t n = sys_read(fd, buf + have, cap - have - 1);
        if (n < 0) {
            int e = errno;
            free(buf);
            sys_close(fd);
            errno = e;
            return NULL;
        }
        if (n == 0)
            break;
        have += (size_t)n;
    }
    sys_close(fd);
    if (have > max) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[have] = '\0';
    *len = have;
    return buf;
}

char *sys_absolute(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return NULL;
    const char *dir = strcmp(cwd, "/") == 0 ? "" : cwd;
    size_t n = strlen(dir) + 1 + strlen(path) + 1;
    char *s = malloc(n);
    if (s)
        fmt_snprintf(s, n, "%s/%s", dir, path);
    free(cwd);
    return s;
}

bool sys_proc_comm(pid_t pid, char *buf, size_t len)
{
    char path[32];
    fmt_snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    int fd = pid > 0 && len > 1 ? sys_open(path, O_RDONLY, 0) : -1;
    ssize_t n = fd < 0 ? -1 : sys_read(fd, buf, len - 1);
    sys_close(fd);
    if (n <= 0)
        return false;
    if (buf[n - 1] == '\n')
        n--;
    buf[n] = '\0';
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return n > 0;
}

void sys_each_fd(int lo, void (*fn)(int fd, void *ctx), void *ctx)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        for (int fd = lo; fd < 1024; fd++)
            if (fcntl(fd, F_GETFD) >= 0)
                fn(fd, ctx);
        return;
    }
    int self = dirfd(d);
    struct dirent *e;
    int64_t v;
    while ((e = readdir(d)) != NULL)
        if (sys_parse_int(e->d_name, lo, INT_MAX, &v) && v != self)
            fn((int)v, ctx);
    closedir(d);
}

char *sys_find(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return (char *)s;
    for (; *s; s++)
        if (*s == *needle && strncmp(s, needle, n) == 0)
            return (char *)s;
    return NULL;
}

char *sys_find_byte(const char *s, size_t n, char c)
{
    uint64_t pat = 0x0101010101010101ull * (unsigned char)c, m;
    const char *p = s, *end = s + n;
    for (; end - p >= 8; p += 8)
        if ((m = sys_below(sys_word(p, 8) ^ pat, 1)) != 0)
            return (char *)p + __builtin_ctzll(m) / 8;
    size_t k = (size_t)(end - p);
    if ((m = sys_below(sys_word(p, k) ^ pat, 1) & sys_first(k)) != 0)
        return (char *)p + __builtin_ctzll(m) / 8;
    return NULL;
}

/* Move v[i] down the heap v[0..n) until neither child is larger. */
static void sift_down(int *v, size_t i, size_t n)
{
    for (size_t c; (c = 2 * i + 1) < n; i = c) {
        if (c + 1 < n && v[c + 1] > v[c])
            c++;
        if (v[i] >= v[c])
            return;
        int t = v[i];
        v[i] = v[c];
        v[c] = t;
    }
}

void sys_sort_ints(int *v, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(v, i, n);
    while (n > 1) {
        int t = v[0];
        v[0] = v[--n];
        v[n] = t;
        sift_down(v, 0, n);
    }
}
