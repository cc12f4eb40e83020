// Arguments and environment: exactly what the spec gives, in order.
#include "check.h"

extern char **environ;

int main(int argc, char **argv) {
    CHECK(argc == 3);
    CHECK(strcmp(argv[1], "one") == 0 && strcmp(argv[2], "two words") == 0);
    int n = 0;
    for (char **e = environ; *e; e++) n++;
    CHECK(n == 2);
    CHECK(getenv("GREETING") && strcmp(getenv("GREETING"), "hello=world") == 0);
    CHECK(getenv("EMPTY") && strcmp(getenv("EMPTY"), "") == 0);
    CHECK(getenv("HOME") == NULL && getenv("PATH") == NULL);
    PASS();
}
