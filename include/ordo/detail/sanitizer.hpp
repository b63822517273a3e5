// ordo/detail/sanitizer.hpp — private: which sanitizer is on, and the
// ThreadSanitizer interface ordo uses to explain its synchronisation to TSan.
//
// Debian's Abseil (and any library not built with -fsanitize=thread) is
// invisible to TSan: its lock operations create no happens-before edges, so
// data guarded by it looks racy. ordo's lock wrappers therefore describe every
// lock and unlock to TSan themselves (__tsan_mutex_*), and the RCU domain
// describes its grace periods (__tsan_acquire/__tsan_release). With TSan off
// every macro here expands to nothing.
#ifndef ORDO_DETAIL_SANITIZER_HPP
#define ORDO_DETAIL_SANITIZER_HPP

#if defined(__SANITIZE_THREAD__)
#define ORDO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ORDO_TSAN 1
#endif
#endif
#ifndef ORDO_TSAN
#define ORDO_TSAN 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define ORDO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ORDO_ASAN 1
#endif
#endif
#ifndef ORDO_ASAN
#define ORDO_ASAN 0
#endif

#if ORDO_TSAN
extern "C" {
// The TSan runtime's mutex annotation interface
// (compiler-rt include/sanitizer/tsan_interface.h); declared here so ordo
// does not depend on that header being installed.
void __tsan_mutex_create(void* addr, unsigned flags);
void __tsan_mutex_destroy(void* addr, unsigned flags);
void __tsan_mutex_pre_lock(void* addr, unsigned flags);
void __tsan_mutex_post_lock(void* addr, unsigned flags, int recursion);
int __tsan_mutex_pre_unlock(void* addr, unsigned flags);
void __tsan_mutex_post_unlock(void* addr, unsigned flags);
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
}

namespace ordo::detail::tsan {
// Flag values of the TSan mutex interface.
inline constexpr unsigned linker_init = 1u << 0;
inline constexpr unsigned write_reentrant = 1u << 1;
inline constexpr unsigned read_reentrant = 1u << 2;
inline constexpr unsigned not_static = 1u << 8;
inline constexpr unsigned read_lock = 1u << 3;
inline constexpr unsigned try_lock = 1u << 4;
inline constexpr unsigned try_lock_failed = 1u << 5;
}  // namespace ordo::detail::tsan
#endif

#endif  // ORDO_DETAIL_SANITIZER_HPP
