// libFuzzer target: differential fuzzing of ordo::refcount and ordo::rcuref
// against a reference model of refcount_t's documented rules
// (include/linux/refcount.h), written here from those rules alone:
//
//   - the live range is 1 .. INT_MAX (REFCOUNT_MAX); 0 is dead; a counter
//     initialised or set above INT_MAX is saturated;
//   - inc/add past INT_MAX saturates (overflow); inc/add of a dead counter
//     saturates (add_on_zero); add(0) does nothing;
//   - inc_not_zero/add_not_zero fail on a dead counter and change nothing;
//     past INT_MAX they saturate (overflow) and succeed; add_not_zero(0)
//     says whether the counter is alive;
//   - dec that takes the last reference saturates (dec_to_zero, the object
//     leaks); a put on a dead counter, or of more than the count, saturates
//     (underflow: a leak, never a second free);
//   - dec_and_test/sub_and_test return true exactly when they take the count
//     to zero; sub_and_test(0) returns false and does nothing;
//   - dec_if_one kills a count of exactly one, nothing else;
//   - dec_not_one (refcount) drops a reference unless it is the last (false),
//     reports a dead counter as underflow and leaves it (true);
//   - a saturated counter stays saturated whatever is done to it, unreported
//     (reported once, on entry), and reads as 0xC0000000 (REFCOUNT_SATURATED);
//     every op that takes a reference of it succeeds, no put releases it.
//
// Every input is a sequence: an initial value, then operations with steps
// chosen to hit the edges (0, 1, max_step +-1, 2*max_step, INT_MAX +-1, the
// exact current count and its neighbours, the distance to INT_MAX, raw
// 32-bit values). Each operation runs on both classes and on the model;
// their results, read() values, is_saturated() and the report made (none,
// or which kind) must agree after every step, else the target prints the
// whole sequence so far and aborts.
//
// Built without libFuzzer too (tests/fuzz/replay_main.cpp), to replay
// tests/fuzz/regressions/refcount_fuzz/.
#include <ordo/refcount.hpp>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

constexpr std::uint32_t int_max = INT_MAX;
constexpr std::uint32_t saturated_read = 0xC0000000u;  // REFCOUNT_SATURATED
constexpr unsigned max_step = ordo::refcount::max_step;
static_assert(ordo::rcuref::max_step == max_step);

// "No report" is -1; otherwise the refcount_error.
int report_seen = -1;
int reports_seen = 0;
void record(const ordo::refcount_report& r) {
  report_seen = static_cast<int>(r.error);
  ++reports_seen;
}

// The reference model: refcount_t's rules on a plain value.
struct model {
  enum class state { live, dead, saturated };
  state st = state::dead;
  std::uint32_t count = 0;  // meaningful when live
  int report = -1;          // the report the last operation made

  void init(std::uint32_t n) {
    if (n == 0) {
      st = state::dead;
    } else if (n > int_max) {
      st = state::saturated;
    } else {
      st = state::live;
      count = n;
    }
  }
  void saturate(ordo::refcount_error e) {
    st = state::saturated;
    report = static_cast<int>(e);
  }
  std::uint32_t read() const {
    switch (st) {
      case state::live:
        return count;
      case state::dead:
        return 0;
      case state::saturated:
        return saturated_read;
    }
    return 0;
  }
  void add(std::uint32_t n) {
    if (n == 0 || st == state::saturated) return;
    if (st == state::dead) return saturate(ordo::refcount_error::add_on_zero);
    if (n > int_max - count) return saturate(ordo::refcount_error::overflow);
    count += n;
  }
  bool add_not_zero(std::uint32_t n) {
    if (st == state::dead) return false;
    if (st == state::saturated) return true;
    if (n > int_max - count) {
      saturate(ordo::refcount_error::overflow);
      return true;
    }
    count += n;
    return true;
  }
  void dec() {
    if (st == state::saturated) return;
    if (st == state::dead) return saturate(ordo::refcount_error::underflow);
    if (count == 1) return saturate(ordo::refcount_error::dec_to_zero);
    --count;
  }
  bool sub_and_test(std::uint32_t n) {
    if (n == 0 || st == state::saturated) return false;
    if (st == state::dead || n > count) {
      saturate(ordo::refcount_error::underflow);
      return false;
    }
    count -= n;
    if (count == 0) st = state::dead;
    return st == state::dead;
  }
  bool dec_if_one() {
    if (st != state::live || count != 1) return false;
    st = state::dead;
    return true;
  }
  bool dec_not_one() {
    if (st == state::saturated) return true;
    if (st == state::dead) {
      report = static_cast<int>(ordo::refcount_error::underflow);
      return true;
    }
    if (count == 1) return false;
    --count;
    return true;
  }
};

