// ordo/version.hpp — the library's version, for code that must know it.
//
// ordo follows semantic versioning: MAJOR changes break source compatibility,
// MINOR adds, PATCH fixes. Before 1.0 a MINOR change may break (CHANGELOG.md
// says what). The numbers equal the CMake project version (a test checks).
//
//   #if ORDO_VERSION >= ORDO_MAKE_VERSION(0, 2, 0)
//   ...
//   #endif
#ifndef ORDO_VERSION_HPP
#define ORDO_VERSION_HPP

#define ORDO_VERSION_MAJOR 0
#define ORDO_VERSION_MINOR 2
#define ORDO_VERSION_PATCH 0

/// One number that compares in version order: MAJOR * 10000 + MINOR * 100 + PATCH.
#define ORDO_MAKE_VERSION(major, minor, patch) ((major) * 10000 + (minor) * 100 + (patch))
#define ORDO_VERSION ORDO_MAKE_VERSION(ORDO_VERSION_MAJOR, ORDO_VERSION_MINOR, ORDO_VERSION_PATCH)
#define ORDO_VERSION_STRING "0.2.0"

#endif  // ORDO_VERSION_HPP
