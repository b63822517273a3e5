// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held.*taking<ordo::rank<1U?> ?>::while_holding<ordo::rank<2U?> ?>
//
// ordo::rank<N> levels are ordered by number: rank<1> cannot be taken while
// rank<2> is held. The twin takes them in ascending order.
#include <ordo/ordered_mutex.hpp>

ordo::ordered_mutex<ordo::rank<1>> low;
ordo::ordered_mutex<ordo::rank<2>> high;

int main() {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto h = high.lock(ctx);
  auto l = low.lock(h);
#else
  auto l = low.lock(ctx);
  auto h = high.lock(l);
#endif
}
