/* fuzz_restore.c - libFuzzer target: a re-exec's state restored by the
 * daemon's own code, in-process: reexec_load() and reexec_restore(), so
 * every module's restore (handles, the log, signals, services with their
 * readiness and fd stores, the control socket, controllers with their
 * unread input and unwritten output, the links between them), exactly as
 * a new binary or its --state-check runs them.
 *
 * Each input is a state.  The fd numbers it names are mapped, first come
 * first served, onto a pool of fresh socketpair ends made for the input
 * (state_set_fd_map): the restore adopts real fds that are the harness's
 * to lose, never libFuzzer's own.  A number beyond the pool is "not an
 * fd".  Afterwards, whether the state was restored or refused, the world
 * is torn down and reset as for fuzz_commands.c, the pool ends nothing
 * took are closed, and no fd may have leaked.  ASan and UBSan watch the
 * reading of every field; a refusal must not leak memory (LeakSanitizer).
 * Seeds (restore-corpus/) are real states written by daemonproxy.
 */
#include "fuzz.h"
#include "../../src/reexec.h"
#include "../../src/state.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define POOL 64

static int pool[POOL];          /* this input's fds, -1 once closed */
static int mapped_from[POOL];   /* the number the state used for pool[i] */
static int nmapped;
/* DP_FUZZ_ECHO=1: say what became of each input (for looking at seeds). */
static bool verbose;

static int map_fd(int fd)
{
    for (int i = 0; i < nmapped; i++)
        if (mapped_from[i] == fd)
            return pool[i];
    if (nmapped == POOL)
        return -1;
    mapped_from[nmapped] = fd;
    return pool[nmapped++];
}

static void make_pool(void)
{
    for (int i = 0; i < POOL; i += 2)
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, &pool[i]) < 0)
            abort();
    nmapped = 0;
}

/* After the tear-down (which closed every pool fd an object had taken):
 * the rest are still the harness's. */
static void close_pool(void)
{
    for (int i = 0; i < POOL; i++)
        if (fcntl(pool[i], F_GETFD) >= 0)
            close(pool[i]);
}

/* A state may ask for pools of any size (--fd-pool accepts 2^31 blocks):
 * allocations beyond 64 MB fail here, as a larger one may on a real
 * machine, so that the fuzzer tests the refusal instead of its memory. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1:max_allocation_size_mb=64";
}

static void exit_hook(int code)
{
    abort();    /* a restore never ends daemonproxy: main() decides that */
}

/* main() sets the config and stdin controllers' callbacks; nothing here. */
static void restored_ctl(struct ctl *c)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    verbose = getenv("DP_FUZZ_ECHO") != NULL;
    fuzz_world_init(*argc, *argv, exit_hook);
    state_set_fd_map(map_fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int before[FUZZ_FDS_MAX];
    int nbefore = fuzz_fd_list(before);
    make_pool();
    int mfd = memfd_create("fuzz-state", MFD_CLOEXEC);
    if (mfd < 0 || (size && write(mfd, data, size) != (ssize_t)size) ||
        lseek(mfd, 0, SEEK_SET) != 0)
        abort();
    struct reexec_settings s;
    const char *err = NULL;
    bool ok = reexec_load(mfd, &s, &err);   /* it closes mfd */
    if (ok) {
        free((char *)s.cgroup);
        ok = reexec_restore(restored_ctl, &err);
    }
    if (verbose)
        fprintf(stderr, "fuzz_restore: %s\n", ok ? "restored" : err);
    fuzz_world_clear(close_pool);
    fuzz_check_fds(before, nbefore);
    return 0;
}
