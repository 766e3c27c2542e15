// extract/layer.hpp: tar layers applied to a root directory as `umoci unpack`
// applies them, never reaching outside it.
//
// The attack tests write each layer header by header (ustar, POSIX checksum)
// and put a sentinel directory beside the target: after the layers, the
// sentinel must be unchanged, nothing else may appear beside the target, and
// the refusal must be in the report under its code; both path resolvers
// (openat2 and the component walk) are run. The differential tests build
// layers with GNU tar (whiteout files and opaque markers included) and apply
// them with ukikit and with `umoci unpack --rootless` of an image umoci made
// itself, and a plain layer with ukikit and `tar -xpf`, and compare the trees:
// types, modes & 07777, symlink targets and contents (and, against tar,
// mtimes). Rootless umoci does not change owners, so owners are not compared.
#include <ukikit/extract.hpp>

#include "remove_tree.hpp"
#include "support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

namespace extract = ukikit::extract;
namespace t = ukikit::test;
namespace fs = std::filesystem;
using bytes = std::vector<std::byte>;

constexpr extract::resolver resolvers[] = {extract::resolver::automatic, extract::resolver::walk};

// ---- layers, header by header (POSIX ustar: formats.md §2.1) -----------------

struct member {
  std::string name;
  char type = '0'; // typeflag
  std::string data{};
  std::string link{};
  unsigned mode = 0644;
};

member file(std::string name, std::string data = "x", unsigned mode = 0644) {
  return {std::move(name), '0', std::move(data), {}, mode};
}
member dir(std::string name, unsigned mode = 0755) { return {std::move(name), '5', {}, {}, mode}; }
member symlink(std::string name, std::string to) {
  return {std::move(name), '2', {}, std::move(to), 0777};
}
member hardlink(std::string name, std::string to) {
  return {std::move(name), '1', {}, std::move(to), 0644};
}

void octal(bytes& b, std::size_t at, std::size_t width, unsigned long long v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*llo", static_cast<int>(width - 1), v);
  std::memcpy(b.data() + at, buf, width - 1);
}

bytes layer(const std::vector<member>& members, bool end = true) {
  bytes out;
  for (const member& m : members) {
    bytes h(512);
    std::memcpy(h.data(), m.name.data(), std::min<std::size_t>(m.name.size(), 100)); // name
    octal(h, 100, 8, m.mode);                                                        // mode
    octal(h, 108, 8, 0);                                                             // uid
    octal(h, 116, 8, 0);                                                             // gid
    octal(h, 124, 12, m.data.size());                                                // size
    octal(h, 136, 12, 1600000000);                                                   // mtime
    h[156] = std::byte(m.type);                                                      // typeflag
    std::memcpy(h.data() + 157, m.link.data(), std::min<std::size_t>(m.link.size(), 100));
    std::memcpy(h.data() + 257,
                "ustar\0"
                "00",
                8);                      // magic, version
    std::memset(h.data() + 148, ' ', 8); // chksum: summed as spaces
    unsigned sum = 0;
    for (std::byte c : h) sum += std::to_integer<unsigned>(c);
    octal(h, 148, 7, sum);
    out.insert(out.end(), h.begin(), h.end());
    for (char c : m.data) out.push_back(std::byte(c));
    out.resize((out.size() + 511) / 512 * 512);
  }
  if (end) out.resize(out.size() + 1024);
  return out;
}

// ---- a target beside a sentinel ----------------------------------------------

// Everything under `p` (relative names, with type, mode and content).
std::map<std::string, std::string> snapshot(const fs::path& p) {
  std::map<std::string, std::string> out;
  if (!fs::exists(fs::symlink_status(p))) return out;
  for (auto it = fs::recursive_directory_iterator(p); it != fs::recursive_directory_iterator();
       ++it) {
    struct stat st {};
    ::lstat(it->path().c_str(), &st);
    std::string what = std::to_string(st.st_mode);
    if (S_ISREG(st.st_mode)) {
      auto b = t::read_file(it->path());
      what += ":" + std::string(reinterpret_cast<const char*>(b.data()), b.size());
    }
    if (S_ISLNK(st.st_mode)) what += "->" + fs::read_symlink(it->path()).string();
    out[fs::relative(it->path(), p).string()] = what;
  }
  return out;
}

