// Tiny assertion helpers for the conformance programs: a failed check names
// its line and errno on stderr and exits 1; success prints "ok" to stdout.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "FAIL %s:%d: %s (errno %d: %s)\n", __FILE__, __LINE__,     \
                    #cond, errno, strerror(errno));                                    \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define PASS()                \
    do {                      \
        printf("ok\n");       \
        return 0;             \
    } while (0)
