// ordo-compile-fail: ordo: rcu_domain::retire: the deleter must be callable with T
//
// rcu_retire(p, d, dom), as in [saferecl.rcu.domain.func], mandates that d(p)
// is well-formed: a deleter of another type is rejected with ordo's message.
#include <ordo/rcu.hpp>

struct config {
  int value = 0;
};
struct other {};

int main() {
  ordo::rcu_domain domain;
#ifdef ORDO_COMPILE_FAIL
  ordo::rcu_retire(new config, [](other*) {}, domain);
#else
  ordo::rcu_retire(new config, [](config* p) { delete p; }, domain);
#endif
  ordo::rcu_barrier(domain);
}
