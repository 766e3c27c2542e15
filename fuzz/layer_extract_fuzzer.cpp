// layer_extract_fuzzer: tar layers applied to a fresh target directory as
// `umoci unpack` applies them (extract/layer.hpp). The target sits in a
// per-process root beside a sentinel directory (ROOT/a/b/{t, sentinel}), so
// that what lands at "../x", "../../x", "../sentinel/…" stays where it can be
// seen. After each run:
// - ROOT, ROOT/a and ROOT/a/b hold exactly what they held, with the same
//   inodes and modes (nothing landed beside the target);
// - the sentinel's tree (names, types, inodes, modes, sizes, file mtimes,
//   symlink targets) is as it was: no write, whiteout or link reached it;
// - an errc::io error, which only a failing destination may cause, is a bug.
// The first input byte chooses: bit 0, two layers (the next two bytes, big
// endian, are the first layer's length in 512-byte blocks); bit 1, the
// component walk instead of openat2. The rest is the tar bytes.
#include <ukikit/extract.hpp>
#include <ukikit/tar.hpp>

#include "../tests/remove_tree.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using ukikit::test::remove_tree;

// Larger inputs are ignored: the bytes written in one run stay bounded.
constexpr std::size_t max_input = 1 << 20;

// What an extraction could change about one path.
std::string describe(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return "-";
  std::string d = std::to_string(st.st_ino) + ":" + std::to_string(st.st_mode) + ":" +
                  std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid);
  if (S_ISREG(st.st_mode))
    d += ":" + std::to_string(st.st_size) + "@" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec) + "/" + std::to_string(st.st_nlink);
  if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    d += "->" + std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  }
  return d;
}

// `dir` and everything under it (never following symlinks), or with
// `shallow` the directory and its direct children only.
void scan(const std::string& dir, std::map<std::string, std::string>& out, bool shallow) {
  out[dir] = describe(dir);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) {
    const std::string p = dir + "/" + n;
    struct stat st {};
    if (!shallow && ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) scan(p, out, false);
    else out[p] = describe(p);
  }
}

// The per-process root: ROOT/a/b with the sentinel beside where the target
// goes; removed at exit.
const std::string& root() {
  static const std::string* dir = [] {
    auto* t = new std::string(
        (fs::temp_directory_path() / "ukikit-layer-fuzz-XXXXXX").lexically_normal().string());
    if (!::mkdtemp(t->data())) __builtin_trap();
    const std::string b = *t + "/a/b";
    const std::string s = b + "/sentinel";
    if (::mkdir((*t + "/a").c_str(), 0700) != 0 || ::mkdir(b.c_str(), 0700) != 0 ||
        ::mkdir(s.c_str(), 0700) != 0 || ::mkdir((s + "/dir").c_str(), 0700) != 0)
      __builtin_trap();
    const int fd = ::open((s + "/secret").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ::write(fd, "keep", 4) != 4) __builtin_trap();
    ::close(fd);
    if (::symlink("secret", (s + "/link").c_str()) != 0) __builtin_trap();
    std::atexit([] { remove_tree(*dir); });
    return t;
  }();
  return *dir;
}

// The outside as it is now: the chain to the target (shallow) and the
// sentinel's whole tree.
std::map<std::string, std::string> outside() {
  std::map<std::string, std::string> out;
  scan(root(), out, true);
  scan(root() + "/a", out, true);
  scan(root() + "/a/b", out, true);
  scan(root() + "/a/b/sentinel", out, false);
  out.erase(root() + "/a/b/t");
  return out;
}

void check(const ukikit::result<ukikit::extract::report>& rep) {
  if (!rep) {
    if (rep.error().code() == ukikit::errc::io) __builtin_trap();
    return;
  }
  volatile std::size_t sink = 0;
  for (const auto& f : rep->findings) {
    sink = sink + f.text().size() + f.subject.size();
    if (!f.code.starts_with("extract.") || f.level != ukikit::severity::warning) __builtin_trap();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ukikit;
  if (size < 1 || size > max_input) return 0;
  const std::uint8_t flags = data[0];
  byte_span in(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  std::vector<byte_span> layers{in};
  if ((flags & 1) != 0 && in.size() >= 2) {
    const std::size_t blocks =
        (std::to_integer<std::size_t>(in[0]) << 8) | std::to_integer<std::size_t>(in[1]);
    byte_span rest = in.subspan(2);
    const std::size_t cut = std::min(rest.size(), blocks * tar::block_size);
    layers = {rest.first(cut), rest.subspan(cut)};
  }
  const auto how = (flags & 2) != 0 ? extract::resolver::walk : extract::resolver::automatic;
  const auto before = outside();
  const std::string dir = root() + "/a/b/t";
  if (::mkdir(dir.c_str(), 0700) != 0) __builtin_trap();
  {
    auto t = extract::target::open(dir, how);
    if (!t) __builtin_trap();
    extract::options opts;
    opts.create_devices = false; // no device nodes on the fuzzing host, even as root
    opts.keep_special_bits = true;
    for (byte_span l : layers) {
      auto one = t->duplicate();
      if (!one) __builtin_trap();
      auto rep = extract::apply_layer(l, std::move(*one), opts);
      check(rep);
      if (!rep) break; // a bad layer stops the run, as in the tool
    }
  }
  if (outside() != before) __builtin_trap();
  remove_tree(dir);
  if (outside() != before) __builtin_trap();
  return 0;
}
