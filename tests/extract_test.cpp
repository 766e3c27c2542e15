// extract: unpacking cpio archives into a directory without ever writing
// outside it.
//
// The differential tests archive a real tree with GNU cpio (`cpio -o -H
// newc`), or build one field by field, and compare what we extract with what
// `cpio -idm --no-absolute-filenames` extracts from the same bytes: types,
// modes, sizes, contents, symlink targets, device numbers, mtimes and which
// names share an inode. The attack tests put a canary directory next to the
// target and check, for both path resolvers (openat2 and the component
// walk), that it is untouched, that nothing else appeared next to the
// target, and that the refusal is in the report.
#include <ukikit/extract.hpp>

#include "remove_tree.hpp"
#include "support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace {

namespace cpio = ukikit::cpio;
namespace extract = ukikit::extract;
namespace fs = std::filesystem;
using ukikit::byte_span;
using ukikit::errc;
using ukikit::result;
using ukikit::test::remove_tree;
using ukikit::test::run;
using ukikit::test::sh_quote;
using ukikit::test::temp_dir;
using bytes = std::vector<std::byte>;

constexpr extract::resolver resolvers[] = {extract::resolver::automatic, extract::resolver::walk};

bool is_root() { return ::geteuid() == 0; }

// ---- hand-made newc archives -----------------------------------------------

struct member {
  std::string name{};
  std::uint32_t mode = 0100644;
  std::string data{};
  std::uint32_t ino = 0; // 0: a fresh one
  std::uint32_t nlink = 1;
  std::uint32_t mtime = 1600000000;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t rdev_major = 0;
  std::uint32_t rdev_minor = 0;
};

member dir(std::string name, std::uint32_t perm = 0755) {
  return {.name = std::move(name), .mode = 0040000 | perm, .nlink = 2};
}
member file(std::string name, std::string data, std::uint32_t perm = 0644) {
  return {.name = std::move(name), .mode = 0100000 | perm, .data = std::move(data)};
}
member symlink(std::string name, std::string to) {
  return {.name = std::move(name), .mode = 0120777, .data = std::move(to)};
}
member hardlink(std::string name, std::uint32_t ino, std::string data = {}) {
  return {
      .name = std::move(name), .mode = 0100644, .data = std::move(data), .ino = ino, .nlink = 2};
}

// A newc archive of `members`, then TRAILER!!! when `trailer`.
bytes newc(const std::vector<member>& members, bool trailer = true) {
  std::string out;
  auto field = [&](std::uint64_t v) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(v));
    out += buf;
  };
  auto pad = [&] {
    while (out.size() % 4 != 0) out += '\0';
  };
  std::uint32_t next_ino = 100;
  auto put = [&](const member& m) {
    out += "070701";                   // c_magic
    field(m.ino ? m.ino : next_ino++); // c_ino
    field(m.mode);                     // c_mode
    field(m.uid);                      // c_uid
    field(m.gid);                      // c_gid
    field(m.nlink);                    // c_nlink
    field(m.mtime);                    // c_mtime
    field(m.data.size());              // c_filesize
    field(8);                          // c_devmajor
    field(1);                          // c_devminor
    field(m.rdev_major);               // c_rdevmajor
    field(m.rdev_minor);               // c_rdevminor
    field(m.name.size() + 1);          // c_namesize
    field(0);                          // c_check
    out += m.name;
    out += '\0';
    pad();
    out += m.data;
    pad();
  };
  for (const member& m : members) put(m);
  if (trailer) put({.name = "TRAILER!!!", .mode = 0, .mtime = 0});
  auto b = ukikit::as_bytes(out);
  return {b.begin(), b.end()};
}

// ---- running the extractor -------------------------------------------------

// Feeds `archive` to a kernel-mode parser in chunks of `chunk` bytes.
result<extract::report> unpack(byte_span archive, const fs::path& to, extract::options opts = {},
                               extract::resolver how = extract::resolver::automatic,
                               std::size_t chunk = 0) {
  UKIKIT_TRY_ASSIGN(extract::target t, extract::target::open(to, how));
  if (chunk == 0) return extract::unpack(archive, std::move(t), opts);
  extract::cpio_extractor x(std::move(t), opts);
  cpio::parser p(cpio::options{.mode = cpio::strictness::kernel});
  for (std::size_t at = 0; at < archive.size(); at += chunk) {
    auto piece = archive.subspan(at, std::min(chunk, archive.size() - at));
    UKIKIT_TRY_ASSIGN(cpio::fed f, p.feed(piece, x));
    if (f.used != piece.size()) return ukikit::error(errc::malformed, "parser stopped", at);
  }
  if (!p.at_boundary()) return p.truncated_error();
  return x.finish();
}

