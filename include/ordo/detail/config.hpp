// ordo/detail/config.hpp — what every ordo header checks first.
#ifndef ORDO_DETAIL_CONFIG_HPP
#define ORDO_DETAIL_CONFIG_HPP

#if !defined(__cplusplus) || __cplusplus < 202002L
#error "ordo needs C++20: compile with -std=c++20 or newer (CMake: link an ordo:: target, it requires cxx_std_20)"
#endif

#endif  // ORDO_DETAIL_CONFIG_HPP