struct scene {
  t::temp_dir tmp;
  fs::path root = tmp / "root";
  fs::path outside = tmp / "outside";
  std::map<std::string, std::string> before;

  scene() {
    fs::create_directories(root);
    fs::create_directories(outside / "dir");
    t::write_file(outside / "secret", "keep");
    before = snapshot(outside);
  }
  ~scene() { ukikit::test::remove_tree(tmp.path().string()); }

  // The sentinel unchanged, and nothing beside the target but the sentinel.
  void untouched() const {
    EXPECT_EQ(snapshot(outside), before);
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(tmp.path())) names.insert(e.path().filename());
    EXPECT_EQ(names, (std::set<std::string>{"outside", "root"}));
  }

  // Applies the layers in order; the reports, or fails the test.
  std::vector<extract::report> apply(const std::vector<bytes>& layers,
                                     extract::resolver how = extract::resolver::automatic,
                                     extract::options opts = {}) {
    std::vector<extract::report> out;
    for (const bytes& l : layers) {
      auto target = extract::target::open(root, how);
      EXPECT_TRUE(target) << target.error().message();
      if (!target) return out;
      auto r = extract::apply_layer(l, std::move(*target), opts);
      EXPECT_TRUE(r) << r.error().message();
      if (!r) return out;
      out.push_back(std::move(*r));
    }
    return out;
  }
};

std::multiset<std::string> codes(const std::vector<extract::report>& reps) {
  std::multiset<std::string> out;
  for (const auto& r : reps)
    for (const auto& f : r.findings) out.insert(std::string(f.code));
  return out;
}

bool present(const fs::path& p) { return fs::exists(fs::symlink_status(p)); }

