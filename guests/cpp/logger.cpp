// logger: writes N numbered lines to stderr (N from argv[1], else
// LOGGER_LINES, else 10).
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char **argv) {
    const char *n_text = argc > 1 ? argv[1] : std::getenv("LOGGER_LINES");
    long n = n_text ? std::strtol(n_text, nullptr, 10) : 10;
    for (long i = 1; i <= n; i++) {
        std::string line = "line " + std::to_string(i) + ": the quick brown fox jumps over the lazy dog\n";
        std::fputs(line.c_str(), stderr);
    }
    return 0;
}
