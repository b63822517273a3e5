// libFuzzer target: whole simulator scripts. Any byte string is a script;
// the shell must run it to the end without a crash, hang, leak, sanitizer
// report or broken invariant (in this build, ORDO_LOCKDEP=1, the shell checks
// what each command could have broken after it and I1–I6 at the end of the
// script, and reports a break through exit status 2).
#include "shell.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // One shell for the process, reset for every input (shell::reset: a new
  // shell's state over a host::reset host, which is exact:
  // vfio_ap_reset_test); its streams emptied.
  static std::ostringstream out;
  static std::ostringstream err;
  static ordo::vfio_ap::sim::shell& sh = *new ordo::vfio_ap::sim::shell(out, err);  // never destroyed
  out.str({});
  err.str({});
  sh.reset();
  std::istringstream script(std::string(reinterpret_cast<const char*>(data), size));
  const int status = sh.run(script);
  if (status == 2) {  // an invariant broke: that is a model bug
    std::fprintf(stderr, "%s", err.str().c_str());
    std::abort();
  }
  return 0;
}
