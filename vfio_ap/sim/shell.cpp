// vfio_ap_sim/shell.cpp — the interpreter behind `vfio-ap-sim` (see shell.hpp
// and docs/vfio-ap-sim.md).
#include "shell.hpp"

#include <ordo/ap.hpp>
#include <ordo/detail/config.hpp>
#include <vfio_ap/host.hpp>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <istream>
#include <optional>
#include <ostream>
#include <utility>

namespace ordo::vfio_ap::sim {
namespace {

struct errno_entry {
  int value;
  const char* name;
  const char* text;
};

// The errno values a sysfs write or a host command can answer, with glibc's
// wording. Names are what the kernel documentation uses.
constexpr std::array<errno_entry, 30> kErrnoNames{{
    {EPERM, "EPERM", "Operation not permitted"},
    {ENOENT, "ENOENT", "No such file or directory"},
    {EIO, "EIO", "Input/output error"},
    {ENXIO, "ENXIO", "No such device or address"},
    {E2BIG, "E2BIG", "Argument list too long"},
    {EBADF, "EBADF", "Bad file descriptor"},
    {EAGAIN, "EAGAIN", "Resource temporarily unavailable"},
    {ENOMEM, "ENOMEM", "Cannot allocate memory"},
    {EACCES, "EACCES", "Permission denied"},
    {EFAULT, "EFAULT", "Bad address"},
    {EBUSY, "EBUSY", "Device or resource busy"},
    {EEXIST, "EEXIST", "File exists"},
    {ENODEV, "ENODEV", "No such device"},
    {ENOTDIR, "ENOTDIR", "Not a directory"},
    {EISDIR, "EISDIR", "Is a directory"},
    {EINVAL, "EINVAL", "Invalid argument"},
    {ENOSPC, "ENOSPC", "No space left on device"},
    {EROFS, "EROFS", "Read-only file system"},
    {EDOM, "EDOM", "Numerical argument out of domain"},
    {ERANGE, "ERANGE", "Numerical result out of range"},
    {EDEADLK, "EDEADLK", "Resource deadlock avoided"},
    {ENAMETOOLONG, "ENAMETOOLONG", "File name too long"},
    {ENOSYS, "ENOSYS", "Function not implemented"},
    {ENOTEMPTY, "ENOTEMPTY", "Directory not empty"},
    {EOVERFLOW, "EOVERFLOW", "Value too large for defined data type"},
    {EOPNOTSUPP, "EOPNOTSUPP", "Operation not supported"},
    {EADDRINUSE, "EADDRINUSE", "Address already in use"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL", "Cannot assign requested address"},
    {ETIMEDOUT, "ETIMEDOUT", "Connection timed out"},
    {ECANCELED, "ECANCELED", "Operation canceled"},
}};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// A set of characters as a table (1: in the set), so that a run of them is
// read with one lookup per character. Bytes rather than bools: a bool load
// is one more undefined-behaviour check per character.
using char_class = std::array<std::uint8_t, 256>;
constexpr char_class all_but(std::initializer_list<unsigned char> excluded) {
  char_class in{};
  for (auto& c : in) c = 1;
  for (const unsigned char c : excluded) in[c] = 0;
  return in;
}
// Characters that stand for themselves outside quotes: not a blank, `>`, a
// quote, a backslash or `$`.
constexpr char_class kPlain = all_but({' ', '\t', '>', '\'', '"', '\\', '$'});
// Characters that stand for themselves inside "...": not the closing quote,
// a backslash or `$`.
constexpr char_class kQuoted = all_but({'"', '\\', '$'});
constexpr char_class kBlank = [] {
  char_class in{};
  in[' '] = in['\t'] = 1;
  return in;
}();
constexpr char_class kNameStart = [] {
  char_class in{};
  for (unsigned char c = 'a'; c <= 'z'; ++c) in[c] = 1;
  for (unsigned char c = 'A'; c <= 'Z'; ++c) in[c] = 1;
  in['_'] = 1;
  return in;
}();
constexpr char_class kNameChar = [] {
  char_class in = kNameStart;
  for (unsigned char c = '0'; c <= '9'; ++c) in[c] = 1;
  return in;
}();

// The end of the run of characters of `in` that starts at text[i]. A scan
// with no branch of the language in it, so the fuzzer's coverage leaves it
// out (ORDO_NO_COVERAGE): a counter per character (and a hit-count feature
// for every length of run) cost more than the scan and tell the fuzzer
// nothing it does not learn from the readers around it. AddressSanitizer
// still checks every read, and UBSan every step of the pointer. Not
// inlined: inlined, it would be instrumented as its caller.
[[gnu::noinline]] ORDO_NO_COVERAGE std::size_t run_end(std::string_view text, std::size_t i,
                                                       const char_class& in) {
  if (i >= text.size()) return i;
  const auto* const first = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const last = first + text.size();
  const auto* p = first + i;
  while (p != last && in[*p] != 0) ++p;
  return static_cast<std::size_t>(p - first);
}
std::size_t plain_end(std::string_view text, std::size_t i) { return run_end(text, i, kPlain); }
std::size_t blank_end(std::string_view text, std::size_t i) { return run_end(text, i, kBlank); }

// Whether `path` is absolute with no empty, `.` or `..` component (and no
// trailing `/` but in `/` itself): resolve() would give it back unchanged.
bool is_canonical(std::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  if (path.size() == 1) return true;
  std::size_t i = 1;
  while (true) {
    std::size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    const std::string_view part = path.substr(i, slash - i);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == path.size()) return true;
    i = slash + 1;
  }
}

// The errno table's entry for `ec`, or null.
const errno_entry* find_errno(std::error_code ec) {
  if (ec.category() != std::generic_category()) return nullptr;
  for (const auto& e : kErrnoNames)
    if (e.value == ec.value()) return &e;
  return nullptr;
}

// Length of the variable name at the start of `s` (0 if none).
std::size_t name_length(std::string_view s) {
  if (s.empty() || !kNameStart[static_cast<unsigned char>(s[0])]) return 0;
  return run_end(s, 1, kNameChar);
}

std::error_code errc(std::errc e) { return std::make_error_code(e); }

// A number as kstrtoul(text, 0, ...) reads it (ap::parse_ulong), for host
// command words: no trailing newline, and ERANGE above `max` (as kstrtou8
// answers for a byte).
std::error_code parse_number(std::string_view text, unsigned long max, unsigned long& value) {
  if (!text.empty() && text.back() == '\n') return errc(std::errc::invalid_argument);
  const auto parsed = ap::parse_ulong(text);
  if (!parsed) return parsed.error;
  if (parsed.value > max) return errc(std::errc::result_out_of_range);
  value = static_cast<unsigned long>(parsed.value);
  return {};
}

// LIST: comma-separated ids and A-B ranges, each id 0..255. Empty = no ids.
template <class Id>
std::error_code parse_id_list(std::string_view text, ap::id_mask<Id>& ids) {
  ap::id_mask<Id> parsed{};
  std::size_t start = 0;
  while (!text.empty()) {
    const std::size_t comma = text.find(',', start);
    const std::string_view item =
        text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) return errc(std::errc::invalid_argument);
    const std::size_t dash = item.find('-');
    unsigned long first = 0;
    unsigned long last = 0;
    if (auto ec = parse_number(item.substr(0, dash), 255, first)) return ec;
    last = first;
    if (dash != std::string_view::npos) {
      if (auto ec = parse_number(item.substr(dash + 1), 255, last)) return ec;
      if (last < first) return errc(std::errc::invalid_argument);
    }
    for (unsigned long id = first; id <= last; ++id) parsed.set(Id(static_cast<std::uint8_t>(id)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  ids = parsed;
  return {};
}

// An APQN as the kernel names queue devices, "xx.yyyy" (ap::parse_apqn).
std::error_code parse_apqn_word(std::string_view text, ap::apqn& out) {
  if (!text.empty() && text.back() == '\n') return errc(std::errc::invalid_argument);
  const auto parsed = ap::parse_apqn(text);
  if (!parsed) return parsed.error;
  out = parsed.value;
  return {};
}

}  // namespace

std::string describe_error(std::error_code ec) {
  if (ec.category() == std::generic_category()) {
    if (const errno_entry* e = find_errno(ec)) return std::string(e->name) + ": " + e->text;
    // An errno this table does not name: its number (GCC 12 warns falsely on
    // `"literal" + std::string`, hence append).
    std::string unnamed("errno ");
    unnamed.append(std::to_string(ec.value())).append(": unknown error");
    return unnamed;
  }
  return std::string(ec.category().name()) + ": " + ec.message();
}

shell::shell(std::ostream& out, std::ostream& err)
    : host_(std::make_unique<host>()), out_(out), err_(err) {}

shell::~shell() = default;

// cwd_ = "/" without std::string's replace: GCC 12 at -O3 reports a
// -Wrestrict overlap in basic_string::_M_replace for an assignment of a
// literal that cannot overlap (GCC bug 105329), depending on what was
// inlined around it.
void shell::cwd_to_root() {
  cwd_.clear();
  cwd_.push_back('/');
}

void shell::reset() {
  host_->reset();
  variables_.clear();
  variable_bytes_ = 0;
  cwd_to_root();
  qci_adapters_ = 0;
  qci_domains_ = 0;
  line_ = 0;
  status_ = 0;
  pending_.clear();
  pending_any_ = false;
  pending_too_long_ = false;
}

int shell::run(std::istream& in) {
  char chunk[4096];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    feed(std::string_view(chunk, static_cast<std::size_t>(in.gcount())));
  }
  return end_of_input();
}

void shell::feed(std::string_view chunk) {
  while (!chunk.empty()) {
    const void* newline = std::memchr(chunk.data(), '\n', chunk.size());
    if (newline == nullptr) {
      keep_partial(chunk);
      return;
    }
    const auto n = static_cast<std::size_t>(static_cast<const char*>(newline) - chunk.data());
    if (pending_any_) {  // the end of a line an earlier chunk began
      keep_partial(chunk.substr(0, n));
      finish_pending();
    } else {  // a whole line in this chunk: run it where it is
      run_complete_line(chunk.substr(0, n));
    }
    chunk.remove_prefix(n + 1);
  }
}

void shell::keep_partial(std::string_view piece) {
  if (piece.empty()) return;
  pending_any_ = true;
  const std::size_t room = kMaxLine - pending_.size();
  if (piece.size() > room) pending_too_long_ = true;
  pending_.append(piece.substr(0, room));
}

void shell::run_complete_line(std::string_view line) {
  if (line.size() > kMaxLine) {
    ++line_;
    script_error("line longer than ", std::to_string(kMaxLine) + " bytes");
  } else {
    run_line(line);
  }
}

int shell::end_of_input() {
  if (pending_any_) finish_pending();
  if constexpr (kCheckEveryCommand) report_broken(host_->check_invariants());  // the full check
  return status_;
}

void shell::finish_pending() {
  if (pending_too_long_) {
    ++line_;
    script_error("line longer than ", std::to_string(kMaxLine) + " bytes");
  } else {
    run_line(pending_);
  }
  pending_.clear();
  pending_too_long_ = false;
  pending_any_ = false;
}

void shell::run_line(std::string_view line) {
  ++line_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find('\0') != std::string_view::npos) {
    script_error("NUL byte in line");
    return;
  }
  const std::size_t first = blank_end(line, 0);
  if (first == line.size() || line[first] == '#') return;
  execute(line.substr(first));
  check_after_command();
}

void shell::script_error(std::string_view what, std::string_view detail) {
  err_ << "sim: line " << line_ << ": " << what << detail << '\n';
  if (status_ < 1) status_ = 1;
}

void shell::failed(std::error_code ec) {
  // describe_error's text, written without building it (a failure is the
  // common answer to a fuzzed command).
  if (const errno_entry* e = find_errno(ec)) out_ << "error: " << e->name << ": " << e->text << '\n';
  else out_ << "error: " << describe_error(ec) << '\n';
}

void shell::check_after_command() {
  // What the command could have broken (host::check_changed): nothing after a
  // cat, everything after a sysfs store.
  if constexpr (kCheckEveryCommand) report_broken(host_->check_changed());
}

void shell::report_broken(const std::vector<std::string>& broken) {
  for (const auto& line : broken) {
    err_ << "sim: line " << line_ << ": invariant: " << line << '\n';
    status_ = 2;
  }
}

// Appends the expansion of the `$...` at text[i] to `into`, advancing i past
// it. Returns false (after reporting) on an undefined variable or an
// unterminated `${`.
bool shell::expand(std::string_view text, std::size_t& i, std::string& into) {
  // text[i] == '$'
  std::string_view name;
  if (i + 1 < text.size() && text[i + 1] == '{') {
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      script_error("unterminated ${");
      return false;
    }
    name = text.substr(i + 2, close - i - 2);
    if (name.empty() || name_length(name) != name.size()) {
      script_error("bad variable name in ${...}");
      return false;
    }
    i = close + 1;
  } else {
    const std::size_t n = name_length(text.substr(i + 1));
    if (n == 0) {  // a lone `$` is literal
      into.push_back('$');
      ++i;
      return true;
    }
    name = text.substr(i + 1, n);
    i += 1 + n;
  }
  auto it = variables_.find(name);
  if (it == variables_.end()) {
    script_error("undefined variable ", name);
    return false;
  }
  into += it->second;
  return true;
}

