// proc_exit: the code reaches the host, and buffered stdout is flushed first.
#include "check.h"

int main(void) {
    printf("leaving with 42\n");
    exit(42);
}