std::string content(const fs::path& p) {
  auto b = t::read_file(p);
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// ---- hostile layers ---------------------------------------------------------------

TEST(layer_extract_attacks, refuses_dotdot_and_absolute_names) {
  for (auto how : resolvers) {
    scene s;
    auto reps = s.apply({layer({file("../outside/secret", "evil"), file("/abs", "evil"),
                                file("a/../../outside/x"), file("ok")})},
                        how);
    s.untouched();
    EXPECT_EQ(codes(reps), (std::multiset<std::string>{"extract.dotdot", "extract.absolute-path",
                                                       "extract.dotdot"}));
    EXPECT_TRUE(present(s.root / "ok"));
  }
}

TEST(layer_extract_attacks, refuses_a_file_through_a_symlink_made_before_it) {
  for (auto how : resolvers) {
    scene s;
    auto reps = s.apply(
        {layer({symlink("s", "../outside"), file("s/secret", "evil"), file("s/new", "evil")})},
        how);
    s.untouched();
    EXPECT_EQ(codes(reps),
              (std::multiset<std::string>{"extract.through-symlink", "extract.through-symlink"}));
    EXPECT_EQ(fs::read_symlink(s.root / "s"), "../outside");
  }
}

TEST(layer_extract_attacks, refuses_a_directory_under_a_symlink_to_root_in_a_later_layer) {
  for (auto how : resolvers) {
    scene s;
    const std::string out_dir = s.outside.string().substr(1); // from "/" to the sentinel
    auto reps = s.apply({layer({symlink("r", "/")}),
                         layer({dir("r/" + out_dir + "/evil"), file("r/" + out_dir + "/x")})},
                        how);
    s.untouched();
    EXPECT_EQ(codes(reps),
              (std::multiset<std::string>{"extract.through-symlink", "extract.through-symlink"}));
    EXPECT_EQ(fs::read_symlink(s.root / "r"), "/"); // kept as given, as umoci does
  }
}

TEST(layer_extract_attacks, refuses_hard_links_to_outside) {
  for (auto how : resolvers) {
    scene s;
    auto reps = s.apply({layer({hardlink("h1", "../outside/secret"),
                                hardlink("h2", (s.outside / "secret").string()), hardlink("h3", ""),
                                symlink("s", "../outside"), hardlink("h4", "s/secret")})},
                        how);
    s.untouched();
    EXPECT_EQ(codes(reps),
              (std::multiset<std::string>{"extract.link-outside", "extract.link-outside",
                                          "extract.link-outside", "extract.through-symlink"}));
    for (const char* n : {"h1", "h2", "h3", "h4"}) EXPECT_FALSE(present(s.root / n)) << n;
  }
}

TEST(layer_extract_attacks, hard_link_to_a_symlink_links_the_symlink_itself) {
  for (auto how : resolvers) {
    scene s;
    auto reps = s.apply({layer({symlink("s", "../outside/secret"), hardlink("h", "s")}),
                         layer({file("h", "evil")})},
                        how);
    s.untouched();
    EXPECT_TRUE(codes(reps).empty());
    // The second layer replaced the link (unlink and recreate), and wrote
    // nothing through it.
    EXPECT_EQ(content(s.root / "h"), "evil");
    EXPECT_EQ(fs::read_symlink(s.root / "s"), "../outside/secret");
  }
  scene s;
  s.apply({layer({symlink("s", "../outside/secret"), hardlink("h", "s")})});
  struct stat a {
  }, b{};
  ASSERT_EQ(::lstat((s.root / "s").c_str(), &a), 0);
  ASSERT_EQ(::lstat((s.root / "h").c_str(), &b), 0);
  EXPECT_TRUE(S_ISLNK(b.st_mode));
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST(layer_extract_attacks, refuses_hard_links_to_missing_names_directories_and_themselves) {
  scene s;
  auto reps = s.apply(
      {layer({dir("d"), hardlink("h1", "nothing"), hardlink("h2", "d"), hardlink("h3", "h3")})});
  s.untouched();
  EXPECT_EQ(codes(reps), (std::multiset<std::string>{"extract.link-target-invalid",
                                                     "extract.link-target-invalid",
                                                     "extract.link-target-invalid"}));
}

TEST(layer_extract_attacks, refuses_whiteouts_naming_a_parent_or_nothing) {
  for (auto how : resolvers) {
    scene s;
    auto reps = s.apply({layer({dir("a"), file("a/f"), file("top")}),
                         layer({file("a/.wh.."), file("a/.wh..."), file(".wh.."), file(".wh.")})},
                        how);
    s.untouched();
    EXPECT_EQ(codes(reps),
              (std::multiset<std::string>{"extract.whiteout-parent", "extract.whiteout-parent",
                                          "extract.whiteout-parent", "extract.whiteout-empty"}));
    EXPECT_TRUE(present(s.root / "a/f"));
    EXPECT_TRUE(present(s.root / "top"));
    for (const char* n : {"a/.wh..", ".wh.", "a/.wh..."}) EXPECT_FALSE(present(s.root / n));
  }
}

TEST(layer_extract_attacks, refuses_whiteouts_through_a_symlink) {
  for (auto how : resolvers) {
    scene s;
    auto reps =
        s.apply({layer({symlink("s", "../outside")}),
                 layer({file("s/.wh.secret"), file("s/.wh..wh..opq"), file("s/dir/.wh..wh..opq")})},
                how);
    s.untouched();
    EXPECT_EQ(codes(reps),
              (std::multiset<std::string>{"extract.through-symlink", "extract.through-symlink",
                                          "extract.through-symlink"}));
  }
}

TEST(layer_extract_attacks, reports_duplicate_paths_and_keeps_the_later) {
  scene s;
  auto reps = s.apply({layer({file("f", "one"), dir("d"), file("f", "two"), dir("d/")})});
  s.untouched();
  EXPECT_EQ(codes(reps),
            (std::multiset<std::string>{"extract.duplicate-path", "extract.duplicate-path"}));
  EXPECT_EQ(content(s.root / "f"), "two");
}

TEST(layer_extract_attacks, refuses_sparse_entries_written_by_gnu_tar) {
  UKIKIT_NEED_TOOL("tar");
  scene s;
  t::temp_dir src;
  t::write_file(src / "plain", "p");
  t::run("cd " + t::sh_quote(src.path().string()) +
         " && dd if=/dev/zero of=holes bs=1 count=0 seek=1M 2>/dev/null && printf end >> holes" +
         " && tar --format=gnu --sparse -cf ../sparse.tar holes plain");
  auto reps = s.apply({t::read_file(src.path().parent_path() / "sparse.tar")});
  fs::remove(src.path().parent_path() / "sparse.tar");
  s.untouched();
  EXPECT_EQ(codes(reps), (std::multiset<std::string>{"extract.sparse"}));
  EXPECT_FALSE(present(s.root / "holes"));
  EXPECT_EQ(content(s.root / "plain"), "p");
}

// ---- whiteouts and replacement (layer.md) -------------------------------------------

TEST(layer_extract_whiteouts, remove_what_lower_layers_made_and_are_never_created) {
  scene s;
  auto reps = s.apply({layer({dir("d"), file("d/a"), dir("d/t"), file("d/t/deep"), file("f")}),
                       layer({file("d/.wh.a"), file("d/.wh.t"), file(".wh.f"), file(".wh.none")})});
  EXPECT_TRUE(codes(reps).empty());
  EXPECT_EQ(snapshot(s.root).size(), 1U); // d alone
  EXPECT_EQ(reps[1].whiteouts, 4U);
}

TEST(layer_extract_whiteouts, apply_to_lower_layers_only) {
  scene s;
  auto reps = s.apply({layer({file("a", "lower")}),
                       layer({file("a", "upper"), file(".wh.a"), file("b"), file(".wh.b")})});
  EXPECT_TRUE(codes(reps).empty());
  EXPECT_EQ(content(s.root / "a"), "upper");
  EXPECT_TRUE(present(s.root / "b"));
}

TEST(layer_extract_whiteouts, opaque_markers_inside_opaque_directories_in_any_order) {
  scene s;
  auto reps =
      s.apply({layer({dir("d"), file("d/a"), dir("d/sub"), file("d/sub/b"), dir("d/keep"),
                      file("d/keep/old"), dir("e"), file("e/x")}),
               layer({file("d/new"), file("d/keep/mine"), file("d/.wh..wh..opq"),
                      file("d/sub/.wh..wh..opq"), file("d/sub/c"), file("e/.wh..wh..opq")})});
  s.untouched();
  EXPECT_TRUE(codes(reps).empty());
  std::set<std::string> names;
  for (const auto& [n, what] : snapshot(s.root)) names.insert(n);
  EXPECT_EQ(names, (std::set<std::string>{"d", "d/new", "d/keep", "d/keep/mine", "d/sub", "d/sub/c",
                                          "e"}));
}

TEST(layer_extract_replace, directory_over_directory_keeps_it_anything_else_is_recreated) {
  scene s;
  auto reps = s.apply(
      {layer({dir("d", 0755), file("d/in"), dir("x"), file("x/in"), file("f"), symlink("l", "f")}),
       layer({dir("d", 0700), file("x", "now a file"), dir("f"), file("l", "y")})});
  EXPECT_TRUE(codes(reps).empty());
  EXPECT_TRUE(present(s.root / "d/in"));
  EXPECT_EQ(fs::status(s.root / "d").permissions(), fs::perms::owner_all);
  EXPECT_EQ(content(s.root / "x"), "now a file");
  EXPECT_TRUE(fs::is_directory(s.root / "f"));
  EXPECT_FALSE(fs::is_symlink(s.root / "l"));
}

TEST(layer_extract_replace, a_read_only_directory_of_a_lower_layer_takes_new_children) {
  scene s;
  auto reps = s.apply({layer({dir("ro", 0555), file("ro/a", "x", 0444)}),
                       layer({file("ro/b"), file("ro/a", "new"), file("ro/.wh.none")})});
  EXPECT_TRUE(codes(reps).empty());
  EXPECT_EQ(content(s.root / "ro/a"), "new");
  EXPECT_TRUE(present(s.root / "ro/b"));
  EXPECT_EQ(fs::status(s.root / "ro").permissions() & fs::perms::all,
            fs::perms(0555)); // put back as the lower layer left it
}

TEST(layer_extract_stream, a_truncated_layer_stops_after_what_came_before) {
  scene s;
  bytes l = layer({file("a", "first"), file("b", std::string(2000, 'b'))}, false);
  l.resize(512 + 512 + 512 + 100); // inside b's data
  auto target = extract::target::open(s.root);
  ASSERT_TRUE(target);
  auto r = extract::apply_layer(l, std::move(*target));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ukikit::errc::truncated);
  EXPECT_EQ(content(s.root / "a"), "first");
}

// ---- against umoci and GNU tar ------------------------------------------------------

// type:mode&07777[:content|->target][@mtime] of everything under `p`, the
// root itself left out.
std::map<std::string, std::string> tree(const fs::path& p, bool mtimes = false) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(p); it != fs::recursive_directory_iterator();
       ++it) {
    struct stat st {};
    ::lstat(it->path().c_str(), &st);
    std::string what = std::to_string(st.st_mode >> 12) + ":" + std::to_string(st.st_mode & 07777);
    if (S_ISLNK(st.st_mode)) what = "link->" + fs::read_symlink(it->path()).string();
    if (S_ISREG(st.st_mode)) what += ":" + content(it->path());
    if (mtimes && !S_ISLNK(st.st_mode)) what += "@" + std::to_string(st.st_mtim.tv_sec);
    out[fs::relative(it->path(), p).string()] = what;
  }
  return out;
}

