// logger: writes N numbered lines of about 80 bytes to stderr, one fd_write
// each. N comes from argv[1], else the LOGGER_LINES environment variable,
// else 10.
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    const char *n_text = argc > 1 ? argv[1] : getenv("LOGGER_LINES");
    long n = n_text ? strtol(n_text, NULL, 10) : 10;
    for (long i = 1; i <= n; i++) {
        fprintf(stderr, "line %08ld: the quick brown fox jumps over the lazy dog 0123456789\n", i);
    }
    return 0;
}
