// ordo-compile-fail: ordo: assert_held: a required level is not .definitely. held.*required_level<inner_level
//
// The context lock_if returns holds its level only maybe: code that needs
// it definitely held cannot be satisfied by it. The twin asks for
// ordo::maybe<inner_level>, which is what lock_if guarantees.
#include <ordo/ordered_mutex.hpp>

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};
struct innermost_level : ordo::level<inner_level> {};

ordo::ordered_mutex<outer_level> outer;
ordo::ordered_mutex<inner_level> inner;

int main(int argc, char**) {
  ordo::unlocked ctx;
  auto o = outer.lock(ctx);
  auto maybe = ordo::lock_if(argc > 1 ? &inner : nullptr, o);
#ifdef ORDO_COMPILE_FAIL
  ordo::assert_held<outer_level, inner_level>(maybe);
#else
  ordo::assert_held<outer_level, ordo::maybe<inner_level>>(maybe);
#endif
}