// Whether the report refuses or skips the entry `name` with the finding
// code `code` (a warning, at the offset of a header).
bool reported(const extract::report& r, std::string_view name, std::string_view code) {
  return std::any_of(r.findings.begin(), r.findings.end(), [&](const ukikit::finding& f) {
    return f.subject == name && f.code == code && f.level == ukikit::severity::warning &&
           f.offset != ukikit::error::no_offset;
  });
}

std::string findings_text(const extract::report& r) {
  std::string out;
  for (const auto& f : r.findings)
    out += std::string(f.code) + " \"" + f.subject + "\": " + f.text() + "\n";
  return out;
}

// ---- what a tree holds -----------------------------------------------------

struct node {
  char type = '?';
  unsigned mode = 0; // permission bits
  std::uint64_t size = 0;
  std::string content; // regular files
  std::string link;    // symlinks
  std::string group;   // regular files with several names: the first of them
  std::uint64_t rdev = 0;
  std::int64_t mtime = 0; // not for symlinks
  bool operator==(const node&) const = default;
};

std::ostream& operator<<(std::ostream& os, const node& n) {
  return os << n.type << " mode=" << std::oct << n.mode << std::dec << " size=" << n.size
            << " link=" << n.link << " group=" << n.group << " rdev=" << n.rdev
            << " mtime=" << n.mtime;
}

char type_of(mode_t m) { return cpio::type_letter(cpio::type_of(m)); }

std::map<std::string, node> snapshot(const fs::path& root) {
  std::map<std::string, node> out;
  std::map<std::pair<dev_t, ino_t>, std::set<std::string>> names;
  auto add = [&](const fs::path& p, const std::string& rel) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) throw std::runtime_error("lstat " + p.string());
    node n;
    n.type = type_of(st.st_mode);
    n.mode = st.st_mode & 07777;
    n.mtime = S_ISLNK(st.st_mode) ? 0 : st.st_mtim.tv_sec;
    if (S_ISREG(st.st_mode)) {
      n.size = static_cast<std::uint64_t>(st.st_size);
      auto b = ukikit::test::read_file(p);
      n.content.assign(ukikit::as_chars(b));
      if (st.st_nlink > 1) names[{st.st_dev, st.st_ino}].insert(rel);
    }
    if (S_ISLNK(st.st_mode)) n.link = fs::read_symlink(p).string();
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) n.rdev = st.st_rdev;
    out[rel] = n;
  };
  add(root, ".");
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    add(e.path(), e.path().lexically_relative(root).string());
  }
  for (const auto& [id, set] : names) {
    for (const auto& name : set) out[name].group = *set.begin();
  }
  return out;
}

// GNU cpio 2.13 sets a directory's mtime when it makes it, before its
// children change it again, and leaves the mode of "." alone: directory
// mtimes and "." are checked by the kernel-semantics tests instead.
void expect_same_tree(const fs::path& ours, const fs::path& theirs) {
  auto a = snapshot(ours);
  auto b = snapshot(theirs);
  for (auto* tree : {&a, &b}) {
    tree->erase(".");
    for (auto& [rel, n] : *tree) {
      if (n.type == 'd') n.mtime = 0;
    }
  }
  for (const auto& [rel, n] : b) {
    auto it = a.find(rel);
    if (it == a.end()) {
      ADD_FAILURE() << "missing " << rel << " (cpio: " << n << ")";
      continue;
    }
    EXPECT_EQ(it->second, n) << rel;
  }
  for (const auto& [rel, n] : a) {
    if (!b.count(rel)) ADD_FAILURE() << "extra " << rel << " (" << n << ")";
  }
}

// GNU cpio extracting `archive` into `to`.
void gnu_cpio_extract(const fs::path& archive, const fs::path& to) {
  auto r = run("cd " + sh_quote(to.string()) + " && cpio -idm --no-absolute-filenames --quiet < " +
               sh_quote(archive.string()));
  ASSERT_EQ(r.status, 0);
}

void set_mtime(const fs::path& p, std::int64_t t) {
  const timespec ts[2] = {{t, 0}, {t, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << p;
}

// ---- a target with a canary next to it ---------------------------------------

struct sandbox {
  temp_dir base;
  fs::path target = base / "target";
  fs::path canary = base / "canary";

  sandbox() {
    fs::create_directory(target);
    fs::create_directory(canary);
    ukikit::test::write_file(canary / "victim", "original");
  }

  // The canary holds only the victim, unchanged; next to the target there
  // is only the canary.
  void expect_nothing_escaped() const {
    std::set<std::string> beside, inside;
    for (const auto& e : fs::directory_iterator(base.path())) beside.insert(e.path().filename());
    for (const auto& e : fs::directory_iterator(canary)) inside.insert(e.path().filename());
    EXPECT_EQ(beside, (std::set<std::string>{"canary", "target"}));
    EXPECT_EQ(inside, (std::set<std::string>{"victim"}));
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(canary / "victim")));
    auto b = ukikit::test::read_file(canary / "victim");
    EXPECT_EQ(ukikit::as_chars(b), "original");
  }
};

