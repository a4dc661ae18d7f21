#include <cstring>

#include "test.hpp"

namespace fastrec::test {
std::vector<Case>& cases() {
  static std::vector<Case> all;
  return all;
}
}  // namespace fastrec::test

int main(int argc, char** argv) {
  using namespace fastrec::test;
  int run = 0, failed = 0;
  for (const Case& c : cases()) {
    if (argc > 1 && std::strcmp(argv[1], c.name) != 0) continue;
    ++run;
    try {
      c.fn();
      std::printf("ok   %s\n", c.name);
    } catch (const std::exception& e) {
      ++failed;
      std::printf("FAIL %s: %s\n", c.name, e.what());
    }
  }
  if (run == 0) {
    std::printf("no test case named %s\n", argc > 1 ? argv[1] : "(any)");
    return 2;
  }
  return failed == 0 ? 0 : 1;
}
