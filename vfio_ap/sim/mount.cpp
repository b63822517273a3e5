// vfio_ap/sim/mount.cpp — sysfs_mount over libfuse3's low-level API (see
// mount.hpp). The low-level API lets each reply say how long the kernel may
// cache it (M5): the names no model state can remove are cached for good,
// so a path walk asks the server only about the components that can vanish
// (an mdev, a card, a queue). The workers are our own threads around
// fuse_session_receive_buf / fuse_session_process_buf, so that stop() can
// wake and join them deterministically (libfuse's own loop waits for a
// signal or an unmount to notice that it should end).
#include "mount.hpp"

#include <vfio_ap/host.hpp>

#ifdef ORDO_VFIO_AP_HAVE_FUSE
#define FUSE_USE_VERSION 35
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
#include <unordered_map>
#include <unordered_set>
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

namespace {

// The inode numbers the kernel knows (its lookup counts, FORGET): ino ->
// the node's model path, and back. An ino names one path for its whole
// life and is never reused, so whatever the kernel caches for an ino (its
// attributes, a symlink's target) stays true of that path. An entry lives
// while the kernel holds a lookup of it; memory is bounded by what the
// kernel keeps in its dentry cache, not by how long the mount runs.
class inode_table {
 public:
  inode_table() { by_ino_.emplace(FUSE_ROOT_ID, node{"/sys", 1}); }

  /// The path of `ino`; false if the kernel named an ino it was never given.
  bool path_of(fuse_ino_t ino, std::string& out) {
    std::lock_guard<std::mutex> guard(lock_);
    const auto it = by_ino_.find(ino);
    if (it == by_ino_.end()) return false;
    out = it->second.path;
    return true;
  }
  /// One more kernel lookup of `path`: its ino (a new one if unknown).
  fuse_ino_t remember(const std::string& path) {
    std::lock_guard<std::mutex> guard(lock_);
    if (path == "/sys") return FUSE_ROOT_ID;  // the root is never forgotten
    const auto [it, added] = by_path_.try_emplace(path, next_);
    if (added) by_ino_.emplace(next_++, node{path, 0});
    ++by_ino_[it->second].lookups;
    return it->second;
  }
  /// The kernel dropped `n` lookups of `ino` (FORGET, or a reply of
  /// remember()'s lookup that did not reach it).
  void forget(fuse_ino_t ino, std::uint64_t n) {
    if (ino == FUSE_ROOT_ID) return;
    std::lock_guard<std::mutex> guard(lock_);
    const auto it = by_ino_.find(ino);
    if (it == by_ino_.end()) return;
    it->second.lookups -= std::min(n, it->second.lookups);
    if (it->second.lookups == 0) {
      by_path_.erase(it->second.path);
      by_ino_.erase(it);
    }
  }

 private:
  struct node {
    std::string path;
    std::uint64_t lookups = 0;
  };
  std::mutex lock_;
  std::unordered_map<fuse_ino_t, node> by_ino_;          // lock_
  std::unordered_map<std::string, fuse_ino_t> by_path_;  // lock_
  fuse_ino_t next_ = FUSE_ROOT_ID + 1;                    // lock_
};

// What one open(2) of an attribute holds: the show output that reads at
// offsets > 0 continue in (M2).
struct open_attribute {
  std::mutex lock;
  std::string shown;
  bool have_shown = false;
};

// What one opendir(3) holds: the listing readdir's offsets index, taken
// at offset 0 (a rewinddir lists again).
struct open_directory {
  std::mutex lock;
  std::vector<sysfs_entry> entries;  // ".", "..", then the model's
  bool listed = false;
};

// The handles of open files and directories. The kernel sends RELEASE
// after the last close, asynchronously: a connection that ends (unmount,
// abort) before it arrives never sends it, so the mount frees what is left
// when it stops.
template <class Handle>
class handle_table {
 public:
  ~handle_table() {
    for (Handle* h : open_) delete h;
  }
  std::uint64_t add() {
    auto* h = new Handle;
    std::lock_guard<std::mutex> guard(lock_);
    open_.insert(h);
    return reinterpret_cast<std::uint64_t>(h);
  }
  static Handle* get(std::uint64_t fh) { return reinterpret_cast<Handle*>(fh); }
  void release(std::uint64_t fh) {
    auto* h = get(fh);
    {
      std::lock_guard<std::mutex> guard(lock_);
      if (open_.erase(h) == 0) return;  // not ours
    }
    delete h;
  }

 private:
  std::mutex lock_;
  std::unordered_set<Handle*> open_;  // lock_
};

}  // namespace

