// ordo-compile-fail: ordo: hazard_pointer_obj_base: D must be callable with T\*
//
// retire() stores D and later calls d(static_cast<T*>(this)); a deleter that
// takes something else is rejected at the retire() call, with our message,
// instead of deep inside the reclamation code. The valid twin's deleter
// takes T*.
#include <ordo/hazard_pointer.hpp>

struct node;
#ifdef ORDO_COMPILE_FAIL
struct node_deleter {
  void operator()(int*) const {}
};
#else
struct node_deleter {
  void operator()(node* n) const;
};
#endif
struct node : ordo::hazard_pointer_obj_base<node, node_deleter> {};
#ifndef ORDO_COMPILE_FAIL
void node_deleter::operator()(node* n) const { delete n; }
#endif

int main() {
  (new node)->retire();
  return 0;
}
