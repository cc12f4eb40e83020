// outputs: writes awkward output for the host's line rules.
//   partial       "first\n" then "no newline at end" without a newline
//   longline N    one line of N bytes ('x') without a newline
//   badutf8       a line with invalid UTF-8 bytes, then a valid line
//   crlf          two lines ended by "\r\n"
//   both          interleaves stdout and stderr lines
//   stdout N      N numbered lines to stdout
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0) exit(3);
        buf += n;
        len -= (size_t)n;
    }
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "partial";
    if (strcmp(mode, "partial") == 0) {
        write_all(2, "first\n", 6);
        write_all(2, "no newline at end", 17);
    } else if (strcmp(mode, "longline") == 0) {
        size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1 << 20;
        char *buf = malloc(n);
        memset(buf, 'x', n);
        write_all(2, buf, n);
    } else if (strcmp(mode, "badutf8") == 0) {
        write_all(2, "bad \xff\xfe bytes\n", 13);
        write_all(2, "good\n", 5);
    } else if (strcmp(mode, "crlf") == 0) {
        write_all(2, "one\r\ntwo\r\n", 10);
    } else if (strcmp(mode, "both") == 0) {
        printf("out 1\n");
        fflush(stdout);
        fprintf(stderr, "err 1\n");
        printf("out 2\n");
        fflush(stdout);
        fprintf(stderr, "err 2\n");
    } else if (strcmp(mode, "stdout") == 0) {
        long n = argc > 2 ? strtol(argv[2], NULL, 10) : 10;
        for (long i = 1; i <= n; i++) printf("stdout line %ld\n", i);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}