// One line's words, read left to right (the "Language" rules of shell.hpp),
// their bounds appended to the shell's word_bounds_: a word of plain
// characters only (most words) is where it lies in the line; any other
// word's bytes are appended to the shell's words_text_. Each reader starts
// at its opening character and leaves the cursor just past what it
// consumed; one that returns false has reported a script error.
class shell::tokenizer {
 public:
  tokenizer(shell& sh, std::string_view text) : sh_(sh), text_(text), into_(sh.words_text_) {}

  bool split() {
    while (true) {
      skip_blanks();
      if (at_end()) return true;
      if (peek() == '>') {
        redirection();
        continue;
      }
      // A word that is one run of plain characters is its own text: no copy.
      const std::size_t end = plain_end(text_, i_);
      if (end == text_.size() || is_blank(text_[end]) || text_[end] == '>') {
        sh_.word_bounds_.push_back({i_, end, false, true});
        in_line_ += end - i_;
        i_ = end;
      } else {
        const std::size_t begin = into_.size();
        if (!read_word(begin)) return false;
        sh_.word_bounds_.push_back({begin, into_.size(), false, false});
      }
      if (!count_expanded()) return false;
    }
  }

 private:
  bool at_end() const { return i_ == text_.size(); }
  char peek() const { return text_[i_]; }
  bool next_is(char c) const { return i_ + 1 < text_.size() && text_[i_ + 1] == c; }

