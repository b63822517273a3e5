// ordo/ordo.hpp — every public header of ordo, for code that wants all of it
// (the ordo::ordo target; Abseil is needed for the ordered locks). Code that
// uses one primitive includes its header instead and links the target that
// provides it (README, "Using ordo").
#ifndef ORDO_ORDO_HPP
#define ORDO_ORDO_HPP

#include <ordo/version.hpp>

#include <ordo/ap.hpp>
#include <ordo/bitmap.hpp>
#include <ordo/hazard_pointer.hpp>
#include <ordo/hook.hpp>
#include <ordo/lock_level.hpp>
#include <ordo/lockdep.hpp>
#include <ordo/module.hpp>
#include <ordo/once.hpp>
#include <ordo/ordered_mutex.hpp>
#include <ordo/rcu.hpp>
#include <ordo/ref.hpp>
#include <ordo/refcount.hpp>

#endif  // ORDO_ORDO_HPP