// Reads the input: bytes run out as zeros, so every input is a sequence.
struct reader {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  bool empty() const { return at >= size; }
  std::uint8_t byte() { return at < size ? data[at++] : 0; }
  std::uint32_t word() {
    std::uint32_t w = 0;
    for (int i = 0; i < 4; ++i) w = (w << 8) | byte();
    return w;
  }
  // A step or value near an edge: absolute limits, or relative to the
  // current count (`count`, 0 when not live).
  std::uint32_t value(std::uint32_t count) {
    const std::uint8_t kind = byte();
    const std::uint32_t small = byte() % 8u;
    switch (kind % 16u) {
      case 0: return small;
      case 1: return 1;
      case 2: return max_step - small;
      case 3: return max_step + small;
      case 4: return 2u * max_step + small - 4u;
      case 5: return int_max - small;
      case 6: return int_max + small;
      case 7: return saturated_read + small - 4u;
      case 8: return 0xFFFFFFFFu - small;
      case 9: return count + small - 4u;            // near the whole count
      case 10: return count;                        // exactly the whole count
      case 11: return int_max - count + small - 4u; // near the distance to INT_MAX
      case 12: return (int_max - count) / 2u + small;
      case 13: return 1u << (small + 24u);
      default: return word();
    }
  }
};

enum class op : std::uint8_t {
  inc, add, inc_not_zero, add_not_zero, dec, dec_and_test, sub_and_test,
  dec_if_one, dec_not_one, set, count_
};
const char* name(op o) {
  switch (o) {
    case op::inc: return "inc";
    case op::add: return "add";
    case op::inc_not_zero: return "inc_not_zero";
    case op::add_not_zero: return "add_not_zero";
    case op::dec: return "dec";
    case op::dec_and_test: return "dec_and_test";
    case op::sub_and_test: return "sub_and_test";
    case op::dec_if_one: return "dec_if_one";
    case op::dec_not_one: return "dec_not_one";
    case op::set: return "set";
    case op::count_: break;
  }
  return "?";
}

const char* report_name(int r) {
  if (r < 0) return "none";
  switch (static_cast<ordo::refcount_error>(r)) {
    case ordo::refcount_error::add_on_zero: return "add_on_zero";
    case ordo::refcount_error::underflow: return "underflow";
    case ordo::refcount_error::dec_to_zero: return "dec_to_zero";
    case ordo::refcount_error::overflow: return "overflow";
  }
  return "?";
}

// Runs one operation on a counter; returns its bool result (true for the
// void operations, which have none).
template <class Counter>
bool apply(Counter& c, op o, std::uint32_t n) {
  switch (o) {
    case op::inc: c.inc(); return true;
    case op::add: c.add(n); return true;
    case op::inc_not_zero: return c.inc_not_zero();
    case op::add_not_zero: return c.add_not_zero(n);
    case op::dec: c.dec(); return true;
    case op::dec_and_test: return c.dec_and_test();
    case op::sub_and_test: return c.sub_and_test(n);
    case op::dec_if_one: return c.dec_if_one();
    case op::dec_not_one:
      if constexpr (requires { c.dec_not_one(); }) {
        return c.dec_not_one();
      } else {
        return true;  // not an rcuref operation (never called for it)
      }
    case op::set: c.set(n); return true;
    case op::count_: break;
  }
  return true;
}