std::string read_text(const fs::path& p) {
  auto b = ukikit::test::read_file(p);
  return std::string(ukikit::as_chars(b));
}

// ---- differential: GNU cpio ------------------------------------------------------

// A tree with every type cpio writes, odd modes and sizes, and a file with
// three names; mtimes fixed.
void make_tree(const fs::path& src) {
  using ukikit::test::write_file;
  fs::create_directories(src / "d" / "e");
  fs::create_directories(src / "ro");
  if (is_root()) fs::create_directories(src / "nox"); // others could not archive it
  fs::create_directories(src / "tmp");
  write_file(src / "empty", "");
  write_file(src / "one", "1");
  write_file(src / "three", "abc");
  write_file(src / "four", "abcd");
  write_file(src / "five", "abcde");
  write_file(src / "big", ukikit::test::sample_bytes(100001));
  write_file(src / "exe", "#!/bin/sh\n");
  write_file(src / "suid", "s");
  write_file(src / "ro" / "f", "read only");
  if (is_root()) write_file(src / "nox" / "g", "no read");
  write_file(src / "h1", "three names");
  fs::create_hard_link(src / "h1", src / "d" / "h2");
  fs::create_hard_link(src / "h1", src / "d" / "e" / "h3");
  fs::create_symlink("d/e", src / "rel");
  fs::create_symlink("/nonexistent/target", src / "abs");
  fs::create_symlink("../outside", src / "up");
  ASSERT_EQ(::mkfifo((src / "pipe").c_str(), 0640), 0);
  if (is_root()) {
    ASSERT_EQ(::mknod((src / "d" / "null").c_str(), S_IFCHR | 0600, makedev(1, 3)), 0);
  }
  fs::permissions(src / "exe", fs::perms(0755));
  fs::permissions(src / "suid", fs::perms(04755));
  fs::permissions(src / "ro" / "f", fs::perms(0444));
  fs::permissions(src / "tmp", fs::perms(01777));
  std::int64_t t = 1500000000;
  std::vector<fs::path> all;
  for (const auto& e : fs::recursive_directory_iterator(src)) all.push_back(e.path());
  std::sort(all.begin(), all.end(), std::greater<>()); // children before parents
  for (const auto& p : all) set_mtime(p, t += 1000);
  set_mtime(src, t + 1000);
  fs::permissions(src / "ro", fs::perms(0555));
  if (is_root()) fs::permissions(src / "nox", fs::perms(0311));
}

TEST(extract_gnu_cpio, tree_matches_what_gnu_cpio_extracts) {
  UKIKIT_NEED_TOOL("cpio");
  temp_dir work;
  fs::create_directory(work / "src");
  make_tree(work / "src");
  const fs::path archive = work / "tree.cpio";
  ASSERT_EQ(run("cd " + sh_quote((work / "src").string()) +
                " && find . | LC_ALL=C sort | cpio -o -H newc --quiet > " +
                sh_quote(archive.string()))
                .status,
            0);
  fs::create_directory(work / "theirs");
  gnu_cpio_extract(archive, work / "theirs");
  const bytes in = ukikit::test::read_file(archive);
  for (auto how : resolvers) {
    for (std::size_t chunk : {std::size_t{0}, std::size_t{7}, std::size_t{4096}}) {
      SCOPED_TRACE(testing::Message() << "resolver " << int(how) << ", chunk " << chunk);
      const fs::path ours =
          work / ("ours-" + std::to_string(int(how)) + "-" + std::to_string(chunk));
      fs::create_directory(ours);
      auto r = unpack(in, ours, {.keep_special_bits = true, .create_devices = true}, how, chunk);
      ASSERT_TRUE(r) << r.error().message();
      EXPECT_TRUE(r->findings.empty()) << findings_text(*r);
      EXPECT_EQ(r->hardlinks, 2u);
      expect_same_tree(ours, work / "theirs");
    }
  }
  remove_tree(work.path()); // read-only directories, for temp_dir when not root
}

void expect_matches_gnu_cpio(const std::vector<member>& members) {
  temp_dir work;
  const bytes in = newc(members);
  ukikit::test::write_file(work / "a.cpio", in);
  fs::create_directory(work / "theirs");
  gnu_cpio_extract(work / "a.cpio", work / "theirs");
  fs::create_directory(work / "ours");
  auto r = unpack(in, work / "ours");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->findings.empty()) << findings_text(*r);
  expect_same_tree(work / "ours", work / "theirs");
  remove_tree(work.path());
}

