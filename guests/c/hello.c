// hello: one line to stdout, one to stderr, exit 0.
#include <stdio.h>

int main(void) {
    printf("hello from c\n");
    fprintf(stderr, "hello from c on stderr\n");
    return 0;
}
