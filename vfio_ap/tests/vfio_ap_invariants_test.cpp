// check_invariants() is honest: each invariant of docs/vfio-ap-model.md §7 is
// broken on purpose through a test-only back door and the checker names it;
// and six threads hammering one host never see a broken invariant.
#include "vfio_ap_test_util.hpp"
#include "host_test_access.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>
#include "expect_ok.hpp"

namespace vfio_ap_test {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using access = ordo::vfio_ap::host_test_access;

// No TearDown check: these tests break the model on purpose.
class VfioApInvariants : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(h.sysfs_write("/sys/bus/ap/apmask", "0x0\n"));
    ASSERT_OK(h.qci({.apm = adapters({1, 2}), .aqm = domains({4, 5})}));
    for (const char* u : {uuid_a, uuid_b}) {
      ASSERT_OK(h.sysfs_write(type_dir + "create", std::string(u) + "\n"));
    }
    ASSERT_OK(h.sysfs_write(std::string(matrix_dir) + uuid_a + "/ap_config",
                               ordo::ap::format_ap_config(adapters({1}), domains({4, 5}), {})));
    ASSERT_OK(h.sysfs_write(std::string(matrix_dir) + uuid_b + "/ap_config",
                               ordo::ap::format_ap_config(adapters({2}), domains({4}), {})));
    ASSERT_OK(h.kvm_create("g"));
    ASSERT_OK(h.vfio_open(uuid_a, "g"));
    ASSERT_THAT(h.check_invariants(), IsEmpty());
  }
  ordo::vfio_ap::host h;
};

TEST_F(VfioApInvariants, I1SharedQueueIsReported) {
  access::with_mdev(h, uuid_b, [](ordo::vfio_ap::mdev& m) { m.matrix.apm.set(apid{1}); });
  EXPECT_THAT(h.check_invariants(), Contains(HasSubstr("I1: queue 01.0004 is in the matrix")));
}

// Each invariant is checked alone: a violation shows under its own check
// and under no other (what an incremental checker relies on).
TEST_F(VfioApInvariants, EachInvariantIsCheckedAlone) {
  using ordo::vfio_ap::invariant;
  access::with_mdev(h, uuid_b, [](ordo::vfio_ap::mdev& m) { m.matrix.apm.set(apid{1}); });
  const invariant i1[] = {invariant::i1};
  EXPECT_THAT(h.check_invariants(i1), Contains(HasSubstr("I1: queue 01.0004 is in the matrix")));
  for (invariant other : ordo::vfio_ap::all_invariants) {
    if (other == invariant::i1) continue;
    const invariant alone[] = {other};
    EXPECT_THAT(h.check_invariants(alone), IsEmpty()) << static_cast<int>(other);
  }
  access::reserve_everything(h);
  const invariant i2[] = {invariant::i2};
  EXPECT_THAT(h.check_invariants(i2), ::testing::Each(HasSubstr("I2: ")));
  EXPECT_THAT(h.check_invariants(i2), ::testing::Not(IsEmpty()));
  EXPECT_THAT(h.check_invariants(i1), ::testing::Each(HasSubstr("I1: ")));
}

TEST_F(VfioApInvariants, I2HostReservedQueueIsReported) {
  access::reserve_everything(h);
  EXPECT_THAT(h.check_invariants(),
              Contains(HasSubstr("I2: queue 01.0004 of mdev " + std::string(uuid_a))));
}

TEST_F(VfioApInvariants, I3MissingResetIsReported) {
  access::forget_a_reset(h, q(1, 4));
  EXPECT_THAT(h.check_invariants(),
              Contains(HasSubstr("I3: queue 01.0004 left a guest's APCB while configured")));
}

TEST_F(VfioApInvariants, I3ResetOutsideTheConfigurationIsReported) {
  // The model never resets a deconfigured queue (it would answer 0x01);
  // issue such a ZAPQ through the back door.
  access::zapq(h, q(9, 9));
  EXPECT_THAT(h.check_invariants(),
              Contains(HasSubstr("I3: queue 09.0009 was reset while outside the host "
                                 "configuration")));
}

