// extract_fuzzer: the input as a newc stream, read as the kernel reads an
// initramfs and unpacked into a target directory nested three levels deep in
// a per-process root (ROOT/a/b/c/t), so that an entry landing at "../x",
// "../../x" … stays inside ROOT where it can be seen. After each run:
// - ROOT, ROOT/a, ROOT/a/b and ROOT/a/b/c still hold exactly their one
//   child, with the same inode and mode (nothing landed beside the target);
// - every path outside ROOT that the input names is as it was before the
//   run: the target joined with each entry name (which is the name itself
//   when absolute, and reaches $TMPDIR and above with enough ".."), each
//   symlink's target, and each entry name with a symlink's name as its
//   prefix replaced by that symlink's target (a write through the link);
//   a path that did not exist must not exist, one that did must keep its
//   inode, type, mode and owner (and size and mtime, unless a directory);
// - an errc::io error, which only a failing destination may cause, is a bug.
// Odd-sized inputs use the component walk instead of openat2, so both
// resolvers are fuzzed.
#include <ukikit/cpio.hpp>
#include <ukikit/extract.hpp>

#include "../tests/remove_tree.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using ukikit::test::remove_tree;

// Larger inputs are ignored: the bytes written in one run are at most the
// input's size (sizes set with ftruncate stay sparse).
constexpr std::size_t max_input = 1 << 20;
// Entries whose names are turned into outside paths to watch, and a cap on
// those paths (entries × symlinks grows fast); beyond these a run still
// extracts and checks ROOT, it only watches fewer outside paths.
constexpr std::size_t max_named_entries = 512;
constexpr std::size_t max_watched = 8192;
// The directories between ROOT and the target.
constexpr std::array<const char*, 4> chain{"a", "b", "c", "t"};

// The names in a directory.
std::vector<std::string> list(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) __builtin_trap();
  while (dirent* ent = ::readdir(d)) {
    std::string_view n = ent->d_name;
    if (n != "." && n != "..") out.emplace_back(n);
  }
  ::closedir(d);
  return out;
}

// The per-process root, made on first use with its chain of directories
// down to (not including) the target, and removed at exit (never destroyed
// before that: the exit handler still reads it).
const std::string& root() {
  static const std::string* dir = [] {
    auto* t = new std::string(
        (fs::temp_directory_path() / "ukikit-extract-fuzz-XXXXXX").lexically_normal().string());
    if (!::mkdtemp(t->data())) __builtin_trap();
    std::string at = *t;
    for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
      at += '/';
      at += chain[i];
      if (::mkdir(at.c_str(), 0700) != 0) __builtin_trap();
    }
    std::atexit([] { remove_tree(*dir); });
    return t;
  }();
  return *dir;
}

// What lstat says about a path, reduced to what an extraction could change.
struct state {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  off_t size = 0;
  struct timespec mtime {};

  static state of(const std::string& path) {
    struct stat st {};
    state s;
    if (::lstat(path.c_str(), &st) != 0) return s;
    s = {true, st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtim};
    return s;
  }
  // A directory's size and mtime change whenever anyone adds to it ($TMPDIR
  // does all the time); a file's do not.
  bool same(const state& o) const {
    if (exists != o.exists) return false;
    if (!exists) return true;
    if (dev != o.dev || ino != o.ino || mode != o.mode || uid != o.uid || gid != o.gid)
      return false;
    if (S_ISDIR(mode) || !S_ISREG(mode)) return true;
    return size == o.size && mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec;
  }
};

// The entries' names and symlink targets, as a second parse sees them.
struct named {
  std::string name;
  bool symlink = false;
  std::string link_target;
};

struct name_collector {
  std::vector<named> entries;
  ukikit::result<void> begin(const ukikit::cpio::entry&) { return ukikit::success(); }
  ukikit::result<void> data(const ukikit::cpio::entry&, ukikit::byte_span) {
    return ukikit::success();
  }
  ukikit::result<bool> end(const ukikit::cpio::entry& e) {
    if (entries.size() < max_named_entries)
      entries.push_back({std::string(e.name), e.type() == ukikit::cpio::file_type::symlink,
                         std::string(e.link_target)});
    return true;
  }
};