struct sysfs_mount::state {
  host* model = nullptr;
  std::string dir;
  fuse_session* se = nullptr;
  int fuse_fd = -1;
  int ended_fd = -1;  // eventfd: the kernel ended the connection
  std::atomic<bool> ended{false};
  std::atomic<bool> stopping{false};
  std::atomic<unsigned> running{0};  // workers that have not left serve()
  std::vector<std::thread> workers;
  bool stopped = false;
  timespec mounted_at{};
  inode_table inodes;
  handle_table<open_attribute> files;
  handle_table<open_directory> dirs;

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

// M5: how long the kernel may keep what a reply told it. A fixed name
// (host::sysfs_fixed) and every node's attributes (kind, mode, size and
// times never change for a path) for good; a name that can vanish not at
// all, so each path walk through it asks again (negative entries are never
// cached either: a new mdev appears at the next lookup).
constexpr double kForever = 365.0 * 24 * 3600;
constexpr double kNotCached = 0.0;

// What readdir's d_ino says of entries the kernel has not looked up (as
// libfuse's high-level API says without use_ino).
constexpr ino_t kUnknownIno = 0xffffffff;

sysfs_mount::state& current(fuse_req_t req) {
  return *static_cast<sysfs_mount::state*>(fuse_req_userdata(req));
}

std::string child_path(const std::string& parent, const char* name) {
  return parent + "/" + name;
}

int errno_of(std::error_code ec) { return ec.value() != 0 ? ec.value() : EIO; }

// M3: an attribute store/show that answers ENOENT because its node is gone
// answers ENODEV, as kernfs does for an open file whose node was removed.
int vanished_or(host& model, const std::string& path, std::error_code ec) {
  if (ec == std::errc::no_such_file_or_directory) {
    sysfs_entry entry;
    if (model.sysfs_stat(path, entry)) return ENODEV;
  }
  return errno_of(ec);
}

void fill_stat(const sysfs_mount::state& s, const sysfs_entry& entry, fuse_ino_t ino,
               struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_ino = ino;
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

// The node `ino` names now: its path and what it is. On failure the errno
// to answer (ENOENT for a node gone, ESTALE for an ino never given out).
int stat_ino(sysfs_mount::state& s, fuse_ino_t ino, std::string& path, sysfs_entry& entry) {
  if (!s.inodes.path_of(ino, path)) return ESTALE;
  if (auto ec = s.model->sysfs_stat(path, entry)) return errno_of(ec);
  return 0;
}

void op_init(void*, fuse_conn_info* conn) {
  conn->max_write = 4096;  // M1: kernfs passes at most PAGE_SIZE to a store
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_READDIRPLUS |
                  FUSE_CAP_READDIRPLUS_AUTO);
  // `>` opens with O_TRUNC: in the OPEN itself, not a SETATTR of its own.
  if ((conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) != 0) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  // A symlink's target is a function of its path (one ino per path): the
  // kernel may keep it.
  if ((conn->capable & FUSE_CAP_CACHE_SYMLINKS) != 0) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto& s = current(req);
  std::string dir;
  if (!s.inodes.path_of(parent, dir)) {
    fuse_reply_err(req, ESTALE);
    return;
  }
  const std::string path = child_path(dir, name);
  sysfs_entry entry;
  if (auto ec = s.model->sysfs_stat(path, entry)) {
    fuse_reply_err(req, errno_of(ec));  // never a cached negative entry (M5)
    return;
  }
  fuse_entry_param e{};
  e.ino = s.inodes.remember(path);
  e.generation = 1;
  fill_stat(s, entry, e.ino, &e.attr);
  e.attr_timeout = kForever;
  e.entry_timeout = host::sysfs_fixed(path) ? kForever : kNotCached;
  if (fuse_reply_entry(req, &e) != 0) s.inodes.forget(e.ino, 1);  // the kernel did not get it
}

void op_forget(fuse_req_t req, fuse_ino_t ino, std::uint64_t nlookup) {
  current(req).inodes.forget(ino, nlookup);
  fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  auto& s = current(req);
  for (size_t i = 0; i < count; ++i) s.inodes.forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto& s = current(req);
  std::string path;
  sysfs_entry entry;
  if (const int err = stat_ino(s, ino, path, entry)) {
    fuse_reply_err(req, err);
    return;
  }
  struct stat st;
  fill_stat(s, entry, ino, &st);
  fuse_reply_attr(req, &st, kForever);
}

// M4: chmod and chown are EPERM; truncation is accepted and changes
// nothing; times cannot be set (ENOSYS, as libfuse answers a filesystem
// without utimens).
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat*, int to_set, fuse_file_info*) {
  auto& s = current(req);
  std::string path;
  sysfs_entry entry;
  int err = stat_ino(s, ino, path, entry);
  if (err == 0 && (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) != 0) {
    err = EPERM;
  }
  if (err == 0 && (to_set & FUSE_SET_ATTR_SIZE) != 0 && entry.kind == sysfs_kind::dir) err = EISDIR;
  if (err == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
                             FUSE_SET_ATTR_MTIME_NOW)) != 0) {
    err = ENOSYS;
  }
  if (err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  struct stat st;
  fill_stat(s, entry, ino, &st);
  fuse_reply_attr(req, &st, kForever);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  auto& s = current(req);
  std::string path;
  sysfs_entry entry;
  if (const int err = stat_ino(s, ino, path, entry)) {
    fuse_reply_err(req, err);
    return;
  }
  if (entry.kind != sysfs_kind::symlink) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  fuse_reply_readlink(req, entry.target.c_str());
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& s = current(req);
  std::string path;
  sysfs_entry entry;
  if (const int err = stat_ino(s, ino, path, entry)) {
    fuse_reply_err(req, err);
    return;
  }
  if (entry.kind != sysfs_kind::dir) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  fi->fh = s.dirs.add();
  fi->cache_readdir = 0;
  fi->keep_cache = 0;
  if (fuse_reply_open(req, fi) != 0) s.dirs.release(fi->fh);  // interrupted: no RELEASEDIR follows
}

