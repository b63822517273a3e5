// The proof of ordered_mutex.hpp on the vfio-ap lock chain
// (docs/vfio-ap-model.md §4.1):
//
//   ap_attr_mutex -> guests_lock -> kvm->lock (only if a guest is attached)
//     -> pqap_hook rwsem (write) -> mdevs_lock
//   PQAP intercept: pqap_hook rwsem (read) -> mdevs_lock
//
// Every right path is written here and runs, concurrently, with the
// validator watching (on in the debug, tsan, asan and clang presets): no
// report, no sanitizer finding. Every wrong path is a compile-fail case
// with our message: tests/compile_fail/lock_vfio_ap_*.cpp (wrong orders,
// the busy-flag wait of §5 rows 3 and 6, update_guest_apcb without
// mdevs_lock).
#include "compile_fail/lock_vfio_ap_levels.hpp"

#include <ordo/lockdep.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

namespace {

using vfio_ap_chain::kvm;
using vfio_ap_chain::matrix;

// The state each lock guards (the guard discipline is the point of the
// test; Clang's analysis cannot follow lock_if, so no GUARDED_BY here).
struct model {
  matrix dev;
  kvm guest;
  kvm* attached = nullptr;          // guests_lock (matrix_mdev->kvm)
  std::uint64_t matrix_apm = 0;     // mdevs_lock (what the admin assigned)
  std::uint64_t guest_apm = 0;      // kvm->lock (the guest's CRYCB masks)
  bool hook_set = false;            // pqap_hook rwsem (kvm->arch.crypto.pqap_hook)
  long intercepts_handled = 0;      // mdevs_lock
  long in_use_checks = 0;           // mdevs_lock
};

// assign_adapter: ap_attr_mutex, then get_update_locks_for_mdev
// (guests_lock -> kvm->lock if attached -> mdevs_lock).
void assign_adapter(ordo::unlocked& ctx, model& m, unsigned apid) {
  auto attr = m.dev.ap_attr_mutex.lock(ctx);
  auto guests = m.dev.guests_lock.lock(attr);
  auto kv = ordo::lock_if(m.attached ? &m.attached->lock : nullptr, guests);
  auto mdevs = m.dev.mdevs_lock.lock(kv);
  m.matrix_apm |= std::uint64_t{1} << apid;
  vfio_ap_chain::update_guest_apcb(mdevs);
  if (kv) {
    m.guest_apm = m.matrix_apm;  // kvm_arch_crypto_set_masks under kvm->lock
    ++m.guest.masks_set;
  }
}

// unassign_adapter: the update locks only (no ap_attr_mutex).
void unassign_adapter(ordo::unlocked& ctx, model& m, unsigned apid) {
  auto guests = m.dev.guests_lock.lock(ctx);
  auto kv = ordo::lock_if(m.attached ? &m.attached->lock : nullptr, guests);
  auto mdevs = m.dev.mdevs_lock.lock(kv);
  m.matrix_apm &= ~(std::uint64_t{1} << apid);
  vfio_ap_chain::update_guest_apcb(mdevs);
  if (kv) m.guest_apm = m.matrix_apm;
}

// set_kvm / unset_kvm: get_update_locks_for_kvm [7.3]: guests_lock ->
// kvm->lock -> pqap_hook rwsem (write) -> mdevs_lock.
void set_kvm(ordo::unlocked& ctx, model& m) {
  auto guests = m.dev.guests_lock.lock(ctx);
  auto kv = m.guest.lock.lock(guests);
  auto hook = m.guest.pqap_hook_rwsem.lock(kv);
  auto mdevs = m.dev.mdevs_lock.lock(hook);
  m.attached = &m.guest;
  m.hook_set = true;
  m.guest_apm = m.matrix_apm;
  vfio_ap_chain::update_guest_apcb(mdevs);
}

void unset_kvm(ordo::unlocked& ctx, model& m) {
  auto guests = m.dev.guests_lock.lock(ctx);
  auto kv = m.guest.lock.lock(guests);
  auto hook = m.guest.pqap_hook_rwsem.lock(kv);
  auto mdevs = m.dev.mdevs_lock.lock(hook);
  m.attached = nullptr;
  m.hook_set = false;
  m.guest_apm = 0;  // kvm_arch_crypto_clear_masks
}

// The PQAP intercept (priv.c handle_pqap -> vfio_ap handle_pqap): the
// rwsem for reading, then mdevs_lock.
bool handle_pqap(ordo::unlocked& ctx, model& m) {
  auto hook = m.guest.pqap_hook_rwsem.lock_shared(ctx);
  if (!m.hook_set) return false;  // response code 0x01
  auto mdevs = m.dev.mdevs_lock.lock(hook);
  ++m.intercepts_handled;
  return true;
}

// apmask_store -> in_use: ap_attr_mutex -> guests_lock -> mdevs_lock.
void in_use(ordo::unlocked& ctx, model& m) {
  auto attr = m.dev.ap_attr_mutex.lock(ctx);
  auto guests = m.dev.guests_lock.lock(attr);
  auto mdevs = m.dev.mdevs_lock.lock(guests);
  ++m.in_use_checks;
}

// The invariant of §7 I6: while a guest is attached its masks equal the
// matrix (every change goes through update_guest_apcb); read under the
// full update locks.
bool guest_matches_matrix(ordo::unlocked& ctx, model& m) {
  auto guests = m.dev.guests_lock.lock(ctx);
  auto kv = ordo::lock_if(m.attached ? &m.attached->lock : nullptr, guests);
  auto mdevs = m.dev.mdevs_lock.lock(kv);
  return kv ? m.guest_apm == m.matrix_apm : m.guest_apm == 0;
}

class VfioApLockChain : public ::testing::Test {
 protected:
  void SetUp() override { previous_ = ordo::lockdep::set_report_handler(&count); }
  void TearDown() override { ordo::lockdep::set_report_handler(previous_); }
  static void count(const ordo::lockdep::report& r) {
    reports.fetch_add(1);
    ADD_FAILURE() << r.text;
  }
  static inline std::atomic<int> reports{0};
  ordo::lockdep::report_handler previous_ = nullptr;
};

TEST_F(VfioApLockChain, EveryRightPathRunsWithAndWithoutAGuest) {
  model m;
  ordo::unlocked ctx;
  assign_adapter(ctx, m, 3);  // no guest: kvm->lock not taken
  EXPECT_EQ(m.guest.masks_set, 0);
  EXPECT_FALSE(handle_pqap(ctx, m));
  set_kvm(ctx, m);
  EXPECT_TRUE(guest_matches_matrix(ctx, m));
  assign_adapter(ctx, m, 5);  // guest attached: kvm->lock taken, masks pushed
  EXPECT_EQ(m.guest.masks_set, 1);
  EXPECT_EQ(m.guest_apm, (std::uint64_t{1} << 3) | (std::uint64_t{1} << 5));
  EXPECT_TRUE(handle_pqap(ctx, m));
  unassign_adapter(ctx, m, 3);
  EXPECT_EQ(m.guest_apm, std::uint64_t{1} << 5);
  in_use(ctx, m);
  unset_kvm(ctx, m);
  EXPECT_TRUE(guest_matches_matrix(ctx, m));
  EXPECT_FALSE(handle_pqap(ctx, m));
  EXPECT_EQ(reports.load(), 0);
}

// All the paths at once, from four threads (bounded: a few thousand
// operations). The validator sees every order the driver uses and finds no
// cycle; TSan sees every lock (absl::Mutex annotated, std::mutex natively).
TEST_F(VfioApLockChain, AllPathsConcurrentlyKeepTheOrderAndTheInvariant) {
  model m;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::minstd_rand random(static_cast<unsigned>(t) + 1);
      ordo::unlocked ctx;
      for (int i = 0; i < 1500; ++i) {
        switch (random() % 7) {
          case 0: assign_adapter(ctx, m, static_cast<unsigned>(random() % 64)); break;
          case 1: unassign_adapter(ctx, m, static_cast<unsigned>(random() % 64)); break;
          case 2: set_kvm(ctx, m); break;
          case 3: unset_kvm(ctx, m); break;
          case 4: handle_pqap(ctx, m); break;
          case 5: in_use(ctx, m); break;
          default:
            if (!guest_matches_matrix(ctx, m)) mismatches.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ordo::unlocked ctx;
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_TRUE(guest_matches_matrix(ctx, m));
  EXPECT_EQ(reports.load(), 0);
  EXPECT_EQ(ordo::lockdep::held_count(), 0u);
}

// The history's fix (§5 row 6) is "no wait at all"; the explicitly allowed
// form of the busy-flag wait still compiles for code that truly needs it
// (tests/compile_fail/lock_vfio_ap_busy_wait.cpp has the rejected form).
TEST_F(VfioApLockChain, ExplicitlyAllowedBusyWaitStillWorks) {
  model m;
  m.dev.kvm_busy = true;
  std::thread finisher([&] {
    ordo::unlocked ctx;
    auto mdevs = m.dev.mdevs_lock.lock(ctx);
    m.dev.kvm_busy = false;
  });
  {
    ordo::unlocked ctx;
    auto guests = m.dev.guests_lock.lock(ctx);
    auto mdevs = m.dev.mdevs_lock.lock(guests);
    ordo::wait(mdevs, [&] { return !m.dev.kvm_busy; }, ordo::allow_held<guests_level>);
    EXPECT_FALSE(m.dev.kvm_busy);
  }
  finisher.join();
  EXPECT_EQ(reports.load(), 0);
}

}  // namespace
