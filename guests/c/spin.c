// spin: loops forever without a system call, after saying so on stderr.
// Only a timeout or a fuel limit can stop it.
#include <stdio.h>

int main(void) {
    fprintf(stderr, "spinning\n");
    volatile unsigned long n = 0;
    for (;;) n++;
}