  void skip_blanks() { i_ = blank_end(text_, i_); }

  // `>` or `>>` (sysfs treats both as a write).
  void redirection() {
    ++i_;
    if (!at_end() && peek() == '>') ++i_;
    sh_.word_bounds_.push_back({0, 0, true, false});
  }

  // Unquoted, quoted and escaped parts up to a blank or `>`, joined; the
  // word began at into_[begin].
  bool read_word(std::size_t begin) {
    while (!at_end() && !is_blank(peek()) && peek() != '>') {
      if (!read_part()) return false;
      if (into_.size() - begin > kMaxLine) return too_long();
    }
    return true;
  }

  bool read_part() {
    switch (peek()) {
      case '\'': return single_quoted();
      case '"': return double_quoted();
      case '\\': escaped(); return true;
      case '$': return sh_.expand(text_, i_, into_);
      default: plain(); return true;
    }
  }

  // A run of characters that stand for themselves, appended at once.
  void plain() {
    const std::size_t start = i_;
    i_ = plain_end(text_, i_);
    into_.append(text_.substr(start, i_ - start));
  }

  // '...': everything up to the next ' literally.
  bool single_quoted() {
    const std::size_t close = text_.find('\'', i_ + 1);
    if (close == std::string_view::npos) return error("unterminated '");
    into_.append(text_.substr(i_ + 1, close - i_ - 1));
    i_ = close + 1;
    return true;
  }

