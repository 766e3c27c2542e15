// extract_fuzzer: the input as a newc stream, read as the kernel reads an
// initramfs and unpacked into a fresh directory inside a per-process scratch
// directory. After each run nothing but that directory may exist in the
// scratch directory (nothing escaped), and an errc::io error, which only a
// failing destination may cause, is a bug. Odd-sized inputs use the
// component walk instead of openat2, so both resolvers are fuzzed.
#include <ukikit/cpio.hpp>
#include <ukikit/extract.hpp>

#include "../tests/remove_tree.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using ukikit::test::remove_tree;

// Larger inputs are ignored: the bytes written in one run are at most the
// input's size (sizes set with ftruncate stay sparse).
constexpr std::size_t max_input = 1 << 20;

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

// The per-process scratch directory, made on first use and removed at exit
// (never destroyed before that: the exit handler still reads it).
const std::string& scratch() {
  static const std::string* dir = [] {
    auto* t = new std::string(
        (std::filesystem::temp_directory_path() / "ukikit-extract-fuzz-XXXXXX").string());
    if (!::mkdtemp(t->data())) __builtin_trap();
    std::atexit([] { remove_tree(*dir); });
    return t;
  }();
  return *dir;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ukikit;
  if (size > max_input) return 0;
  byte_span in(reinterpret_cast<const std::byte*>(data), size);
  std::string dir = scratch() + "/t-XXXXXX";
  if (!::mkdtemp(dir.data())) __builtin_trap();
  {
    auto how = size % 2 == 1 ? extract::resolver::walk : extract::resolver::automatic;
    auto t = extract::target::open(dir, how);
    if (!t) __builtin_trap();
    // No device nodes on the fuzzing host, even as root.
    extract::cpio_extractor x(std::move(*t), {.create_devices = false});
    cpio::parser p(cpio::options{.mode = cpio::strictness::kernel, .all_formats = false});
    auto fed = p.feed(in, x);
    if (!fed && fed.error().code() == errc::io) __builtin_trap();
    auto rep = x.finish();
    if (!rep && rep.error().code() == errc::io) __builtin_trap();
    volatile std::size_t sink = 0;
    if (rep) {
      for (const auto& f : rep->findings) sink = sink + f.text().size();
      if (rep->findings.size() > rep->findings_total) __builtin_trap();
    }
  }
  // Nothing escaped: the target is all there is in the scratch directory.
  auto names = list(scratch());
  if (names.size() != 1 || names[0] != dir.substr(scratch().size() + 1)) __builtin_trap();
  remove_tree(dir);
  if (!list(scratch()).empty()) __builtin_trap();
  return 0;
}
