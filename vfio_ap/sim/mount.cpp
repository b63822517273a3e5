// vfio_ap/sim/mount.cpp — sysfs_mount over libfuse3's high-level API (see
// mount.hpp). The workers are our own threads around
// fuse_session_receive_buf / fuse_session_process_buf, so that stop() can
// wake and join them deterministically (libfuse's own loop waits for a
// signal or an unmount to notice that it should end).
#include "mount.hpp"

#include <vfio_ap/host.hpp>

#ifdef ORDO_VFIO_AP_HAVE_FUSE
#define FUSE_USE_VERSION 35
#include <fuse3/fuse.h>
#include <fuse3/fuse_lowlevel.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>
#include <vector>
#endif

namespace ordo::vfio_ap::sim {

#ifndef ORDO_VFIO_AP_HAVE_FUSE

bool mount_supported() noexcept { return false; }
struct sysfs_mount::state {};
std::unique_ptr<sysfs_mount> sysfs_mount::start(host&, const std::string&, const mount_options&,
                                                std::string& error) {
  error = "this vfio-ap-sim was built without libfuse3 (install libfuse3-dev and rebuild)";
  return nullptr;
}
sysfs_mount::sysfs_mount(std::unique_ptr<state> s) : state_(std::move(s)) {}
sysfs_mount::~sysfs_mount() = default;
void sysfs_mount::stop() {}
int sysfs_mount::ended_fd() const noexcept { return -1; }
bool sysfs_mount::ended() const noexcept { return true; }
const std::string& sysfs_mount::dir() const noexcept {
  static const std::string none;
  return none;
}

#else  // ORDO_VFIO_AP_HAVE_FUSE

bool mount_supported() noexcept { return true; }

struct sysfs_mount::state {
  host* model = nullptr;
  std::string dir;
  fuse* fs = nullptr;
  int fuse_fd = -1;
  int ended_fd = -1;  // eventfd: the kernel ended the connection
  std::atomic<bool> ended{false};
  std::atomic<bool> stopping{false};
  std::atomic<unsigned> running{0};  // workers that have not left serve()
  std::vector<std::thread> workers;
  bool stopped = false;
  timespec mounted_at{};