ukikit::cpio::options parse_options() {
  return {.mode = ukikit::cpio::strictness::kernel, .all_formats = false};
}

// Paths outside ROOT that the input names (see the top of the file).
std::vector<std::string> outside_paths(ukikit::byte_span in, const fs::path& target) {
  name_collector names;
  ukikit::cpio::parser p(parse_options());
  (void)p.feed(in, names); // what was read before an error is named all the same
  std::map<std::string, bool> found;
  auto add = [&](const fs::path& p) {
    if (found.size() < max_watched) found.emplace(p.lexically_normal().string(), true);
  };
  // Where a symlink entry points: its target, from the symlink's directory.
  auto through = [&](const named& s) { return (target / s.name).parent_path() / s.link_target; };
  for (const auto& e : names.entries) {
    if (e.name.empty()) continue;
    add(target / e.name);
    if (e.symlink && !e.link_target.empty()) add(through(e));
    for (const auto& s : names.entries) {
      if (!s.symlink || s.name.empty() || s.link_target.empty()) continue;
      if (e.name.size() > s.name.size() && e.name.starts_with(s.name) &&
          e.name[s.name.size()] == '/')
        add(through(s) / e.name.substr(s.name.size() + 1));
    }
  }
  std::vector<std::string> out;
  const std::string& r = root();
  for (auto& [path, unused] : found) {
    (void)unused;
    if (path == r || path.starts_with(r + "/")) continue; // ROOT is checked by listing
    // Kernel filesystems: nothing is created there, and their inodes come and go.
    if (path.starts_with("/proc/") || path.starts_with("/sys/") || path == "/proc" ||
        path == "/sys")
      continue;
    out.push_back(path);
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ukikit;
  if (size > max_input) return 0;
  byte_span in(reinterpret_cast<const std::byte*>(data), size);

  // ROOT and the chain below it, as they are before the run.
  std::vector<std::string> dirs{root()};
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) dirs.push_back(dirs.back() + "/" + chain[i]);
  const std::string dir = dirs.back() + "/" + chain.back();
  std::vector<state> chain_before;
  for (const auto& d : dirs) chain_before.push_back(state::of(d));

  const std::vector<std::string> watched = outside_paths(in, dir);
  std::vector<state> before;
  before.reserve(watched.size());
  for (const auto& w : watched) before.push_back(state::of(w));

  if (::mkdir(dir.c_str(), 0700) != 0) __builtin_trap();
  {
    auto how = size % 2 == 1 ? extract::resolver::walk : extract::resolver::automatic;
    auto t = extract::target::open(dir, how);
    if (!t) __builtin_trap();
    // No device nodes on the fuzzing host, even as root.
    extract::cpio_extractor x(std::move(*t), {.create_devices = false});
    cpio::parser p(parse_options());
    auto fed = p.feed(in, x);
    if (!fed && fed.error().code() == errc::io) __builtin_trap();
    auto rep = x.finish();
    if (!rep && rep.error().code() == errc::io) __builtin_trap();
    volatile std::size_t sink = 0;
    if (rep) {
      for (const auto& f : rep->findings) {
        sink = sink + f.text().size() + f.subject.size();
        if (!f.code.starts_with("extract.") || f.level != ukikit::severity::warning)
          __builtin_trap();
      }
      if (rep->findings.kept().size() > rep->findings.total()) __builtin_trap();
    }
  }

  // Nothing escaped into ROOT: each directory of the chain holds its one
  // child and is the directory it was.
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    auto names = list(dirs[i]);
    if (names.size() != 1 || names[0] != chain[i]) __builtin_trap();
    if (!state::of(dirs[i]).same(chain_before[i])) __builtin_trap();
  }
  // Nor above it, nor at an absolute path or through a symlink.
  for (std::size_t i = 0; i < watched.size(); ++i)
    if (!state::of(watched[i]).same(before[i])) __builtin_trap();

  remove_tree(dir);
  if (!list(dirs.back()).empty()) __builtin_trap();
  return 0;
}
