// Torture test for ordo/hazard_pointer.hpp, in the style of the RCU one
// (tests/rcu_test.cpp, run_replace_and_poison): a writer replaces the
// published object in a loop and retires the old one with a deleter that
// poisons it before freeing it; readers protect, check twice (with a pause in
// between) that the object is alive, and reset. Bounded in time
// (ORDO_TORTURE_MS, default 1000 ms per test), sized for 2 cores: 2 readers,
// 1 writer. Under ASan a reader touching a reclaimed object is a
// heap-use-after-free; under TSan a deleter not ordered after a reader's
// accesses is a race report; in every build a poisoned read fails the test.
#include <ordo/hazard_pointer.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

constexpr long alive = 0x600d600d;
constexpr long poison = 0x0dead0de;

std::chrono::milliseconds torture_duration() {
  if (const char* env = std::getenv("ORDO_TORTURE_MS")) {
    const long ms = std::strtol(env, nullptr, 10);
    if (ms > 0) return std::chrono::milliseconds(ms);
  }
  return 1000ms;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

std::atomic<long> poisoned_reads{0};
std::atomic<long> reclaimed{0};

// A second oracle that does not depend on freed memory keeping its poison
// (the allocator reuses it at once for the next victim): each reader
// announces the object it is using, and the deleter counts the objects it is
// asked to reclaim while a reader announces them.
constexpr int max_readers = 4;
std::atomic<const void*> in_use[max_readers];
std::atomic<long> reclaimed_in_use{0};

struct victim;
struct poisoning_deleter {
  void operator()(victim* v) const;
};

// Plain (volatile) reads of its state: TSan checks them against the
// deleter's plain poison store and free.
struct victim : ordo::hazard_pointer_obj_base<victim, poisoning_deleter> {
  explicit victim(long s) : serial(s) {}
  void observe() const {
    const volatile long* p = &state;
    const long first = *p;
    for (int i = 0; i < 32; ++i) cpu_relax();
    const long second = *p;
    if (first != alive || second != alive) poisoned_reads.fetch_add(1);
  }
  long state = alive;
  long serial;
};

void poisoning_deleter::operator()(victim* v) const {
  for (auto& slot : in_use) {
    if (slot.load() == v) reclaimed_in_use.fetch_add(1);
  }
  v->state = poison;  // plain store: must be ordered after every protected read
  delete v;
  reclaimed.fetch_add(1, std::memory_order_relaxed);
}

enum class reader_style {
  long_lived,    // one hazard_pointer per reader, protect/reset per read
  per_read,      // make_hazard_pointer() per read (the thread cache, R2)
  try_protect,   // a hand-written try_protect loop
};

struct torture_result {
  long reads = 0;
  long swaps = 0;
};

// Uses v as reader r: announces it, reads it (holding it for long on every
// 64th use, so that a protection that does not hold is caught by the
// writer's next reclamation pass), withdraws the announcement.
void use_victim(int r, long i, const victim* v) {
  in_use[r].store(v);
  v->observe();
  if (i % 64 == 0) {
    for (int k = 0; k < 20; ++k) std::this_thread::yield();
    v->observe();
  }
  in_use[r].store(nullptr);
}

torture_result run_torture(reader_style style, int readers = 2) {
  poisoned_reads = 0;
  reclaimed = 0;
  reclaimed_in_use = 0;
  std::atomic<victim*> current{new victim(0)};
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      long mine = 0;
      ordo::hazard_pointer h = ordo::make_hazard_pointer();
      while (!stop.load(std::memory_order_relaxed)) {
        switch (style) {
          case reader_style::long_lived: {
            use_victim(r, mine, h.protect(current));
            h.reset_protection();
            break;
          }
          case reader_style::per_read: {
            ordo::hazard_pointer once = ordo::make_hazard_pointer();
            use_victim(r, mine, once.protect(current));
            break;
          }
          case reader_style::try_protect: {
            victim* v = current.load(std::memory_order_relaxed);
            while (!h.try_protect(v, current)) {
            }
            use_victim(r, mine, v);
            h.reset_protection(nullptr);
            break;
          }
        }
        ++mine;
      }
      reads.fetch_add(mine);
    });
  }
  torture_result result;
  const auto deadline = std::chrono::steady_clock::now() + torture_duration();
  while (std::chrono::steady_clock::now() < deadline) {
    victim* old = current.exchange(new victim(++result.swaps));
    old->retire();
  }
  stop = true;
  for (auto& t : threads) t.join();
  current.exchange(nullptr)->retire();
  // Every hazard_pointer of the readers is gone: the last destruction (R2)
  // or a later pass has reclaimed everything but what this process still
  // protects (nothing). One more pass makes sure.
  { ordo::hazard_pointer last = ordo::make_hazard_pointer(); }
  result.reads = reads.load();
  EXPECT_EQ(reclaimed.load(), result.swaps + 1) << "every retired object is reclaimed";
  EXPECT_EQ(poisoned_reads.load(), 0);
  EXPECT_EQ(reclaimed_in_use.load(), 0) << "an object was reclaimed while a reader used it";
  EXPECT_GT(result.swaps, 100);
  EXPECT_GT(result.reads, 100);
  testing::Test::RecordProperty("swaps", std::to_string(result.swaps));
  testing::Test::RecordProperty("reads", std::to_string(result.reads));
  return result;
}

