// vfio-ap-sim — runs one simulated s390 host (the AP bus, the vfio_ap matrix
// device, mediated devices, KVM guests) and prints what the kernel would
// show. The command language is docs/vfio-ap-sim.md; shell.hpp has the
// details; mount.hpp serves the same host as a sysfs tree.
//
//   vfio-ap-sim [SCRIPT]                       commands from SCRIPT, else stdin
//   vfio-ap-sim --mount DIR [SCRIPT]           SCRIPT, then serve the model at
//                                              DIR while reading commands from
//                                              stdin; unmount at end of input,
//                                              SIGINT, SIGTERM or when DIR is
//                                              unmounted from outside
//   vfio-ap-sim --exec [SCRIPT] -- COMMAND...  in a private mount namespace:
//                                              the model over /sys, an empty
//                                              /etc/mdevctl.d; SCRIPT, then
//                                              COMMAND; COMMAND's exit status
//
//   $ vfio-ap-sim vfio_ap/sim/walkthrough.sim
//
// Exit status (script and --mount): 0; 1 if a line was not a command; 2 if
// an invariant broke (checked after every command in debug, lockdep and
// sanitizer builds). --exec: COMMAND's status (128+N if signal N ended it),
// or 2 if it succeeded but the model broke an invariant. Setup failures
// (usage 64, no such SCRIPT 66, no root / no FUSE / mount refused 1) say
// what on standard error.
#include "mount.hpp"
#include "shell.hpp"

#include <vfio_ap/host.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

extern char** environ;

namespace {

using ordo::vfio_ap::sim::shell;
using ordo::vfio_ap::sim::sysfs_mount;

constexpr int kUsage = 64;
constexpr int kNoInput = 66;
constexpr int kSetupFailed = 1;

void usage() {
  std::cerr << "usage: vfio-ap-sim [SCRIPT]\n"
               "       vfio-ap-sim --mount DIR [SCRIPT]\n"
               "       vfio-ap-sim --exec [SCRIPT] -- COMMAND [ARGS...]\n";
}

void fail(const std::string& what) { std::cerr << "vfio-ap-sim: " << what << '\n'; }

// Runs SCRIPT (if any) on the shell; false if it cannot be opened.
bool run_script(shell& sh, const char* script) {
  if (script == nullptr) return true;
  std::ifstream in(script, std::ios::binary);
  if (!in) {
    fail(std::string("cannot open ") + script);
    return false;
  }
  sh.run(in);
  std::cout.flush();
  return true;
}

// The signals that end a mount (and that --exec forwards to COMMAND), blocked
// in every thread and read from a signalfd by the owner.
sigset_t ending_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGQUIT);
  return set;
}

int run_mount(const char* dir, const char* script) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed stdout must not kill a live mount
  shell sh(std::cout, std::cerr);
  if (!run_script(sh, script)) return kNoInput;
  const sigset_t ending = ending_signals();
  pthread_sigmask(SIG_BLOCK, &ending, nullptr);  // before the workers start
  const int signals = ::signalfd(-1, &ending, SFD_CLOEXEC);
  std::string error;
  auto mounted = sysfs_mount::start(sh.model(), dir, {}, error);
  if (!mounted) {
    fail(error);
    return kSetupFailed;
  }
  std::cerr << "vfio-ap-sim: serving the model at " << dir
            << " (end of input, SIGINT, SIGTERM or fusermount3 -u unmounts)\n";
  bool input_ended = false;
  while (true) {
    pollfd fds[3] = {{0, POLLIN, 0}, {signals, POLLIN, 0}, {mounted->ended_fd(), POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0 || fds[2].revents != 0) break;  // a signal, or unmounted
    if (fds[0].revents != 0) {
      char chunk[65536];
      const ssize_t n = ::read(0, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        input_ended = true;
        break;
      }
      sh.feed(std::string_view(chunk, static_cast<std::size_t>(n)));
      std::cout.flush();
    }
  }
  if (input_ended) sh.end_of_input();  // a last line without its newline
  std::cout.flush();
  mounted->stop();
  ::close(signals);
  return sh.exit_status();
}