  // "...": blanks kept, variables expanded, \" \\ \$ stand for the character.
  bool double_quoted() {
    ++i_;
    while (!at_end() && peek() != '"') {
      if (peek() == '\\' && (next_is('"') || next_is('\\') || next_is('$'))) {
        into_.push_back(text_[i_ + 1]);
        i_ += 2;
      } else if (peek() == '$') {
        if (!sh_.expand(text_, i_, into_)) return false;
      } else if (peek() == '\\') {  // a backslash before any other character is itself
        into_.push_back(text_[i_++]);
      } else {  // a run of characters that stand for themselves, appended at once
        const std::size_t start = i_;
        i_ = run_end(text_, i_, kQuoted);
        into_.append(text_.substr(start, i_ - start));
      }
    }
    if (at_end()) return error("unterminated \"");
    ++i_;
    return true;
  }

  // \c outside quotes is c; a backslash at the end of the line is itself.
  void escaped() {
    if (i_ + 1 == text_.size()) {
      into_.push_back(text_[i_++]);
      return;
    }
    into_.push_back(text_[i_ + 1]);
    i_ += 2;
  }

  // All words of the line together (into_ and the words read in place)
  // stay within kMaxLine.
  bool count_expanded() { return into_.size() + in_line_ <= kMaxLine || too_long(); }

