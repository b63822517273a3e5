// ordo-compile-fail: ordo: rcu_obj_base<T, D>: the deleter must be callable with T
//
// rcu_obj_base<T, D>::retire() schedules d(p) for the T that derives from
// it: a deleter that cannot take a T* is rejected where retire() is used,
// with ordo's message. The twin's deleter takes the object.
#include <ordo/rcu.hpp>

struct other {};
struct takes_other {
  void operator()(other*) const noexcept {}
};
struct node;
struct takes_node {
  void operator()(node* p) const noexcept;
};

#ifdef ORDO_COMPILE_FAIL
struct node : ordo::rcu_obj_base<node, takes_other> {};
#else
struct node : ordo::rcu_obj_base<node, takes_node> {};
#endif

void takes_node::operator()(node* p) const noexcept { delete p; }

int main() {
  ordo::rcu_domain domain;
  (new node)->retire({}, domain);
  domain.barrier();
}
