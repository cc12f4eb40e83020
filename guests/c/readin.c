// readin: reads stdin to its end, then says on stderr how many bytes came.
// Blocks in a host call (fd_read) for as long as its stdin stays open.
#include <stdio.h>
#include <unistd.h>

int main(void) {
    char buf[4096];
    long total = 0;
    ssize_t n;
    fprintf(stderr, "reading stdin\n");
    while ((n = read(0, buf, sizeof buf)) > 0) total += n;
    fprintf(stderr, "read %ld bytes\n", total);
    return n < 0 ? 1 : 0;
}