// Two layers as GNU tar writes them from real trees: a base, and an update
// with whiteout files and opaque markers.
void make_layers(const fs::path& dir) {
  t::run("set -e; cd " + t::sh_quote(dir.string()) + R"(
    mkdir -p base/etc base/usr/lib base/opq/sub base/gone/deep base/ro up/etc up/opq/sub up/usr/lib
    echo hello > base/etc/hosts; echo a > base/opq/a; echo b > base/opq/sub/b
    echo deep > base/gone/deep/x; echo lib > base/usr/lib/libx.so.1; echo s > base/suid
    ln -s libx.so.1 base/usr/lib/libx.so; ln -s /etc/hosts base/abs; ln base/etc/hosts base/hl
    echo r > base/ro/f; chmod 4755 base/suid; chmod 0700 base/usr/lib; chmod 0555 base/ro
    echo new > up/etc/hosts; : > up/.wh.gone; : > up/usr/lib/.wh.libx.so
    : > up/opq/.wh..wh..opq; echo mine > up/opq/mine; echo c > up/opq/sub/c
    echo replaced > up/abs; chmod 0750 up/etc
    tar --format=gnu --sort=name -C base -cf l1.tar . ; tar --format=gnu --sort=name -C up -cf l2.tar .
    chmod 0755 base/ro
  )");
}

