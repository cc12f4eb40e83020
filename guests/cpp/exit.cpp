// exit: exits with the code given as argv[1], parsed with std::stoi.
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char **argv) {
    std::vector<std::string> args(argv, argv + argc);
    std::exit(args.size() > 1 ? std::stoi(args[1]) : 0);
}
