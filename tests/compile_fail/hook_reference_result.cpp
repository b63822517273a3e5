// ordo-compile-fail: ordo: hook_ptr: R must not be a reference
//
// call() returns std::optional<R> (empty when no hook is set), and there is
// no std::optional<R&>: a hook returning a reference is rejected with ordo's
// own message. The valid twin returns a pointer.
#include <ordo/hook.hpp>

#ifdef ORDO_COMPILE_FAIL
ordo::hook_ptr<int&(int), ordo::rcu_protect> hook_returning_reference;
int use() { return hook_returning_reference.is_set() ? 1 : 0; }
#else
ordo::hook_ptr<int*(int), ordo::rcu_protect> hook_returning_pointer;
int use() { return hook_returning_pointer.is_set() ? 1 : 0; }
#endif

int main() { return use(); }
