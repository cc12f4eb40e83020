// upper: reads all of stdin, writes it upper-cased to stdout, and logs what
// it did on stderr. The example gateway's request handler.
#include <ctype.h>
#include <stdio.h>

int main(void) {
    size_t total = 0;
    int c;
    while ((c = getchar()) != EOF) {
        putchar(toupper(c));
        total++;
    }
    fprintf(stderr, "handled %zu bytes\n", total);
    return total == 0 ? 4 : 0;
}
