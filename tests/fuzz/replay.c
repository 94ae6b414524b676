/* replay.c - run the fuzz target over files without libFuzzer.
 *
 * Built with the ordinary compiler (and in the sanitizer build), so the
 * seed corpus and every crasher ever found run in `make test`:
 *
 *   fuzz_replay FILE|DIR...
 *
 * All inputs are read before the target enters its sandbox, where the
 * host's files are no longer visible.
 */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct input {
    char *name;
    unsigned char *data;
    size_t size;
};

static struct input *inputs;
static size_t ninputs, cap;

static void load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    struct input in = { .name = strdup(path) };
    size_t room = 0;
    for (;;) {
        if (in.size == room) {
            room = room ? room * 2 : 4096;
            in.data = realloc(in.data, room);
        }
        size_t n = fread(in.data + in.size, 1, room - in.size, f);
        if (n == 0)
            break;
        in.size += n;
    }
    fclose(f);
    if (ninputs == cap) {
        cap = cap ? cap * 2 : 256;
        inputs = realloc(inputs, cap * sizeof *inputs);
    }
    inputs[ninputs++] = in;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct input *)a)->name, ((const struct input *)b)->name);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            while (d && (e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.')
                    continue;
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
                load(path);
            }
            if (d)
                closedir(d);
        } else {
            load(argv[i]);
        }
    }
    qsort(inputs, ninputs, sizeof *inputs, by_name);
    int one = 1;
    char *args[] = { argv[0], NULL };
    char **av = args;
    LLVMFuzzerInitialize(&one, &av);
    for (size_t i = 0; i < ninputs; i++) {
        LLVMFuzzerTestOneInput(inputs[i].data, inputs[i].size);
        free(inputs[i].data);
        free(inputs[i].name);
    }
    free(inputs);
    printf("fuzz replay: %zu inputs, no failure\n", ninputs);
    return 0;
}
