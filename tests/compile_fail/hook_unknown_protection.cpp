// ordo-compile-fail: ordo: hook_ptr: Protection must be ordo::unprotected, ordo::owner_ref, ordo::rw_protect, ordo::rcu_protect or ordo::hazard_protect
//
// A hook_ptr's protection decides what a call may assume about the hook's
// lifetime; a type that is not one of ordo's protections is rejected rather
// than silently treated as one of them. The valid twin uses rw_protect.
#include <ordo/hook.hpp>

#include <mutex>

#ifdef ORDO_COMPILE_FAIL
ordo::hook_ptr<int(int), std::mutex> hook_with_a_mutex_as_protection;
int use() { return hook_with_a_mutex_as_protection.is_set() ? 1 : 0; }
#else
ordo::hook_ptr<int(int), ordo::rw_protect> hook_with_rw_protect;
int use() { return hook_with_rw_protect.is_set() ? 1 : 0; }
#endif

int main() { return use(); }