int make_private_host_view() {
  if (::unshare(CLONE_NEWNS) != 0) {
    fail(std::string("cannot make a private mount namespace: ") + std::strerror(errno));
    return kSetupFailed;
  }
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    fail(std::string("cannot make / private in the new namespace: ") + std::strerror(errno));
    return kSetupFailed;
  }
  struct stat st;
  if (::stat("/etc/mdevctl.d", &st) != 0 || !S_ISDIR(st.st_mode)) {
    fail("/etc/mdevctl.d does not exist (install mdevctl, or create the directory): "
         "--exec mounts an empty one over it");
    return kSetupFailed;
  }
  if (::mount("vfio-ap-sim", "/etc/mdevctl.d", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) {
    fail(std::string("cannot mount a tmpfs over /etc/mdevctl.d: ") + std::strerror(errno));
    return kSetupFailed;
  }
  for (const char* d : {"/etc/mdevctl.d/scripts.d", "/etc/mdevctl.d/scripts.d/callouts",
                        "/etc/mdevctl.d/scripts.d/notifiers"}) {
    if (::mkdir(d, 0755) != 0) {
      fail(std::string("cannot create ") + d + ": " + std::strerror(errno));
      return kSetupFailed;
    }
  }
  return 0;
}

int run_exec(const char* script, char** command) {
  if (::geteuid() != 0) {
    fail("--exec needs root: it makes a private mount namespace and mounts the model over /sys");
    return kSetupFailed;
  }
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    fail(std::string("--exec needs FUSE: cannot use /dev/fuse: ") + std::strerror(errno));
    return kSetupFailed;
  }
  if (!ordo::vfio_ap::sim::mount_supported()) {
    fail("this vfio-ap-sim was built without libfuse3 (install libfuse3-dev and rebuild)");
    return kSetupFailed;
  }
  // unshare(CLONE_NEWNS) needs a single-threaded process: before anything starts.
  if (int status = make_private_host_view()) return status;
  std::signal(SIGPIPE, SIG_IGN);
  shell sh(std::cout, std::cerr);
  if (!run_script(sh, script)) return kNoInput;
  sigset_t ending = ending_signals();
  sigaddset(&ending, SIGCHLD);
  sigset_t original;
  pthread_sigmask(SIG_BLOCK, &ending, &original);
  const int signals = ::signalfd(-1, &ending, SFD_CLOEXEC);
  std::string error;
  auto mounted = sysfs_mount::start(sh.model(), "/sys", {}, error);
  if (!mounted) {
    fail(error);
    return kSetupFailed;
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigmask(&attr, &original);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t child = 0;
  const int spawned = ::posix_spawnp(&child, command[0], nullptr, &attr, command, environ);
  posix_spawnattr_destroy(&attr);
  int status = 0;
  if (spawned != 0) {
    fail(std::string("cannot run ") + command[0] + ": " + std::strerror(spawned));
    status = 127;
  } else {
    while (true) {
      signalfd_siginfo info;
      const ssize_t n = ::read(signals, &info, sizeof info);
      if (n != static_cast<ssize_t>(sizeof info)) {
        if (n < 0 && errno == EINTR) continue;
        break;
      }
      if (info.ssi_signo != SIGCHLD) {
        ::kill(child, static_cast<int>(info.ssi_signo));  // COMMAND decides
        continue;
      }
      int wstatus = 0;
      const pid_t done = ::waitpid(child, &wstatus, WNOHANG);
      if (done != child) continue;
      status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
      break;
    }
  }
  mounted->stop();
  ::close(signals);
  const auto broken = sh.model().check_invariants();
  for (const auto& b : broken) fail("invariant: " + b);
  if (!broken.empty() && status == 0) status = 2;
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    usage();
    return 0;
  }
  if (!args.empty() && args[0] == "--mount") {
    if (args.size() < 2 || args.size() > 3) {
      usage();
      return kUsage;
    }
    return run_mount(argv[2], args.size() == 3 ? argv[3] : nullptr);
  }
  if (!args.empty() && args[0] == "--exec") {
    int dashes = -1;
    for (int i = 2; i < argc; ++i) {
      if (std::strcmp(argv[i], "--") == 0) {
        dashes = i;
        break;
      }
    }
    // --exec [SCRIPT] -- COMMAND: at most one word between, a command after.
    if (dashes < 0 || dashes > 3 || dashes + 1 >= argc) {
      usage();
      return kUsage;
    }
    return run_exec(dashes == 3 ? argv[2] : nullptr, argv + dashes + 1);
  }
  if (argc > 2 || (argc == 2 && argv[1][0] == '-' && argv[1][1] != '\0')) {
    usage();
    return kUsage;
  }
  shell sh(std::cout, std::cerr);
  if (argc == 2) {
    std::ifstream script(argv[1], std::ios::binary);
    if (!script) {
      fail(std::string("cannot open ") + argv[1]);
      return kNoInput;
    }
    return sh.run(script);
  }
  return sh.run(std::cin);
}
