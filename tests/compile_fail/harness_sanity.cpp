// ordo-compile-fail: ordo: compile-fail harness sanity check
//
// Checks the harness itself: the twin builds, and the misuse fails with the
// text below. If this test fails, every other compile-fail result is suspect.
#include <type_traits>

template <class T>
constexpr bool refuse() {
  static_assert(!std::is_same_v<T, int>, "ordo: compile-fail harness sanity check");
  return true;
}

#ifdef ORDO_COMPILE_FAIL
static_assert(refuse<int>());
#else
static_assert(refuse<long>());
#endif

int main() { return 0; }
