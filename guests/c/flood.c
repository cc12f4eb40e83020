// flood: writes numbered lines as fast as it can, forever (or N lines), to
// stderr or stdout, one write(2) each. Like `yes`, it stops when a write
// fails: exit 32 when the error is EPIPE (its reader went away), 1 otherwise.
//   flood [stderr|stdout] [N]
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int fd = argc > 1 && strcmp(argv[1], "stdout") == 0 ? 1 : 2;
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : -1;
    char line[128];
    for (long i = 1; n < 0 || i <= n; i++) {
        int len = snprintf(line, sizeof line, "flood %010ld: the quick brown fox jumps over the lazy dog\n", i);
        if (write(fd, line, (size_t)len) != len) return errno == EPIPE ? 32 : 1;
    }
    return 0;
}
