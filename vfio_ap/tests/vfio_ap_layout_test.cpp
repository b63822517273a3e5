// The model's sysfs layout (host::sysfs_list, host::sysfs_stat): every
// directory of the kernel's layout with its entries, kernel file modes and
// symlink targets, appearing and disappearing with the model's state.
#include "vfio_ap_test_util.hpp"

#include <string>
#include <thread>
#include <vector>
#include "expect_ok.hpp"
#include "host_test_access.hpp"

namespace vfio_ap_test {
namespace {

using ordo::vfio_ap::sysfs_entry;
using ordo::vfio_ap::sysfs_kind;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

using VfioApLayout = VfioApTest;

sysfs_entry file(std::string name, unsigned mode) {
  return {std::move(name), sysfs_kind::file, mode, {}};
}
sysfs_entry dir(std::string name) { return {std::move(name), sysfs_kind::dir, 0755, {}}; }
sysfs_entry link(std::string name, std::string target) {
  return {std::move(name), sysfs_kind::symlink, 0777, std::move(target)};
}

std::string show(const sysfs_entry& e) {
  return e.name + (e.kind == sysfs_kind::dir ? "/" : "") +
         (e.kind == sysfs_kind::symlink ? " -> " + e.target : "") + " " +
         std::to_string(e.mode);
}

class Layout : public VfioApLayout {
 protected:
  std::vector<std::string> ls(std::string_view dir) {
    std::vector<sysfs_entry> entries;
    const std::error_code ec = h.sysfs_list(dir, entries);
    EXPECT_OK(ec) << dir << ": " << ec.message();
    std::vector<std::string> out;
    for (const auto& e : entries) out.push_back(show(e));
    return out;
  }
  sysfs_entry stat(std::string_view path) {
    sysfs_entry e;
    const std::error_code ec = h.sysfs_stat(path, e);
    EXPECT_OK(ec) << path << ": " << ec.message();
    return e;
  }
  std::error_code stat_error(std::string_view path) {
    sysfs_entry e;
    return h.sysfs_stat(path, e);
  }
  std::error_code list_error(std::string_view path) {
    std::vector<sysfs_entry> e;
    return h.sysfs_list(path, e);
  }
};

TEST_F(Layout, TopLevelDirectories) {
  EXPECT_THAT(ls("/sys"), ElementsAre("bus/ 493", "class/ 493", "devices/ 493"));
  EXPECT_THAT(ls("/sys/bus"), ElementsAre("ap/ 493", "matrix/ 493", "mdev/ 493"));
  EXPECT_EQ(stat("/sys"), dir("sys"));
  EXPECT_THAT(ls("/sys/class/mdev_bus"),
              ElementsAre("matrix -> ../../devices/vfio_ap/matrix 511"));
  EXPECT_THAT(ls("/sys/bus/matrix/devices"),
              ElementsAre("matrix -> ../../../devices/vfio_ap/matrix 511"));
}

TEST_F(Layout, ApBusAttributesWithKernelModes) {
  EXPECT_THAT(ls("/sys/bus/ap"),
              ElementsAre("apmask 420", "aqmask 420", "devices/ 493", "drivers/ 493"));
  EXPECT_EQ(stat("/sys/bus/ap/apmask"), file("apmask", 0644));
  EXPECT_THAT(ls("/sys/bus/ap/drivers"), ElementsAre("vfio_ap/ 493"));
  EXPECT_THAT(ls("/sys/bus/ap/drivers/vfio_ap"), ElementsAre("bind 128", "unbind 128"));
  EXPECT_THAT(ls("/sys/bus/ap/devices"), IsEmpty());
  EXPECT_THAT(ls("/sys/devices/ap"), IsEmpty());
}

TEST_F(Layout, CardAndQueueDevicesFollowTheHostConfiguration) {
  host_with({5}, {4});  // apmask/aqmask 0: the queue binds to vfio_ap
  EXPECT_THAT(ls("/sys/bus/ap/devices"),
              ElementsAre("05.0004 -> ../../../devices/ap/card05/05.0004 511",
                          "card05 -> ../../../devices/ap/card05 511"));
  EXPECT_THAT(ls("/sys/devices/ap"), ElementsAre("card05/ 493"));
  EXPECT_THAT(ls("/sys/devices/ap/card05"), ElementsAre("05.0004/ 493"));
  EXPECT_THAT(ls("/sys/devices/ap/card05/05.0004"), ElementsAre("status 292"));
  EXPECT_THAT(ls("/sys/bus/ap/devices/05.0004"), ElementsAre("status 292"));  // through the link
  EXPECT_THAT(ls("/sys/bus/ap/drivers/vfio_ap"),
              ElementsAre("05.0004 -> ../../../../devices/ap/card05/05.0004 511", "bind 128",
                          "unbind 128"));
  EXPECT_EQ(stat("/sys/bus/ap/devices/card05"), link("card05", "../../../devices/ap/card05"));
  EXPECT_EQ(stat("/sys/bus/ap/devices/05.0004/status"), file("status", 0444));
  // Unbound: no status, no driver link; the device stays.
  ASSERT_OK(write("/sys/bus/ap/drivers/vfio_ap/unbind", "05.0004\n"));
  EXPECT_THAT(ls("/sys/devices/ap/card05/05.0004"), IsEmpty());
  EXPECT_THAT(ls("/sys/bus/ap/drivers/vfio_ap"), ElementsAre("bind 128", "unbind 128"));
  EXPECT_EQ(stat_error("/sys/devices/ap/card05/05.0004/status"), std::errc::no_such_file_or_directory);
  // Deconfigured: card and queue gone.
  ordo::vfio_ap::qci_update u;
  u.apm = adapters({});
  ASSERT_OK(h.qci(u));
  EXPECT_THAT(ls("/sys/bus/ap/devices"), IsEmpty());
  EXPECT_EQ(stat_error("/sys/devices/ap/card05"), std::errc::no_such_file_or_directory);
}

TEST_F(Layout, MatrixDeviceAndMdevType) {
  EXPECT_THAT(ls("/sys/devices/vfio_ap/matrix"),
              ElementsAre("features 292", "mdev_supported_types/ 493"));
  EXPECT_THAT(ls("/sys/class/mdev_bus/matrix/mdev_supported_types"),
              ElementsAre("vfio_ap-passthrough/ 493"));
  EXPECT_THAT(ls(type_dir.substr(0, type_dir.size() - 1)), ElementsAre("available_instances 292", "create 128", "device_api 292",
                                        "devices/ 493", "name 292"));
  EXPECT_THAT(ls(type_dir + "devices"), IsEmpty());
}

TEST_F(Layout, MdevDirectoryAndItsLinksComeAndGo) {
  ASSERT_OK(create(uuid_b));
  const std::string u(uuid_b);
  EXPECT_THAT(ls("/sys/devices/vfio_ap/matrix"),
              ElementsAre(u + "/ 493", "features 292", "mdev_supported_types/ 493"));
  EXPECT_THAT(ls(std::string(matrix_dir) + u),
              ElementsAre("ap_config 420", "assign_adapter 128", "assign_control_domain 128",
                          "assign_domain 128", "control_domains 292", "guest_matrix 292",
                          "matrix 292", "mdev_type -> ../mdev_supported_types/vfio_ap-passthrough 511",
                          "remove 128", "unassign_adapter 128", "unassign_control_domain 128",
                          "unassign_domain 128"));
  EXPECT_THAT(ls("/sys/bus/mdev/devices"),
              ElementsAre(u + " -> ../../../devices/vfio_ap/matrix/" + u + " 511"));
  EXPECT_THAT(ls(type_dir + "devices"), ElementsAre(u + " -> ../../../" + u + " 511"));
  EXPECT_EQ(stat("/sys/bus/mdev/devices/" + u + "/matrix"), file("matrix", 0444));
  EXPECT_EQ(stat(type_dir + "devices/" + u + "/mdev_type/create"), file("create", 0200));
  ASSERT_OK(write(mdev(u, "remove"), "1\n"));
  EXPECT_THAT(ls("/sys/bus/mdev/devices"), IsEmpty());
  EXPECT_EQ(list_error(std::string(matrix_dir) + u), std::errc::no_such_file_or_directory);
}

// A file's mode is what sysfs_read/sysfs_write allow (C1: EACCES otherwise),
// for every attribute of every directory.
TEST_F(Layout, ModesAgreeWithReadAndWrite) {
  host_with({5}, {4});
  ASSERT_OK(create(uuid_b));
  const std::vector<std::string> dirs = {
      "/sys/bus/ap", "/sys/bus/ap/drivers/vfio_ap", "/sys/devices/ap/card05/05.0004",
      "/sys/devices/vfio_ap/matrix", type_dir.substr(0, type_dir.size() - 1),
      std::string(matrix_dir) + uuid_b};
  int files = 0;
  for (const std::string& d : dirs) {
    std::vector<sysfs_entry> entries;
    ASSERT_OK(h.sysfs_list(d, entries)) << d;
    for (const sysfs_entry& e : entries) {
      if (e.kind != sysfs_kind::file) continue;
      ++files;
      const std::string path = d + "/" + e.name;
      std::string out;
      EXPECT_EQ((e.mode & 0444) != 0, h.sysfs_read(path, out) != std::errc::permission_denied)
          << path;
      // "x" is refused by every store: nothing changes.
      EXPECT_EQ((e.mode & 0222) != 0, h.sysfs_write(path, "x") != std::errc::permission_denied)
          << path;
    }
  }
  EXPECT_EQ(files, 4 + 1 + 1 + 4 + 11);
  EXPECT_EQ(read(mdev(uuid_b, "matrix")), "");
}

// sysfs_fixed: the names a mount may let the kernel cache forever are the
// ones no card, queue or mdev can take away.
TEST_F(Layout, FixedNodesAreThoseNoStateCanRemove) {
  using ordo::vfio_ap::host;
  for (const char* path : {"/sys", "/sys/bus", "/sys/bus/ap/apmask", "/sys/bus/ap/devices",
                           "/sys/bus/ap/drivers/vfio_ap/bind", "/sys/bus/mdev/devices",
                           "/sys/class/mdev_bus/matrix", "/sys/devices/vfio_ap/matrix/features",
                           "/sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/devices"}) {
    EXPECT_TRUE(host::sysfs_fixed(path)) << path;
  }
  const std::string u(uuid_b);
  for (const std::string& path :
       {std::string(matrix_dir) + u, std::string(matrix_dir) + u + "/matrix",
        std::string(matrix_dir) + u + "/mdev_type", "/sys/bus/mdev/devices/" + u,
        type_dir + "devices/" + u, std::string("/sys/bus/ap/devices/card05"),
        std::string("/sys/bus/ap/devices/05.0004"), std::string("/sys/devices/ap/card05/05.0004/status"),
        std::string("/sys/bus/ap/drivers/vfio_ap/05.0004"),
        // not in the layout at all
        std::string("/sys/nothing"), std::string("/sys/bus/ap/apmask/x"), std::string("/proc")}) {
    EXPECT_FALSE(host::sysfs_fixed(path)) << path;
  }
}

TEST_F(Layout, BadPaths) {
  for (const char* p : {"/sys/nope", "/sys/bus/ap/", "/sys//bus", "/proc", "", "/sysfoo",
                        "/sys/bus/mdev/devices/11111111-2222-3333-4444-555555555555",
                        "/sys/devices/vfio_ap/matrix/AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE",
                        "/sys/devices/ap/card5", "/sys/bus/ap/devices/05.0004"}) {
    EXPECT_EQ(stat_error(p), std::errc::no_such_file_or_directory) << p;
    EXPECT_EQ(list_error(p), std::errc::no_such_file_or_directory) << p;
  }
  EXPECT_EQ(list_error("/sys/bus/ap/apmask"), std::errc::not_a_directory);
  EXPECT_EQ(stat_error("/sys/bus/ap/apmask/x"), std::errc::not_a_directory);
}

// host::sysfs_match walks a tree of the table's patterns instead of scanning
// the table: for every row's pattern with each placeholder replaced by a
// name it takes or one it must refuse, and with a component appended or
// dropped or a literal changed, the walk finds what a scan in table order
// finds (the row and what the placeholders bound), or nothing as the scan.
// Each component's kind is decided when the table is compiled; lookups and
// listings go by it and never compare a component with "{card}" again.
TEST(LayoutLookup, PlaceholdersAreClassifiedByTheTable) {
  EXPECT_THAT(ordo::vfio_ap::host_test_access::misclassified_parts(), ::testing::IsEmpty());
}

// host::sysfs_expand tells the placeholders of a symlink target apart by
// their first letter.
TEST(LayoutLookup, SymlinkTargetsNameOnlyPlaceholders) {
  const std::vector<std::string> names = ordo::vfio_ap::host_test_access::target_placeholders();
  EXPECT_FALSE(names.empty());
  for (const std::string& name : names) {
    EXPECT_THAT(name, ::testing::AnyOf("{card}", "{apqn}", "{uuid}"));
  }
}

TEST(LayoutLookup, TreeWalkFindsWhatATableScanFinds) {
  using access = ordo::vfio_ap::host_test_access;
  const std::vector<std::string> patterns = access::row_patterns();
  ASSERT_GT(patterns.size(), 40u);
  const std::vector<std::pair<std::string, std::vector<std::string>>> names = {
      {"{card}", {"card05", "card5", "cardzz", "CARD05", "card0a", "05.0004"}},
      {"{apqn}", {"05.0004", "06.0004", "5.4", "05.0004x", "card05", "0a.00ff"}},
      {"{uuid}", {"11111111-2222-3333-4444-555555555555", "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE",
                  "11111111-2222-3333-4444-55555555555", "features", "remove"}},
  };
  std::size_t compared = 0;
  std::size_t matched = 0;
  const auto compare = [&](const std::vector<std::string>& parts) {
    const std::vector<std::string_view> views(parts.begin(), parts.end());
    const std::string tree = access::match(views, true);
    const std::string scan = access::match(views, false);
    std::string path = "/sys";
    for (const std::string& part : parts) path += "/" + part;
    EXPECT_EQ(tree, scan) << path;
    ++compared;
    if (scan != "-1") ++matched;
  };
  for (const std::string& pattern : patterns) {
    std::vector<std::string> parts;
    for (std::size_t at = 0; at < pattern.size();) {
      const std::size_t slash = pattern.find('/', at);
      parts.push_back(pattern.substr(at, slash == std::string::npos ? std::string::npos : slash - at));
      at = slash == std::string::npos ? pattern.size() : slash + 1;
    }
    // Every combination of candidate names for the placeholders.
    std::vector<std::vector<std::string>> paths{{}};
    for (const std::string& part : parts) {
      std::vector<std::vector<std::string>> longer;
      std::vector<std::string> choices{part};
      for (const auto& [placeholder, candidates] : names) {
        if (part == placeholder) choices = candidates;
      }
      if (choices.size() == 1) choices.push_back(part + "x");  // a literal changed
      for (const auto& prefix : paths) {
        for (const std::string& choice : choices) {
          longer.push_back(prefix);
          longer.back().push_back(choice);
        }
      }
      paths = std::move(longer);
      if (paths.size() > 4000) paths.resize(4000);
    }
    for (auto path : paths) {
      compare(path);
      path.push_back("status");  // one component more
      compare(path);
      path.pop_back();
      if (!path.empty()) {
        path.pop_back();  // one fewer
        compare(path);
      }
    }
  }
  EXPECT_GT(matched, patterns.size());  // every row, some through several names
  EXPECT_GT(compared, 10 * patterns.size());
}

TEST_F(Layout, ListingIsConsistentWhileTheModelChanges) {
  host_with({1, 2}, {1, 2});
  std::thread writer([&] {
    for (int i = 0; i < 200; ++i) {
      (void)create(uuid_a);
      (void)write("/sys/bus/ap/drivers/vfio_ap/unbind", "01.0001\n");
      (void)write("/sys/bus/ap/drivers/vfio_ap/bind", "01.0001\n");
      (void)write(mdev(uuid_a, "remove"), "1\n");
    }
  });
  for (int i = 0; i < 200; ++i) {
    const auto mdevs = ls("/sys/bus/mdev/devices");
    EXPECT_LE(mdevs.size(), 1u);
    const auto bound = ls("/sys/bus/ap/drivers/vfio_ap");
    EXPECT_GE(bound.size(), 5u);  // 3 or 4 queues, bind, unbind
    EXPECT_LE(bound.size(), 6u);
  }
  writer.join();
}

}  // namespace
}  // namespace vfio_ap_test
