// vfio_ap_sim/shell.hpp — the command language of `vfio-ap-sim`.
//
// What it is: a small, line-oriented shell that drives one simulated s390
// host (ordo::vfio_ap::host: AP bus, vfio_ap matrix device, mediated devices,
// KVM guests) with the commands of the kernel's vfio-ap documentation:
// `echo VALUE > /sys/...`, `cat /sys/...`, plus a few host-side commands
// (qci, zapq-fault, kvm, vfio, pqap, check). The language is specified in
// docs/vfio-ap-sim.md; this header is the entry point the program and the
// fuzzers share.
//
// When not to use it: it is a test and teaching tool, not a shell. There are
// no pipes, no command substitution, no globbing, no control flow.
//
// Thread-safety: a `shell` is used by one thread. It owns its host.
//
// Language (beyond docs/vfio-ap-sim.md, which is authoritative):
//   * A line is split into words at blanks (space, tab). `'...'` keeps its
//     text literally; `"..."` keeps spaces but expands variables, and `\"`,
//     `\\`, `\$` inside it stand for the character. Outside quotes `\c` is a
//     literal c. An unquoted `>` (or `>>`, which sysfs treats the same) is a
//     redirection operator even without blanks around it.
//   * `$NAME` / `${NAME}` expand to the variable's value, never split into
//     several words. An undefined variable is a script error (stderr, exit
//     status 1), so a typo cannot silently write an empty value. A `$` not
//     followed by a name or `{` is literal.
//   * `NAME=VALUE` takes exactly one word after `=` (quote spaces).
//   * `echo [-n]... WORDS > PATH`: the words joined by one space, plus `\n`
//     unless `-n`. Without `> PATH`, echo prints to standard output (handy for
//     labelling the output of a script).
//   * `cat PATH...` prints each attribute in turn.
//   * `cd [DIR]`: DIR relative to the current directory; no DIR means `/`.
//     `.` and `..` are resolved in the text of the path, as in `cd -L`.
//   * A trailing `\r` (a CRLF script) is dropped from each line.
//   * Bounds, so that any input terminates quickly with bounded memory: a
//     line (raw or expanded) is at most kMaxLine bytes, all variables
//     together at most kMaxVariableBytes; a NUL byte in a line is a script
//     error. Longer lines are consumed and rejected as a whole.
//
// Exit status: 0; 1 if any line was not a command (reported on stderr as
// `sim: line N: ...`); 2 if, in a checking build, an invariant broke.
//
// Checking builds: when ORDO_LOCKDEP is defined or NDEBUG is not (the debug,
// tsan, asan and clang presets), host::check_changed() runs after every
// command (the invariants the command could have broken: all of them after
// a sysfs store, none after a cat) and host::check_invariants() at the end
// of the input (end_of_input); each broken invariant is reported on stderr
// as `sim: line N: invariant: ...` and makes the exit status 2. Release
// builds skip these checks (the `check` command always runs the full one).
//
// Example:
//   ordo::vfio_ap::sim::shell sh(std::cout, std::cerr);
//   std::istringstream script("echo -5 > /sys/bus/ap/apmask\ncat /sys/bus/ap/apmask\n");
//   int status = sh.run(script);
#ifndef ORDO_EXAMPLES_VFIO_AP_SIM_SHELL_HPP
#define ORDO_EXAMPLES_VFIO_AP_SIM_SHELL_HPP

#include <cstddef>
#include <iosfwd>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace ordo::vfio_ap {
class host;
}

namespace ordo::vfio_ap::sim {

/// Whether this build checks the invariants after every command.
#if defined(ORDO_LOCKDEP) || !defined(NDEBUG)
inline constexpr bool kCheckEveryCommand = true;
#else
inline constexpr bool kCheckEveryCommand = false;
#endif

/// The longest line (before and after variable expansion), in bytes.
inline constexpr std::size_t kMaxLine = 64 * 1024;

/// The most bytes all variables (names and values) may hold together.
inline constexpr std::size_t kMaxVariableBytes = 1024 * 1024;

/// `ENAME: text` for an errno value carried by `ec` (generic category), e.g.
/// `EINVAL: Invalid argument`; other categories give their message.
std::string describe_error(std::error_code ec);

/// One simulated host and the interpreter state (variables, directory, line
/// number, exit status). Not thread-safe.
class shell {
 public:
  /// A shell over a fresh host. `out` gets the command output, `err` the
  /// script errors; both must outlive the shell.
  shell(std::ostream& out, std::ostream& err);
  ~shell();
  shell(const shell&) = delete;
  shell& operator=(const shell&) = delete;