TEST(extract_gnu_cpio, data_on_the_first_of_two_hardlinks_is_shared) {
  UKIKIT_NEED_TOOL("cpio");
  expect_matches_gnu_cpio({hardlink("a", 7, "shared data"), hardlink("b", 7)});
  temp_dir t;
  auto r = unpack(newc({hardlink("a", 7, "shared data"), hardlink("b", 7)}), t.path());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(fs::equivalent(t / "a", t / "b"));
  EXPECT_EQ(read_text(t / "b"), "shared data");
  EXPECT_EQ(r->files, 1u);
  EXPECT_EQ(r->hardlinks, 1u);
}

TEST(extract_gnu_cpio, data_on_the_last_of_two_hardlinks_is_shared) {
  UKIKIT_NEED_TOOL("cpio");
  expect_matches_gnu_cpio({hardlink("a", 7), hardlink("b", 7, "shared data")});
  temp_dir t;
  auto r = unpack(newc({hardlink("a", 7), hardlink("b", 7, "shared data")}), t.path());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(fs::equivalent(t / "a", t / "b"));
  EXPECT_EQ(read_text(t / "a"), "shared data");
}

TEST(extract_gnu_cpio, hand_made_tree_with_dot_and_missing_parents_matches) {
  UKIKIT_NEED_TOOL("cpio");
  expect_matches_gnu_cpio({dir(".", 0750), dir("a"), file("a/x", "x"), file("./a//y", "yy", 0600),
                           symlink("a/l", "x"), dir("a/ro", 0500), file("a/ro/z", "zzz", 0400)});
}

// ---- attacks -------------------------------------------------------------------

TEST(extract_attacks, refuses_absolute_names) {
  for (auto how : resolvers) {
    sandbox s;
    const std::string abs = (s.canary / "x").string();
    auto r = unpack(
        newc({file(abs, "evil"), file("/etc/ukikit-extract-test", "evil"), file("fine", "ok")}),
        s.target, {}, how);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(reported(*r, abs, extract::code::absolute_path)) << findings_text(*r);
    EXPECT_TRUE(reported(*r, "/etc/ukikit-extract-test", extract::code::absolute_path));
    EXPECT_FALSE(fs::exists(fs::symlink_status("/etc/ukikit-extract-test")));
    EXPECT_EQ(read_text(s.target / "fine"), "ok"); // a refusal does not stop extraction
    EXPECT_EQ(r->files, 1u);
    s.expect_nothing_escaped();
  }
}

TEST(extract_attacks, refuses_dotdot_components) {
  for (auto how : resolvers) {
    sandbox s;
    auto r = unpack(newc({file("../canary/x", "evil"), dir("a"), file("a/../../canary/y", "evil"),
                          file("a/..", "evil"), file("./../canary/victim", "evil")}),
                    s.target, {}, how);
    ASSERT_TRUE(r) << r.error().message();
    for (const char* name : {"../canary/x", "a/../../canary/y", "a/..", "./../canary/victim"}) {
      EXPECT_TRUE(reported(*r, name, extract::code::dotdot)) << name << "\n" << findings_text(*r);
    }
    EXPECT_TRUE(fs::is_directory(s.target / "a"));
    s.expect_nothing_escaped();
  }
}

TEST(extract_attacks, refuses_write_through_symlink_in_a_parent) {
  for (auto how : resolvers) {
    sandbox s;
    auto r = unpack(newc({symlink("evil", s.canary.string()), file("evil/x", "evil"),
                          file("evil/victim", "evil"), dir("evil/sub")}),
                    s.target, {}, how);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(reported(*r, "evil/x", extract::code::through_symlink)) << findings_text(*r);
    EXPECT_TRUE(reported(*r, "evil/victim", extract::code::through_symlink));
    EXPECT_TRUE(reported(*r, "evil/sub", extract::code::through_symlink));
    EXPECT_TRUE(fs::is_symlink(s.target / "evil"));
    s.expect_nothing_escaped();
  }
}

TEST(extract_attacks, replaces_symlink_at_the_final_component_without_writing_through) {
  for (auto how : resolvers) {
    sandbox s;
    auto r = unpack(newc({symlink("evil", (s.canary / "victim").string()), file("evil", "mine")}),
                    s.target, {}, how);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(r->findings.empty()) << findings_text(*r);
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(s.target / "evil")));
    EXPECT_EQ(read_text(s.target / "evil"), "mine");
    s.expect_nothing_escaped();
  }
}

TEST(extract_attacks, refuses_parent_symlink_to_dotdot) {
  for (auto how : resolvers) {
    sandbox s;
    auto r = unpack(
        newc({symlink("up", ".."), file("up/canary/victim", "evil"), file("up/escaped", "evil"),
              dir("d"), symlink("d/up", "../.."), file("d/up/escaped", "evil")}),
        s.target, {}, how);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(reported(*r, "up/canary/victim", extract::code::through_symlink))
        << findings_text(*r);
    EXPECT_TRUE(reported(*r, "up/escaped", extract::code::through_symlink));
    EXPECT_TRUE(reported(*r, "d/up/escaped", extract::code::through_symlink));
    EXPECT_EQ(fs::read_symlink(s.target / "up"), ".."); // made, never followed
    s.expect_nothing_escaped();
  }
}