TEST_F(VfioApInvariants, I4ShadowOutsideTheMatrixIsReported) {
  access::with_mdev(h, uuid_a, [](ordo::vfio_ap::mdev& m) { m.shadow.apm.set(apid{2}); });
  const std::vector<std::string> broken = h.check_invariants();
  EXPECT_THAT(broken, Contains(HasSubstr("I4: shadow APCB of mdev " + std::string(uuid_a))));
  EXPECT_THAT(broken, Contains(HasSubstr("I4: queue 02.0004 is in the shadow APCB")));
  EXPECT_THAT(broken, Contains(HasSubstr("I6: the APCB of guest g differs")));
}

TEST_F(VfioApInvariants, I5ClearedHookIsReported) {
  access::clear_hook(h, "g");
  EXPECT_THAT(h.check_invariants(),
              Contains(HasSubstr("I5: the PQAP hook of guest g does not belong to its mdev")));
}

TEST_F(VfioApInvariants, I6LeakedReferenceIsReported) {
  ordo::vfio_ap::kvm* k = access::guest(h, "g");
  ordo::vfio_ap::kvm* leaked = ordo::get_ref(*k).release();  // a get without a put
  EXPECT_THAT(h.check_invariants(),
              Contains(HasSubstr("I6: guest g holds 3 references, expected 2")));
  ordo::adopt_ref(leaked).reset();  // the put
  EXPECT_THAT(h.check_invariants(), IsEmpty());
}

TEST_F(VfioApInvariants, I6StaleGuestApcbIsReported) {
  access::clear_masks(h, "g");
  EXPECT_THAT(h.check_invariants(), Contains(HasSubstr("I6: the APCB of guest g differs")));
}

TEST_F(VfioApInvariants, StaleUsableIndexIsReported) {
  access::with_mdev(h, uuid_a, [](ordo::vfio_ap::mdev& m) { m.usable.clear(q(1, 4)); });
  EXPECT_THAT(h.check_invariants(), Contains(HasSubstr("model: usable index of mdev")));
}

// A stray bit in any row of B's index (B has only 02.0004; (2, 74) is not
// it), with no queue behind it, is a stale index, whatever the row and the
// domain: the checker weighs every row, and a bit set then cleared leaves
// an empty row that is no fault.
TEST_F(VfioApInvariants, StrayBitInAnyRowOfTheUsableIndexIsReported) {
  for (unsigned row = 0; row < 256; ++row) {
    const apqi domain{static_cast<std::uint8_t>((row * 37) % 256)};
    access::with_mdev(h, uuid_b, [&](ordo::vfio_ap::mdev& m) { m.usable.set(ordo::ap::apqn(apid{static_cast<std::uint8_t>(row)}, domain)); });
    EXPECT_THAT(h.check_invariants(), Contains(HasSubstr("model: usable index of mdev")))
        << "row " << row;
    access::with_mdev(h, uuid_b, [&](ordo::vfio_ap::mdev& m) { m.usable.clear(ordo::ap::apqn(apid{static_cast<std::uint8_t>(row)}, domain)); });
  }
  EXPECT_THAT(h.check_invariants(), IsEmpty());
}

// The index's rows are found through a table of slots: a slot that leads
// to another adapter's row (A's adapter 2 answering with adapter 1's
// domains, so both would pass 01.0004's filter test) is a stale index;
// taken back, the index is whole again.
TEST_F(VfioApInvariants, UsableSlotThatLeadsToAnotherRowIsReported) {
  access::with_mdev(h, uuid_a, [](ordo::vfio_ap::mdev& m) {
    access::alias_usable_slot(m, apid{1}, apid{2});
  });
  EXPECT_THAT(h.check_invariants(), Contains(HasSubstr("model: usable index of mdev")));
  access::with_mdev(h, uuid_a, [](ordo::vfio_ap::mdev& m) {
    access::alias_usable_slot(m, apid{3}, apid{2});  // adapter 3 has no row: slot 2 cleared
  });
  EXPECT_THAT(h.check_invariants(), IsEmpty());
}

