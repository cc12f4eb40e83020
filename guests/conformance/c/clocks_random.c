// Clocks and randomness: realtime is after 2020, monotonic moves forward
// across a sleep by at least the sleep, resolutions are sane, and
// random_get gives different non-zero bytes each time. The process CPU
// clock is optional in WASI: it must either work or fail with an errno.
#include <time.h>
#include <unistd.h>
#include "check.h"

static long long ns(struct timespec t) {
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(void) {
    struct timespec now, t0, t1, res;
    CHECK(clock_gettime(CLOCK_REALTIME, &now) == 0 && now.tv_sec > 1577836800);
    CHECK(clock_getres(CLOCK_MONOTONIC, &res) == 0 && ns(res) > 0 && ns(res) <= 1000000);
    CHECK(clock_gettime(CLOCK_MONOTONIC, &t0) == 0);
    struct timespec nap = {0, 20 * 1000000};
    CHECK(nanosleep(&nap, NULL) == 0);
    CHECK(clock_gettime(CLOCK_MONOTONIC, &t1) == 0);
    CHECK(ns(t1) - ns(t0) >= 20 * 1000000LL);
    // CLOCK_PROCESS_CPUTIME_ID is optional in WASI; wasmtime answers EBADF.
    CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0) == 0 || errno != 0);

    unsigned char a[32] = {0}, b[32] = {0}, zero[32] = {0};
    CHECK(getentropy(a, sizeof a) == 0 && getentropy(b, sizeof b) == 0);
    CHECK(memcmp(a, zero, sizeof a) != 0 && memcmp(a, b, sizeof a) != 0);
    PASS();
}
