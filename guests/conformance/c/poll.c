// poll_oneoff: a clock subscription waits at least its timeout, stdout is
// ready for writing, and a regular file is ready for reading.
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

int main(void) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(poll(NULL, 0, 30) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long waited = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    CHECK(waited >= 30 * 1000000LL);

    struct pollfd out = {.fd = 1, .events = POLLOUT};
    CHECK(poll(&out, 1, 1000) == 1 && (out.revents & POLLOUT));

    int fd = open("fs.dir/fixture.txt", O_RDONLY);
    CHECK(fd >= 0);
    struct pollfd in = {.fd = fd, .events = POLLIN};
    CHECK(poll(&in, 1, 1000) == 1 && (in.revents & POLLIN));
    close(fd);
    PASS();
}