// ---- the incremental check (host::check_changed) ---------------------------
//
// After an operation, check_changed() must report every violation that
// check_invariants() reports among the invariants the operation could have
// broken. Each kind of operation (every sysfs store of the table, every host
// call) runs on a valid host; then each invariant of its footprint is broken
// through the back door, and check_changed() must give exactly the lines of
// the full check. Operations with an empty footprint must change nothing.

using ordo::vfio_ap::invariant;

// A valid host: A (01.0004, 01.0005) open for guest g, B (02.0004) closed,
// C empty, a second guest g2; adapters 1-3 x domains 4-6 configured.
void busy_host(ordo::vfio_ap::host& h) {
  ASSERT_OK(h.sysfs_write("/sys/bus/ap/apmask", "0x0\n"));
  ASSERT_OK(h.qci({.apm = adapters({1, 2, 3}), .aqm = domains({4, 5, 6}), .adm = cdoms({4})}));
  for (const char* u : {uuid_a, uuid_b, uuid_c}) {
    ASSERT_OK(h.sysfs_write(type_dir + "create", std::string(u) + "\n"));
  }
  ASSERT_OK(h.sysfs_write(std::string(matrix_dir) + uuid_a + "/ap_config",
                             ordo::ap::format_ap_config(adapters({1}), domains({4, 5}), cdoms({4}))));
  ASSERT_OK(h.sysfs_write(std::string(matrix_dir) + uuid_b + "/ap_config",
                             ordo::ap::format_ap_config(adapters({2}), domains({4}), {})));
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.kvm_create("g2"));
  ASSERT_OK(h.vfio_open(uuid_a, "g"));
  ASSERT_THAT(h.check_invariants(), IsEmpty());
}

// Breaks `which` behind the model's back; returns the prefix of the line the
// checker must print. A leaked reference (I6) is handed back in `leaked`.
std::string corrupt(ordo::vfio_ap::host& h, invariant which, ordo::vfio_ap::kvm*& leaked) {
  switch (which) {
    case invariant::i1:  // B gets A's 01.0004
      access::with_mdev(h, uuid_b, [](ordo::vfio_ap::mdev& m) {
        m.matrix.apm.set(apid{1});
        m.matrix.aqm.set(apqi{4});
      });
      return "I1: ";
    case invariant::i2: access::reserve_everything(h); return "I2: ";
    case invariant::i3: access::forget_a_reset(h, q(1, 4)); return "I3: ";
    case invariant::i4:
      access::with_mdev(h, uuid_a, [](ordo::vfio_ap::mdev& m) { m.shadow.apm.set(apid{3}); });
      return "I4: ";
    case invariant::i5: {
      unsigned rc = 0;
      EXPECT_OK(h.pqap("g", q(1, 4), rc));
      if (rc == 0x00) access::clear_hook(h, "g");         // A's hook is set: drop it
      else access::publish_hook(h, "g", uuid_a);           // none: leave one behind
      return "I5: ";
    }
    case invariant::i6:
      leaked = ordo::get_ref(*access::guest(h, "g")).release();  // a get without a put
      return "I6: ";
    case invariant::model:
      access::with_mdev(h, uuid_a, [](ordo::vfio_ap::mdev& m) { m.usable.set(q(200, 200)); });
      return "model: ";
  }
  return "?";
}

struct operation {
  std::string name;
  std::string pattern;  // the sysfs table row of a store, empty for a host call
  ordo::vfio_ap::invariant_set footprint;
  std::function<void(ordo::vfio_ap::host&)> prepare;  // before the check is cleared
  std::function<void(ordo::vfio_ap::host&)> run;
};