  /// Back to the state of a new shell over the same streams (host::reset,
  /// no variables, `/`, line 0, status 0, no partial line), without
  /// building a host. Not while another thread drives model().
  void reset();

  /// Runs every line of `in` and returns the exit status (see above).
  int run(std::istream& in);

  /// Runs every line `chunk` completes; a partial last line waits for the
  /// next chunk (or end_of_input). run() is feed() of all of `in`, then
  /// end_of_input(). For input that arrives in pieces (a pipe, a terminal).
  void feed(std::string_view chunk);
  /// Runs the partial line feed() kept, if any; returns the exit status.
  int end_of_input();

  /// The simulated host, for code that drives it beside the shell (the
  /// FUSE mount's threads). host is thread-safe; the shell is not.
  host& model() noexcept { return *host_; }

  /// Runs one line (without its `\n`) as line number line_number()+1.
  void run_line(std::string_view line);

  /// A bound on the queue devices a `qci` may configure: one whose adapters
  /// times domains (as this shell's `qci` commands set them) exceed `max`
  /// is a script error and changes nothing. For a caller that must keep
  /// every command cheap: script_fuzz (a `qci` of all 65536 APQNs costs
  /// tens of milliseconds under ASan; see script_fuzz.options for why a
  /// bound loses no state that matters). Default: none; reset() keeps it.
  void limit_queues(std::size_t max) noexcept { max_queues_ = max; }

  /// 0, 1 (script errors) or 2 (broken invariants), as run() returns.
  int exit_status() const noexcept { return status_; }
  std::size_t line_number() const noexcept { return line_; }

 private:
  // A word of the line being run: a view into the line or into words_text_,
  // valid until the next split() and while the line's text lives.
  struct word {
    std::string_view text;
    bool redirect = false;  // an unquoted `>` or `>>`
  };
  using word_list = std::span<const word>;

  class tokenizer;  // split()'s reader over one line (shell.cpp)

  void execute(std::string_view line);
  bool split(std::string_view text);
  bool expand(std::string_view text, std::size_t& i, std::string& into);
  std::string_view resolve(std::string_view path);

  void cmd_echo(word_list words);
  void cmd_cat(word_list words);
  void cwd_to_root();  // cwd_ = "/"
  void cmd_cd(word_list words);
  void cmd_qci(word_list words);
  void cmd_zapq_fault(word_list words);
  void cmd_kvm(word_list words);
  void cmd_vfio(word_list words);
  void cmd_pqap(word_list words);
  void cmd_check(word_list words);
  void cmd_lsmod(word_list words);

  void failed(std::error_code ec);  // `error: ENAME: text` on out
  // `sim: line N: what detail` on err
  void script_error(std::string_view what, std::string_view detail = {});
  void check_after_command();
  void report_broken(const std::vector<std::string>& broken);
  void run_complete_line(std::string_view line);  // feed(): a line read whole
  void keep_partial(std::string_view piece);       // feed(): part of a line

  std::unique_ptr<host> host_;
  std::ostream& out_;
  std::ostream& err_;
  std::map<std::string, std::string, std::less<>> variables_;
  std::size_t variable_bytes_ = 0;  // names and values of variables_
  std::string cwd_ = "/";
  std::size_t line_ = 0;
  int status_ = 0;
  // feed(): the line read so far, and whether it outgrew kMaxLine.
  std::string pending_;
  bool pending_any_ = false;  // bytes read since the last newline
  bool pending_too_long_ = false;
  void finish_pending();
  // Scratch buffers, reused line after line so that a command allocates
  // only what the host allocates (their capacity stays within a few times
  // kMaxLine): the split line's words (their bytes in
  // words_text_ unless a word is plain text of the line, their [begin, end)
  // in word_bounds_, then views in words_), resolve()'s path and echo's
  // value.
  struct word_bounds {
    std::size_t begin;
    std::size_t end;
    bool redirect;
    bool in_line;  // [begin, end) of the line itself, not of words_text_
  };
  std::string words_text_;
  std::vector<word_bounds> word_bounds_;
  std::vector<word> words_;
  std::string resolved_;
  std::string value_;
  // limit_queues(): the bound, and how many adapters and domains the
  // configuration has (set only by cmd_qci; none at start).
  std::size_t max_queues_ = static_cast<std::size_t>(-1);
  std::size_t qci_adapters_ = 0;
  std::size_t qci_domains_ = 0;
};

}  // namespace ordo::vfio_ap::sim

#endif  // ORDO_EXAMPLES_VFIO_AP_SIM_SHELL_HPP
