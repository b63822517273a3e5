// The model's declared test hook (host.hpp: `friend struct host_test_access`),
// in one place for every model test: what the public API does not show
// (module reference counts, the guest's APCB write count) and the corruptions
// the invariant tests make, each under the model's own locks.
#ifndef ORDO_VFIO_AP_TESTS_HOST_TEST_ACCESS_HPP
#define ORDO_VFIO_AP_TESTS_HOST_TEST_ACCESS_HPP

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>
#include <system_error>

#include <vfio_ap/host.hpp>

namespace ordo::vfio_ap {

struct host_test_access {
  /// The reference count of module `name` (its pins); all ones when unknown.
  static std::uint32_t module_refs(const host& h, std::string_view name) {
    const ordo::module* m = h.modules_.find(name);
    return m == nullptr ? 0xffffffffu : m->refcount();
  }
  /// try_unload of module `name` (EBUSY while pinned).
  static std::error_code try_unload(host& h, std::string_view name) {
    return h.modules_.try_unload(name);
  }
  /// A reference to live guest `name` held outside the host, as a module
  /// other than VFIO could take one (kvm_get_kvm_safe); empty when there is
  /// no such guest. Drop it before the host goes.
  static ordo::ref<kvm> guest_ref(host& h, std::string_view name) {
    ordo::unlocked ctx;
    auto t = h.kvm_table_lock_.lock_shared(ctx);
    kvm* guest = h.find_guest(t, name);
    return guest == nullptr ? ordo::ref<kvm>{} : kvm_get_kvm_safe(guest);
  }
  /// How many times the guest's APCB masks were written (set or clear); all
  /// ones when there is no such guest.
  static unsigned long apcb_updates(host& h, std::string_view name) {
    ordo::unlocked ctx;
    auto t = h.kvm_table_lock_.lock_shared(ctx);
    kvm* guest = h.find_guest(t, name);
    if (guest == nullptr) return ~0ul;
    auto kl = guest->lock.lock(t);
    return guest->apcb_updates(kl);
  }
  /// Runs f(mdev&) under guests_lock and mdevs_lock.
  template <class F>
  static void with_mdev(host& h, std::string_view uuid, F&& f) {
    ordo::unlocked ctx;
    auto g = h.matrix_.guests_lock.lock(ctx);
    mdev* m = h.matrix_.find_mdev(g, uuid);
    auto md = h.matrix_.mdevs_lock.lock(g);
    f(*m);
  }
  /// Points the usable index's slot of adapter `to` at adapter `from`'s
  /// row (two adapters sharing one row), or clears it when `from` has none.
  static void alias_usable_slot(mdev& m, ap::apid from, ap::apid to) {
    m.usable.set_slot(to, m.usable.slot(from));
  }
  /// Reserves every APQN for the host behind the in-use veto's back.
  static void reserve_everything(host& h) {
    ordo::unlocked ctx;
    auto a = h.perms_.mutex.lock(ctx);
    h.perms_.apm = ap::adapter_mask::all();
    h.perms_.aqm = ap::domain_mask::all();
  }
  /// A ZAPQ the driver did not ask for.
  static unsigned zapq(host& h, ap::apqn q) {
    ordo::unlocked ctx;
    return h.hw_.zapq(ctx, q);
  }
  /// Drops the ledger's record of the queue's last reset.
  static void forget_a_reset(host& h, ap::apqn q) {
    ordo::unlocked ctx;
    h.hw_.corrupt_ledger(ctx, q);
  }
  /// The guest named `name` (nullptr when unknown).
  static kvm* guest(host& h, std::string_view name) {
    ordo::unlocked ctx;
    auto t = h.kvm_table_lock_.lock(ctx);
    return h.find_guest(t, name);
  }
  /// Clears the guest's PQAP hook behind its mdev's back.
  static void clear_hook(host& h, std::string_view name) {
    kvm* k = guest(h, name);
    ordo::unlocked ctx;
    auto kl = k->lock.lock(ctx);
    auto w = k->pqap_hook_rwsem.lock(kl);
    k->clear_pqap_hook(w);
  }
  /// Publishes the PQAP hook of mdev `uuid` in guest `name` behind the
  /// driver's back (as if set_kvm had left it behind).
  static void publish_hook(host& h, std::string_view name, std::string_view uuid) {
    kvm* k = guest(h, name);
    mdev* m = nullptr;
    {
      ordo::unlocked ctx;
      auto g = h.matrix_.guests_lock.lock(ctx);
      m = h.matrix_.find_mdev(g, uuid);
    }
    ordo::unlocked ctx;
    auto kl = k->lock.lock(ctx);
    auto w = k->pqap_hook_rwsem.lock(kl);
    (void)k->publish_pqap_hook(w, m->pqap_hook);
  }
  /// The path pattern of every attribute of the sysfs table that has a
  /// store ("devices/vfio_ap/matrix/{uuid}/remove"), in table order.
  static std::vector<std::string> store_patterns() { return patterns(/*stores_only=*/true); }
  /// What the parse of the store row `pattern` (host::sysfs_parse) says of
  /// `value`: its error, empty when it accepts it or the row has no parse;
  /// `has_parse` tells which.
  static std::error_code store_parse(std::string_view pattern, std::string_view value,
                                     bool& has_parse) {
    const std::vector<std::string> all = patterns(/*stores_only=*/false);
    for (std::size_t r = 0; r < all.size(); ++r) {
      if (all[r] != pattern) continue;
      const host::sysfs_row& row = host::sysfs_table()[r];
      has_parse = row.parse != nullptr;
      return has_parse ? row.parse(value) : std::error_code{};
    }
    has_parse = false;
    return {};
  }
  /// The sysfs table's row patterns ("devices/vfio_ap/matrix/{uuid}/remove"),
  /// in table order.
  static std::vector<std::string> row_patterns() { return patterns(/*stores_only=*/false); }
  /// Both of the above: every row pattern, or only those of rows with a store.
  static std::vector<std::string> patterns(bool stores_only) {
    std::vector<std::string> out;
    for (const host::sysfs_row& row : host::sysfs_table()) {
      if (stores_only && row.store == nullptr) continue;
      std::string path;
      for (std::size_t i = 0; i < row.path.depth; ++i) {
        if (i != 0) path += '/';
        path += row.path.part[i];
      }
      out.push_back(path);
    }
    return out;
  }
  /// The table's pattern components whose kind (literal or placeholder,
  /// fixed when the table is compiled) disagrees with their text: a '{'
  /// must begin exactly the placeholders, and each placeholder has its kind.
  static std::vector<std::string> misclassified_parts() {
    std::vector<std::string> out;
    for (const host::sysfs_row& row : host::sysfs_table()) {
      for (std::size_t i = 0; i < row.path.depth; ++i) {
        const std::string_view part = row.path.part[i];
        const host::sysfs_part kind = row.path.kind[i];
        const bool ok = part == "{card}"   ? kind == host::sysfs_part::card
                        : part == "{apqn}" ? kind == host::sysfs_part::apqn
                        : part == "{uuid}" ? kind == host::sysfs_part::uuid
                                           : kind == host::sysfs_part::literal &&
                                                 !part.starts_with('{');
        if (!ok) out.emplace_back(part);
      }
    }
    return out;
  }
  /// The placeholders symlink targets name, each spelled as in the target
  /// ("{card}"), in table order.
  static std::vector<std::string> target_placeholders() {
    std::vector<std::string> out;
    for (const host::sysfs_row& row : host::sysfs_table()) {
      std::string_view target = row.target;
      for (std::size_t open = target.find('{'); open != std::string_view::npos;
           open = target.find('{', open + 1)) {
        out.emplace_back(target.substr(open, target.find('}', open) + 1 - open));
      }
    }
    return out;
  }
  /// What a path's components (below /sys) match: the row's index in the
  /// table and what the placeholders bound, as "row card queue uuid"; "-1"
  /// when nothing matches. `tree`: host::sysfs_match (the walk down the
  /// tree); otherwise the reference, a scan of every row in table order.
  static std::string match(const std::vector<std::string_view>& parts, bool tree) {
    host::sysfs_binding bound;
    const host::sysfs_row* row = nullptr;
    if (tree) {
      row = host::sysfs_match(parts, bound);
    } else {
      for (const host::sysfs_row& candidate : host::sysfs_table()) {
        if (candidate.path.depth != parts.size()) continue;
        host::sysfs_binding b;
        std::size_t i = 0;
        while (i < parts.size() &&
               (candidate.path.kind[i] == host::sysfs_part::literal
                    ? candidate.path.part[i] == parts[i]
                    : host::sysfs_match_placeholder(candidate.path.kind[i], parts[i], b))) {
          ++i;
        }
        if (i == parts.size()) {
          row = &candidate;
          bound = b;
          break;
        }
      }
    }
    if (row == nullptr) return "-1";
    const auto table = host::sysfs_table();
    // By append: GCC 12 at -O3 reports false -Wrestrict overlaps in
    // "literal" + std::string.
    std::string out = std::to_string(row - table.data());
    if (bound.card) {
      out += " card";
      out += std::to_string(bound.card->value());
    } else {
      out += " -";
    }
    out += ' ';
    if (bound.queue) {
      bound.queue->append_to(out);
    } else {
      out += '-';
    }
    out += ' ';
    out += bound.uuid;
    return out;
  }
  /// Everything a user of `h` can observe, one line each: every node below
  /// /sys (sysfs_list from /sys down, directories entered, symlinks with
  /// their targets), what every attribute reads (or the errno: EACCES for
  /// a write-only one), check_invariants(), the refs and APCB of each guest
  /// in `guests` (or ENOENT), the kvm and vfio_ap module pins, the ZAPQ and
  /// kernel logs and the host configuration. Two hosts that observe the
  /// same are indistinguishable through the API.
  static std::vector<std::string> observe(host& h, const std::vector<std::string>& guests) {
    std::vector<std::string> out;
    const auto walk = [&](const auto& self, const std::string& dir) -> void {
      std::vector<sysfs_entry> entries;
      if (std::error_code ec = h.sysfs_list(dir, entries)) {
        out.push_back(dir + " list: " + ec.message());
        return;
      }
      for (const sysfs_entry& e : entries) {
        const std::string path = dir + "/" + e.name;
        std::string line = path + " " + std::to_string(static_cast<int>(e.kind)) + " " +
                           std::to_string(e.mode) + " " + e.target;
        if (e.kind == sysfs_kind::file) {
          std::string text;
          const std::error_code ec = h.sysfs_read(path, text);
          line += ec ? " error " + std::to_string(ec.value()) : " = " + text;
        }
        out.push_back(line);
        if (e.kind == sysfs_kind::dir) self(self, path);
      }
    };
    walk(walk, "/sys");
    for (const std::string& line : h.check_invariants()) out.push_back("invariant: " + line);
    for (const std::string& name : guests) {
      unsigned refs = 0;
      std::string crycb;
      const std::error_code ec = h.kvm_refs(name, refs);
      const std::error_code ec2 = h.kvm_crycb(name, crycb);
      out.push_back("guest " + name + " refs " + (ec ? ec.message() : std::to_string(refs)) +
                    " crycb " + (ec2 ? ec2.message() : crycb));
    }
    out.push_back("modules kvm " + std::to_string(module_refs(h, "kvm")) + " vfio_ap " +
                  std::to_string(module_refs(h, "vfio_ap")));
    std::string zapqs = "zapq log";
    for (ap::apqn q : h.zapq_log()) {
      zapqs += ' ';
      q.append_to(zapqs);
    }
    out.push_back(zapqs);
    for (const std::string& line : h.kernel_log()) out.push_back("kernel: " + line);
    const ap::host_config c = h.config();
    out.push_back("config apxa " + std::to_string(c.apxa) + " na " + std::to_string(c.na) +
                  " nd " + std::to_string(c.nd) + " " + ap::format_ap_config(c.apm, c.aqm, c.adm));
    return out;
  }
  /// Clears the guest's APCB masks behind its mdev's back.
  static void clear_masks(host& h, std::string_view name) {
    kvm* k = guest(h, name);
    ordo::unlocked ctx;
    auto kl = k->lock.lock(ctx);
    k->clear_masks(kl);
  }
};

}  // namespace ordo::vfio_ap

#endif  // ORDO_VFIO_AP_TESTS_HOST_TEST_ACCESS_HPP