std::vector<operation> operations() {
  using set = ordo::vfio_ap::invariant_set;
  const set all = set::all();
  const set guests{invariant::i5, invariant::i6};
  const std::string c = std::string(matrix_dir) + uuid_c + "/";
  const std::string mdev_pattern = "devices/vfio_ap/matrix/{uuid}/";
  const auto store = [](std::string path, std::string value) {
    return [path, value](ordo::vfio_ap::host& h) { (void)h.sysfs_write(path, value); };
  };
  const auto nothing = [](ordo::vfio_ap::host&) {};
  std::vector<operation> ops{
      {"apmask", "bus/ap/apmask", all, nothing, store("/sys/bus/ap/apmask", "+0x80\n")},
      {"aqmask", "bus/ap/aqmask", all, nothing, store("/sys/bus/ap/aqmask", "+0x80\n")},
      {"bind", "bus/ap/drivers/vfio_ap/bind", all,
       store("/sys/bus/ap/drivers/vfio_ap/unbind", "03.0006\n"),
       store("/sys/bus/ap/drivers/vfio_ap/bind", "03.0006\n")},
      {"unbind", "bus/ap/drivers/vfio_ap/unbind", all, nothing,
       store("/sys/bus/ap/drivers/vfio_ap/unbind", "01.0005\n")},
      {"create", "devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create", all,
       nothing, store(type_dir + "create", "99999999-9999-9999-9999-999999999999\n")},
      {"assign_adapter", mdev_pattern + "assign_adapter", all, nothing, store(c + "assign_adapter", "3\n")},
      {"unassign_adapter", mdev_pattern + "unassign_adapter", all, store(c + "assign_adapter", "3\n"),
       store(c + "unassign_adapter", "3\n")},
      {"assign_domain", mdev_pattern + "assign_domain", all, nothing, store(c + "assign_domain", "6\n")},
      {"unassign_domain", mdev_pattern + "unassign_domain", all, store(c + "assign_domain", "6\n"),
       store(c + "unassign_domain", "6\n")},
      {"assign_control_domain", mdev_pattern + "assign_control_domain", all, nothing,
       store(c + "assign_control_domain", "4\n")},
      {"unassign_control_domain", mdev_pattern + "unassign_control_domain", all,
       store(c + "assign_control_domain", "4\n"), store(c + "unassign_control_domain", "4\n")},
      {"ap_config", mdev_pattern + "ap_config", all, nothing,
       store(c + "ap_config", ordo::ap::format_ap_config(adapters({3}), domains({6}), {}))},
      {"remove", mdev_pattern + "remove", all, nothing, store(c + "remove", "1\n")},
      // A well-formed value the store refuses: checked (the store got past
      // its parse); a value it rejects at its parse is below.
      {"a failed store", "", all, nothing, store(c + "assign_adapter", "300\n")},
      {"qci", "", all, nothing,
       [](ordo::vfio_ap::host& h) { (void)h.qci({.apm = adapters({1, 2, 3, 7})}); }},
      {"vfio_close", "", all, nothing, [](ordo::vfio_ap::host& h) { (void)h.vfio_close(uuid_a); }},
      {"vfio_reset", "", all, nothing, [](ordo::vfio_ap::host& h) { (void)h.vfio_reset(uuid_a); }},
      {"kvm_create", "", guests, nothing, [](ordo::vfio_ap::host& h) { (void)h.kvm_create("g3"); }},
      {"kvm_destroy", "", guests, nothing, [](ordo::vfio_ap::host& h) { (void)h.kvm_destroy("g2"); }},
      {"vfio_open", "", guests, nothing, [](ordo::vfio_ap::host& h) { (void)h.vfio_open(uuid_b, "g2"); }},
      // Empty footprints: these change no state an invariant reads.
      {"every show", "", {}, nothing,
       [](ordo::vfio_ap::host& h) { (void)access::observe(h, {"g", "g2"}); }},
      {"pqap", "", {}, nothing,
       [](ordo::vfio_ap::host& h) {
         unsigned rc = 0;
         (void)h.pqap("g", q(1, 4), rc);
         (void)h.pqap("g", q(2, 4), rc);
       }},
      {"zapq_fault", "", {}, nothing, [](ordo::vfio_ap::host& h) { (void)h.zapq_fault(q(1, 4), 5); }},
      {"clear_zapq_log", "", {}, nothing, [](ordo::vfio_ap::host& h) { h.clear_zapq_log(); }},
      {"a rejected value", "", {}, nothing, store(c + "assign_adapter", "bogus\n")},
  };
  return ops;
}

