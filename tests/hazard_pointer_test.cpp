// Tests for ordo/hazard_pointer.hpp, written the way a <hazard_pointer>
// program is (std:: replaced by ordo::): every member of hazard_pointer and
// hazard_pointer_obj_base, the reclamation points R1-R3 the header promises,
// and the misuse reports.
//
// These tests run in one thread unless they say otherwise, and no other test
// of this binary keeps a hazard_pointer alive, so "the last hazard_pointer"
// (R2) is the test's own.
#include <ordo/hazard_pointer.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

// The standard's requirements on the types, as a <hazard_pointer> user
// relies on them.
static_assert(!std::is_copy_constructible_v<ordo::hazard_pointer>);
static_assert(!std::is_copy_assignable_v<ordo::hazard_pointer>);
static_assert(std::is_nothrow_move_constructible_v<ordo::hazard_pointer>);
static_assert(std::is_nothrow_move_assignable_v<ordo::hazard_pointer>);
static_assert(std::is_nothrow_default_constructible_v<ordo::hazard_pointer>);
static_assert(std::is_nothrow_swappable_v<ordo::hazard_pointer>);

// Counts reclamations of `node`s; the default deleter frees them.
std::atomic<int> nodes_reclaimed{0};

struct node : ordo::hazard_pointer_obj_base<node> {
  explicit node(int v) : value(v) {}
  ~node() { nodes_reclaimed.fetch_add(1); }
  int value;
};

// Retires enough throw-away objects to reach the threshold, so the last of
// these retire() calls runs a reclamation pass (R1).
void force_reclamation_pass() {
  const std::size_t threshold = ordo::detail::hazptr_default_domain().threshold();
  for (std::size_t i = 0; i <= threshold; ++i) {
    struct filler : ordo::hazard_pointer_obj_base<filler> {};
    (new filler)->retire();
  }
}

class HazardPointer : public testing::Test {
 protected:
  void SetUp() override { nodes_reclaimed = 0; }
};

// The header's example.
struct config : ordo::hazard_pointer_obj_base<config> {
  explicit config(int v) : value(v) {}
  int value;
};
int use(int value) { return value; }

TEST_F(HazardPointer, ExampleFromHeader) {
  std::atomic<config*> current{new config(1)};
  {
    ordo::hazard_pointer h = ordo::make_hazard_pointer();
    EXPECT_EQ(use(h.protect(current)->value), 1);
    h.reset_protection();
  }
  current.exchange(new config(2))->retire();
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  EXPECT_EQ(use(h.protect(current)->value), 2);
  h.reset_protection();
  delete current.load();
}

TEST_F(HazardPointer, DefaultConstructedIsEmptyAndMadeIsNot) {
  ordo::hazard_pointer none;
  EXPECT_TRUE(none.empty());
  ordo::hazard_pointer made = ordo::make_hazard_pointer();
  EXPECT_FALSE(made.empty());
}

TEST_F(HazardPointer, MovedFromIsEmptyAndTheProtectionMovesAlong) {
  std::atomic<node*> src{new node(7)};
  ordo::hazard_pointer a = ordo::make_hazard_pointer();
  node* protected_node = a.protect(src);
  ordo::hazard_pointer b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the standard's postcondition
  EXPECT_FALSE(b.empty());

  // b still protects the node: retire it and run a pass.
  src.store(nullptr);
  protected_node->retire();
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 0);
  EXPECT_EQ(protected_node->value, 7);

  // Move assignment destroys the target's hazard pointer (ending b's
  // protection) and empties the source.
  ordo::hazard_pointer c = ordo::make_hazard_pointer();
  b = std::move(c);
  EXPECT_TRUE(c.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(b.empty());
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 1);
}

TEST_F(HazardPointer, SelfMoveAssignmentHasNoEffect) {
  std::atomic<node*> src{new node(1)};
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  node* n = h.protect(src);
  ordo::hazard_pointer& alias = h;
  h = std::move(alias);
  EXPECT_FALSE(h.empty());
  src.store(nullptr);
  n->retire();
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 0) << "self-move ended the protection";
  h.reset_protection();
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 1);
}

TEST_F(HazardPointer, MoveAssigningAnEmptyOneEmptiesTheTarget) {
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  ordo::hazard_pointer none;
  h = std::move(none);
  EXPECT_TRUE(h.empty());
}