  bool too_long() {
    sh_.script_error("expanded line longer than ", std::to_string(kMaxLine) + " bytes");
    return false;
  }

  bool error(std::string_view what) {
    sh_.script_error(what);
    return false;
  }

  shell& sh_;
  std::string_view text_;
  std::string& into_;  // the shell's words_text_
  std::size_t i_ = 0;  // the next character to read
  std::size_t in_line_ = 0;  // the bytes of the words read in place
};

bool shell::split(std::string_view text) {
  words_text_.clear();
  word_bounds_.clear();
  words_.clear();
  if (!tokenizer(*this, text).split()) return false;
  // words_text_ no longer grows: its views are stable until the next split
  // (and `text`'s while the line runs).
  const std::string_view all(words_text_);
  for (const auto& b : word_bounds_) {
    const std::string_view from = b.in_line ? text : all;
    words_.push_back({b.redirect ? std::string_view(">") : from.substr(b.begin, b.end - b.begin), b.redirect});
  }
  return true;
}

std::string_view shell::resolve(std::string_view path) {
  // Most paths of a script are absolute and plain: they are their own
  // resolution.
  if (is_canonical(path)) return path;
  // Otherwise the components of `path` applied to `/` or, for a relative
  // path, to cwd_, which is canonical (it is only ever `/` or what this
  // function returned): its text is the resolution of its components.
  resolved_.clear();
  if ((path.empty() || path[0] != '/') && cwd_.size() > 1) resolved_.assign(cwd_);
  std::size_t i = 0;
  while (i <= path.size()) {
    std::size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    const std::string_view part = path.substr(i, slash - i);
    if (part == "..") {
      if (!resolved_.empty()) resolved_.resize(resolved_.rfind('/'));
    } else if (!part.empty() && part != ".") {
      resolved_.push_back('/');
      resolved_ += part;
    }
    i = slash + 1;
  }
  if (resolved_.empty()) resolved_.push_back('/');
  return resolved_;
}

