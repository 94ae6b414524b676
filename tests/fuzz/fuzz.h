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

/* Enter the sandbox.  paths[] (n entries) are host files or directories the
 * fuzzer itself still needs (corpus, artifacts, dictionary): they are bound
 * read-write at the same path inside.  The calling process forks twice:
 * the ancestors only wait and pass the exit status on; a grandchild
 * returns, in a new PID namespace and the same working directory.  Exits
 * with status 3 if the namespaces cannot be set up: there is no
 * unsandboxed fallback. */
void fuzz_sandbox_enter(const char *const *paths, int n);

/* spawn_stub.c: make every fake child exit (collected by the next
 * spawn_reap), and forget all of them (start of a new input). */
void fuzz_spawn_exit_all(void);
void fuzz_spawn_reset(void);

/* The libFuzzer entry points, also called by replay.c. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