TEST(extract_attacks, symlink_to_a_directory_inside_is_not_followed_either) {
  sandbox s;
  auto r = unpack(newc({dir("real"), symlink("alias", "real"), file("alias/f", "x")}), s.target);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(reported(*r, "alias/f", extract::code::through_symlink));
  EXPECT_FALSE(fs::exists(s.target / "real" / "f"));
}

TEST(extract_attacks, hardlink_whose_first_name_was_refused_does_not_reach_out) {
  for (auto how : resolvers) {
    sandbox s;
    auto r = unpack(newc({hardlink("../canary/victim", 9), hardlink("b", 9, "data")}), s.target, {},
                    how);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(reported(*r, "../canary/victim", extract::code::dotdot));
    EXPECT_EQ(read_text(s.target / "b"), "data");
    struct stat st {};
    ASSERT_EQ(::stat((s.target / "b").c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 1u);
    s.expect_nothing_escaped();
  }
}

TEST(extract_attacks, hardlink_with_data_does_not_write_through_a_replaced_first_name) {
  for (auto how : resolvers) {
    sandbox s;
    auto r = unpack(newc({hardlink("a", 9), symlink("a", (s.canary / "victim").string()),
                          hardlink("b", 9, "evil")}),
                    s.target, {}, how);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(reported(*r, "b", extract::code::link_target_replaced)) << findings_text(*r);
    EXPECT_TRUE(fs::is_symlink(s.target / "a"));
    EXPECT_FALSE(fs::exists(fs::symlink_status(s.target / "b")));
    s.expect_nothing_escaped();
  }
}

TEST(extract_attacks, hardlink_through_a_symlinked_parent_is_refused) {
  for (auto how : resolvers) {
    sandbox s;
    auto r = unpack(newc({symlink("out", s.canary.string()), hardlink("out/victim", 9),
                          hardlink("b", 9, "evil")}),
                    s.target, {}, how);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(reported(*r, "out/victim", extract::code::through_symlink)) << findings_text(*r);
    EXPECT_EQ(read_text(s.target / "b"), "evil"); // a file of its own
    s.expect_nothing_escaped();
  }
}

TEST(extract_attacks, refuses_replacing_a_non_empty_directory_with_a_file) {
  for (auto how : resolvers) {
    sandbox s;
    auto r = unpack(newc({dir("d"), file("d/f", "kept"), file("d", "evil"), symlink("d", "/"),
                          dir("e"), file("e", "replaced")}),
                    s.target, {}, how);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(reported(*r, "d", extract::code::non_empty_directory)) << findings_text(*r);
    EXPECT_EQ(r->findings.total(), 2u) << findings_text(*r);
    EXPECT_EQ(read_text(s.target / "d" / "f"), "kept");
    EXPECT_EQ(read_text(s.target / "e"), "replaced"); // an empty one is replaced
    s.expect_nothing_escaped();
  }
}

TEST(extract_attacks, refuses_a_file_as_parent) {
  sandbox s;
  auto r = unpack(newc({file("f", "x"), file("f/g", "y")}), s.target);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(reported(*r, "f/g", extract::code::parent_not_directory)) << findings_text(*r);
}

TEST(extract_attacks, deep_nesting_up_to_path_max_is_made_and_longer_names_skipped) {
  for (auto how : resolvers) {
    sandbox s;
    std::string deep;
    for (std::size_t i = 0; i + 1 < extract::max_depth; ++i) deep += "a/";
    deep += "f"; // 2048 components, 4095 bytes: the longest name the kernel reads
    const std::string deeper = "a/" + deep;
    auto r = unpack(newc({file(deep, "bottom"), file(deeper, "too deep")}), s.target, {}, how);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->files, 1u);
    // Shown by its first 64 bytes and its size (4097 bytes and the NUL), not as "".
    EXPECT_TRUE(reported(*r, deeper.substr(0, 64), extract::code::entry_skipped))
        << findings_text(*r);
    // Walk down to the bottom by descriptor: the full path is too long to name.
    int fd = ::open(s.target.c_str(), O_RDONLY | O_DIRECTORY);
    for (std::size_t i = 0; i + 1 < extract::max_depth && fd >= 0; ++i) {
      int next = ::openat(fd, "a", O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      ::close(fd);
      fd = next;
    }
    ASSERT_GE(fd, 0);
    int f = ::openat(fd, "f", O_RDONLY | O_NOFOLLOW);
    ::close(fd);
    ASSERT_GE(f, 0);
    char buf[16] = {};
    EXPECT_EQ(::read(f, buf, sizeof buf), 6);
    ::close(f);
    EXPECT_EQ(std::string_view(buf), "bottom");
    s.expect_nothing_escaped();
    remove_tree(s.target);
  }
}

TEST(extract_names, empty_and_dot_components_collapse) {
  auto p = extract::detail::split_name("./a//b/./c/");
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, (std::vector<std::string>{"a", "b", "c"}));
  for (const char* root : {".", "./", ".//."}) {
    auto q = extract::detail::split_name(root);
    ASSERT_TRUE(q);
    EXPECT_TRUE(q->empty()) << root;
  }
}