void shell::execute(std::string_view line) {
  // NAME=VALUE: the name is unquoted text up to the first `=`.
  if (const std::size_t n = name_length(line); n > 0 && n < line.size() && line[n] == '=') {
    if (!split(line.substr(n + 1))) return;
    if (words_.size() > 1 || (words_.size() == 1 && words_[0].redirect)) {
      script_error("an assignment takes one word (quote spaces)");
      return;
    }
    const std::string_view name = line.substr(0, n);
    const std::string_view text = words_.empty() ? std::string_view() : words_[0].text;
    const auto old = variables_.find(name);
    const std::size_t replaced = old == variables_.end() ? 0 : old->first.size() + old->second.size();
    const std::size_t total = variable_bytes_ - replaced + name.size() + text.size();
    if (total > kMaxVariableBytes) {
      script_error("variables larger than ", std::to_string(kMaxVariableBytes) + " bytes");
      return;
    }
    variable_bytes_ = total;
    if (old != variables_.end()) old->second.assign(text);
    else variables_.emplace(std::string(name), std::string(text));
    return;
  }
  if (!split(line)) return;
  if (words_.empty()) return;  // only possible for an all-blank expansion
  const word_list w(words_);
  const word& command = w[0];
  if (command.redirect) {
    script_error("missing command before >");
    return;
  }
  const std::string_view name = command.text;
  // The commands, looked up in a table rather than a chain of compares.
  using handler = void (shell::*)(word_list);
  struct entry {
    std::string_view name;
    handler run;
  };
  static constexpr std::array<entry, 10> kCommands{{
      {"echo", &shell::cmd_echo},
      {"cat", &shell::cmd_cat},
      {"cd", &shell::cmd_cd},
      {"qci", &shell::cmd_qci},
      {"zapq-fault", &shell::cmd_zapq_fault},
      {"kvm", &shell::cmd_kvm},
      {"vfio", &shell::cmd_vfio},
      {"pqap", &shell::cmd_pqap},
      {"check", &shell::cmd_check},
      {"lsmod", &shell::cmd_lsmod},
  }};
  const entry* found = nullptr;
  for (const auto& e : kCommands) {
    if (e.name == name) {
      found = &e;
      break;
    }
  }
  if (found == nullptr || found->run != &shell::cmd_echo) {
    for (const auto& word : w) {
      if (word.redirect) {
        script_error("only echo can redirect its output");
        return;
      }
    }
  }
  if (found == nullptr) {
    script_error("unknown command: ", name);
    return;
  }
  (this->*found->run)(w);
}

void shell::cmd_echo(word_list words) {
  std::size_t i = 1;
  bool newline = true;
  while (i < words.size() && !words[i].redirect && words[i].text == "-n") {
    newline = false;
    ++i;
  }
  std::string& value = value_;
  value.clear();
  bool first = true;
  for (; i < words.size() && !words[i].redirect; ++i) {
    if (!first) value.push_back(' ');
    value += words[i].text;
    first = false;
  }
  if (newline) value.push_back('\n');
  if (i == words.size()) {  // no redirection: print it
    out_ << value;
    return;
  }
  if (i + 2 != words.size() || words[i + 1].redirect) {
    script_error("usage: echo [-n] VALUE > PATH");
    return;
  }
  if (auto ec = host_->sysfs_write(resolve(words[i + 1].text), value)) failed(ec);
}

void shell::cmd_cat(word_list words) {
  if (words.size() < 2) {
    script_error("usage: cat PATH...");
    return;
  }
  for (std::size_t i = 1; i < words.size(); ++i) {
    std::string content;
    if (auto ec = host_->sysfs_read(resolve(words[i].text), content)) failed(ec);
    else out_ << content;
  }
}

void shell::cmd_cd(word_list words) {
  if (words.size() > 2) {
    script_error("usage: cd [DIR]");
    return;
  }
  if (words.size() == 2) cwd_.assign(resolve(words[1].text));  // never a view into cwd_
  else cwd_to_root();
}

void shell::cmd_qci(word_list words) {
  qci_update update;
  for (std::size_t i = 1; i < words.size(); ++i) {
    const std::string_view arg = words[i].text;
    const std::size_t eq = arg.find('=');
    if (eq == std::string_view::npos) {
      script_error("usage: qci [apxa=0|1] [na=N] [nd=N] [apm=LIST] [aqm=LIST] [adm=LIST]");
      return;
    }
    const std::string_view key = arg.substr(0, eq);
    const std::string_view value = arg.substr(eq + 1);
    std::error_code ec;
    if (key == "apxa" || key == "na" || key == "nd") {
      unsigned long number = 0;
      ec = parse_number(value, key == "apxa" ? ~0UL : 255, number);
      if (!ec && key == "apxa" && number > 1) ec = errc(std::errc::invalid_argument);
      if (!ec && key == "apxa") update.apxa = number != 0;
      else if (!ec && key == "na") update.na = static_cast<unsigned>(number);
      else if (!ec) update.nd = static_cast<unsigned>(number);
    } else if (key == "apm" || key == "aqm" || key == "adm") {
      if (key == "apm") ec = parse_id_list(value, update.apm.emplace());
      else if (key == "aqm") ec = parse_id_list(value, update.aqm.emplace());
      else ec = parse_id_list(value, update.adm.emplace());
    } else {
      script_error("qci: unknown key ", key);
      return;
    }
    if (ec) {
      failed(ec);
      return;
    }
  }
  const std::size_t adapters = update.apm ? update.apm->weight() : qci_adapters_;
  const std::size_t domains = update.aqm ? update.aqm->weight() : qci_domains_;
  if (adapters != 0 && domains > max_queues_ / adapters) {
    script_error("qci: more queues than the bound of ", std::to_string(max_queues_));
    return;
  }
  if (auto ec = host_->qci(update)) {
    failed(ec);
    return;
  }
  qci_adapters_ = adapters;
  qci_domains_ = domains;
}