// Takes the listing readdir's offsets index (".", "..", then the model's).
int list_directory(sysfs_mount::state& s, fuse_ino_t ino, open_directory& dir) {
  std::string path;
  if (!s.inodes.path_of(ino, path)) return ESTALE;
  std::vector<sysfs_entry> entries;
  if (auto ec = s.model->sysfs_list(path, entries)) return errno_of(ec);
  dir.entries.clear();
  dir.entries.push_back({".", sysfs_kind::dir, 0755, {}});
  dir.entries.push_back({"..", sysfs_kind::dir, 0755, {}});
  for (auto& e : entries) dir.entries.push_back(std::move(e));
  dir.listed = true;
  return 0;
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  auto& s = current(req);
  auto* dir = handle_table<open_directory>::get(fi->fh);
  if (dir == nullptr || off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  // The reply goes out after the lock is released: once the kernel has
  // it, a RELEASEDIR may free `dir` on another worker.
  std::vector<char> buf(size);
  std::size_t used = 0;
  int err = 0;
  {
    std::lock_guard<std::mutex> guard(dir->lock);
    if (off == 0 || !dir->listed) err = list_directory(s, ino, *dir);
    for (auto i = static_cast<std::size_t>(off); err == 0 && i < dir->entries.size(); ++i) {
      const sysfs_entry& e = dir->entries[i];
      struct stat st;
      fill_stat(s, e, i == 0 ? ino : kUnknownIno, &st);
      const std::size_t need = fuse_add_direntry(req, buf.data() + used, size - used,
                                                 e.name.c_str(), &st, static_cast<off_t>(i + 1));
      if (need > size - used) break;
      used += need;
    }
  }
  if (err != 0) fuse_reply_err(req, err);
  else fuse_reply_buf(req, buf.data(), used);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  current(req).dirs.release(fi->fh);
  fi->fh = 0;
  fuse_reply_err(req, 0);
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& s = current(req);
  std::string path;
  sysfs_entry entry;
  if (const int err = stat_ino(s, ino, path, entry)) {
    fuse_reply_err(req, err);
    return;
  }
  if (entry.kind == sysfs_kind::dir) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  if (entry.kind != sysfs_kind::file) {  // the kernel resolves symlinks first
    fuse_reply_err(req, ELOOP);
    return;
  }
  const int access = fi->flags & O_ACCMODE;
  const bool wants_read = access == O_RDONLY || access == O_RDWR;
  const bool wants_write = access == O_WRONLY || access == O_RDWR;
  if ((wants_read && (entry.mode & 0444) == 0) || (wants_write && (entry.mode & 0222) == 0)) {
    fuse_reply_err(req, EACCES);  // M4
    return;
  }
  // O_TRUNC (FUSE_CAP_ATOMIC_O_TRUNC): accepted, nothing changes (M4).
  fi->direct_io = 1;  // every read and write reaches show and store (M5)
  fi->keep_cache = 0;
  fi->fh = s.files.add();
  if (fuse_reply_open(req, fi) != 0) s.files.release(fi->fh);  // interrupted: no RELEASE follows
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  current(req).files.release(fi->fh);
  fi->fh = 0;
  fuse_reply_err(req, 0);
}

// Calls show for an open attribute (M2); 0 or the errno to answer.
int show_attribute(sysfs_mount::state& s, fuse_ino_t ino, open_attribute& file) {
  std::string path;
  if (!s.inodes.path_of(ino, path)) return ENODEV;
  std::string shown;
  if (auto ec = s.model->sysfs_read(path, shown)) return vanished_or(*s.model, path, ec);
  file.shown = std::move(shown);
  file.have_shown = true;
  return 0;
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
  auto& s = current(req);
  auto* file = handle_table<open_attribute>::get(fi->fh);
  if (file == nullptr || offset < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  // The reply goes out after the lock is released: once the kernel has
  // it, a RELEASE may free `file` on another worker.
  std::string out;
  int err = 0;
  {
    std::lock_guard<std::mutex> guard(file->lock);
    if (offset == 0 || !file->have_shown) err = show_attribute(s, ino, *file);  // M2
    const auto at = static_cast<std::size_t>(offset);
    if (err == 0 && at < file->shown.size()) {
      out.assign(file->shown, at, std::min(size, file->shown.size() - at));
    }
  }
  if (err != 0) fuse_reply_err(req, err);
  else fuse_reply_buf(req, out.data(), out.size());
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t,
              fuse_file_info*) {
  auto& s = current(req);
  if (size == 0) {  // sysfs_kf_write: an empty write calls no store
    fuse_reply_write(req, 0);
    return;
  }
  std::string path;
  if (!s.inodes.path_of(ino, path)) {
    fuse_reply_err(req, ENODEV);
    return;
  }
  if (auto ec = s.model->sysfs_write(path, std::string_view(buf, size))) {  // M1
    fuse_reply_err(req, vanished_or(*s.model, path, ec));
    return;
  }
  fuse_reply_write(req, size);
}

// M4: no create in a kernfs directory; the other namespace changes EPERM.
void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t, fuse_file_info*) {
  auto& s = current(req);
  std::string dir;
  if (!s.inodes.path_of(parent, dir)) {
    fuse_reply_err(req, ESTALE);
    return;
  }
  sysfs_entry entry;
  fuse_reply_err(req, s.model->sysfs_stat(child_path(dir, name), entry) ? EACCES : EEXIST);
}
void op_mknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { fuse_reply_err(req, EACCES); }
void op_mkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { fuse_reply_err(req, EPERM); }
void op_unlink(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void op_rmdir(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void op_symlink(fuse_req_t req, const char*, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void op_link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void op_rename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) {
  fuse_reply_err(req, EPERM);
}

fuse_lowlevel_ops make_operations() {
  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.forget = op_forget;
  ops.forget_multi = op_forget_multi;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.readlink = op_readlink;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.releasedir = op_releasedir;
  ops.open = op_open;
  ops.release = op_release;
  ops.read = op_read;
  ops.write = op_write;
  ops.create = op_create;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.symlink = op_symlink;
  ops.link = op_link;
  ops.rename = op_rename;
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
  static const fuse_lowlevel_ops ops = make_operations();
  s->se = fuse_session_new(&args, &ops, sizeof ops, s.get());
  fuse_opt_free_args(&args);
  if (s->se == nullptr) {
    error = "cannot create the FUSE filesystem (libfuse rejected the options)";
    return nullptr;
  }
  if (fuse_session_mount(s->se, s->dir.c_str()) != 0) {
    fuse_session_destroy(s->se);
    error = "cannot mount at " + dir +
            (::geteuid() == 0 ? std::string(" (see the message above)")
                              : std::string(" (mounting needs root, or fusermount3 for your user)"));
    return nullptr;
  }
  s->fuse_fd = fuse_session_fd(s->se);
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
  fuse_session_unmount(s.se);  // closes the connection; unmounts unless it is gone
  fuse_session_destroy(s.se);
  s.se = nullptr;
  ::close(s.ended_fd);
  s.ended_fd = -1;
}

int sysfs_mount::ended_fd() const noexcept { return state_->ended_fd; }
bool sysfs_mount::ended() const noexcept { return state_->ended.load(); }
const std::string& sysfs_mount::dir() const noexcept { return state_->dir; }

#endif  // ORDO_VFIO_AP_HAVE_FUSE

}  // namespace ordo::vfio_ap::sim