// Every store the sysfs table has is among the operations.
TEST(VfioApIncrementalCheck, EveryStoreOfTheTableIsAnOperation) {
  std::vector<std::string> covered;
  for (const operation& op : operations()) {
    if (!op.pattern.empty()) covered.push_back(op.pattern);
  }
  EXPECT_THAT(covered, ::testing::UnorderedElementsAreArray(access::store_patterns()));
}

TEST(VfioApIncrementalCheck, ReportsEveryViolationOfTheFootprint) {
  for (const operation& op : operations()) {
    for (const invariant broken : ordo::vfio_ap::all_invariants) {
      if (!op.footprint.contains(broken)) continue;
      SCOPED_TRACE(op.name + ", invariant " + std::to_string(static_cast<int>(broken)));
      ordo::vfio_ap::host h;
      busy_host(h);
      op.prepare(h);
      ASSERT_THAT(h.check_changed(), IsEmpty());
      op.run(h);
      ordo::vfio_ap::kvm* leaked = nullptr;
      const std::string prefix = corrupt(h, broken, leaked);
      const std::vector<std::string> incremental = h.check_changed();
      const std::vector<std::string> full = h.check_invariants();
      EXPECT_THAT(incremental, Contains(::testing::StartsWith(prefix)));
      // Exactly the full check's lines of the footprint's invariants.
      std::vector<std::string> expected;
      for (const invariant i : ordo::vfio_ap::all_invariants) {
        if (!op.footprint.contains(i)) continue;
        const invariant alone[] = {i};
        for (const std::string& line : h.check_invariants(alone)) expected.push_back(line);
      }
      EXPECT_EQ(incremental, expected);
      if (op.footprint == ordo::vfio_ap::invariant_set::all()) {
        EXPECT_EQ(incremental, full);
      }
      EXPECT_THAT(h.check_changed(), IsEmpty());  // taken: nothing ran since
      if (leaked != nullptr) ordo::adopt_ref(leaked).reset();
    }
  }
}

// An operation with an empty footprint changes nothing an invariant reads
// (nor, except the ZAPQ log that clear_zapq_log clears, anything observable):
// skipping the check after it loses nothing.
TEST(VfioApIncrementalCheck, EmptyFootprintChangesNothing) {
  for (const operation& op : operations()) {
    if (!op.footprint.empty()) continue;
    SCOPED_TRACE(op.name);
    ordo::vfio_ap::host h;
    busy_host(h);
    ASSERT_OK(h.sysfs_write(std::string(matrix_dir) + uuid_a + "/unassign_domain", "5\n"));
    (void)h.check_changed();
    std::vector<std::string> before = access::observe(h, {"g", "g2"});
    op.run(h);
    EXPECT_THAT(h.check_changed(), IsEmpty());
    std::vector<std::string> after = access::observe(h, {"g", "g2"});
    if (op.name == "clear_zapq_log") {
      EXPECT_THAT(after, Contains("zapq log"));  // it did clear the log
      std::erase_if(before, [](const std::string& l) { return l.starts_with("zapq log"); });
      std::erase_if(after, [](const std::string& l) { return l.starts_with("zapq log"); });
    }
    EXPECT_EQ(after, before);
    EXPECT_THAT(h.check_invariants(), IsEmpty());
  }
}

