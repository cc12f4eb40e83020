// endless: one line that never ends — 64 KiB of 'x' per write(2) to stderr,
// forever, never a newline. The host must cut it into bounded pieces and,
// with a reader that stalls, hold a bounded number of them (issue 18 item 8).
// Stops when a write fails (exit 32 on EPIPE, 1 otherwise), as flood does.
#include <errno.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    static char chunk[64 << 10];
    memset(chunk, 'x', sizeof chunk);
    for (;;) {
        if (write(2, chunk, sizeof chunk) != (ssize_t)sizeof chunk) return errno == EPIPE ? 32 : 1;
    }
}
