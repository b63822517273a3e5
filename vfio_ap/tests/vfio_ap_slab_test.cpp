// vfio_ap/slab.hpp: objects destroyed through the slab keep their memory for
// the next ones, oldest first, at most `keep` of them, poisoned for
// AddressSanitizer while they wait.
#include <gtest/gtest.h>

#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <vfio_ap/slab.hpp>

namespace {

using ordo::vfio_ap::slab;

struct counted {
  explicit counted(int v, int* destroyed) : value(v), destroyed_(destroyed) {}
  ~counted() { ++*destroyed_; }
  counted(const counted&) = delete;
  counted& operator=(const counted&) = delete;
  int value;
  int* destroyed_;
};

TEST(VfioApSlab, ReusesTheMemoryFreedLongestAgo) {
  int destroyed = 0;
  slab<counted> s(8);
  auto a = s.make(1, &destroyed);
  auto b = s.make(2, &destroyed);
  auto c = s.make(3, &destroyed);
  const void* where_a = a.get();
  const void* where_b = b.get();
  const void* where_c = c.get();
  b.reset();  // freed first
  a.reset();
  c.reset();
  EXPECT_EQ(destroyed, 3);
  EXPECT_EQ(s.kept(), 3u);
  auto d = s.make(4, &destroyed);
  auto e = s.make(5, &destroyed);
  auto f = s.make(6, &destroyed);
  EXPECT_EQ(static_cast<const void*>(d.get()), where_b);
  EXPECT_EQ(static_cast<const void*>(e.get()), where_a);
  EXPECT_EQ(static_cast<const void*>(f.get()), where_c);
  EXPECT_EQ(d->value, 4);  // constructed anew
  EXPECT_EQ(s.kept(), 0u);
}

TEST(VfioApSlab, KeepsAtMostKeepFreeObjects) {
  int destroyed = 0;
  slab<counted> s(2);
  std::vector<slab<counted>::pointer> made;
  for (int i = 0; i < 5; ++i) made.push_back(s.make(i, &destroyed));
  made.clear();
  EXPECT_EQ(destroyed, 5);
  EXPECT_EQ(s.kept(), 2u);  // three went back to the allocator (LSan: no leak)
  // Many rounds of make and destroy: the free list's storage stays bounded.
  for (int round = 0; round < 1000; ++round) {
    auto x = s.make(round, &destroyed);
    auto y = s.make(round, &destroyed);
  }
  EXPECT_EQ(s.kept(), 2u);
}

struct throws_on_construction {
  explicit throws_on_construction(bool fail) {
    if (fail) throw std::runtime_error("no");
  }
  std::uint64_t payload[4] = {};
};

TEST(VfioApSlab, AConstructorThatThrowsGivesTheMemoryBack) {
  slab<throws_on_construction> s(4);
  EXPECT_THROW((void)s.make(true), std::runtime_error);  // fresh memory, kept
  EXPECT_EQ(s.kept(), 1u);
  auto ok = s.make(false);
  EXPECT_EQ(s.kept(), 0u);
  EXPECT_THROW((void)s.make(true), std::runtime_error);
  EXPECT_EQ(s.kept(), 1u);
}

// slab<T, Mutex>: objects made and destroyed on two threads at once (the
// mdevs' case: destroyed after the owner's locks are dropped). TSan checks
// the free list's lock; every object is destroyed once and memory stays
// within `keep` free objects.
TEST(VfioApSlab, ALockedSlabServesTwoThreads) {
  constexpr int rounds = 2000;
  slab<counted, std::mutex> s(16);
  int destroyed[2] = {0, 0};
  const auto churn = [&](int who) {
    std::vector<slab<counted, std::mutex>::pointer> mine;
    for (int i = 0; i < rounds; ++i) {
      mine.push_back(s.make(i, &destroyed[who]));
      EXPECT_EQ(mine.back()->value, i);
      if (mine.size() == 8) mine.clear();
    }
  };
  std::thread other(churn, 1);
  churn(0);
  other.join();
  EXPECT_EQ(destroyed[0], rounds);
  EXPECT_EQ(destroyed[1], rounds);
  EXPECT_LE(s.kept(), 16u);
}

#if ORDO_ASAN
// A pointer kept past the object's destruction reads poisoned memory, and
// AddressSanitizer says so as it would of a use after free.
TEST(VfioApSlabDeathTest, AUseOfAFreeObjectIsReported) {
  EXPECT_DEATH(
      {
        int destroyed = 0;
        slab<counted> s(4);
        auto p = s.make(7, &destroyed);
        const volatile int* dangling = &p->value;
        p.reset();
        [[maybe_unused]] const int read = *dangling;
      },
      "use-after-poison");
}
#else
TEST(VfioApSlabDeathTest, AUseOfAFreeObjectIsReported) {
  GTEST_SKIP() << "needs AddressSanitizer (the asan preset runs it)";
}
#endif

}  // namespace