  void serve();
  void note_ended() {
    if (!ended.exchange(true)) {  // the first worker to see it tells the owner
      const std::uint64_t one = 1;
      (void)!::write(ended_fd, &one, sizeof one);
    }
  }
};

namespace {

// Interrupts a worker blocked in read(2) on /dev/fuse (a handler that does
// nothing, installed without SA_RESTART).
constexpr int kWakeSignal = SIGUSR1;
void on_wake(int) {}

// What one open(2) of an attribute holds: the show output that reads at
// offsets > 0 continue in (M2).
struct open_attribute {
  std::mutex lock;
  std::string shown;
  bool have_shown = false;
};

sysfs_mount::state& current() {
  return *static_cast<sysfs_mount::state*>(fuse_get_context()->private_data);
}

// The model's path for a path below the mount: the mount is /sys.
std::string model_path(const char* path) {
  std::string p("/sys");
  if (std::strcmp(path, "/") != 0) p += path;
  return p;
}

int neg(std::error_code ec) { return -(ec.value() != 0 ? ec.value() : EIO); }

// M3: an attribute store/show that answers ENOENT because its node is gone
// answers ENODEV, as kernfs does for an open file whose node was removed.
int vanished_or(host& model, const std::string& path, std::error_code ec) {
  if (ec == std::errc::no_such_file_or_directory) {
    sysfs_entry entry;
    if (model.sysfs_stat(path, entry)) return -ENODEV;
  }
  return neg(ec);
}

void fill_stat(const sysfs_mount::state& s, const sysfs_entry& entry, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_uid = 0;
  st->st_gid = 0;
  st->st_atim = st->st_mtim = st->st_ctim = s.mounted_at;
  switch (entry.kind) {
    case sysfs_kind::dir:
      st->st_mode = S_IFDIR | (entry.mode & 07777);
      st->st_nlink = 2;
      break;
    case sysfs_kind::symlink:
      st->st_mode = S_IFLNK | 0777;
      st->st_nlink = 1;
      st->st_size = static_cast<off_t>(entry.target.size());
      break;
    case sysfs_kind::file:
      st->st_mode = S_IFREG | (entry.mode & 07777);
      st->st_nlink = 1;
      st->st_size = 4096;  // what sysfs reports for every attribute
      break;
  }
  st->st_blksize = 4096;
}

void* op_init(fuse_conn_info* conn, fuse_config* cfg) {
  conn->max_write = 4096;  // M1: kernfs passes at most PAGE_SIZE to a store
  conn->want &= ~FUSE_CAP_SPLICE_READ;
  cfg->entry_timeout = 0;  // M5
  cfg->attr_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->direct_io = 1;
  cfg->kernel_cache = 0;
  cfg->use_ino = 0;
  return fuse_get_context()->private_data;
}

int op_getattr(const char* path, struct stat* st, fuse_file_info*) {
  auto& s = current();
  sysfs_entry entry;
  if (auto ec = s.model->sysfs_stat(model_path(path), entry)) return neg(ec);
  fill_stat(s, entry, st);
  return 0;
}

int op_readlink(const char* path, char* buf, size_t size) {
  auto& s = current();
  sysfs_entry entry;
  if (auto ec = s.model->sysfs_stat(model_path(path), entry)) return neg(ec);
  if (entry.kind != sysfs_kind::symlink) return -EINVAL;
  if (size == 0) return -EINVAL;
  const std::size_t n = std::min(entry.target.size(), size - 1);
  std::memcpy(buf, entry.target.data(), n);
  buf[n] = '\0';
  return 0;
}

int op_readdir(const char* path, void* buf, fuse_fill_dir_t filler, off_t, fuse_file_info*,
               fuse_readdir_flags) {
  auto& s = current();
  std::vector<sysfs_entry> entries;
  if (auto ec = s.model->sysfs_list(model_path(path), entries)) return neg(ec);
  filler(buf, ".", nullptr, 0, fuse_fill_dir_flags{});
  filler(buf, "..", nullptr, 0, fuse_fill_dir_flags{});
  for (const auto& e : entries) {
    struct stat st;
    fill_stat(s, e, &st);
    if (filler(buf, e.name.c_str(), &st, 0, fuse_fill_dir_flags{}) != 0) break;
  }
  return 0;
}

int op_open(const char* path, fuse_file_info* fi) {
  auto& s = current();
  sysfs_entry entry;
  if (auto ec = s.model->sysfs_stat(model_path(path), entry)) return neg(ec);
  if (entry.kind == sysfs_kind::dir) return -EISDIR;
  if (entry.kind != sysfs_kind::file) return -ELOOP;  // the kernel resolves symlinks first
  const int access = fi->flags & O_ACCMODE;
  const bool wants_read = access == O_RDONLY || access == O_RDWR;
  const bool wants_write = access == O_WRONLY || access == O_RDWR;
  if ((wants_read && (entry.mode & 0444) == 0) || (wants_write && (entry.mode & 0222) == 0)) {
    return -EACCES;  // M4
  }
  fi->direct_io = 1;
  fi->keep_cache = 0;
  fi->fh = reinterpret_cast<std::uint64_t>(new open_attribute);
  return 0;
}

int op_release(const char*, fuse_file_info* fi) {
  delete reinterpret_cast<open_attribute*>(fi->fh);
  fi->fh = 0;
  return 0;
}

int op_read(const char* path, char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  auto& s = current();
  auto* file = reinterpret_cast<open_attribute*>(fi->fh);
  if (file == nullptr || offset < 0) return -EINVAL;
  std::lock_guard<std::mutex> guard(file->lock);
  if (offset == 0 || !file->have_shown) {  // M2
    std::string shown;
    const std::string p = model_path(path);
    if (auto ec = s.model->sysfs_read(p, shown)) return vanished_or(*s.model, p, ec);
    file->shown = std::move(shown);
    file->have_shown = true;
  }
  const auto at = static_cast<std::size_t>(offset);
  if (at >= file->shown.size()) return 0;
  const std::size_t n = std::min(size, file->shown.size() - at);
  std::memcpy(buf, file->shown.data() + at, n);
  return static_cast<int>(n);
}

int op_write(const char* path, const char* buf, size_t size, off_t, fuse_file_info*) {
  auto& s = current();
  const std::string p = model_path(path);
  if (size == 0) return 0;  // sysfs_kf_write: an empty write calls no store
  if (auto ec = s.model->sysfs_write(p, std::string_view(buf, size))) {  // M1
    return vanished_or(*s.model, p, ec);
  }
  return static_cast<int>(size);
}

int op_truncate(const char* path, off_t, fuse_file_info*) {
  auto& s = current();
  sysfs_entry entry;
  if (auto ec = s.model->sysfs_stat(model_path(path), entry)) return neg(ec);
  return entry.kind == sysfs_kind::dir ? -EISDIR : 0;  // M4: accepted, nothing changes
}

int op_create(const char* path, mode_t, fuse_file_info*) {
  auto& s = current();
  sysfs_entry entry;
  if (!s.model->sysfs_stat(model_path(path), entry)) return -EEXIST;
  return -EACCES;  // M4: no create in a kernfs directory
}
int op_mknod(const char*, mode_t, dev_t) { return -EACCES; }
int op_mkdir(const char*, mode_t) { return -EPERM; }
int op_unlink(const char*) { return -EPERM; }
int op_rmdir(const char*) { return -EPERM; }
int op_symlink(const char*, const char*) { return -EPERM; }
int op_link(const char*, const char*) { return -EPERM; }
int op_rename(const char*, const char*, unsigned) { return -EPERM; }
int op_chmod(const char*, mode_t, fuse_file_info*) { return -EPERM; }
int op_chown(const char*, uid_t, gid_t, fuse_file_info*) { return -EPERM; }

fuse_operations make_operations() {
  fuse_operations ops{};
  ops.init = op_init;
  ops.getattr = op_getattr;
  ops.readlink = op_readlink;
  ops.readdir = op_readdir;
  ops.open = op_open;
  ops.release = op_release;
  ops.read = op_read;
  ops.write = op_write;
  ops.truncate = op_truncate;
  ops.create = op_create;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.symlink = op_symlink;
  ops.link = op_link;
  ops.rename = op_rename;
  ops.chmod = op_chmod;
  ops.chown = op_chown;
  return ops;
}

// The connection is gone (unmounted or aborted): the fd polls POLLERR.
bool connection_gone(int fd) {
  pollfd p{fd, 0, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
}

}  // namespace

void sysfs_mount::state::serve() {
  // The kernel hands each request to one blocked reader (an exclusive
  // wait): no thundering herd. stop() wakes a reader that still waits with
  // kWakeSignal (EINTR), after the abort has failed every read it could.
  sigset_t wake;
  sigemptyset(&wake);
  sigaddset(&wake, kWakeSignal);
  pthread_sigmask(SIG_UNBLOCK, &wake, nullptr);
  fuse_session* se = fuse_get_session(fs);
  fuse_buf buf{};
  while (!stopping.load()) {
    const int got = fuse_session_receive_buf(se, &buf);
    if (got == -EINTR || got == -EAGAIN) continue;
    if (got <= 0) {  // 0: the kernel ended the connection (ENODEV)
      note_ended();
      break;
    }
    fuse_session_process_buf(se, &buf);
  }
  std::free(buf.mem);
  running.fetch_sub(1);
}

sysfs_mount::sysfs_mount(std::unique_ptr<state> s) : state_(std::move(s)) {}

sysfs_mount::~sysfs_mount() { stop(); }

std::unique_ptr<sysfs_mount> sysfs_mount::start(host& model, const std::string& dir,
                                                const mount_options& options,
                                                std::string& error) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    error = std::string("cannot use /dev/fuse: ") + std::strerror(errno) +
            " (is the fuse module loaded, and are you allowed to open it?)";
    return nullptr;
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    error = "cannot mount at " + dir + ": not a directory";
    return nullptr;
  }
  auto s = std::make_unique<state>();
  s->model = &model;
  char* absolute = ::realpath(dir.c_str(), nullptr);  // stop() unmounts by this name
  s->dir = absolute != nullptr ? absolute : dir;
  std::free(absolute);
  ::clock_gettime(CLOCK_REALTIME, &s->mounted_at);
  std::string opts = "fsname=vfio-ap-sim,subtype=vfio_ap,default_permissions";
  if (options.allow_other && ::geteuid() == 0) opts += ",allow_other";
  std::vector<std::string> arg_text = {"vfio-ap-sim", "-o", opts};
  std::vector<char*> argv;
  for (auto& a : arg_text) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  static const fuse_operations ops = make_operations();
  s->fs = fuse_new(&args, &ops, sizeof ops, s.get());
  fuse_opt_free_args(&args);
  if (s->fs == nullptr) {
    error = "cannot create the FUSE filesystem (libfuse rejected the options)";
    return nullptr;
  }
  if (fuse_mount(s->fs, s->dir.c_str()) != 0) {
    fuse_destroy(s->fs);
    error = "cannot mount at " + dir +
            (::geteuid() == 0 ? std::string(" (see the message above)")
                              : std::string(" (mounting needs root, or fusermount3 for your user)"));
    return nullptr;
  }
  s->fuse_fd = fuse_session_fd(fuse_get_session(s->fs));
  ::fcntl(s->fuse_fd, F_SETFD, FD_CLOEXEC);  // commands we run must not hold the connection
  s->ended_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct sigaction wake {};
  wake.sa_handler = on_wake;
  sigemptyset(&wake.sa_mask);
  wake.sa_flags = 0;  // no SA_RESTART: the blocked read returns EINTR
  ::sigaction(kWakeSignal, &wake, nullptr);
  const unsigned threads = options.threads == 0 ? 1 : options.threads;
  s->running.store(threads);
  for (unsigned i = 0; i < threads; ++i) s->workers.emplace_back([p = s.get()] { p->serve(); });
  return std::unique_ptr<sysfs_mount>(new sysfs_mount(std::move(s)));
}

