// hello: one line to stdout, one to stderr, exit 0.
#include <iostream>

int main() {
    std::cout << "hello from c++" << std::endl;
    std::cerr << "hello from c++ on stderr" << std::endl;
    return 0;
}
