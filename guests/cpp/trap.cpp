// trap: aborts from a member function (std::abort traps with `unreachable`
// in wasi-libc) after building a std::string, so libc++ is linked.
#include <cstdio>
#include <cstdlib>
#include <string>

namespace guest {
struct Bomb {
    std::string label;
    [[noreturn]] __attribute__((noinline)) void explode() {
        std::fputs(("about to abort: " + label + "\n").c_str(), stderr);
        std::abort();
    }
};
}  // namespace guest

int main(int argc, char **argv) {
    guest::Bomb{std::string(argv[0]) + std::to_string(argc)}.explode();
}