// A store that fails on a value its parse rejects (host::sysfs_parse: not a
// number, mask, UUID, device name or ap_config line) notes no footprint, so
// the incremental check skips it. That loses nothing only if such a store
// stopped at that parse: for every store of the table and every value of a
// list of malformed ones that its parse rejects, on a valid host with an
// open mdev, the store returns the parse's own error, everything observable
// stays as it was, the full check still passes and check_changed() has
// nothing to report.
TEST(VfioApIncrementalCheck, RejectedValueChangesNothing) {
  const std::vector<std::string> malformed = {
      "", "\n", "bogus\n", "0x\n", " 1\n", "1 \n", "1\n\n", "-1\n", "+\n", "+1-\n",
      "+0-300\n", "+3-1\n", "0x1g\n", "99999999999999999999\n", "1,2\n", std::string("1\0", 2),
      "01.00z4\n", "1.0004\n", "0x1,0x2\n", "0x1,0x2,0x3,0x4\n",
      "9999999-9999-9999-9999-999999999999\n", "99999999-9999-9999-9999-99999999999\n"};
  for (const std::string& pattern : access::store_patterns()) {
    std::string path = "/sys/" + pattern;
    if (const std::size_t at = path.find("{uuid}"); at != std::string::npos) {
      path.replace(at, 6, uuid_a);  // A: open for g, with queues
    }
    std::size_t rejected = 0;
    for (const std::string& value : malformed) {
      bool has_parse = false;
      const std::error_code parse_error = access::store_parse(pattern, value, has_parse);
      ASSERT_TRUE(has_parse) << pattern << " has no parse";
      if (!parse_error) continue;
      ++rejected;
      SCOPED_TRACE(path + " <- \"" + value + "\"");
      ordo::vfio_ap::host h;
      busy_host(h);
      (void)h.check_changed();
      const std::vector<std::string> before = access::observe(h, {"g", "g2"});
      EXPECT_EQ(h.sysfs_write(path, value), parse_error);
      EXPECT_THAT(h.check_changed(), IsEmpty());
      EXPECT_EQ(access::observe(h, {"g", "g2"}), before);
      EXPECT_THAT(h.check_invariants(), IsEmpty());
    }
    EXPECT_GE(rejected, 5u) << pattern;  // the list reaches every parse
  }
}

// host::generation(): every call that changes nothing leaves it as it was,
// and then the host observes as before; every call that may change state
// advances it, even one that fails (only a parse-rejected store is known to
// change nothing). sysfs_fuzz skips the re-boot when it did not move.
TEST(VfioApGeneration, CallsThatChangeNothingLeaveItAsItWas) {
  ordo::vfio_ap::host h;
  busy_host(h);
  const std::uint64_t start = h.generation();
  // observe() itself reads every node and attribute, both guests' refs and
  // APCBs, the modules, logs and configuration, and runs check_invariants.
  const std::vector<std::string> before = access::observe(h, {"g", "g2", "nope"});
  EXPECT_EQ(h.generation(), start);
  (void)h.check_changed();
  std::vector<ordo::vfio_ap::sysfs_entry> entries;
  ordo::vfio_ap::sysfs_entry entry;
  EXPECT_TRUE(h.sysfs_list("/sys/nope", entries));
  EXPECT_TRUE(h.sysfs_stat("/sys/nope", entry));
  std::string out;
  EXPECT_TRUE(h.sysfs_read("/sys/nope", out));
  EXPECT_TRUE(h.sysfs_write("/sys/nope", "1\n"));                       // ENOENT: no attribute
  EXPECT_TRUE(h.sysfs_write(std::string(matrix_dir) + uuid_a + "/matrix", "1\n"));  // EACCES
  EXPECT_TRUE(h.kvm_crycb("nope", out));
  unsigned rc = 0;
  EXPECT_TRUE(h.pqap("nope", q(1, 4), rc));  // no such guest: no hook ran
  std::size_t rejected = 0;
  for (const std::string& pattern : access::store_patterns()) {
    std::string path = "/sys/" + pattern;
    if (const std::size_t at = path.find("{uuid}"); at != std::string::npos) path.replace(at, 6, uuid_a);
    for (const std::string value : {"bogus\n", "", "+3-1\n", "0x1g\n"}) {
      bool has_parse = false;
      if (!access::store_parse(pattern, value, has_parse)) continue;
      ++rejected;
      EXPECT_TRUE(h.sysfs_write(path, value)) << path;
    }
  }
  EXPECT_GE(rejected, access::store_patterns().size());
  EXPECT_EQ(h.generation(), start);
  EXPECT_EQ(access::observe(h, {"g", "g2", "nope"}), before);
}