TEST(extract_names, refuses_names_deeper_than_max_depth) {
  std::string name;
  for (std::size_t i = 0; i < extract::max_depth; ++i) name += "a/";
  EXPECT_TRUE(extract::detail::split_name(name)); // exactly max_depth
  std::string_view code;
  auto r = extract::detail::split_name(name + "b", &code);
  ASSERT_FALSE(r);
  EXPECT_EQ(code, extract::code::too_deep);
  EXPECT_FALSE(extract::detail::split_name("", &code));
  EXPECT_EQ(code, extract::code::empty_name);
  EXPECT_FALSE(extract::detail::split_name("//a", &code));
  EXPECT_EQ(code, extract::code::absolute_path);
  EXPECT_FALSE(extract::detail::split_name("a/..", &code));
  EXPECT_EQ(code, extract::code::dotdot);
  EXPECT_TRUE(extract::detail::split_name("a/..b/c.."));
}

// ---- kernel semantics ------------------------------------------------------------

TEST(extract_kernel, later_file_replaces_an_earlier_one) {
  temp_dir t;
  auto r = unpack(newc({file("f", "a long first version"), file("f", "short", 0600)}), t.path());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(read_text(t / "f"), "short");
  EXPECT_EQ(fs::status(t / "f").permissions(), fs::perms(0600));
}

TEST(extract_kernel, replacing_a_file_does_not_truncate_its_other_names) {
  temp_dir t;
  auto r = unpack(newc({hardlink("a", 5, "linked"), hardlink("b", 5), file("a", "new")}), t.path());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(read_text(t / "a"), "new");
  EXPECT_EQ(read_text(t / "b"), "linked");
}

TEST(extract_kernel, trailer_forgets_hardlinks) {
  temp_dir t;
  bytes in = newc({hardlink("a", 5, "first")});
  bytes second = newc({hardlink("b", 5, "second")});
  in.insert(in.end(), second.begin(), second.end());
  auto r = unpack(in, t.path());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(fs::equivalent(t / "a", t / "b"));
  EXPECT_EQ(read_text(t / "a"), "first");
  EXPECT_EQ(read_text(t / "b"), "second");
}

TEST(extract_kernel, reports_entries_the_kernel_skips) {
  temp_dir t;
  member dir_with_data = dir("d");
  dir_with_data.data = "body";
  auto r = unpack(newc({dir_with_data, file("f", "x")}), t.path());
  ASSERT_TRUE(r) << r.error().message();
  // The kernel skips it from the header alone, without reading the name.
  EXPECT_TRUE(reported(*r, "d", extract::code::entry_skipped)) << findings_text(*r);
  EXPECT_FALSE(fs::exists(t / "d"));
  EXPECT_TRUE(fs::exists(t / "f"));
}

TEST(extract_kernel, reports_unknown_types_and_empty_symlinks) {
  temp_dir t;
  member odd = file("odd", "");
  odd.mode = 0170644;
  auto r = unpack(newc({odd, symlink("l", "")}), t.path());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(reported(*r, "odd", extract::code::unknown_type)) << findings_text(*r);
  EXPECT_TRUE(reported(*r, "l", extract::code::empty_symlink_target));
  EXPECT_EQ(r->created(), 0u);
}

TEST(extract_kernel, dot_is_the_target_and_only_a_directory) {
  temp_dir t;
  auto r = unpack(newc({dir(".", 0710), file(".", "x"), symlink("./", "/")}), t.path());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(fs::status(t.path()).permissions(), fs::perms(0710));
  EXPECT_TRUE(reported(*r, ".", extract::code::target_not_directory)) << findings_text(*r);
  EXPECT_TRUE(reported(*r, "./", extract::code::target_not_directory));
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(t.path())));
}

TEST(extract_kernel, read_only_directory_gets_its_mode_after_its_children) {
  temp_dir t;
  member ro = dir("ro", 0500);
  ro.mtime = 1234567;
  auto r = unpack(newc({ro, dir("ro/sub", 0555), file("ro/sub/f", "x", 0400)}), t.path());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->findings.empty()) << findings_text(*r);
  EXPECT_EQ(fs::status(t / "ro").permissions(), fs::perms(0500));
  EXPECT_EQ(read_text(t / "ro" / "sub" / "f"), "x");
  struct stat st {};
  ASSERT_EQ(::stat((t / "ro").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1234567);
  fs::permissions(t / "ro", fs::perms(0700));
  fs::permissions(t / "ro" / "sub", fs::perms(0700));
}

