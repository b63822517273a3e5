// Two translation units that share a user struct holding an ordo lock: the
// mixed-configuration link test (tests/abi/CMakeLists.txt) builds one with
// ORDO_LOCKDEP=1 and one with the value it is given. The struct's layout
// depends on the validator, and no ordo type appears in the function's
// signature, so only detail/abi_check.hpp's marker can refuse the mix.
#ifndef ORDO_TESTS_ABI_WIDGET_HPP
#define ORDO_TESTS_ABI_WIDGET_HPP

#include <ordo/ordered_mutex.hpp>

struct widget_level : ordo::level<> {};

struct counter {
  ordo::ordered_mutex<widget_level> lock;
  int value = 0;
};

// Defined in define.cpp, called from use.cpp.
int locked_increment(counter& c);

#endif  // ORDO_TESTS_ABI_WIDGET_HPP
