// The mounted model's round trip (vfio_ap/sim/mount.hpp) against the same
// system calls on a tmpfs file, in the same run: the ratio is what serving
// the model through FUSE costs over the kernel's own VFS path.
//
// BM_MountRoundTrip_CatMatrix     ours: `cat matrix` of an mdev on the
//                                 mounted model: open, read until EOF,
//                                 close. Through FUSE that is 6 requests:
//                                 LOOKUP of the mdev directory and of
//                                 `matrix` (names that can vanish are never
//                                 cached; devices/vfio_ap/matrix are), OPEN,
//                                 READ (the model's show), a READ that finds
//                                 EOF (direct I/O: every read(2) reaches the
//                                 server), RELEASE — each a round trip
//                                 kernel -> worker thread -> kernel.
// BM_TmpfsRoundTrip_CatMatrix     anchor: the same open/read/read/close of
//                                 a tmpfs file holding the same text.
// BM_MountRoundTrip_EchoAssignDomain   ours: `echo 4 > assign_domain`, then
//                                 `echo 4 > unassign_domain` (so every
//                                 store does the work of a hot plug on an
//                                 mdev without a guest): open(O_WRONLY|
//                                 O_TRUNC), write "4\n" (the model's store),
//                                 close, twice: 5 requests each (2 LOOKUP,
//                                 OPEN with the O_TRUNC in it, WRITE,
//                                 RELEASE).
// BM_TmpfsRoundTrip_EchoAssignDomain   anchor: the same two open/write/
//                                 close on tmpfs files.
//
// What dominates: the number of FUSE round trips, not the model (show and
// store take a few microseconds under the model's locks: vfio_ap_bench).
// Before the mount used libfuse's low-level API with per-entry timeouts, a
// cat was 16 requests (a LOOKUP for every path component and a GETATTR for
// every directory's permission check, all with timeouts of 0, plus cat's
// fstat) and an echo 14. Now 6 and 5: only names that can vanish are looked
// up again, and attributes (fixed per path) are cached.
// All four use wall time (the work happens in the FUSE worker threads, not
// in the timed one). Needs root and /dev/fuse: otherwise the mount
// benchmarks report an error and the anchors still run.
#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include <mount.hpp>
#include <vfio_ap/host.hpp>

namespace {

using ordo::vfio_ap::host;
using ordo::vfio_ap::sim::sysfs_mount;

constexpr const char* kUuid = "62177883-f1bb-47f0-914d-32a22e3a8804";

// One host with an mdev holding adapter 5, domain 4, mounted at a temporary
// directory, and a tmpfs directory with files of the same names and text.
struct fixture {
  host model;
  std::unique_ptr<sysfs_mount> mounted;
  std::string error;
  std::string mount_dir;
  std::string tmpfs_dir;

  fixture() {
    char mount_template[] = "/tmp/vfio-ap-bench.XXXXXX";
    char tmpfs_template[] = "/dev/shm/vfio-ap-bench.XXXXXX";
    mount_dir = ::mkdtemp(mount_template);
    tmpfs_dir = ::mkdtemp(tmpfs_template);
    ordo::vfio_ap::qci_update config;
    config.apm = ordo::ap::adapter_mask::of(ordo::ap::apid{5});
    config.aqm = ordo::ap::domain_mask::of(ordo::ap::apqi{4});
    (void)model.sysfs_write("/sys/bus/ap/apmask", "0x0\n");
    (void)model.sysfs_write("/sys/bus/ap/aqmask", "0x0\n");
    (void)model.qci(config);
    const std::string matrix = "/sys/devices/vfio_ap/matrix/";
    (void)model.sysfs_write(matrix + "mdev_supported_types/vfio_ap-passthrough/create",
                            std::string(kUuid) + "\n");
    (void)model.sysfs_write(matrix + kUuid + "/assign_adapter", "5\n");
    (void)model.sysfs_write(matrix + kUuid + "/assign_domain", "4\n");
    std::string shown;
    (void)model.sysfs_read(matrix + kUuid + "/matrix", shown);
    for (const char* name : {"/matrix", "/assign_domain", "/unassign_domain"}) {
      const int fd = ::open((tmpfs_dir + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        (void)!::write(fd, shown.data(), shown.size());
        ::close(fd);
      }
    }
    mounted = sysfs_mount::start(model, mount_dir, {}, error);
  }
  ~fixture() {
    if (mounted) mounted->stop();
    for (const char* name : {"/matrix", "/assign_domain", "/unassign_domain"}) {
      ::unlink((tmpfs_dir + name).c_str());
    }
    ::rmdir(tmpfs_dir.c_str());
    ::rmdir(mount_dir.c_str());
  }
  std::string mdev_dir() const {
    return mount_dir + "/devices/vfio_ap/matrix/" + std::string(kUuid);
  }
};

fixture& shared() {
  static fixture f;
  return f;
}

bool cat(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return false;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) benchmark::DoNotOptimize(buf[0]);
  ::close(fd);
  return n == 0;
}

bool echo(const std::string& path, const char* text, std::size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text, size) == static_cast<ssize_t>(size);
  ::close(fd);
  return ok;
}

void BM_MountRoundTrip_CatMatrix(benchmark::State& state) {
  fixture& f = shared();
  if (!f.mounted) {
    state.SkipWithError(("cannot mount: " + f.error).c_str());
    return;
  }
  const std::string path = f.mdev_dir() + "/matrix";
  for (auto _ : state) {
    if (!cat(path)) {
      state.SkipWithError("cat of the mounted matrix failed");
      return;
    }
  }
}
BENCHMARK(BM_MountRoundTrip_CatMatrix)->UseRealTime();

void BM_TmpfsRoundTrip_CatMatrix(benchmark::State& state) {
  const std::string path = shared().tmpfs_dir + "/matrix";
  for (auto _ : state) {
    if (!cat(path)) {
      state.SkipWithError("cat of the tmpfs file failed");
      return;
    }
  }
}
BENCHMARK(BM_TmpfsRoundTrip_CatMatrix)->UseRealTime();

void BM_MountRoundTrip_EchoAssignDomain(benchmark::State& state) {
  fixture& f = shared();
  if (!f.mounted) {
    state.SkipWithError(("cannot mount: " + f.error).c_str());
    return;
  }
  const std::string dir = f.mdev_dir();
  const std::string unassign = dir + "/unassign_domain";
  const std::string assign = dir + "/assign_domain";
  for (auto _ : state) {
    if (!echo(unassign, "4\n", 2) || !echo(assign, "4\n", 2)) {
      state.SkipWithError("echo to the mounted mdev failed");
      return;
    }
  }
}
BENCHMARK(BM_MountRoundTrip_EchoAssignDomain)->UseRealTime();

void BM_TmpfsRoundTrip_EchoAssignDomain(benchmark::State& state) {
  const std::string dir = shared().tmpfs_dir;
  const std::string unassign = dir + "/unassign_domain";
  const std::string assign = dir + "/assign_domain";
  for (auto _ : state) {
    if (!echo(unassign, "4\n", 2) || !echo(assign, "4\n", 2)) {
      state.SkipWithError("echo to the tmpfs file failed");
      return;
    }
  }
}
BENCHMARK(BM_TmpfsRoundTrip_EchoAssignDomain)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