TEST_F(HazardPointer, SwapExchangesOwnershipMemberAndFree) {
  ordo::hazard_pointer a = ordo::make_hazard_pointer();
  ordo::hazard_pointer b;
  a.swap(b);
  EXPECT_TRUE(a.empty());
  EXPECT_FALSE(b.empty());
  swap(a, b);  // found by ADL, as std::swap(hazard_pointer&, hazard_pointer&)
  EXPECT_FALSE(a.empty());
  EXPECT_TRUE(b.empty());
  ordo::swap(a, b);
  EXPECT_TRUE(a.empty());
  EXPECT_FALSE(b.empty());
}

TEST_F(HazardPointer, ProtectOfNullReturnsNull) {
  std::atomic<node*> src{nullptr};
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  EXPECT_EQ(h.protect(src), nullptr);
  node* ptr = nullptr;
  EXPECT_TRUE(h.try_protect(ptr, src));
  EXPECT_EQ(ptr, nullptr);
}

TEST_F(HazardPointer, ProtectKeepsTheObjectUntilTheProtectionEnds) {
  std::atomic<node*> src{new node(42)};
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  node* n = h.protect(src);
  ASSERT_EQ(n, src.load());
  node* old = src.exchange(new node(43));
  old->retire();
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 0);
  EXPECT_EQ(n->value, 42);  // still alive: ASan would report otherwise

  h.reset_protection();  // ends the epoch
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 1);
  delete src.load();
}

TEST_F(HazardPointer, TryProtectSucceedsWhenTheSourceIsUnchanged) {
  std::atomic<node*> src{new node(5)};
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  node* ptr = src.load();
  EXPECT_TRUE(h.try_protect(ptr, src));
  EXPECT_EQ(ptr, src.load());
  node* n = src.exchange(nullptr);
  n->retire();
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 0);
  h.reset_protection(nullptr);
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 1);
}

TEST_F(HazardPointer, TryProtectLosingARaceReturnsTheNewValueAndProtectsNothing) {
  std::atomic<node*> src{new node(1)};
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  node* ptr = src.load();  // the reader's guess
  // Another thread wins the race: it replaces and retires the guessed node.
  node* first = ptr;
  std::thread writer([&] { src.store(new node(2)); });
  writer.join();
  EXPECT_FALSE(h.try_protect(ptr, src));
  EXPECT_EQ(ptr, src.load()) << "try_protect must hand back the new value";
  EXPECT_NE(ptr, first);
  // The failed attempt left nothing protected: the old node is reclaimed.
  first->retire();
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 1);
  // The retry succeeds.
  EXPECT_TRUE(h.try_protect(ptr, src));
  EXPECT_EQ(ptr->value, 2);
  h.reset_protection();
  delete src.load();
}

TEST_F(HazardPointer, ResetProtectionWithAPointerProtectsIt) {
  auto* n = new node(9);
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  h.reset_protection(n);
  n->retire();
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 0);
  const node* null_node = nullptr;
  h.reset_protection(null_node);  // a null pointer value unassociates
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 1);
}

TEST_F(HazardPointer, ProtectWorksThroughAtomicOfPointerToConst) {
  std::atomic<const node*> src{new node(3)};
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  const node* n = h.protect(src);
  EXPECT_EQ(n->value, 3);
  h.reset_protection();
  delete src.load();
}

// Retire of a derived object through its base, with a custom deleter.
struct widget;
struct widget_deleter {
  std::atomic<int>* calls = nullptr;
  void operator()(widget* w) const;
};
struct widget : ordo::hazard_pointer_obj_base<widget, widget_deleter> {
  virtual ~widget() = default;
  virtual int kind() const { return 0; }
};
struct gadget final : widget {
  explicit gadget(std::atomic<int>& d) : destroyed(&d) {}
  ~gadget() override { destroyed->fetch_add(1); }
  int kind() const override { return 1; }
  std::atomic<int>* destroyed;
};
void widget_deleter::operator()(widget* w) const {
  calls->fetch_add(1);
  delete w;  // virtual destructor: ~gadget runs
}

TEST_F(HazardPointer, RetireOfADerivedObjectThroughItsBaseUsesTheCustomDeleter) {
  std::atomic<int> deleter_calls{0}, gadgets_destroyed{0};
  std::atomic<widget*> src{new gadget(gadgets_destroyed)};
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  widget* w = h.protect(src);
  EXPECT_EQ(w->kind(), 1);
  src.store(nullptr);
  w->retire(widget_deleter{&deleter_calls});
  force_reclamation_pass();
  EXPECT_EQ(deleter_calls.load(), 0) << "reclaimed while protected";
  h.reset_protection();
  force_reclamation_pass();
  EXPECT_EQ(deleter_calls.load(), 1);
  EXPECT_EQ(gadgets_destroyed.load(), 1);
}

