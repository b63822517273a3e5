// kvm.hpp: "caller must hold kvm->lock" for the guest's APCB masks. The
// types prove a kvm->lock held exclusively (a level is a lock class, so any
// guest's); kvm->lock.assert_held proves at run time that it is this guest's
// (ordered_mutex.hpp, "What a context's type proves").
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include <ordo/lockdep.hpp>
#include <ordo/ordered_mutex.hpp>
#include <vfio_ap/kvm.hpp>

namespace {

using ordo::vfio_ap::apcb_masks;
using ordo::vfio_ap::kvm;
using ordo::vfio_ap::kvm_level;
using ordo::vfio_ap::mdevs_level;

// Records lockdep reports instead of aborting; the call reported goes on.
class Kvm : public ::testing::Test {
 protected:
  void SetUp() override {
    reports().clear();
    previous_ = ordo::lockdep::set_report_handler(&record);
  }
  void TearDown() override { ordo::lockdep::set_report_handler(previous_); }

  static void record(const ordo::lockdep::report& r) { reports().push_back(r); }
  static std::vector<ordo::lockdep::report>& reports() {
    static std::vector<ordo::lockdep::report> all;  // one thread: the test's
    return all;
  }

  // The one report there should be: "not held", about `asserted`, with the
  // lock the context does hold as `other` (nullptr when unknown).
  static void expect_not_held(const void* asserted, const void* instead) {
    ASSERT_EQ(reports().size(), 1u);
    EXPECT_EQ(reports()[0].kind, ordo::lockdep::report_kind::not_held);
    EXPECT_EQ(reports()[0].subject.lock, asserted);
    EXPECT_EQ(reports()[0].other.lock, instead);
    EXPECT_NE(reports()[0].text.find("lockdep_assert_held failed"), std::string::npos)
        << reports()[0].text;
  }

  // Owned by the test, as the host's guest table owns its guests (a kvm's
  // final put does not free it).
  std::unique_ptr<kvm> a = std::make_unique<kvm>("a");
  std::unique_ptr<kvm> b = std::make_unique<kvm>("b");
  ordo::ordered_mutex<mdevs_level> mdevs_lock;  // a lock taken after kvm->lock
  const ordo::ap::adapter_mask apm = ordo::ap::adapter_mask::all();

 private:
  ordo::lockdep::report_handler previous_ = nullptr;
};

TEST_F(Kvm, SetMasksUnderTheGuestsOwnLockWritesItsApcb) {
  ordo::unlocked ctx;
  auto kl = a->lock.lock(ctx);
  a->set_masks(kl, apm, {}, {});
  EXPECT_EQ(a->apcb(kl), (apcb_masks{apm, {}, {}}));
  EXPECT_EQ(a->apcb_updates(kl), 1u);
  auto md = mdevs_lock.lock(kl);
  a->clear_masks(md);  // through a later lock: the validator checks it
  EXPECT_EQ(a->apcb(md), apcb_masks{});
  EXPECT_TRUE(reports().empty());
}

TEST_F(Kvm, AnotherGuestsLockDoesNotSatisfySetMasks) {
  ordo::unlocked ctx;
  auto kl = a->lock.lock(ctx);
  // Compiles: kl proves a kvm->lock held exclusively. Guest a's, not b's.
  static_assert(ordo::holds<decltype(kl), ordo::exclusive<kvm_level>>);
  b->set_masks(kl, apm, {}, {});
  expect_not_held(&b->lock, &a->lock);
}

TEST_F(Kvm, AnotherGuestsLockDoesNotSatisfyClearMasksOrApcb) {
  ordo::unlocked ctx;
  auto kl = a->lock.lock(ctx);
  b->clear_masks(kl);
  expect_not_held(&b->lock, &a->lock);
  reports().clear();
  (void)b->apcb(kl);
  expect_not_held(&b->lock, &a->lock);
}

TEST_F(Kvm, AnotherGuestsLockUnderALaterLockIsReportedByTheValidator) {
  if constexpr (!ordo::default_validator::enabled) {
    GTEST_SKIP() << "through a lock taken after kvm->lock only the validator's held stack "
                    "knows which kvm->lock is held (ORDO_LOCKDEP=0 in this build)";
  }
  ordo::unlocked ctx;
  auto kl = a->lock.lock(ctx);
  auto md = mdevs_lock.lock(kl);
  b->set_masks(md, apm, {}, {});
  expect_not_held(&b->lock, nullptr);
}

TEST_F(Kvm, ATakenLockIfBecomesDefiniteByAssertingTheInstance) {
  ordo::unlocked ctx;
  auto kv = ordo::lock_if(&a->lock, ctx);
  static_assert(!ordo::holds<decltype(kv), ordo::exclusive<kvm_level>>);
  auto kl = a->lock.assert_held(kv);
  static_assert(ordo::holds<decltype(kl), ordo::exclusive<kvm_level>>);
  a->set_masks(kl, apm, {}, {});
  EXPECT_EQ(a->apcb(kl), (apcb_masks{apm, {}, {}}));
  // The mdevs lock taken after the lock_if: its context is upgraded the same way.
  auto md = mdevs_lock.lock(kv);
  auto asserted = a->lock.assert_held(md);
  a->clear_masks(asserted);
  EXPECT_TRUE(reports().empty());
}

TEST_F(Kvm, ALockIfThatTookNothingFailsTheAssertion) {
  ordo::unlocked ctx;
  kvm* none = nullptr;
  auto kv = ordo::lock_if(none != nullptr ? &none->lock : nullptr, ctx);
  (void)a->lock.assert_held(kv);
  expect_not_held(&a->lock, nullptr);
}

TEST_F(Kvm, ALockIfOfAnotherGuestFailsTheAssertion) {
  ordo::unlocked ctx;
  auto kv = ordo::lock_if(&a->lock, ctx);
  auto kl = b->lock.assert_held(kv);
  expect_not_held(&b->lock, &a->lock);
  reports().clear();
  b->set_masks(kl, apm, {}, {});  // the asserted context still is a's lock
  if constexpr (ordo::default_validator::enabled) {
    expect_not_held(&b->lock, nullptr);
  }
}

}  // namespace
