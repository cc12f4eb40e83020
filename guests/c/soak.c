// soak: one member of the mixed fleet of benches/soak.sh. With `mixed` each
// instance draws its role from WASI randomness; it says which on its first
// line, so the checker knows what to expect of it:
//   logger   2000 numbered lines in bursts, exit 0
//   sleeper  sleeps 500 ms (poll_oneoff), exit 0
//   trapper  sleeps 200 ms, then traps (exit 134, instance.trap)
//   hang     sleeps forever: only the timeout stops it (instance.timeout)
//   spin     loops without a system call: only the timeout stops it
// With `long` it is a logger or a sleeper that never ends (until SIGTERM).
// Given a role's name instead, it plays that role (tests/all/embed_harden.rs).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void log_lines(long n) {
    for (long i = 1; n == 0 || i <= n; i++) {
        fprintf(stderr, "soak %08ld: the quick brown fox jumps over the lazy dog\n", i);
        if (i % 100 == 0) sleep_ms(5);
    }
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "mixed";
    unsigned char r = 0;
    if (getentropy(&r, 1) != 0) return 2;
    const char *role;
    if (strcmp(mode, "long") == 0) {
        role = r % 2 ? "forever-logger" : "forever-sleeper";
    } else if (strcmp(mode, "mixed") == 0) {
        static const char *roles[] = {"logger", "logger", "logger", "logger", "sleeper", "sleeper", "trapper", "trapper", "hang", "spin"};
        role = roles[r % 10];
    } else {
        role = mode;
    }
    fprintf(stderr, "role %s\n", role);
    if (strcmp(role, "logger") == 0) log_lines(2000);
    else if (strcmp(role, "sleeper") == 0) sleep_ms(500);
    else if (strcmp(role, "trapper") == 0) { sleep_ms(200); __builtin_trap(); }
    else if (strcmp(role, "hang") == 0) for (;;) sleep_ms(1000000);
    else if (strcmp(role, "spin") == 0) { volatile unsigned long n = 0; for (;;) n++; }
    else if (strcmp(role, "forever-logger") == 0) for (;;) { log_lines(100); sleep_ms(50); }
    else if (strcmp(role, "forever-sleeper") == 0) for (;;) sleep_ms(1000);
    else return 2; // no such role
    return 0;
}
