// vfio-ap-sim [SCRIPT] — runs a vfio-ap script against one simulated s390 host
// (the AP bus, the vfio_ap matrix device, mediated devices, KVM guests) and
// prints what the kernel would show. The language is docs/vfio-ap-sim.md;
// shell.hpp has the details. Without SCRIPT it reads standard input.
//
//   $ vfio-ap-sim vfio_ap/sim/walkthrough.sim
//
// Exit status: 0; 1 if a line was not a command; 2 if an invariant broke
// (checked after every command in debug, lockdep and sanitizer builds).
#include "shell.hpp"

#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
  if (argc > 2) {
    std::cerr << "usage: vfio-ap-sim [SCRIPT]\n";
    return 64;
  }
  ordo::vfio_ap::sim::shell shell(std::cout, std::cerr);
  if (argc == 2) {
    std::ifstream script(argv[1], std::ios::binary);
    if (!script) {
      std::cerr << "vfio-ap-sim: cannot open " << argv[1] << '\n';
      return 66;
    }
    return shell.run(script);
  }
  return shell.run(std::cin);
}