TEST(HazardPointerTorture, LongLivedReadersNeverSeeAReclaimedObject) {
  run_torture(reader_style::long_lived);
}

TEST(HazardPointerTorture, PerReadHazardPointersNeverSeeAReclaimedObject) {
  run_torture(reader_style::per_read);
}

TEST(HazardPointerTorture, TryProtectLoopsNeverSeeAReclaimedObject) {
  run_torture(reader_style::try_protect);
}

// A reader that holds its protection for long (descheduled, blocked) keeps
// exactly its object, while the writer's other retired objects are still
// reclaimed: the backlog stays bounded (R1).
TEST(HazardPointerTorture, AStalledReaderPinsOnlyItsOwnObject) {
  poisoned_reads = 0;
  reclaimed = 0;
  reclaimed_in_use = 0;
  std::atomic<victim*> current{new victim(0)};
  std::atomic<bool> holding{false}, release{false};
  std::thread stalled([&] {
    ordo::hazard_pointer h = ordo::make_hazard_pointer();
    const victim* v = h.protect(current);
    in_use[0].store(v);
    holding = true;
    while (!release.load()) std::this_thread::sleep_for(1ms);
    v->observe();
    in_use[0].store(nullptr);
  });
  while (!holding.load()) std::this_thread::yield();
  const std::size_t threshold = ordo::detail::hazptr_default_domain().threshold();
  const long swaps = static_cast<long>(3 * threshold);
  for (long i = 1; i <= swaps; ++i) current.exchange(new victim(i))->retire();
  // At most the threshold wait, plus the pinned one.
  EXPECT_GE(reclaimed.load(), swaps - static_cast<long>(threshold) - 1);
  release = true;
  stalled.join();
  current.exchange(nullptr)->retire();
  { ordo::hazard_pointer last = ordo::make_hazard_pointer(); }  // R2
  EXPECT_EQ(reclaimed.load(), swaps + 1);
  EXPECT_EQ(poisoned_reads.load(), 0);
  EXPECT_EQ(reclaimed_in_use.load(), 0) << "the stalled reader's object was reclaimed";
}

// Fallback mode (what runs where membarrier(2) is missing or forbidden):
// readers fence with seq_cst after their slot store, the writer with a
// seq_cst fence before its scan. Exercised through the domain's own slots
// and wait_until_unprotected(), the path hazard_protect's clear() takes.
TEST(HazardPointerTorture, FallbackModeNeverFreesAnObjectASlotHolds) {
  ordo::detail::hazptr_domain domain(/*allow_membarrier=*/false);
  ASSERT_FALSE(domain.membarrier());
  poisoned_reads = 0;
  reclaimed_in_use = 0;
  std::atomic<victim*> current{new victim(0)};
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      ordo::detail::hazptr_slot* slot = domain.acquire_slot();
      long mine = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        victim* v = current.load(std::memory_order_relaxed);
        for (;;) {
          slot->protect(v);
          victim* again = current.load(std::memory_order_acquire);
          if (again == v) break;
          v = again;
        }
        use_victim(r, mine++, v);
        slot->reset();
      }
      domain.release_slot(slot);
      reads.fetch_add(mine);
    });
  }
  long swaps = 0;
  // At least the torture duration and at least 200 swaps: on a loaded
  // machine the readers can starve the writer for most of the duration. The
  // second bound only keeps a broken build from running forever.
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + torture_duration();
  const auto give_up = deadline + std::chrono::seconds(30);
  for (auto now = start; (now < deadline || swaps < 200) && now < give_up;
       now = std::chrono::steady_clock::now()) {
    victim* old = current.exchange(new victim(++swaps));
    domain.wait_until_unprotected(old);
    for (auto& slot : in_use) {
      if (slot.load() == old) reclaimed_in_use.fetch_add(1);
    }
    old->state = poison;  // plain store: must be ordered after every protected read
    delete old;
  }
  stop = true;
  for (auto& t : threads) t.join();
  delete current.load();
  EXPECT_EQ(poisoned_reads.load(), 0);
  EXPECT_EQ(reclaimed_in_use.load(), 0) << "an object was freed while a reader used it";
  EXPECT_GT(swaps, 100);
  EXPECT_GT(reads.load(), 100);
}

}  // namespace