std::vector<bytes> read_layers(const fs::path& dir) {
  return {t::read_file(dir / "l1.tar"), t::read_file(dir / "l2.tar")};
}

TEST(layer_extract_umoci, two_layers_with_whiteouts_match_umoci_unpack) {
  UKIKIT_NEED_TOOL("umoci");
  UKIKIT_NEED_TOOL("tar");
  for (auto how : resolvers) {
    t::temp_dir work;
    make_layers(work.path());
    const std::string w = t::sh_quote(work.path().string());
    t::run("set -e; cd " + w +
           " && umoci init --layout L && umoci new --image L:t"
           " && umoci raw add-layer --image L:t l1.tar && umoci raw add-layer --image L:t l2.tar"
           " && umoci unpack --rootless --image L:t bundle >/dev/null");
    fs::create_directories(work / "ours");
    extract::options opts;
    opts.keep_special_bits = true;
    for (const bytes& l : read_layers(work.path())) {
      auto target = extract::target::open(work / "ours", how);
      ASSERT_TRUE(target);
      auto r = extract::apply_layer(l, std::move(*target), opts);
      ASSERT_TRUE(r) << r.error().message();
      EXPECT_TRUE(r->findings.empty());
    }
    auto theirs = tree(work / "bundle/rootfs");
    auto ours = tree(work / "ours");
    EXPECT_EQ(ours, theirs);
    EXPECT_EQ(ours.count("gone"), 0U);     // a sanity check of the
    EXPECT_EQ(ours.count("opq/a"), 0U);    // layers: whiteouts
    EXPECT_EQ(ours.count("opq/mine"), 1U); // and opaque markers
    t::run("chmod -R u+rwx " + w + " 2>/dev/null; true");
  }
}

