// ordo/detail/config.hpp — what every ordo header checks first.
#ifndef ORDO_DETAIL_CONFIG_HPP
#define ORDO_DETAIL_CONFIG_HPP

#if !defined(__cplusplus) || __cplusplus < 202002L
#error "ordo needs C++20: compile with -std=c++20 or newer (CMake: link an ordo:: target, it requires cxx_std_20)"
#endif

// ORDO_ALWAYS_INLINE: for the few read-side fast paths whose result type is
// returned in a register pair only when the caller sees the body. GCC 12
// returns a non-inlined std::optional<int> by writing its value (4 bytes)
// and its flag (1 byte) to the stack and reloading them as one 8-byte word:
// the load cannot be forwarded from the two smaller stores and stalls for
// about a dozen cycles, more than the whole RCU read section costs. Inlined,
// the optional lives in registers and the caller's value_or() folds it.
#if defined(__GNUC__) || defined(__clang__)
#define ORDO_ALWAYS_INLINE [[gnu::always_inline]] inline
#else
#define ORDO_ALWAYS_INLINE inline
#endif

// ORDO_NO_COVERAGE: a function that a coverage-guided fuzzer's
// instrumentation (-fsanitize=fuzzer: edge counters and comparison tracing)
// leaves out, for an oracle that runs after every operation of a fuzz input
// and is not what the fuzzer explores (the vfio_ap model's invariant
// checker): its loops would cost a callback per comparison and feed the
// fuzzer features of the checker instead of the code under test. Address
// and undefined-behaviour sanitizers still instrument it. Clang only (GCC
// has no such attribute; it builds no fuzzer here).
#if defined(__clang__)
#define ORDO_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define ORDO_NO_COVERAGE
#endif

#endif  // ORDO_DETAIL_CONFIG_HPP
