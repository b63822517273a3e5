// vfio_ap/sim/mount.hpp — the reference model served as a FUSE filesystem
// laid out like the kernel's sysfs, so that real programs (bash, mdevctl,
// libvirt's tooling) drive it with the system calls they use on s390.
//
// What it is
//   sysfs_mount mounts one ordo::vfio_ap::host at a directory. The model's
//   own sysfs table decides everything about the tree (host::sysfs_stat /
//   sysfs_list: which nodes exist, their kind, kernel mode and symlink
//   target; host::sysfs_read / sysfs_write: show and store); this file only
//   carries system calls to it, as kernfs carries them to sysfs attributes:
//     M1  a write(2) of N bytes (N <= 4096, the kernel's PAGE_SIZE bound;
//         longer writes arrive as several) is one store call with exactly
//         those bytes; its error is the writer's errno, success consumes N.
//     M2  a read(2) at offset 0 calls show; reads at later offsets continue
//         in that output (kernfs' seq_file), so a reader never sees two
//         shows stitched together.
//     M3  an attribute whose node vanished while open (its mdev removed, its
//         queue unbound) answers ENODEV, as kernfs_get_active does.
//     M4  opening a read-only attribute for writing, or a write-only one for
//         reading, is EACCES even for root (kernfs_fop_open). Creating a
//         name in a directory is EACCES (kernfs has no create); mkdir,
//         unlink, rmdir, rename, link and symlink are EPERM (as kernfs);
//         chmod and chown too (kernfs would record them; the modes here
//         are the table's).
//         Truncation (the O_TRUNC of `>`) is accepted and changes nothing.
//     M5  the kernel caches only what no model state can change: the names
//         host::sysfs_fixed says are always there (bus/ap/apmask,
//         devices/vfio_ap/matrix, ...) and every node's attributes (kind,
//         mode, size and times are fixed per path). A name that can vanish
//         (an mdev, a card, a queue, and everything below them) is never
//         cached, nor is a missing name, and every read and write goes to
//         show and store (direct I/O): a directory or symlink appears and
//         disappears with the model's state at the next lookup, whoever
//         changed it (a writer through the mount or the simulator's
//         commands), and no invalidation is ever needed. One inode number
//         per path while the kernel knows it (lookup counts, FORGET), never
//         reused, so a cached symlink target stays true.
//   Mode bits are enforced for other users by the kernel
//   (default_permissions); root is refused only by M4, as on sysfs.
//
// When not to use it
//   Without root or /dev/fuse (start() reports which). Not a general FUSE
//   helper: it serves the one layout of the model.
//
// Thread-safety contract
//   start() and stop() are called by one thread (the owner). Requests are
//   served by `threads` worker threads concurrently; each calls the host's
//   thread-safe members, so the owner may drive the same host (the
//   simulator's command loop) at the same time.
//
// Memory ordering (happens-before)
//   O1  A request's effect on the model is ordered by the model's locks
//       (host O1): a write that returned to its writer is visible to every
//       read that starts afterwards, through the mount or the shell.
//   O2  stop() returns after every worker has finished (joined): nothing of
//       the mount runs afterwards, so the host may be destroyed.
//
// Invariants
//   I1  At most one show or store per request; none after stop() returned.
//   I2  stop() never waits on a writer: as root it aborts the connection
//       (umount2 MNT_FORCE), so a request the kernel still holds fails with
//       ECONNABORTED/ENOTCONN at once, then detaches the mount.
//
// Misuse
//   compile error  none.
//   runtime report start() on a directory that cannot be mounted: an
//                  error message, no mount.
//   undefined      destroying the host before the mount (stop() first; the
//                  destructor stops).
//
// Example
//   ordo::vfio_ap::host model;
//   std::string error;
//   auto mounted = ordo::vfio_ap::sim::sysfs_mount::start(model, "/tmp/sys", {}, error);
//   if (!mounted) { std::cerr << error << '\n'; return 1; }
//   // ... `cat /tmp/sys/devices/vfio_ap/matrix/features` in another process
//   mounted->stop();
#ifndef ORDO_VFIO_AP_SIM_MOUNT_HPP
#define ORDO_VFIO_AP_SIM_MOUNT_HPP

#include <memory>
#include <string>

namespace ordo::vfio_ap {
class host;
}

namespace ordo::vfio_ap::sim {

/// Whether this build can mount (it found libfuse3).
bool mount_supported() noexcept;

struct mount_options {
  unsigned threads = 4;      // FUSE worker threads
  bool allow_other = true;   // other users may look (root only; mode bits apply)
};

class sysfs_mount {
 public:
  /// Mounts `model` at `dir`. On failure returns nullptr and says why in
  /// `error` (no /dev/fuse, not permitted, not a directory...).
  static std::unique_ptr<sysfs_mount> start(host& model, const std::string& dir,
                                            const mount_options& options, std::string& error);

  /// Unmounts (I2) and joins the workers (O2). Idempotent.
  void stop();

  /// A file descriptor that becomes readable when the filesystem was
  /// unmounted from outside (`fusermount3 -u DIR`, `umount DIR`): poll it
  /// beside other input, then call stop().
  int ended_fd() const noexcept;

  /// True once the kernel ended the connection (see ended_fd).
  bool ended() const noexcept;

  const std::string& dir() const noexcept;

  ~sysfs_mount();
  sysfs_mount(const sysfs_mount&) = delete;
  sysfs_mount& operator=(const sysfs_mount&) = delete;

  struct state;  // mount.cpp

 private:
  explicit sysfs_mount(std::unique_ptr<state> s);
  std::unique_ptr<state> state_;
};

}  // namespace ordo::vfio_ap::sim

#endif  // ORDO_VFIO_AP_SIM_MOUNT_HPP
