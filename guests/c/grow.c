// grow: allocates 1 MiB blocks until malloc fails, then reports how far it
// got on stderr and exits 3. Under a memory limit it stops early.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Kept so the compiler cannot prove the allocations unused and drop them.
char *volatile last_block;

int main(int argc, char **argv) {
    long max_mib = argc > 1 ? strtol(argv[1], NULL, 10) : 4096;
    long got = 0;
    while (got < max_mib) {
        char *block = malloc(1 << 20);
        if (!block) {
            fprintf(stderr, "error: malloc failed after %ld MiB\n", got);
            return 3;
        }
        memset(block, (int)got, 1 << 20);
        last_block = block;
        got++;
    }
    fprintf(stderr, "allocated %ld MiB\n", got);
    return 0;
}