// A class whose hazard_pointer_obj_base is not its first base: the address
// protected and the address retired are both the T* (I5).
struct tagged {
  long tag = 0x7a6;
};
struct second_base_node : tagged, ordo::hazard_pointer_obj_base<second_base_node> {
  ~second_base_node() { nodes_reclaimed.fetch_add(1); }
};

TEST_F(HazardPointer, ProtectionMatchesWhenTheBaseIsNotTheFirstBase) {
  std::atomic<second_base_node*> src{new second_base_node};
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  second_base_node* n = h.protect(src);
  src.store(nullptr);
  n->retire();
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 0);
  EXPECT_EQ(n->tag, 0x7a6);
  h.reset_protection();
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 1);
}

TEST_F(HazardPointer, ReclamationWhenTheLastHazardPointerGoes) {
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  (new node(1))->retire();
  (new node(2))->retire();
  // Below the threshold, with a hazard pointer alive: nothing forces a pass
  // (R1), so the objects wait (batching).
  EXPECT_EQ(nodes_reclaimed.load(), 0);
  {
    ordo::hazard_pointer inner = ordo::make_hazard_pointer();
  }  // not the last one: still no pass
  EXPECT_EQ(nodes_reclaimed.load(), 0);
  h = ordo::hazard_pointer();  // the last one goes (R2)
  EXPECT_EQ(nodes_reclaimed.load(), 2);
  EXPECT_EQ(ordo::detail::hazptr_default_domain().retired_count(), 0u);
}

TEST_F(HazardPointer, ObjectsStillProtectedAtTheLastDestructionAreReclaimedLater) {
  std::atomic<node*> src{new node(1)};
  ordo::hazard_pointer a = ordo::make_hazard_pointer();
  ordo::hazard_pointer b = ordo::make_hazard_pointer();
  node* n = a.protect(src);
  src.store(nullptr);
  n->retire();
  b = ordo::hazard_pointer();  // not the last: a remains
  EXPECT_EQ(nodes_reclaimed.load(), 0);
  a = ordo::hazard_pointer();  // the last, and n's protection ends with it
  EXPECT_EQ(nodes_reclaimed.load(), 1);
}

TEST_F(HazardPointer, RetireBacklogIsBounded) {
  ordo::hazard_pointer h = ordo::make_hazard_pointer();  // no R2 pass meanwhile
  const std::size_t threshold = ordo::detail::hazptr_default_domain().threshold();
  const int total = static_cast<int>(3 * threshold + 17);
  for (int i = 0; i < total; ++i) {
    (new node(i))->retire();
    const std::size_t waiting = static_cast<std::size_t>(i + 1 - nodes_reclaimed.load());
    ASSERT_LE(waiting, threshold) << "after " << i + 1 << " retires";
  }
  EXPECT_GE(nodes_reclaimed.load(), total - static_cast<int>(threshold));
}

// A deleter may retire more objects: a list whose nodes retire their
// successor when reclaimed.
struct chain : ordo::hazard_pointer_obj_base<chain> {
  chain* next = nullptr;
  ~chain() {
    nodes_reclaimed.fetch_add(1);
    if (next != nullptr) next->retire();
  }
};

TEST_F(HazardPointer, DeletersMayRetireMoreObjects) {
  chain* head = nullptr;
  for (int i = 0; i < 10; ++i) {
    auto* c = new chain;
    c->next = head;
    head = c;
  }
  {
    ordo::hazard_pointer h = ordo::make_hazard_pointer();
    head->retire();
  }  // R2: the pass reclaims head; its successors wait for the next pass
  force_reclamation_pass();
  for (int i = 0; i < 10 && nodes_reclaimed.load() < 10; ++i) force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 10);
}