TEST(VfioApGeneration, EveryCallThatMayChangeStateAdvancesIt) {
  const std::string a = std::string(matrix_dir) + uuid_a + "/";
  const std::string c = std::string(matrix_dir) + uuid_c + "/";
  struct call {
    const char* name;
    std::function<void(ordo::vfio_ap::host&)> run;
  };
  const std::vector<call> calls = {
      {"a store that works", [&](auto& h) { EXPECT_OK(h.sysfs_write(c + "assign_adapter", "3\n")); }},
      {"a well-formed store that fails",
       [&](auto& h) { EXPECT_TRUE(h.sysfs_write(a + "assign_adapter", "300\n")); }},
      {"a store through a resolved attribute",
       [&](auto& h) {
         ordo::vfio_ap::host::sysfs_attr attr;
         ASSERT_OK(ordo::vfio_ap::host::sysfs_resolve(c + "assign_domain", attr));
         EXPECT_OK(h.sysfs_write(attr, "6\n"));
       }},
      {"qci", [](auto& h) { EXPECT_OK(h.qci({.apm = adapters({1, 2})})); }},
      {"zapq_fault", [](auto& h) { EXPECT_OK(h.zapq_fault(q(1, 4), 0x02)); }},
      {"clear_zapq_log", [](auto& h) { h.clear_zapq_log(); }},
      {"kvm_create", [](auto& h) { EXPECT_OK(h.kvm_create("g3")); }},
      {"kvm_destroy", [](auto& h) { EXPECT_OK(h.kvm_destroy("g2")); }},
      {"vfio_open", [](auto& h) { EXPECT_OK(h.vfio_open(uuid_b, "g2")); }},
      {"vfio_close", [](auto& h) { EXPECT_OK(h.vfio_close(uuid_a)); }},
      {"vfio_reset", [](auto& h) { EXPECT_OK(h.vfio_reset(uuid_a)); }},
      {"pqap (the hook ran)",
       [](auto& h) {
         unsigned rc = 0;
         EXPECT_OK(h.pqap("g", q(1, 4), rc));
       }},
      {"reset", [](auto& h) { h.reset(); }},
  };
  for (const call& each : calls) {
    SCOPED_TRACE(each.name);
    ordo::vfio_ap::host h;
    busy_host(h);
    const std::uint64_t start = h.generation();
    each.run(h);
    EXPECT_GT(h.generation(), start);
  }
}