void shell::cmd_zapq_fault(word_list words) {
  if (words.size() != 3) {
    script_error("usage: zapq-fault APQN RC");
    return;
  }
  ap::apqn queue{};
  unsigned long rc = 0;
  std::error_code ec = parse_apqn_word(words[1].text, queue);
  if (!ec) ec = parse_number(words[2].text, 0xff, rc);
  if (!ec) ec = host_->zapq_fault(queue, static_cast<unsigned>(rc));
  if (ec) failed(ec);
}

void shell::cmd_kvm(word_list words) {
  if (words.size() == 2 && words[1].text == "list") {
    for (const auto& guest : host_->kvm_list()) out_ << guest.name << ' ' << guest.refs << '\n';
    return;
  }
  if (words.size() != 3) {
    script_error("usage: kvm create|destroy|refs|crycb NAME | kvm list");
    return;
  }
  const std::string_view op = words[1].text;
  const std::string_view name = words[2].text;
  std::error_code ec;
  if (op == "create") {
    ec = host_->kvm_create(name);
  } else if (op == "destroy") {
    ec = host_->kvm_destroy(name);
  } else if (op == "refs") {
    unsigned refs = 0;
    ec = host_->kvm_refs(name, refs);
    if (!ec) out_ << refs << '\n';
  } else if (op == "crycb") {
    std::string masks;
    ec = host_->kvm_crycb(name, masks);
    if (!ec) {
      out_ << masks;
      if (masks.empty() || masks.back() != '\n') out_ << '\n';
    }
  } else {
    script_error("usage: kvm create|destroy|refs|crycb NAME | kvm list");
    return;
  }
  if (ec) failed(ec);
}

void shell::cmd_vfio(word_list words) {
  std::error_code ec;
  if (words.size() == 4 && words[1].text == "open") {
    ec = host_->vfio_open(words[2].text, words[3].text);
  } else if (words.size() == 3 && words[1].text == "close") {
    ec = host_->vfio_close(words[2].text);
  } else {
    script_error("usage: vfio open UUID NAME | vfio close UUID");
    return;
  }
  if (ec) failed(ec);
}

void shell::cmd_pqap(word_list words) {
  if (words.size() != 3) {
    script_error("usage: pqap NAME APQN");
    return;
  }
  ap::apqn queue{};
  unsigned rc = 0;
  std::error_code ec = parse_apqn_word(words[2].text, queue);
  if (!ec) ec = host_->pqap(words[1].text, queue, rc);
  if (ec) {
    failed(ec);
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out_ << "rc=0x" << kHex[(rc >> 4) & 0xf] << kHex[rc & 0xf] << '\n';
}

void shell::cmd_lsmod(word_list words) {
  if (words.size() != 1) {
    script_error("usage: lsmod");
    return;
  }
  for (const auto& m : host_->modules()) out_ << m.name << ' ' << m.pins << '\n';
}

void shell::cmd_check(word_list words) {
  if (words.size() != 1) {
    script_error("usage: check");
    return;
  }
  const auto broken = host_->check_invariants();
  if (broken.empty()) out_ << "ok\n";
  for (const auto& b : broken) out_ << b << '\n';
}

}  // namespace ordo::vfio_ap::sim
