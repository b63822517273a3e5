// A consumer of ordo: includes the public headers and uses them, so the
// consumer tests prove that an installed or vendored ordo is usable.
#include <ordo/once.hpp>

#include <cstdio>

int main() {
  long value = 0;
  ordo::store_release(value, 42L);
  if (ordo::load_acquire(value) != 42) return 1;
  std::puts("ordo consumer: ok");
  return 0;
}