TEST(extract_options, clears_setuid_and_setgid_unless_asked) {
  temp_dir t, u;
  const bytes in = newc({file("s", "x", 06755), dir("g", 03775)});
  auto r = unpack(in, t.path());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(fs::status(t / "s").permissions(), fs::perms(0755));
  EXPECT_EQ(fs::status(t / "g").permissions(), fs::perms(01775));
  r = unpack(in, u.path(), {.keep_special_bits = true});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(fs::status(u / "s").permissions(), fs::perms(06755));
}

TEST(extract_options, mtime_is_kept_unless_asked) {
  temp_dir t, u;
  member f = file("f", "x");
  f.mtime = 86400;
  auto r = unpack(newc({f}), t.path());
  ASSERT_TRUE(r);
  struct stat st {};
  ASSERT_EQ(::stat((t / "f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 86400);
  r = unpack(newc({f}), u.path(), {.keep_mtime = false});
  ASSERT_TRUE(r);
  ASSERT_EQ(::stat((u / "f").c_str(), &st), 0);
  EXPECT_GT(st.st_mtim.tv_sec, 86400);
}

TEST(extract_options, device_nodes_are_skipped_by_default) {
  temp_dir t;
  member null{.name = "null", .mode = 0020666, .rdev_major = 1, .rdev_minor = 3};
  auto r = unpack(newc({null}), t.path());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(reported(*r, "null", extract::code::device_skipped)) << findings_text(*r);
  EXPECT_FALSE(fs::exists(fs::symlink_status(t / "null")));
}

TEST(extract_options, device_nodes_are_skipped_when_disabled) {
  temp_dir t;
  member null{.name = "null", .mode = 0020666, .rdev_major = 1, .rdev_minor = 3};
  member fifo{.name = "fifo", .mode = 0010600};
  auto r = unpack(newc({null, fifo}), t.path(), {.create_devices = false});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(reported(*r, "null", extract::code::device_skipped)) << findings_text(*r);
  EXPECT_FALSE(fs::exists(fs::symlink_status(t / "null")));
  EXPECT_TRUE(fs::is_fifo(t / "fifo")); // fifos need no privilege
}

TEST(extract_options, device_nodes_are_made_as_root) {
  UKIKIT_NEED(is_root(), "root (to make device nodes)");
  temp_dir t;
  member null{.name = "null", .mode = 0020640, .rdev_major = 1, .rdev_minor = 3};
  member huge{.name = "huge", .mode = 0060600, .rdev_major = 0x1000};
  auto r = unpack(newc({null, huge}), t.path(), {.create_devices = true});
  ASSERT_TRUE(r) << r.error().message();
  struct stat st {};
  ASSERT_EQ(::lstat((t / "null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_TRUE(reported(*r, "huge", extract::code::device_number)) << findings_text(*r);
}

TEST(extract_options, owner_is_kept_only_when_asked) {
  UKIKIT_NEED(is_root(), "root (to keep owners)");
  temp_dir t, u;
  member f = file("f", "x", 04755);
  f.uid = 1234;
  f.gid = 5678;
  member d = dir("d");
  d.uid = 4321;
  member l = symlink("l", "f");
  l.uid = 999;
  const bytes in = newc({f, d, l});
  auto r = unpack(in, t.path(), {.keep_owner = true, .keep_special_bits = true});
  ASSERT_TRUE(r) << r.error().message();
  struct stat st {};
  ASSERT_EQ(::lstat((t / "f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mode & 07777, 04755u); // chown before chmod keeps setuid
  ASSERT_EQ(::lstat((t / "d").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4321u);
  ASSERT_EQ(::lstat((t / "l").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 999u);
  r = unpack(in, u.path());
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(::lstat((u / "f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
}

// ---- the target and the stream -----------------------------------------------------

TEST(extract_target, both_resolvers_are_available_here_or_openat2_is_reported_missing) {
  temp_dir t;
  auto walk = extract::target::open(t.path(), extract::resolver::walk);
  ASSERT_TRUE(walk);
  EXPECT_EQ(walk->how(), extract::resolver::walk);
  auto automatic = extract::target::open(t.path());
  ASSERT_TRUE(automatic);
  auto forced = extract::target::open(t.path(), extract::resolver::openat2);
  if (automatic->how() == extract::resolver::openat2) {
    EXPECT_TRUE(forced);
  } else {
    ASSERT_FALSE(forced);
    EXPECT_EQ(forced.error().code(), errc::unsupported);
  }
}

TEST(extract_target, missing_target_is_an_io_error_naming_it) {
  temp_dir t;
  auto r = extract::target::open(t / "missing");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), errc::io);
  EXPECT_NE(r.error().message().find("missing"), std::string::npos);
}

TEST(extract_stream, truncated_archive_keeps_what_was_written_and_reports_the_cut) {
  temp_dir t;
  const bytes whole = newc({dir("d", 0500), file("d/f", "0123456789")}, false);
  const bytes in(whole.begin(), whole.end() - 6); // cut inside the data
  auto r = unpack(in, t.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), errc::truncated);
  EXPECT_EQ(fs::file_size(t / "d" / "f"), 10u);                  // sized as the kernel does
  EXPECT_EQ(fs::status(t / "d").permissions(), fs::perms(0500)); // finish() ran
  fs::permissions(t / "d", fs::perms(0700));
}

TEST(extract_stream, foreign_bytes_stop_unpack) {
  temp_dir t;
  bytes in = newc({file("f", "x")});
  for (char c : std::string_view("\x1f\x8b\x08\x00")) in.push_back(std::byte(c));
  auto r = unpack(in, t.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), errc::malformed);
  EXPECT_TRUE(fs::exists(t / "f"));
}

// ---- mount points (README: "mount points inside the target are not entered") ----

// A mount the test makes (as root) and always undoes, lazily, before the
// directories around it are removed: declare it after them.
class scoped_mount {
public:
  // A bind mount of `source` at `at`, or a fresh tmpfs when `source` is empty.
  scoped_mount(const fs::path& source, const fs::path& at) : at_(at) {
    const int r = source.empty() ? ::mount("ukikit-test", at.c_str(), "tmpfs", 0, "size=1m")
                                 : ::mount(source.c_str(), at.c_str(), nullptr, MS_BIND, nullptr);
    if (r != 0) error_ = std::strerror(errno);
  }
  ~scoped_mount() {
    if (error_.empty()) ::umount2(at_.c_str(), MNT_DETACH);
  }
  scoped_mount(const scoped_mount&) = delete;
  scoped_mount& operator=(const scoped_mount&) = delete;
  const std::string& error() const { return error_; }

private:
  fs::path at_;
  std::string error_;
};

// The mode and mtime of a directory, to see that nothing touched it.
std::pair<unsigned, std::int64_t> mode_and_mtime(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) throw std::runtime_error("lstat " + p.string());
  return {st.st_mode & 07777, st.st_mtim.tv_sec};
}

TEST(extract_mounts, a_bind_mount_inside_the_target_is_not_entered) {
  if (!is_root()) {
    if (ukikit::test::inputs_required()) FAIL() << "needs root to bind-mount";
    GTEST_SKIP() << "needs root";
  }
  for (auto how : resolvers) {
    SCOPED_TRACE(testing::Message() << "resolver " << int(how));
    sandbox s;
    fs::create_directory(s.target / "mnt");
    // The canary (outside the target) is mounted at target/mnt, as a
    // directory bind-mounted into a root being staged would be.
    const auto before = mode_and_mtime(s.canary);
    scoped_mount m(s.canary, s.target / "mnt");
    ASSERT_EQ(m.error(), "");
    ASSERT_TRUE(fs::exists(s.target / "mnt/victim")) << "the mount is in place";
    member d = dir("mnt", 0700);
    d.mtime = 1000;
    auto r =
        unpack(newc({d, file("mnt/planted", "evil"), dir("mnt/sub"), file("mnt/sub/deeper", "evil"),
                     file("mnt/victim", "overwritten"), file("fine", "ok")}),
               s.target, {}, how);
    ASSERT_TRUE(r) << r.error().message();
    for (const char* name : {"mnt/planted", "mnt/sub", "mnt/sub/deeper", "mnt/victim"})
      EXPECT_TRUE(reported(*r, name, extract::code::mount_point)) << name << "\n"
                                                                  << findings_text(*r);
    EXPECT_EQ(read_text(s.target / "fine"), "ok");
    s.expect_nothing_escaped();
    EXPECT_EQ(mode_and_mtime(s.canary), before) << "the mounted directory itself is untouched";
  }
}

TEST(extract_mounts, a_file_system_mounted_inside_the_target_is_not_entered) {
  if (!is_root()) {
    if (ukikit::test::inputs_required()) FAIL() << "needs root to mount tmpfs";
    GTEST_SKIP() << "needs root";
  }
  for (auto how : resolvers) {
    SCOPED_TRACE(testing::Message() << "resolver " << int(how));
    sandbox s;
    fs::create_directory(s.target / "proc");
    scoped_mount m({}, s.target / "proc");
    ASSERT_EQ(m.error(), "");
    auto r = unpack(newc({file("proc/planted", "evil"), file("fine", "ok")}), s.target, {}, how);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(reported(*r, "proc/planted", extract::code::mount_point)) << findings_text(*r);
    EXPECT_TRUE(fs::is_empty(s.target / "proc"));
    EXPECT_EQ(read_text(s.target / "fine"), "ok");
  }
}

} // namespace
