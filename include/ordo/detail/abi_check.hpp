// ordo/detail/abi_check.hpp — a program whose translation units disagree on
// ORDO_LOCKDEP fails to link, instead of breaking the one-definition rule.
//
// The lock validator changes the layout of every ordered mutex (a lock class
// and a held-stack record; 16 -> 24 bytes for an absl::Mutex), and with it the
// layout of every user struct that holds one. Two guards, both at link time:
//
//   1. Types: the validator policy (ordo::validator_on / validator_off) is a
//      template argument of every ordered mutex, so a function that takes an
//      ordo lock has a different mangled name in each configuration: calling
//      it across configurations is an undefined reference that names the
//      policy.
//   2. Everything else (a user struct holding a mutex, passed by reference):
//      every translation unit that includes lockdep.hpp (ordered_mutex.hpp
//      does) defines the global symbol below inside a COMDAT group named
//      after its configuration. Units of one configuration share one group,
//      which the linker keeps once; units of both configurations leave two
//      groups that define the same strong symbol, and the link fails with
//      "multiple definition of `ordo_abi_mismatch_ORDO_LOCKDEP_differs_between_translation_units'"
//      (GNU ld, gold and lld alike; tests/abi/).
//
// Limits: ELF only; the check is per link, so two shared libraries built in
// different configurations are not caught when they are loaded together.
// Nothing else in ordo depends on ORDO_LOCKDEP, and nothing depends on NDEBUG.
#ifndef ORDO_DETAIL_ABI_CHECK_HPP
#define ORDO_DETAIL_ABI_CHECK_HPP

#if defined(__ELF__) && !defined(ORDO_NO_ABI_CHECK)
#if defined(ORDO_LOCKDEP) && ORDO_LOCKDEP
#define ORDO_DETAIL_ABI_GROUP "ordo_abi_lockdep_on"
#else
#define ORDO_DETAIL_ABI_GROUP "ordo_abi_lockdep_off"
#endif
// A basic asm declaration at namespace scope: one byte of data in the group.
asm(".pushsection .data.ordo_abi_marker,\"awG\",@progbits," ORDO_DETAIL_ABI_GROUP ",comdat\n"
    ".globl ordo_abi_mismatch_ORDO_LOCKDEP_differs_between_translation_units\n"
    "ordo_abi_mismatch_ORDO_LOCKDEP_differs_between_translation_units: .byte 0\n"
    ".popsection\n");
#undef ORDO_DETAIL_ABI_GROUP
#endif

#endif  // ORDO_DETAIL_ABI_CHECK_HPP
