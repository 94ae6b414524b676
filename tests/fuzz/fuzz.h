/* fuzz.h - pieces shared by the fuzz target and its replay driver.
 *
 * The target (fuzz_commands.c) runs arbitrary bytes through a real control
 * connection in-process.  Two things keep that from touching the host:
 * spawn_stub.c stands in for src/spawn.c (the seam every process start and
 * reap goes through), and sandbox.c moves the process into its own user,
 * mount, network and PID namespaces with an empty root file system before
 * the first input runs.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Enter the sandbox.  paths[] (n entries) are host files or directories the
 * fuzzer itself still needs (corpus, artifacts, dictionary): they are bound
 * read-write at the same path inside.  The calling process forks twice:
 * the ancestors only wait and pass the exit status on; a grandchild
 * returns, in a new PID namespace and the same working directory.  Exits
 * with status 3 if the namespaces cannot be set up: there is no
 * unsandboxed fallback. */
void fuzz_sandbox_enter(const char *const *paths, int n);

/* world.c: the daemon's modules in-process (fuzz_commands.c,
 * fuzz_restore.c).  Init enters the sandbox and sets the modules up as
 * main() does before any handle exists, with exit_hook as term_exit()'s
 * hook.  start_handles registers the start-time handles as main() does
 * (the commands target); reset tears down what an input made (services,
 * handles, the control socket, controllers) and puts back the state after
 * start-up; clear tears down everything, the constant handles and the
 * pools too (a restore's empty registries), calling `then` before the
 * settings are reset.  The fd list and check catch a leak across an
 * input. */
#define FUZZ_FDS_MAX 4096
void fuzz_world_init(int argc, char **argv, void (*exit_hook)(int code));
void fuzz_world_start_handles(void);
void fuzz_world_reset(void);
void fuzz_world_clear(void (*then)(void));
int fuzz_nullfd(void);
int fuzz_fd_list(int *out);
void fuzz_check_fds(const int *before, int nbefore);

/* spawn_stub.c: a child the stub did not make (a restored service's pid)
 * becomes one of its fakes, running until fuzz_spawn_exit_all(). */
void fuzz_spawn_adopt(pid_t pid);

/* spawn_stub.c: make every fake child exit (collected by the next
 * spawn_reap), and forget all of them (start of a new input). */
void fuzz_spawn_exit_all(void);
void fuzz_spawn_reset(void);

/* The libFuzzer entry points, also called by replay.c. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