void sysfs_mount::stop() {
  state& s = *state_;
  if (s.stopped) return;
  s.stopped = true;
  // I2: as root, abort the connection first (fuse_umount_begin): every
  // request the kernel still holds fails now, so no writer waits on us.
  if (::geteuid() == 0 && !connection_gone(s.fuse_fd)) {
    (void)::umount2(s.dir.c_str(), MNT_FORCE | MNT_DETACH);
  }
  s.stopping.store(true);
  // Without root (or a reader the abort did not reach): interrupt every
  // worker still in serve() until all have left it, then join (O2).
  while (s.running.load() != 0) {
    for (auto& w : s.workers) ::pthread_kill(w.native_handle(), kWakeSignal);
    ::usleep(2000);
  }
  for (auto& w : s.workers) w.join();
  s.workers.clear();
  fuse_unmount(s.fs);  // closes the connection; unmounts unless it is gone
  fuse_destroy(s.fs);
  s.fs = nullptr;
  ::close(s.ended_fd);
  s.ended_fd = -1;
}

int sysfs_mount::ended_fd() const noexcept { return state_->ended_fd; }
bool sysfs_mount::ended() const noexcept { return state_->ended.load(); }
const std::string& sysfs_mount::dir() const noexcept { return state_->dir; }

#endif  // ORDO_VFIO_AP_HAVE_FUSE

}  // namespace ordo::vfio_ap::sim
