// trap: traps with `unreachable` two calls deep, after writing to stderr, so
// the trap event has a backtrace with named frames.
#include <stdio.h>

__attribute__((noinline)) static void explode(void) {
    __builtin_trap();
}

__attribute__((noinline)) static void descend(int depth) {
    if (depth == 0) {
        explode();
    }
    descend(depth - 1);
    fprintf(stderr, "never reached\n");
}

int main(void) {
    fprintf(stderr, "about to trap\n");
    descend(2);
    return 0;
}
