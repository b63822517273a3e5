// ordo-compile-fail: ordo: lock order violation: this level is already held.*taking<bucket_level>::while_holding<bucket_level>
//
// Nesting two locks of one level one by one needs the level declared
// ordo::nestable_level (the validator then checks instance keys at run
// time). The twin declares it nestable.
#include <ordo/ordered_mutex.hpp>

struct table_level : ordo::level<> {};
#ifdef ORDO_COMPILE_FAIL
struct bucket_level : ordo::level<table_level> {};
ordo::ordered_mutex<bucket_level> first, second;
#else
struct bucket_level : ordo::nestable_level<table_level> {};
ordo::ordered_mutex<bucket_level> first(ordo::nest_key{1}), second(ordo::nest_key{2});
#endif

int main() {
  ordo::unlocked ctx;
  auto a = first.lock(ctx);
  auto b = second.lock(a);
}
