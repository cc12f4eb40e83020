// bytes: writes its arguments to stderr as raw bytes, one write(2) in all,
// after decoding the escapes \xNN, \n, \r and \\ — so a test can send any
// byte (control characters, a UTF-8 character split across a cut). With
// `--pad N` first, N 'x' bytes come before the rest.
//   bytes [--pad N] TEXT...
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int main(int argc, char **argv) {
    int i = 1;
    size_t pad = 0;
    if (argc > 2 && strcmp(argv[1], "--pad") == 0) {
        pad = strtoul(argv[2], NULL, 10);
        i = 3;
    }
    size_t cap = pad + 1;
    for (int j = i; j < argc; j++) cap += strlen(argv[j]);
    char *out = malloc(cap);
    if (!out) return 2;
    memset(out, 'x', pad);
    size_t n = pad;
    for (; i < argc; i++) {
        for (const char *p = argv[i]; *p; p++) {
            if (*p != '\\' || !p[1]) {
                out[n++] = *p;
            } else if (p[1] == 'x' && hex(p[2]) >= 0 && hex(p[3]) >= 0) {
                out[n++] = (char)(hex(p[2]) * 16 + hex(p[3]));
                p += 3;
            } else {
                p++;
                out[n++] = *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p;
            }
        }
    }
    return write(2, out, n) == (ssize_t)n ? 0 : 1;
}