TEST_F(HazardPointer, HazardPointersMadeInManyThreadsReuseSlots) {
  auto& domain = ordo::detail::hazptr_default_domain();
  // Warm up: one thread's worth of slots exists afterwards.
  std::thread([] { auto a = ordo::make_hazard_pointer(), b = ordo::make_hazard_pointer(); })
      .join();
  const std::size_t slots_before = domain.slot_count();
  for (int t = 0; t < 50; ++t) {
    std::thread([] {
      std::vector<ordo::hazard_pointer> hps;
      for (int i = 0; i < 2; ++i) hps.push_back(ordo::make_hazard_pointer());
    }).join();
  }
  // Thread exit returned the slots, so the 50 threads did not add 100.
  EXPECT_LE(domain.slot_count(), slots_before + 2);
}

TEST_F(HazardPointer, AHazardPointerMayBeMovedToAnotherThread) {
  std::atomic<node*> src{new node(11)};
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  node* n = h.protect(src);
  src.store(nullptr);
  n->retire();
  std::thread other([moved = std::move(h)]() mutable {
    EXPECT_FALSE(moved.empty());
    moved.reset_protection();
  });  // destroyed there: the last one (R2)
  other.join();
  EXPECT_EQ(nodes_reclaimed.load(), 1);
}

// A reader in another thread keeps protecting while this thread retires and
// runs passes; the object survives until the reader lets go.
TEST_F(HazardPointer, ConcurrentReaderKeepsItsObjectAcrossPasses) {
  std::atomic<node*> src{new node(77)};
  std::atomic<int> phase{0};
  std::thread reader([&] {
    ordo::hazard_pointer h = ordo::make_hazard_pointer();
    node* n = h.protect(src);
    phase = 1;
    while (phase.load() != 2) std::this_thread::yield();
    EXPECT_EQ(n->value, 77);
    h.reset_protection();
    phase = 3;
    while (phase.load() != 4) std::this_thread::yield();
  });
  while (phase.load() != 1) std::this_thread::yield();
  src.exchange(nullptr)->retire();
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 0);
  phase = 2;
  while (phase.load() != 3) std::this_thread::yield();
  force_reclamation_pass();
  EXPECT_EQ(nodes_reclaimed.load(), 1);
  phase = 4;
  reader.join();
}

// ---- Misuse reports.

std::vector<ordo::hazard_pointer_report_kind> reports;
void record_report(const ordo::hazard_pointer_report& report) { reports.push_back(report.kind); }

class HazardPointerMisuse : public testing::Test {
 protected:
  void SetUp() override {
    reports.clear();
    previous_ = ordo::set_hazard_pointer_report_handler(&record_report);
  }
  void TearDown() override { ordo::set_hazard_pointer_report_handler(previous_); }
  ordo::hazard_pointer_report_handler previous_ = nullptr;
};

TEST_F(HazardPointerMisuse, ProtectOnAnEmptyHazardPointerIsReportedAndReturnsNull) {
  std::atomic<node*> src{new node(1)};
  ordo::hazard_pointer empty;
  EXPECT_EQ(empty.protect(src), nullptr);
  node* ptr = src.load();
  EXPECT_TRUE(empty.try_protect(ptr, src));
  EXPECT_EQ(ptr, nullptr);
  empty.reset_protection(src.load());
  empty.reset_protection();
  ASSERT_EQ(reports.size(), 4u);
  for (auto kind : reports) EXPECT_EQ(kind, ordo::hazard_pointer_report_kind::empty_hazard_pointer);
  delete src.load();
}

TEST_F(HazardPointerMisuse, ProtectOnAMovedFromHazardPointerIsReported) {
  std::atomic<node*> src{new node(1)};
  ordo::hazard_pointer a = ordo::make_hazard_pointer();
  ordo::hazard_pointer b = std::move(a);
  EXPECT_EQ(a.protect(src), nullptr);  // NOLINT(bugprone-use-after-move): the misuse under test
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0], ordo::hazard_pointer_report_kind::empty_hazard_pointer);
  delete src.load();
}

TEST_F(HazardPointerMisuse, RetiringTwiceIsReportedAndIgnored) {
  nodes_reclaimed = 0;
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  auto* n = new node(1);
  n->retire();
  n->retire();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0], ordo::hazard_pointer_report_kind::double_retire);
  h = ordo::hazard_pointer();  // R2
  EXPECT_EQ(nodes_reclaimed.load(), 1) << "reclaimed once, not twice";
}

TEST(HazardPointerDeathTest, DefaultHandlerAbortsOnProtectOfAnEmptyHazardPointer) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        std::atomic<node*> src{nullptr};
        ordo::hazard_pointer empty;
        (void)empty.protect(src);
      },
      "protect\\(\\) on an empty hazard_pointer");
}

}  // namespace
