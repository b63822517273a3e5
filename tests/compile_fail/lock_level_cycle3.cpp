// ordo-compile-fail: ordo: lock order violation: lock levels are declared in a cycle.*declared_cycle<ring_1, ring_3>
//
// A three-level cycle (ring_1 before ring_2 before ring_3 before ring_1),
// hanging off a healthy root, is found through the transitive closure. The
// twin breaks the ring.
#include <ordo/ordered_mutex.hpp>

struct ring_root : ordo::level<> {};
struct ring_1;
struct ring_2 : ordo::level<ring_1> {};
struct ring_3 : ordo::level<ring_2> {};
#ifdef ORDO_COMPILE_FAIL
struct ring_1 : ordo::level<ring_root, ring_3> {};
#else
struct ring_1 : ordo::level<ring_root> {};
#endif
ordo::ordered_mutex<ring_1> one;

int main() {
  ordo::unlocked ctx;
  auto g = one.lock(ctx);
}