bool apply(model& m, op o, std::uint32_t n) {
  m.report = -1;
  switch (o) {
    case op::inc: m.add(1); return true;
    case op::add: m.add(n); return true;
    case op::inc_not_zero: return m.add_not_zero(1);
    case op::add_not_zero: return m.add_not_zero(n);
    case op::dec: m.dec(); return true;
    case op::dec_and_test: return m.sub_and_test(1);
    case op::sub_and_test: return m.sub_and_test(n);
    case op::dec_if_one: return m.dec_if_one();
    case op::dec_not_one: return m.dec_not_one();
    case op::set: m.init(n); return true;
    case op::count_: break;
  }
  return true;
}

[[noreturn]] void disagree(const std::string& trace, const char* who, const char* what,
                           unsigned long long got, unsigned long long want) {
  std::fprintf(stderr,
               "refcount_fuzz: %s disagrees with refcount_t's rules on %s: got %llu (0x%llx), "
               "the model says %llu (0x%llx)\nsequence:\n%s",
               who, what, got, got, want, want, trace.c_str());
  std::abort();
}

template <class Counter>
void check(const std::string& trace, const char* who, const Counter& c, bool result, int report,
           int reports, const model& m, bool model_result) {
  if (result != model_result) disagree(trace, who, "the result", result, model_result);
  if (c.read() != m.read()) disagree(trace, who, "read()", c.read(), m.read());
  if (c.is_saturated() != (m.st == model::state::saturated)) {
    disagree(trace, who, "is_saturated()", c.is_saturated(), m.st == model::state::saturated);
  }
  if (reports > 1) disagree(trace, who, "the number of reports", reports, 1);
  if (report != m.report) {
    std::string what = std::string("the report (got ") + report_name(report) + ", want " +
                       report_name(m.report) + ")";
    disagree(trace, who, what.c_str(), static_cast<unsigned long long>(report + 1),
             static_cast<unsigned long long>(m.report + 1));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto previous = ordo::set_refcount_report_handler(&record);
  reader in{data, size};
  const std::uint32_t initial = in.value(0);
  model m_rc;  // ordo::refcount's model (it also has dec_not_one)
  model m_rr;  // ordo::rcuref's
  m_rc.init(initial);
  m_rr.init(initial);
  ordo::refcount rc(initial);
  ordo::rcuref rr(initial);
  std::string trace = "  init " + std::to_string(initial) + "\n";
  for (int steps = 0; !in.empty() && steps < 256; ++steps) {
    const auto o = static_cast<op>(in.byte() % static_cast<unsigned>(op::count_));
    const bool takes_n = o == op::add || o == op::add_not_zero || o == op::sub_and_test ||
                         o == op::set;
    const std::uint32_t n =
        takes_n ? in.value(m_rc.st == model::state::live ? m_rc.count : 0) : 0;
    trace += std::string("  ") + name(o);
    if (takes_n) trace += " " + std::to_string(n);
    trace += "\n";

    const bool want_rc = apply(m_rc, o, n);
    report_seen = -1;
    reports_seen = 0;
    const bool got_rc = apply(rc, o, n);
    check(trace, "ordo::refcount", rc, got_rc, report_seen, reports_seen, m_rc, want_rc);
    if (o == op::dec_not_one) continue;  // not an rcuref operation
    const bool want_rr = apply(m_rr, o, n);
    report_seen = -1;
    reports_seen = 0;
    const bool got_rr = apply(rr, o, n);
    check(trace, "ordo::rcuref", rr, got_rr, report_seen, reports_seen, m_rr, want_rr);
  }
  ordo::set_refcount_report_handler(previous);
  return 0;
}
