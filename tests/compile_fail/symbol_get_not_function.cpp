// ordo-compile-fail: ordo: symbol_get: Sig must be a function type
//
// symbol_get<Sig> checks Sig against the exported function's type; a Sig that
// is not a function type (here a function pointer type) is a compile error.
#include <ordo/module.hpp>

int main() {
  ordo::module_registry modules;
#ifdef ORDO_COMPILE_FAIL
  auto fn = ordo::symbol_get<int (*)(int)>(modules, "f");
#else
  auto fn = ordo::symbol_get<int(int)>(modules, "f");
#endif
  return fn ? 1 : 0;
}
