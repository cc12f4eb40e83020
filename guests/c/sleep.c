// sleep: sleeps for the given number of milliseconds (poll_oneoff), then
// writes one line to stderr. Used for idle-instance tests and benchmarks.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    long ms = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    fprintf(stderr, "slept %ld ms\n", ms);
    return 0;
}
