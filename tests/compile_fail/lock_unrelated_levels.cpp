// ordo-compile-fail: ordo: lock order violation: unrelated levels cannot be held together.*taking<disk_level>::while_holding<net_level>
//
// Two levels with no declared order cannot be held together (no order would
// be checkable). The twin declares disk after net.
#include <ordo/ordered_mutex.hpp>

struct net_level : ordo::level<> {};
#ifdef ORDO_COMPILE_FAIL
struct disk_level : ordo::level<> {};
#else
struct disk_level : ordo::level<net_level> {};
#endif
ordo::ordered_mutex<net_level> net;
ordo::ordered_mutex<disk_level> disk;

int main() {
  ordo::unlocked ctx;
  auto n = net.lock(ctx);
  auto d = disk.lock(n);
}
