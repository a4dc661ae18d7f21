// A minimal test harness: TEST_CASE(name) { ... CHECK(cond); CHECK_NEAR(a, b, tol); }
// CMake registers each TEST_CASE of a file as its own ctest entry; the
// executable runs the case named on its command line (or all of them).
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fastrec::test {

struct Case {
  const char* name;
  std::function<void()> fn;
};
std::vector<Case>& cases();
struct Register {
  Register(const char* name, std::function<void()> fn) { cases().push_back({name, std::move(fn)}); }
};
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] inline void fail(const char* file, int line, const std::string& what) {
  std::ostringstream os;
  os << file << ":" << line << ": " << what;
  throw Failure(os.str());
}

}  // namespace fastrec::test

#define TEST_CASE(name)                                              \
  static void test_##name();                                         \
  static ::fastrec::test::Register register_##name(#name, test_##name); \
  static void test_##name()

#define CHECK(cond) \
  do { if (!(cond)) ::fastrec::test::fail(__FILE__, __LINE__, "CHECK(" #cond ") failed"); } while (0)

#define CHECK_NEAR(a, b, tol)                                                                    \
  do {                                                                                           \
    double _a = (a), _b = (b), _t = (tol);                                                       \
    if (!(std::fabs(_a - _b) <= _t)) {                                                           \
      std::ostringstream _os;                                                                    \
      _os << "CHECK_NEAR(" #a ", " #b ") failed: " << _a << " vs " << _b << " (tol " << _t << ")"; \
      ::fastrec::test::fail(__FILE__, __LINE__, _os.str());                                      \
    }                                                                                            \
  } while (0)

#define CHECK_THROWS(expr)                                                      \
  do {                                                                          \
    bool _threw = false;                                                        \
    try { expr; } catch (const ::fastrec::test::Failure&) { throw; } catch (...) { _threw = true; } \
    if (!_threw) ::fastrec::test::fail(__FILE__, __LINE__, "expected " #expr " to throw"); \
  } while (0)
