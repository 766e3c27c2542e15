// initrd_create_fuzzer: the input as a gen_init_cpio list for
// initrd::plan_list, with relative locations taken from a per-process
// directory of a few small files (a, empty, sub/f, a fifo), then, when every
// source lies there, the plan written as a newc archive and read back. A
// violated property traps:
// - planning is deterministic (twice the same plan);
// - every name is non-empty, relative, and each of its parents is named by
//   an earlier entry; every mtime is the option's; types are the six a list
//   can make and permissions fit 07777;
// - inode numbers count from 1 in archive order; entries that share one are
//   hard links of one regular file, nlink is their number, and only the last
//   carries the data;
// - the archive reads back (strict newc, TRAILER!!! at its end) as the plan:
//   the same entries in the same order with the same header fields, symlink
//   targets and file data, and write_archive() counts the bytes it wrote.
#include <ukikit/cpio.hpp>
#include <ukikit/initrd/create.hpp>

#include "../tests/remove_tree.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using namespace ukikit;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) __builtin_trap();                                                                 \
  } while (0)

// Longer lists are ignored: a list line names at most a few entries.
constexpr std::size_t max_input = 64 << 10;
// Archives are written only when their data stays this small.
constexpr std::uint64_t max_data = 1 << 20;
constexpr std::uint64_t list_mtime = 1600000000;

// The per-process directory relative locations are taken from, made on
// first use and removed at exit.
const std::string& base() {
  static const std::string* dir = [] {
    auto* t = new std::string(
        (fs::temp_directory_path() / "ukikit-create-fuzz-XXXXXX").lexically_normal().string());
    if (!::mkdtemp(t->data())) __builtin_trap();
    auto put = [&](const char* name, std::string_view text) {
      std::ofstream(*t + "/" + name, std::ios::binary) << text;
    };
    put("a", "abc");
    put("empty", "");
    if (::mkdir((*t + "/sub").c_str(), 0755) != 0) __builtin_trap();
    put("sub/f", "hello\n");
    if (::mkfifo((*t + "/fifo").c_str(), 0644) != 0) __builtin_trap();
    std::atexit([] { test::remove_tree(*dir); });
    return t;
  }();
  return *dir;
}

bool same_fields(const cpio::entry_fields& a, const cpio::entry_fields& b) {
  return a.ino == b.ino && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid &&
         a.nlink == b.nlink && a.mtime == b.mtime && a.dev_major == b.dev_major &&
         a.dev_minor == b.dev_minor && a.rdev_major == b.rdev_major && a.rdev_minor == b.rdev_minor;
}

void check_plan(const std::vector<initrd::planned>& plan) {
  std::set<std::string> seen;
  std::map<std::uint64_t, std::vector<std::size_t>> by_ino;
  std::uint64_t next_ino = 1;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const auto& e = plan[i];
    CHECK(!e.name.empty() && e.name.front() != '/');
    for (std::size_t slash = e.name.find('/'); slash != std::string::npos;
         slash = e.name.find('/', slash + 1))
      CHECK(seen.count(e.name.substr(0, slash)));
    seen.insert(e.name);
    CHECK(e.fields.mtime == list_mtime);
    const auto type = cpio::type_of(e.fields.mode);
    CHECK(type == cpio::file_type::regular || type == cpio::file_type::directory ||
          type == cpio::file_type::character || type == cpio::file_type::block ||
          type == cpio::file_type::symlink || type == cpio::file_type::fifo ||
          type == cpio::file_type::socket);
    CHECK((e.fields.mode & ~std::uint64_t{S_IFMT}) <= 07777);
    CHECK(type == cpio::file_type::symlink ? e.size == e.link_target.size()
                                           : e.link_target.empty());
    if (type != cpio::file_type::regular) CHECK(e.source.empty());
    if (e.fields.ino == next_ino) ++next_ino;
    CHECK(e.fields.ino >= 1 && e.fields.ino < next_ino);
    by_ino[e.fields.ino].push_back(i);
  }
  for (const auto& [ino, members] : by_ino) {
    if (members.size() == 1) continue;
    for (std::size_t k = 0; k < members.size(); ++k) {
      const auto& e = plan[members[k]];
      CHECK(cpio::type_of(e.fields.mode) == cpio::file_type::regular);
      CHECK(e.fields.nlink == members.size());
      CHECK(e.source == plan[members.front()].source);
      if (k + 1 < members.size()) CHECK(e.size == 0);
    }
  }
}

// Writes the plan and reads it back.
void check_archive(const std::vector<initrd::planned>& plan) {
  std::uint64_t data = 0;
  for (const auto& e : plan) {
    if (!e.source.empty() && !e.source.lexically_normal().string().starts_with(base() + "/"))
      return;
    data += e.size;
  }
  if (data > max_data) return;
  std::vector<std::byte> out;
  auto sink = [&](byte_span b) -> result<void> {
    out.insert(out.end(), b.begin(), b.end());
    return success();
  };
  cpio::write_options wo;
  auto written = initrd::write_archive(plan, wo, sink);
  if (!written) {
    // Only a name the format cannot hold is refused; the sources are ours.
    CHECK(written.error().code() == errc::invalid_argument);
    return;
  }
  CHECK(*written == out.size());

  cpio::reader r(out);
  for (const auto& e : plan) {
    auto got = r.next();
    CHECK(got && *got);
    const cpio::entry& x = **got;
    CHECK(x.format == cpio::format::newc);
    CHECK(x.name == e.name);
    cpio::entry_fields f;
    f.ino = x.ino;
    f.mode = x.mode;
    f.uid = x.uid;
    f.gid = x.gid;
    f.nlink = x.nlink;
    f.mtime = x.mtime;
    f.dev_major = x.dev_major;
    f.dev_minor = x.dev_minor;
    f.rdev_major = x.rdev_major;
    f.rdev_minor = x.rdev_minor;
    CHECK(same_fields(f, e.fields));
    CHECK(x.filesize == e.size);
    if (!e.link_target.empty()) {
      CHECK(x.link_target == e.link_target);
    } else if (e.size != 0) {
      std::ifstream in(e.source, std::ios::binary);
      std::string want((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      CHECK(as_chars(x.data) == want);
    }
  }
  auto end = r.next();
  CHECK(end && !*end);
  CHECK(r.rest().empty());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > max_input) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  initrd::create_options o;
  o.mtime = list_mtime;
  auto plan = initrd::plan_list(text, base(), o);
  auto again = initrd::plan_list(text, base(), o);
  CHECK(static_cast<bool>(plan) == static_cast<bool>(again));
  if (!plan) {
    CHECK(plan.error().code() == again.error().code() &&
          plan.error().message() == again.error().message());
    return 0;
  }
  CHECK(plan->size() == again->size());
  for (std::size_t i = 0; i < plan->size(); ++i) {
    const auto& a = (*plan)[i];
    const auto& b = (*again)[i];
    CHECK(a.name == b.name && same_fields(a.fields, b.fields) && a.source == b.source &&
          a.link_target == b.link_target && a.size == b.size);
  }
  check_plan(*plan);
  check_archive(*plan);
  return 0;
}