// Six threads on one host (sized for 2 cores, bounded in time): hot plug,
// PQAP, open/close, host config changes, apmask and bind/unbind, and the
// checker itself, which must always see a consistent, valid state.
TEST(VfioApThreads, SixThreadsNeverBreakAnInvariant) {
  // ASSERT_FALSE, not ASSERT_OK, in this setup, and the threads in an array,
  // not a vector: GCC 12 at -O3 reports a false -Warray-bounds inside
  // std::thread in a vector's emplace_back (its reallocation path).
  ordo::vfio_ap::host h;
  ASSERT_FALSE(h.sysfs_write("/sys/bus/ap/apmask", "0x0\n"));
  ASSERT_FALSE(h.qci({.apm = adapters({1, 2, 3, 4}), .aqm = domains({4, 5, 6})}));
  for (const char* u : {uuid_a, uuid_b}) {
    ASSERT_FALSE(h.sysfs_write(type_dir + "create", std::string(u) + "\n"));
  }
  const std::string a = std::string(matrix_dir) + uuid_a + "/";
  const std::string b = std::string(matrix_dir) + uuid_b + "/";
  ASSERT_FALSE(h.sysfs_write(a + "ap_config",
                             ordo::ap::format_ap_config(adapters({1}), domains({4, 5}), {})));
  ASSERT_FALSE(h.sysfs_write(b + "ap_config",
                             ordo::ap::format_ap_config(adapters({2}), domains({4, 5}), {})));
  ASSERT_FALSE(h.kvm_create("ga"));
  ASSERT_FALSE(h.kvm_create("gb"));
  ASSERT_FALSE(h.vfio_open(uuid_a, "ga"));

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<long> ops{0};
  const auto expect = [&](bool ok) {
    if (!ok) failures.fetch_add(1, std::memory_order_relaxed);
    ops.fetch_add(1, std::memory_order_relaxed);
  };
  std::array<std::thread, 6> threads;
  threads[0] = std::thread([&] {  // hot plug / unplug on an attached mdev
    while (!stop.load(std::memory_order_relaxed)) {
      expect(!h.sysfs_write(a + "assign_adapter", "3\n"));
      expect(!h.sysfs_write(a + "assign_domain", "6\n"));
      expect(!h.sysfs_write(a + "unassign_adapter", "3\n"));
      expect(!h.sysfs_write(a + "unassign_domain", "6\n"));
    }
  });
  threads[1] = std::thread([&] {  // vCPU: PQAP through A's hook
    while (!stop.load(std::memory_order_relaxed)) {
      unsigned rc = 0xff;
      expect(!h.pqap("ga", q(1, 4), rc) && rc == 0x00);
      expect(!h.pqap("ga", q(2, 4), rc) && rc == 0x01);
    }
  });
  threads[2] = std::thread([&] {  // open / close B, PQAP on its guest
    while (!stop.load(std::memory_order_relaxed)) {
      expect(!h.vfio_open(uuid_b, "gb"));
      expect(h.vfio_open(uuid_b, "ga") == std::errc::device_or_resource_busy);
      unsigned rc = 0xff;
      expect(!h.pqap("gb", q(2, 5), rc) && rc == 0x00);
      expect(!h.vfio_close(uuid_b));
    }
  });
  threads[3] = std::thread([&] {  // host configuration changes: adapter 3 (hot-plugged
    while (!stop.load(std::memory_order_relaxed)) {  // by the first thread) comes and goes
      expect(!h.qci({.apm = adapters({1, 2, 4})}));
      expect(!h.qci({.apm = adapters({1, 2, 3, 4})}));
    }
  });
  threads[4] = std::thread([&] {  // apmask and manual bind/unbind
    while (!stop.load(std::memory_order_relaxed)) {
      expect(!h.sysfs_write("/sys/bus/ap/apmask", "+200\n"));
      expect(h.sysfs_write("/sys/bus/ap/apmask", "+1\n") == std::errc::device_or_resource_busy);
      expect(!h.sysfs_write("/sys/bus/ap/apmask", "-200\n"));
      std::error_code ec = h.sysfs_write("/sys/bus/ap/drivers/vfio_ap/unbind", "03.0006\n");
      expect(!ec || ec == std::errc::no_such_device);
      ec = h.sysfs_write("/sys/bus/ap/drivers/vfio_ap/bind", "03.0006\n");
      expect(!ec || ec == std::errc::no_such_device || ec == std::errc::device_or_resource_busy);
    }
  });
  threads[5] = std::thread([&] {  // the checker, concurrently
    while (!stop.load(std::memory_order_relaxed)) {
      const std::vector<std::string> broken = h.check_invariants();
      expect(broken.empty());
      for (const std::string& line : broken) ADD_FAILURE() << line;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  stop.store(true, std::memory_order_relaxed);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(ops.load(), 6);
  EXPECT_THAT(h.check_invariants(), IsEmpty());
  unsigned refs = 0;
  ASSERT_OK(h.kvm_refs("gb", refs));
  EXPECT_EQ(refs, 1u);
}

}  // namespace
}  // namespace vfio_ap_test
