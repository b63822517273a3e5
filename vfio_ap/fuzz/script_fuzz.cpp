// libFuzzer target: whole simulator scripts. Any byte string is a script;
// the shell must run it to the end without a crash, hang, leak, sanitizer
// report or broken invariant (the shell checks I1–I6 after every command in
// this build, ORDO_LOCKDEP=1, and reports a break through exit status 2).
#include "shell.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream script(std::string(reinterpret_cast<const char*>(data), size));
  std::ostringstream out;
  std::ostringstream err;
  ordo::vfio_ap::sim::shell sh(out, err);
  const int status = sh.run(script);
  if (status == 2) {  // an invariant broke: that is a model bug
    std::fprintf(stderr, "%s", err.str().c_str());
    std::abort();
  }
  return 0;
}
