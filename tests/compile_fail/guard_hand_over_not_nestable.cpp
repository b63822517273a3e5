// ordo-compile-fail: ordo: hand_over: the level must be an ordo::nestable_level
//
// hand_over takes the next instance of the guard's level while holding the
// current one: only a nestable level orders its instances (by key). The
// twin declares the level nestable.
#include <ordo/ordered_mutex.hpp>

#ifdef ORDO_COMPILE_FAIL
struct node_level : ordo::level<> {};
ordo::ordered_mutex<node_level> first, second;
#else
struct node_level : ordo::nestable_level<> {};
ordo::ordered_mutex<node_level> first(ordo::nest_key{1}), second(ordo::nest_key{2});
#endif

int main() {
  ordo::unlocked ctx;
  auto cur = first.lock(ctx);
  cur.hand_over(second);
}