TEST(layer_extract_tar, a_plain_layer_matches_gnu_tar_extract) {
  UKIKIT_NEED_TOOL("tar");
  t::temp_dir work;
  make_layers(work.path());
  fs::create_directories(work / "tar");
  fs::create_directories(work / "ours");
  t::run("tar -C " + t::sh_quote((work / "tar").string()) + " -xpf " +
         t::sh_quote((work / "l1.tar").string()));
  extract::options opts;
  opts.keep_special_bits = true;
  auto target = extract::target::open(work / "ours");
  ASSERT_TRUE(target);
  auto r = extract::apply_layer(read_layers(work.path())[0], std::move(*target), opts);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->findings.empty());
  EXPECT_EQ(tree(work / "ours", true), tree(work / "tar", true));
  t::run("chmod -R u+rwx " + t::sh_quote(work.path().string()));
}

// ---- ukikit layer extract -------------------------------------------------------------

TEST(layer_extract_tool, applies_compressed_layers_and_reports_refusals_with_exit_1) {
  UKIKIT_NEED_TOOL("gzip");
  UKIKIT_NEED_TOOL("zstd");
  scene s;
  t::write_file(s.tmp / "l1.tar", layer({dir("d"), file("d/a", "a"), symlink("s", "../outside")}));
  t::write_file(s.tmp / "l2.tar", layer({file("d/.wh.a"), file("s/x", "evil"), file("b", "b")}));
  t::run("gzip -n " + t::sh_quote((s.tmp / "l1.tar").string()) + " && zstd -q --rm " +
         t::sh_quote((s.tmp / "l2.tar").string()));
  const std::string cmd =
      t::tool("ukikit") + " layer extract --json " + t::sh_quote((s.tmp / "l1.tar.gz").string()) +
      " " + t::sh_quote((s.tmp / "l2.tar.zst").string()) + " " + t::sh_quote(s.root.string());
  auto r = t::run(cmd + " 2>/dev/null");
  fs::remove(s.tmp / "l1.tar.gz");
  fs::remove(s.tmp / "l2.tar.zst");
  s.untouched();
  EXPECT_EQ(r.status, 1);
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["layers"].size(), 2U);
  EXPECT_EQ(j["layers"][0]["compression"], "gzip");
  EXPECT_EQ(j["layers"][1]["compression"], "zstd");
  EXPECT_EQ(j["layers"][1]["whiteouts"], 1);
  ASSERT_EQ(j["layers"][1]["refused"].size(), 1U);
  EXPECT_EQ(j["layers"][1]["refused"][0]["code"], "extract.through-symlink");
  EXPECT_EQ(j["layers"][1]["refused"][0]["name"], "s/x");
  EXPECT_TRUE(j["error"].is_null());
  EXPECT_FALSE(present(s.root / "d/a"));
  EXPECT_EQ(content(s.root / "b"), "b");
}

TEST(layer_extract_tool, a_truncated_layer_is_exit_2_after_what_came_before) {
  scene s;
  bytes l = layer({file("a", "first"), file("b", std::string(2000, 'b'))}, false);
  l.resize(1600);
  t::write_file(s.tmp / "cut.tar", l);
  t::write_file(s.tmp / "next.tar", layer({file("c")}));
  auto r =
      t::run(t::tool("ukikit") + " layer extract " + t::sh_quote((s.tmp / "cut.tar").string()) +
             " " + t::sh_quote((s.tmp / "next.tar").string()) + " " + t::sh_quote(s.root.string()) +
             " 2>/dev/null");
  fs::remove(s.tmp / "cut.tar");
  fs::remove(s.tmp / "next.tar");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(content(s.root / "a"), "first");
  EXPECT_FALSE(present(s.root / "c")); // later layers are not applied
}

} // namespace
