// The initramfs walker (initrd::walk/examine), `ukikit initrd create|list|info`
// and ukiinspect on initramfs files and UKIs, checked against the real tools:
// GNU cpio, bsdcpio, zstd, xz, gzip, bzip2 and lz4 make the inputs and read
// the outputs; expected values come from them and from the kernel's rules
// (init/initramfs.c, lib/earlycpio.c) as formats.md §1.2 states them.
#include <ukikit/initrd.hpp>
#include <ukikit/initrd/create.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace ukikit::initrd {
namespace {

namespace t = ukikit::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string q(const fs::path& p) { return t::sh_quote(p.string()); }

std::size_t lines(std::string_view s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Runs a shell command that must succeed; returns its stdout.
std::string sh(const std::string& command) {
  auto r = t::run(command);
  EXPECT_EQ(r.status, 0) << command;
  return r.out;
}

// The command that writes the decompressed form of stdin, per ukikit's name
// of the compression.
std::string decompressor(std::string_view compression) {
  if (compression == "zstd") return "zstd -dc";
  if (compression == "xz") return "xz -dc";
  if (compression == "lzma") return "xz --format=lzma -dc";
  if (compression == "gzip") return "gzip -dc";
  return "cat";
}

std::uint64_t fnv1a(const std::vector<std::byte>& data) {
  std::uint64_t h = 14695981039346656037ull;
  for (std::byte b : data) h = (h ^ std::to_integer<std::uint64_t>(b)) * 1099511628211ull;
  return h;
}

// One line per path under `root`: type, permissions, and the contents (size
// and hash) or the link target; then the groups of hard links by name. Two
// trees that describe alike agree in everything an initramfs carries but
// owners and times.
std::string describe_tree(const fs::path& root) {
  std::vector<std::string> out;
  std::map<std::pair<dev_t, ino_t>, std::vector<std::string>> inodes;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string rel = it->path().lexically_relative(root).generic_string();
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) {
      out.push_back(rel + " (cannot stat)");
      continue;
    }
    char perm[8];
    std::snprintf(perm, sizeof perm, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    std::string line = rel + " " + cpio::type_letter(cpio::type_of(st.st_mode)) + " " + perm;
    if (S_ISREG(st.st_mode)) {
      line += " " + std::to_string(st.st_size) + " " + std::to_string(fnv1a(t::read_file(*it)));
      inodes[{st.st_dev, st.st_ino}].push_back(rel);
    } else if (S_ISLNK(st.st_mode)) {
      line += " -> " + fs::read_symlink(*it).string();
    }
    out.push_back(line);
  }
  for (auto& [id, names] : inodes) {
    if (names.size() < 2) continue;
    std::sort(names.begin(), names.end());
    std::string line = "hard links:";
    for (const auto& n : names) line += " " + n;
    out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  std::string text;
  for (const auto& l : out) text += l + "\n";
  return text;
}

void put(const fs::path& p, const std::vector<std::byte>& data, mode_t mode) {
  t::write_file(p, data);
  ASSERT_EQ(::chmod(p.c_str(), mode), 0) << p;
}

// A small root file system: files of several sizes (0, 1, 100, 4097, 70001
// bytes), nested and empty directories, symlinks, two hard links and a fifo.
void make_tree(const fs::path& root) {
  fs::create_directories(root / "bin");
  fs::create_directories(root / "etc/deep/er");
  fs::create_directories(root / "var/empty");
  put(root / "bin/busybox", t::sample_bytes(70001, 1), 0755);
  fs::create_hard_link(root / "bin/busybox", root / "bin/sh");
  put(root / "etc/empty", {}, 0644);
  put(root / "etc/one", {std::byte{'x'}}, 0600);
  put(root / "etc/conf", t::sample_bytes(4097, 2), 0664);
  put(root / "etc/deep/er/file", t::sample_bytes(100, 3), 0640);
  fs::create_symlink("bin/busybox", root / "init");
  fs::create_symlink("../bin/sh", root / "etc/shell");
  ASSERT_EQ(::mkfifo((root / "etc/initctl").c_str(), 0600), 0);
  ASSERT_EQ(::chmod((root / "etc/initctl").c_str(), 0620), 0);
  ASSERT_EQ(::chmod((root / "etc").c_str(), 0750), 0);
  ASSERT_EQ(::chmod((root / "var/empty").c_str(), 0700), 0);
}

// The early tree distributions put first: Intel microcode.
void make_early_tree(const fs::path& root) {
  fs::create_directories(root / "kernel/x86/microcode");
  put(root / "kernel/x86/microcode/GenuineIntel.bin", t::sample_bytes(1000, 9), 0644);
}

// The end of the single archive in `file`: the TRAILER!!! header (110
// bytes) and its 11-byte name, padded to 4 (formats.md §1.1 newc).
std::uint64_t archive_end(const fs::path& file) {
  auto bytes = t::read_file(file);
  const std::string_view text = as_chars(bytes);
  const std::size_t name = text.find("TRAILER!!!");
  EXPECT_NE(name, std::string_view::npos) << file;
  const std::size_t header = name - 110;
  return header + (110 + 11 + 3) / 4 * 4;
}

// One newc record (formats.md §1.1), padded to 4: for names no file system
// holds (longer than PATH_MAX), which GNU cpio cannot archive.
std::string newc_record(const std::string& name, std::uint32_t mode, std::string_view data,
                        unsigned ino = 1) {
  char h[111];
  std::snprintf(h, sizeof h, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x", ino,
                mode, 0u, 0u, 1u, 0u, static_cast<unsigned>(data.size()), 0u, 0u, 0u, 0u,
                static_cast<unsigned>(name.size() + 1), 0u);
  std::string rec(h, 110);
  rec += name;
  rec.push_back('\0');
  while (rec.size() % 4) rec.push_back('\0');
  rec += data;
  while (rec.size() % 4) rec.push_back('\0');
  return rec;
}

// Whether `text` has a byte a terminal would act on: C0, DEL, or a C1
// control in UTF-8 (c2 80 to c2 9f).
bool has_control_bytes(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xa0)
      return true;
  }
  return false;
}

class initrd_fixture : public ::testing::Test {
protected:
  fs::path path(std::string_view name) const { return work / name; }

  // `cpio -o` of `dir` by the given command (GNU cpio or bsdcpio), with
  // names from `find` in byte order.
  fs::path gnu_cpio(const fs::path& dir, const std::string& name, const std::string& format,
                    const std::string& what = ".") {
    sh("cd " + q(dir) + " && find " + what + " | LC_ALL=C sort | cpio -o --quiet -H " + format +
       " > " + q(path(name)));
    return path(name);
  }
  fs::path bsd_cpio(const fs::path& dir, const std::string& name, const std::string& what = ".") {
    sh("cd " + q(dir) + " && find " + what +
       " | LC_ALL=C sort | bsdcpio -o --quiet --format newc > " + q(path(name)));
    return path(name);
  }
  // `command` reading `in`, writing `out`.
  fs::path filter(const std::string& command, const fs::path& in, const std::string& out) {
    sh(command + " < " + q(in) + " > " + q(path(out)));
    return path(out);
  }

  // Concatenates files and zero runs into `name`.
  struct piece {
    fs::path file;         // empty: zeros only
    std::size_t zeros = 0; // after the file
  };
  fs::path concat(const std::vector<piece>& pieces, const std::string& name) {
    std::vector<std::byte> all;
    for (const auto& p : pieces) {
      if (!p.file.empty()) {
        auto b = t::read_file(p.file);
        all.insert(all.end(), b.begin(), b.end());
      }
      all.insert(all.end(), p.zeros, std::byte{0});
    }
    t::write_file(path(name), all);
    return path(name);
  }

  // examine() on a file; the walk itself must not fail (only the report).
  report examine_file(const fs::path& file, const walk_options& options = {}) {
    const auto bytes = t::read_file(file);
    auto r = examine(bytes, options);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? std::move(*r) : report{};
  }

  struct outcome {
    int status = -1;
    std::string out, err;
  };
  // `ukikit ARGS`, stdout and stderr apart.
  outcome ukikit(const std::string& args, const std::string& env = "") {
    const fs::path err = path("stderr.txt");
    auto r = t::run(env + t::tool("ukikit") + " " + args + " 2>" + q(err));
    return {r.status, r.out, std::string(as_chars(t::read_file(err)))};
  }
  json info_json(const fs::path& file) {
    auto r = ukikit("initrd info --json " + q(file));
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out);
  }

  t::temp_dir dir;
  const fs::path& work = dir.path();
};

// ---------------------------------------------------------------------------
// Walker, differential: initramfs files assembled as distributions do, from
// archives by GNU cpio and bsdcpio compressed by the real tools.

class initrd_walk : public initrd_fixture {
protected:
  void SetUp() override {
    UKIKIT_NEED_TOOL("cpio");
    UKIKIT_NEED_TOOL("bsdcpio");
    UKIKIT_NEED_TOOL("zstd");
    UKIKIT_NEED_TOOL("xz");
    UKIKIT_NEED_TOOL("gzip");
    make_tree(path("root"));
    make_early_tree(path("early"));
  }

  // A part of the initrd: the bytes put in (`stored`), the compression as
  // ukikit names it, the uncompressed archives inside, and the zero bytes
  // that follow it.
  struct part {
    fs::path stored;
    std::string compression;
    std::vector<fs::path> archives;
    std::size_t zeros_after = 0;
  };

  // Assembles the parts and checks list and info against cpio -t, the file
  // sizes and the decompressors.
  void check(const std::vector<part>& parts) {
    std::vector<piece> pieces;
    for (const auto& p : parts) pieces.push_back({p.stored, p.zeros_after});
    const fs::path initrd = concat(pieces, "initrd.img");

    std::string expected_list;
    std::uint64_t offset = 0, in_segments = 0, entries = 0;
    auto j = info_json(initrd);
    ASSERT_EQ(j["segments"].size(), parts.size()) << j.dump(2);
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const auto& p = parts[i];
      const auto& s = j["segments"][i];
      std::uint64_t count = 0;
      for (const auto& a : p.archives) {
        const std::string listed = sh("cpio -t --quiet < " + q(a));
        expected_list += listed;
        count += lines(listed);
      }
      const std::uint64_t length =
          p.compression == "none" ? archive_end(p.stored) : fs::file_size(p.stored);
      const std::uint64_t size =
          p.compression == "none"
              ? length
              : std::stoull(sh(decompressor(p.compression) + " < " + q(p.stored) + " | wc -c"));
      SCOPED_TRACE("segment " + std::to_string(i) + ": " + s.dump());
      EXPECT_EQ(s["offset"], offset);
      EXPECT_EQ(s["length"], length);
      EXPECT_EQ(s["compression"], p.compression);
      EXPECT_EQ(s["size"], size);
      EXPECT_EQ(s["entries"], count);
      EXPECT_EQ(s["archives"], p.archives.size());
      offset += fs::file_size(p.stored) + p.zeros_after;
      in_segments += length;
      entries += count;
    }
    EXPECT_EQ(j["entries"], entries);
    EXPECT_EQ(j["padding"], fs::file_size(initrd) - in_segments);
    EXPECT_EQ(j["error"], nullptr);
    EXPECT_TRUE(j["warnings"].empty()) << j["warnings"].dump();

    auto listed = ukikit("initrd list " + q(initrd));
    EXPECT_EQ(listed.status, 0) << listed.err;
    EXPECT_EQ(listed.out, expected_list);
  }
};

TEST_F(initrd_walk, early_microcode_archive_then_zstd_main_archive_matches_cpio_and_zstd) {
  const auto early = gnu_cpio(path("early"), "early.cpio", "newc", "kernel");
  const auto main = gnu_cpio(path("root"), "main.cpio", "newc");
  const auto zst = filter("zstd -q -c", main, "main.cpio.zst");
  check({{early, "none", {early}}, {zst, "zstd", {main}}});
}

TEST_F(initrd_walk, xz_then_gzip_segments_with_odd_zero_padding_match_the_decompressors) {
  const auto bsd = bsd_cpio(path("root"), "bsd.cpio");
  const auto crc = gnu_cpio(path("root"), "crc.cpio", "crc");
  const auto xz = filter("xz -q --check=crc32 -c", bsd, "bsd.cpio.xz");
  const auto gz = filter("gzip -n -c", crc, "crc.cpio.gz");
  check({{xz, "xz", {bsd}, 7}, {gz, "gzip", {crc}, 5}});
}

// `xz -T2` writes blocks with their sizes, which list decodes on all cores
// (--threads, default one per core); the listing is the same on one.
TEST_F(initrd_walk, multi_block_xz_segment_lists_the_same_on_one_thread_and_on_several) {
  const auto main = gnu_cpio(path("root"), "main.cpio", "newc");
  const auto xz = filter("xz -q -T2 --block-size=4096 --check=crc32 -c", main, "main.cpio.xz");
  ASSERT_GT(std::stoi(sh("xz --robot -l " + q(xz) + " | awk '$1 == \"totals\" { print $3 }'")), 2);
  check({{xz, "xz", {main}}});
  const auto one = ukikit("initrd list -v --threads 1 " + q(xz));
  const auto two = ukikit("initrd list -v --threads 2 " + q(xz));
  ASSERT_EQ(one.status, 0) << one.err;
  ASSERT_EQ(two.status, 0) << two.err;
  EXPECT_EQ(two.out, one.out);
}

TEST_F(initrd_walk, raw_crc_archive_between_compressed_segments_is_its_own_segment) {
  const auto early = gnu_cpio(path("early"), "early.cpio", "newc", "kernel");
  const auto bsd = bsd_cpio(path("root"), "bsd.cpio");
  const auto crc = gnu_cpio(path("root"), "crc.cpio", "crc");
  const auto main = gnu_cpio(path("root"), "main.cpio", "newc");
  const auto zst = filter("zstd -q -19 -c", bsd, "bsd.cpio.zst");
  const auto lzma = filter("xz -q --format=lzma -c", main, "main.cpio.lzma");
  // The raw archive must start on a multiple of 4 after the zstd stream.
  const std::uint64_t after = fs::file_size(early) + fs::file_size(zst);
  const std::size_t align = static_cast<std::size_t>((4 - after % 4) % 4) + 8;
  check({{early, "none", {early}},
         {zst, "zstd", {bsd}, align},
         {crc, "none", {crc}},
         {lzma, "lzma", {main}}});
}

TEST_F(initrd_walk, one_compressed_stream_with_two_archives_is_one_segment) {
  const auto a = gnu_cpio(path("root"), "a.cpio", "newc");
  const auto b = bsd_cpio(path("root"), "b.cpio", "etc");
  const auto both = concat({{a, 0}, {b, 0}}, "both.cpio");
  const auto gz = filter("gzip -n -c", both, "both.cpio.gz");
  check({{gz, "gzip", {a, b}}});
}

TEST_F(initrd_walk, walk_reports_early_microcode_first_and_uncompressed_without_warnings) {
  const auto early = gnu_cpio(path("early"), "early.cpio", "newc", "kernel");
  const auto zst = filter("zstd -q -c", gnu_cpio(path("root"), "main.cpio", "newc"), "main.zst");
  auto rep = examine_file(concat({{early, 0}, {zst, 0}}, "initrd.img"));
  EXPECT_FALSE(rep.failure);
  EXPECT_TRUE(rep.warnings.empty()) << rep.warnings.kept().front().text();
  ASSERT_EQ(rep.segments.size(), 2u);
  EXPECT_EQ(rep.segments[0].compression, compress::format::none);
  EXPECT_EQ(rep.segments[0].fmt, cpio::format::newc);
  EXPECT_EQ(rep.segments[1].compression, compress::format::zstd);
  EXPECT_EQ(rep.segments[1].offset, fs::file_size(early));
  EXPECT_EQ(rep.segments[1].length, fs::file_size(zst));
}

// ---------------------------------------------------------------------------
// Walker: where the kernel stops with an error, and what it warns about.

class initrd_errors : public initrd_fixture {
protected:
  void SetUp() override {
    UKIKIT_NEED_TOOL("cpio");
    UKIKIT_NEED_TOOL("zstd");
    make_tree(path("root"));
    archive = gnu_cpio(path("root"), "main.cpio", "newc");
    zst = filter("zstd -q -c", archive, "main.cpio.zst");
  }

  // The failure of a walk that must fail, with its message.
  error failure_of(const fs::path& file, const walk_options& options = {}) {
    auto rep = examine_file(file, options);
    EXPECT_TRUE(rep.failure) << "the walk of " << file << " did not fail";
    return rep.failure ? *rep.failure : error(errc::malformed, "(no failure)");
  }

  // `ukikit initrd info` must exit 2 with `message` on stderr.
  void expect_cli_failure(const fs::path& file, std::string_view message,
                          const std::string& extra = "") {
    auto r = ukikit("initrd info " + extra + q(file));
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_TRUE(contains(r.err, message)) << r.err;
    auto l = ukikit("initrd list " + extra + q(file));
    EXPECT_EQ(l.status, 2) << l.err;
    EXPECT_TRUE(contains(l.err, message)) << l.err;
  }

  fs::path archive, zst;
};

TEST_F(initrd_errors, garbage_after_a_zstd_stream_is_invalid_magic_at_its_offset) {
  auto junk = path("junk");
  t::write_file(junk, std::string_view("garbage!"));
  auto file = concat({{zst, 0}, {junk, 0}}, "initrd.img");
  auto e = failure_of(file);
  EXPECT_TRUE(contains(e.message(), "invalid magic at start of compressed archive")) << e.message();
  EXPECT_EQ(e.offset(), fs::file_size(zst));
  expect_cli_failure(file, "invalid magic at start of compressed archive at offset " +
                               hex(fs::file_size(zst)));
}

TEST_F(initrd_errors, gzip_member_followed_by_junk_is_invalid_magic_after_the_member) {
  UKIKIT_NEED_TOOL("gzip");
  auto gz = filter("gzip -n -c", archive, "main.cpio.gz");
  auto junk = path("junk");
  t::write_file(junk, std::string_view("\x01junk after the member"));
  auto file = concat({{gz, 0}, {junk, 0}}, "initrd.img");
  auto rep = examine_file(file);
  ASSERT_TRUE(rep.failure);
  EXPECT_TRUE(contains(rep.failure->message(), "invalid magic at start of compressed archive"))
      << rep.failure->message();
  EXPECT_EQ(rep.failure->offset(), fs::file_size(gz));
  ASSERT_EQ(rep.segments.size(), 1u);
  EXPECT_EQ(rep.segments[0].compression, compress::format::gzip);
  EXPECT_EQ(rep.segments[0].length, fs::file_size(gz));
  expect_cli_failure(file, "invalid magic at start of compressed archive");
}

TEST_F(initrd_errors, truncated_compressed_segments_fail_for_each_algorithm) {
  UKIKIT_NEED_TOOL("xz");
  UKIKIT_NEED_TOOL("gzip");
  for (const std::string c : {"zstd", "xz", "gzip"}) {
    SCOPED_TRACE(c);
    const std::string cmd = c == "zstd" ? "zstd -q -c"
                            : c == "xz" ? "xz --check=crc32 -c"
                                        : "gzip -n -c";
    auto whole = filter(cmd, archive, "whole." + c);
    auto cut = filter("head -c " + std::to_string(fs::file_size(whole) / 2), whole, "cut." + c);
    auto e = failure_of(cut);
    EXPECT_TRUE(contains(e.message(), c)) << e.message();
    EXPECT_TRUE(contains(e.message(), "truncated")) << e.message();
  }
  expect_cli_failure(path("cut.zstd"), "truncated zstd stream");
}

TEST_F(initrd_errors, compressed_stream_ending_inside_an_entry_is_junk_at_the_end) {
  // 3000 bytes end inside the 70001 bytes of bin/busybox.
  auto cut = filter("head -c 3000", archive, "cut.cpio");
  auto file = filter("zstd -q -c", cut, "cut.cpio.zst");
  auto e = failure_of(file);
  EXPECT_TRUE(contains(e.message(), "junk at the end of compressed archive")) << e.message();
  expect_cli_failure(file, "junk at the end of compressed archive");
}

TEST_F(initrd_errors, non_zero_bytes_between_archives_in_a_stream_are_junk_within) {
  auto junk = path("junk");
  t::write_file(junk, std::string_view("XXXX"));
  auto inner = concat({{archive, 0}, {junk, 0}, {archive, 0}}, "inner.cpio");
  auto file = filter("zstd -q -c", inner, "inner.cpio.zst");
  auto e = failure_of(file);
  EXPECT_TRUE(contains(e.message(), "junk within compressed archive")) << e.message();
  expect_cli_failure(file, "junk within compressed archive");
}

TEST_F(initrd_errors, junk_within_a_later_segment_is_located_in_the_input_and_the_stream) {
  // A raw archive first, so the zstd segment does not start at 0.
  auto junk = path("junk");
  t::write_file(junk, std::string_view("XXXX"));
  auto inner = concat({{archive, 0}, {junk, 0}}, "inner.cpio");
  auto stream = filter("zstd -q -c", inner, "inner.cpio.zst");
  auto file = concat({{archive, 0}, {stream, 0}}, "initrd.img");
  auto e = failure_of(file);
  EXPECT_TRUE(contains(e.message(), "junk within compressed archive")) << e.message();
  // The junk is at decompressed offset size(archive) of the segment at input
  // offset size(archive); an error's offset is an input offset (result.hpp).
  const std::uint64_t size = fs::file_size(file);
  EXPECT_LT(e.offset(), size) << e.message();
  EXPECT_TRUE(contains(e.message(), hex(fs::file_size(archive)))) << e.message();
  EXPECT_LT(e.offset(), size);
}

TEST_F(initrd_errors,
       raw_archive_at_an_unaligned_offset_after_a_compressed_segment_is_invalid_magic) {
  // Odd zero padding puts the archive off the 4-byte grid the kernel's
  // this_header keeps: its '0' is taken for a compression magic.
  const std::uint64_t size = fs::file_size(zst);
  std::size_t zeros = 1;
  while ((size + zeros) % 4 == 0) ++zeros;
  auto file = concat({{zst, zeros}, {archive, 0}}, "initrd.img");
  ASSERT_NE((size + zeros) % 4, 0u);
  auto e = failure_of(file);
  EXPECT_TRUE(contains(e.message(), "invalid magic at start of compressed archive")) << e.message();
  EXPECT_EQ(e.offset(), size + zeros);
  expect_cli_failure(file, "invalid magic at start of compressed archive");
}

TEST_F(initrd_errors, raw_archive_after_odd_zero_padding_following_an_archive_is_broken_padding) {
  auto file = concat({{archive, 3}, {archive, 0}}, "initrd.img");
  auto e = failure_of(file);
  EXPECT_TRUE(contains(e.message(), "broken padding")) << e.message();
  EXPECT_EQ(e.offset(), fs::file_size(archive) + 3);
  expect_cli_failure(file, "broken padding");
}

TEST_F(initrd_errors,
       compressed_segment_at_an_unaligned_offset_after_an_archive_is_broken_padding) {
  // do_reset: zeros are eaten, then a non-zero byte off the grid is an error.
  auto file = concat({{archive, 1}, {zst, 0}}, "initrd.img");
  auto e = failure_of(file);
  EXPECT_TRUE(contains(e.message(), "broken padding")) << e.message();
  EXPECT_EQ(e.offset(), fs::file_size(archive) + 1);
}

TEST_F(initrd_errors, first_compressed_stream_must_start_with_a_header) {
  // unpack_to_rootfs starts in Start: before the first entry is done, the
  // output of a compressed segment is read as a header even if it is zero
  // padding ("no cpio magic"); after an entry (state Reset) zeros are padding.
  UKIKIT_NEED_TOOL("gzip");
  auto padded = path("padded.cpio");
  {
    std::vector<std::byte> bytes(8, std::byte{0});
    auto a = t::read_file(archive);
    bytes.insert(bytes.end(), a.begin(), a.end());
    t::write_file(padded, bytes);
  }
  auto gz = filter("gzip -n -c", padded, "padded.gz");
  auto e = failure_of(gz);
  EXPECT_TRUE(contains(e.message(), "no cpio magic")) << e.message();
  auto after = concat({{archive, 0}, {gz, 0}}, "after.img");
  EXPECT_FALSE(examine_file(after).failure);
}

TEST_F(initrd_errors, empty_first_compressed_stream_is_junk_at_the_end) {
  UKIKIT_NEED_TOOL("gzip");
  sh("printf '' | gzip -n -c > " + q(path("empty.gz")));
  auto e = failure_of(path("empty.gz"));
  EXPECT_TRUE(contains(e.message(), "junk at the end of compressed archive")) << e.message();
}

TEST_F(initrd_errors, truncated_raw_archive_is_a_warning_as_the_kernel_stops_silently) {
  // Raw data running out inside an entry ends unpack_to_rootfs without an
  // error (only compressed segments have their end state checked).
  auto bytes = t::read_file(archive);
  bytes.resize(bytes.size() / 2);
  t::write_file(path("half.cpio"), bytes);
  auto rep = examine_file(path("half.cpio"));
  EXPECT_FALSE(rep.failure) << rep.failure->message();
  ASSERT_EQ(rep.warnings.kept().size(), 1u);
  const finding& w = rep.warnings.kept()[0];
  EXPECT_EQ(w.code, code::truncated) << w.text();
  EXPECT_EQ(w.level, severity::warning);
  EXPECT_EQ(w.offset, bytes.size());
  ASSERT_EQ(rep.segments.size(), 1u);
  EXPECT_EQ(rep.segments[0].length, bytes.size());
  // ... but the input is cut short, which the report says apart.
  ASSERT_TRUE(rep.truncated);
  EXPECT_EQ(rep.truncated->code(), errc::truncated);
  EXPECT_EQ(rep.truncated->offset(), bytes.size());
}

TEST_F(initrd_errors, truncated_raw_archive_is_an_error_for_list_info_extract_as_for_gnu_cpio) {
  // GNU cpio -t says "premature end of file" and exits 2 wherever the
  // archive is cut inside an entry; bsdcpio exits 1. list, info, extract
  // and ukiinspect exit 2, and keep the kernel's view as a warning.
  const auto bytes = t::read_file(archive);
  const std::string_view text = as_chars(bytes);
  const std::size_t hard = text.find("bin/sh"); // the data of the hard links
  const std::size_t one = text.find("etc/one");
  ASSERT_NE(hard, std::string_view::npos);
  ASSERT_NE(one, std::string_view::npos);
  // GNU cpio stores names without "./". The data of etc/one (1 byte) starts
  // after "etc/one\0" (8 bytes), padded to 4 (headers start at multiples of
  // 4 and are 110 bytes long, so the name's end is aligned as its offset).
  const std::size_t one_data = ((one + 8) + 3) / 4 * 4;
  ASSERT_EQ(one_data % 4, 0u);
  const std::vector<std::pair<std::size_t, std::string>> cuts = {
      {60, "a header"},
      {hard + 4, "the name of an entry"},
      {hard + 4000, "the data of \"bin/sh\""},
      {one_data + 2, "the padding after \"etc/one\""},
      {bytes.size() - 60, "a header"}, // inside the trailer's header
  };
  for (const auto& [at, inside] : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(at));
    const std::string name = "cut" + std::to_string(at) + ".cpio";
    t::write_file(path(name), byte_span(bytes).first(at));
    const fs::path file = path(name);
    const auto gnu = t::run("cpio -t --quiet < " + q(file) + " 2>&1");
    EXPECT_EQ(gnu.status, 2) << gnu.out;
    EXPECT_TRUE(contains(gnu.out, "premature end of file")) << gnu.out;
    if (t::have_tool("bsdcpio")) {
      EXPECT_NE(t::run("bsdcpio -t --quiet < " + q(file)).status, 0);
    }

    const std::string says = "cpio archive ends inside " + inside + " at offset " + hex(at);
    for (const std::string command : {"list", "list -v", "list --tree", "info"}) {
      auto r = ukikit("initrd " + command + " " + q(file));
      EXPECT_EQ(r.status, gnu.status) << command << ": " << r.err;
      EXPECT_TRUE(contains(r.err, says)) << command << ": " << r.err;
    }
    auto l = ukikit("initrd list --json " + q(file));
    EXPECT_EQ(l.status, 2) << l.err;
    EXPECT_TRUE(contains(json::parse(l.out)["error"].get<std::string>(), says)) << l.out;
    auto i = ukikit("initrd info --json " + q(file));
    EXPECT_EQ(i.status, 2) << i.err;
    const json j = json::parse(i.out);
    EXPECT_EQ(j["error"], nullptr) << "the kernel would not stop with an error";
    EXPECT_TRUE(contains(j["truncated"].get<std::string>(), says)) << i.out;
    ASSERT_EQ(j["warnings"].size(), 1u) << i.out;
    EXPECT_TRUE(contains(j["warnings"][0].get<std::string>(), "silently ignores the rest"));
    auto x = ukikit("initrd extract " + q(file) + " " + q(path("x" + std::to_string(at))));
    EXPECT_EQ(x.status, 2) << x.err;
    EXPECT_TRUE(contains(x.err, says)) << x.err;
    auto inspect = t::run(t::tool("ukiinspect") + " " + q(file) + " 2>&1");
    EXPECT_EQ(inspect.status, 2) << inspect.out;
    EXPECT_TRUE(contains(inspect.out, says)) << inspect.out;
  }
  // Cut between two entries, the archive only lacks its trailer: the kernel
  // needs none (nor for compressed segments), so this is no error here,
  // where GNU cpio still says "premature end of file".
  const std::size_t trailer = text.find("TRAILER!!!") - 110;
  t::write_file(path("untrailed.cpio"), byte_span(bytes).first(trailer));
  EXPECT_EQ(ukikit("initrd list " + q(path("untrailed.cpio"))).status, 0);
  EXPECT_EQ(t::run("cpio -t --quiet < " + q(path("untrailed.cpio")) + " 2>/dev/null").status, 2);
}

TEST_F(initrd_errors, bzip2_segment_is_named_as_unsupported) {
  UKIKIT_NEED_TOOL("bzip2");
  auto bz = filter("bzip2 -c", archive, "main.cpio.bz2");
  auto file = concat({{zst, 0}, {bz, 0}}, "initrd.img");
  auto rep = examine_file(file);
  ASSERT_TRUE(rep.failure);
  EXPECT_EQ(rep.failure->code(), errc::unsupported);
  EXPECT_TRUE(contains(rep.failure->message(), "bzip2")) << rep.failure->message();
  EXPECT_EQ(rep.failure->offset(), fs::file_size(zst));
  EXPECT_EQ(rep.segments.size(), 1u);
  expect_cli_failure(file, "bzip2");
}

TEST_F(initrd_errors, legacy_lz4_segment_is_named_as_unsupported) {
  UKIKIT_NEED_TOOL("lz4");
  auto lz = filter("lz4 -l -q -c", archive, "main.cpio.lz4");
  ASSERT_EQ(t::read_file(lz).at(0), std::byte{0x02}) << "lz4 -l writes the legacy frame 02 21";
  auto e = failure_of(lz);
  EXPECT_EQ(e.code(), errc::unsupported);
  EXPECT_TRUE(contains(e.message(), "lz4")) << e.message();
  EXPECT_EQ(e.offset(), 0u);
}

TEST_F(initrd_errors, modern_lz4_frame_is_invalid_magic_as_the_kernel_detects_only_legacy) {
  UKIKIT_NEED_TOOL("lz4");
  auto lz = filter("lz4 -q -c", archive, "main.cpio.lz4");
  auto e = failure_of(lz);
  EXPECT_EQ(e.offset(), 0u);
  EXPECT_TRUE(contains(e.message(), "invalid magic at start of compressed archive")) << e.message();
}

TEST_F(initrd_errors, xz_with_crc64_check_is_flagged_as_the_kernel_rejects_it) {
  UKIKIT_NEED_TOOL("xz");
  auto xz = filter("xz -q --check=crc64 -c", archive, "main.cpio.xz");
  auto rep = examine_file(xz);
  ASSERT_TRUE(rep.failure.has_value());
  EXPECT_TRUE(contains(rep.failure->message(), "crc64")) << rep.failure->message();
  SUCCEED();
}

TEST_F(initrd_errors, zstd_bomb_stops_at_max_output_with_limit_exceeded) {
  // An archive, then 64 MiB of zero padding in the same stream (a stream
  // that starts with zeros is "no cpio magic" before the first entry).
  auto bomb = path("bomb.zst");
  sh("{ cat " + q(archive) + "; head -c 64M /dev/zero; } | zstd -q -c > " + q(bomb));
  walk_options small;
  small.max_output = std::uint64_t{1} << 20;
  auto e = failure_of(bomb, small);
  EXPECT_EQ(e.code(), errc::limit_exceeded) << e.message();
  EXPECT_TRUE(contains(e.message(), "limit")) << e.message();
  // The same input is 64 MiB of zero padding under the default limit.
  auto rep = examine_file(bomb);
  EXPECT_FALSE(rep.failure);
  ASSERT_EQ(rep.segments.size(), 1u);
  EXPECT_EQ(rep.segments[0].size, fs::file_size(archive) + (std::uint64_t{64} << 20));
  expect_cli_failure(bomb, "exceeds limit", "--max-size 1M ");
  EXPECT_EQ(ukikit("initrd info " + q(bomb)).status, 0);
}

TEST_F(initrd_errors, long_zero_padding_between_archives_is_skipped_to_the_next_archive) {
  // 256 MiB of zeros between two archives, in one zstd stream and raw: the
  // padding is skipped (fast, see bench/cpio_bench.cpp) and the walk lands
  // exactly on the second archive.
  constexpr std::uint64_t zeros = (std::uint64_t{256} << 20) + 4;
  const std::uint64_t size = fs::file_size(archive);
  const std::uint64_t count = lines(sh("cpio -t --quiet < " + q(archive)));
  auto stream = path("padded.zst");
  sh("{ cat " + q(archive) + "; head -c " + std::to_string(zeros) + " /dev/zero; cat " +
     q(archive) + "; } | zstd -q -c > " + q(stream));
  auto rep = examine_file(stream);
  EXPECT_FALSE(rep.failure) << rep.failure->message();
  ASSERT_EQ(rep.segments.size(), 1u);
  EXPECT_EQ(rep.segments[0].size, 2 * size + zeros);
  EXPECT_EQ(rep.segments[0].archives, 2u);
  EXPECT_EQ(rep.segments[0].entries, 2 * count);

  // The decompression budget still counts the padding.
  walk_options small;
  small.max_output = std::uint64_t{128} << 20;
  EXPECT_EQ(failure_of(stream, small).code(), errc::limit_exceeded);

  // Junk after the padding, at an aligned and an unaligned offset.
  auto junk = path("junk.zst");
  sh("{ cat " + q(archive) + "; head -c " + std::to_string(zeros) +
     " /dev/zero; printf X; } | zstd -q -c > " + q(junk));
  auto e = failure_of(junk);
  EXPECT_TRUE(contains(e.message(), "junk within compressed archive")) << e.message();
  EXPECT_TRUE(contains(e.message(), "decompressed offset " + hex(size + zeros))) << e.message();
  auto odd = path("odd.zst");
  sh("{ cat " + q(archive) + "; head -c " + std::to_string(zeros + 1) +
     " /dev/zero; printf X; } | zstd -q -c > " + q(odd));
  e = failure_of(odd);
  EXPECT_TRUE(contains(e.message(), "broken padding")) << e.message();
  EXPECT_TRUE(contains(e.message(), "decompressed offset " + hex(size + zeros + 1))) << e.message();

  // Raw: two segments with the zeros between them as padding.
  constexpr std::size_t raw_zeros = (std::size_t{64} << 20) + 4;
  auto raw = concat({{archive, raw_zeros}, {archive, 0}}, "padded.cpio");
  auto r = examine_file(raw);
  EXPECT_FALSE(r.failure) << r.failure->message();
  ASSERT_EQ(r.segments.size(), 2u);
  EXPECT_EQ(r.segments[1].offset, size + raw_zeros);
  // GNU cpio pads each archive to 512-byte blocks after its trailer.
  EXPECT_EQ(r.padding, raw_zeros + 2 * (size - archive_end(archive)));
  EXPECT_EQ(r.entries(), 2 * count);
  fs::remove(raw);
}

TEST_F(initrd_errors, gzip_bomb_stops_at_max_output_with_limit_exceeded) {
  UKIKIT_NEED_TOOL("gzip");
  auto bomb = path("bomb.gz");
  sh("{ cat " + q(archive) + "; head -c 64M /dev/zero; } | gzip -1 -n -c > " + q(bomb));
  walk_options small;
  small.max_output = std::uint64_t{1} << 20;
  auto e = failure_of(bomb, small);
  EXPECT_EQ(e.code(), errc::limit_exceeded) << e.message();
}

TEST_F(initrd_errors, max_output_is_a_budget_for_all_segments_together) {
  auto half = path("half.zst");
  sh("{ cat " + q(archive) + "; head -c 768K /dev/zero; } | zstd -q -c > " + q(half));
  auto file = concat({{half, 0}, {half, 0}}, "initrd.img");
  walk_options small;
  small.max_output = std::uint64_t{1} << 20;
  auto rep = examine_file(file, small);
  ASSERT_TRUE(rep.failure);
  EXPECT_EQ(rep.failure->code(), errc::limit_exceeded);
  EXPECT_EQ(rep.segments.size(), 2u);
  EXPECT_EQ(rep.segments[0].size, fs::file_size(archive) + (std::uint64_t{768} << 10));
}

class initrd_warnings : public initrd_errors {
protected:
  void SetUp() override {
    initrd_errors::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    make_early_tree(path("early"));
    early = gnu_cpio(path("early"), "early.cpio", "newc", "kernel");
  }

  // The warnings of a walk that must succeed.
  std::vector<finding> warnings_of(const fs::path& file) {
    auto rep = examine_file(file);
    EXPECT_FALSE(rep.failure) << rep.failure->message();
    return rep.warnings.kept();
  }

  // The warning with `c` whose subject is `subject`, or null.
  static const finding* warned(const std::vector<finding>& ws, std::string_view c,
                               std::string_view subject) {
    auto it = std::find_if(ws.begin(), ws.end(), [&](const finding& w) {
      return w.code == c && w.subject == subject && w.level == severity::warning;
    });
    return it == ws.end() ? nullptr : &*it;
  }
  static std::string texts(const std::vector<finding>& ws) {
    std::string out;
    for (const auto& w : ws) out += std::string(w.code) + ": " + w.text() + "\n";
    return out;
  }

  fs::path early;
};

TEST_F(initrd_warnings, early_microcode_inside_a_compressed_segment_is_warned) {
  auto file = filter("zstd -q -c", early, "early.cpio.zst");
  auto ws = warnings_of(concat({{file, 0}, {zst, 0}}, "initrd.img"));
  const finding* w = warned(ws, code::misplaced_microcode, "kernel/x86/microcode/GenuineIntel.bin");
  ASSERT_NE(w, nullptr) << texts(ws);
  EXPECT_EQ(w->offset, 0u) << "the compressed segment";
}

TEST_F(initrd_warnings, early_microcode_in_a_raw_archive_after_a_compressed_segment_is_warned) {
  const std::size_t zeros = static_cast<std::size_t>((4 - fs::file_size(zst) % 4) % 4);
  auto file = concat({{zst, zeros}, {early, 0}}, "initrd.img");
  auto rep = examine_file(file);
  EXPECT_FALSE(rep.failure);
  ASSERT_EQ(rep.segments.size(), 2u);
  EXPECT_EQ(rep.segments[1].compression, compress::format::none);
  const auto ws = rep.warnings.kept();
  EXPECT_NE(warned(ws, code::misplaced_microcode, "kernel/x86/microcode/GenuineIntel.bin"), nullptr)
      << texts(ws);
}

TEST_F(initrd_warnings, early_microcode_named_with_dot_slash_is_warned) {
  UKIKIT_NEED_TOOL("bsdcpio");
  // bsdcpio keeps the "./" that GNU cpio strips.
  auto dotted = bsd_cpio(path("early"), "dotted.cpio", "./kernel");
  ASSERT_TRUE(
      contains(sh("bsdcpio -t --quiet < " + q(dotted)), "./kernel/x86/microcode/GenuineIntel.bin"));
  auto ws = warnings_of(concat({{dotted, 0}, {zst, 0}}, "initrd.img"));
  EXPECT_NE(warned(ws, code::microcode_path_prefix, "./kernel/x86/microcode/GenuineIntel.bin"),
            nullptr)
      << texts(ws);
  auto r = ukikit("initrd info " + q(path("initrd.img")));
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(contains(r.out, "warning: early microcode")) << r.out;
}

TEST_F(initrd_warnings, early_microcode_under_a_name_the_loader_does_not_ask_for_is_warned) {
  // lib/earlycpio.c is asked for kernel/x86/microcode/GenuineIntel.bin and
  // …/AuthenticAMD.bin (formats.md §1.2): a lower-case name is never found.
  fs::create_directories(path("wrong/kernel/x86/microcode"));
  put(path("wrong/kernel/x86/microcode/genuineintel.bin"), t::sample_bytes(64, 4), 0644);
  put(path("wrong/kernel/x86/microcode/.enuineIntel.align.0123456789abc"), {}, 0644);
  auto early = gnu_cpio(path("wrong"), "wrong.cpio", "newc", "kernel");
  auto rep = examine_file(early);
  const auto ws = rep.warnings.kept();
  ASSERT_EQ(ws.size(), 1u) << texts(ws);
  EXPECT_NE(warned(ws, code::microcode_unknown_name, "kernel/x86/microcode/genuineintel.bin"),
            nullptr)
      << texts(ws);
}

TEST_F(initrd_warnings, odc_archive_is_warned_as_a_format_the_kernel_rejects) {
  auto odc = gnu_cpio(path("root"), "odc.cpio", "odc");
  auto rep = examine_file(odc);
  ASSERT_FALSE(rep.segments.empty());
  EXPECT_EQ(rep.segments[0].fmt, cpio::format::odc);
  const auto ws = rep.warnings.kept();
  const finding* w = warned(ws, code::unsupported_format, "");
  ASSERT_NE(w, nullptr) << texts(ws);
  EXPECT_EQ(w->offset, 0u);
  auto j = info_json(odc);
  EXPECT_EQ(j["segments"][0]["format"], "odc");
  EXPECT_EQ(j["segments"][0]["entries"], lines(sh("cpio -t --quiet < " + q(odc))));
}

TEST_F(initrd_warnings, binary_archive_is_warned_as_the_kernel_sees_it) {
  // A binary header does not start with '0': the kernel takes it for
  // compressed data with an unknown magic (formats.md §1.2 rule 1).
  auto bin = gnu_cpio(path("root"), "bin.cpio", "bin");
  auto rep = examine_file(bin);
  ASSERT_FALSE(rep.segments.empty());
  EXPECT_TRUE(rep.segments[0].fmt == cpio::format::bin_le ||
              rep.segments[0].fmt == cpio::format::bin_be);
  const auto ws = rep.warnings.kept();
  EXPECT_NE(warned(ws, code::unsupported_format, ""), nullptr) << texts(ws);
  EXPECT_EQ(info_json(bin)["entries"], lines(sh("cpio -t --quiet < " + q(bin))));
}

// ---------------------------------------------------------------------------
// `ukikit initrd create`, read back by GNU cpio and bsdcpio.

class initrd_create : public initrd_fixture {
protected:
  void SetUp() override {
    UKIKIT_NEED_TOOL("cpio");
    UKIKIT_NEED_TOOL("bsdcpio");
    UKIKIT_NEED_TOOL("zstd");
    UKIKIT_NEED_TOOL("xz");
    UKIKIT_NEED_TOOL("gzip");
    make_tree(path("root"));
    make_early_tree(path("early"));
  }

  // `ukikit initrd create` into `name`; must succeed.
  fs::path create(const std::string& args, const std::string& name, const std::string& env = "") {
    auto r = ukikit("initrd create " + args + " -o " + q(path(name)), env);
    EXPECT_EQ(r.status, 0) << r.err;
    return path(name);
  }

  // Extracts the raw archive with GNU cpio (umask 0, so modes are the
  // archive's); returns the stderr of cpio.
  std::string gnu_extract(const fs::path& raw, const std::string& into,
                          const std::string& patterns = "") {
    fs::create_directories(path(into));
    auto r = t::run("cd " + q(path(into)) + " && umask 0 && cpio -idm --quiet < " + q(raw) + " " +
                    patterns + " 2>&1");
    EXPECT_EQ(r.status, 0) << r.out;
    return r.out;
  }
  void bsd_extract(const fs::path& raw, const std::string& into) {
    fs::create_directories(path(into));
    sh("cd " + q(path(into)) + " && umask 0 && bsdcpio -id --quiet < " + q(raw));
  }
};

TEST_F(initrd_create, gnu_cpio_and_bsdcpio_extract_the_source_tree_for_every_compression) {
  const std::string source = describe_tree(path("root"));
  ASSERT_TRUE(contains(source, "hard links: bin/busybox bin/sh")) << source;
  for (const std::string c : {"none", "zstd", "xz", "gzip"}) {
    SCOPED_TRACE(c);
    auto out = create(q(path("root")) + " --compress " + c, "initrd." + c);
    auto j = info_json(out);
    ASSERT_EQ(j["segments"].size(), 1u);
    EXPECT_EQ(j["segments"][0]["compression"], c);
    auto raw = filter(decompressor(c), out, "raw." + c);
    EXPECT_EQ(gnu_extract(raw, "gnu." + c), "");
    EXPECT_EQ(describe_tree(path("gnu." + c)), source);
    bsd_extract(raw, "bsd." + c);
    EXPECT_EQ(describe_tree(path("bsd." + c)), source);
  }
}

TEST_F(initrd_create, creating_twice_gives_identical_bytes_whatever_the_source_mtimes) {
  auto a = create(q(path("root")) + " --compress xz", "a.xz");
  auto b = create(q(path("root")) + " --compress xz", "b.xz");
  EXPECT_EQ(t::read_file(a), t::read_file(b));
  auto z = create(q(path("root")), "a.zst");
  sh("find " + q(path("root")) + " -exec touch -h -d '2001-02-03 04:05:06' {} +");
  auto y = create(q(path("root")), "b.zst");
  EXPECT_EQ(t::read_file(z), t::read_file(y));
  auto c = create(q(path("root")) + " --compress xz", "c.xz");
  EXPECT_EQ(t::read_file(a), t::read_file(c));
}

TEST_F(initrd_create, source_date_epoch_and_mtime_set_every_entry_time) {
  // GNU cpio -tv shows dates older than six months as "%b %e  %Y".
  auto date_of = [](std::uint64_t when) {
    auto d = sh("LC_ALL=C date -u -d @" + std::to_string(when) + " '+%b %e  %Y'");
    return d.substr(0, d.size() - 1);
  };
  struct want {
    std::string env, args;
    std::uint64_t mtime;
  };
  const want cases[] = {{"env -u SOURCE_DATE_EPOCH ", "", 0},
                        {"SOURCE_DATE_EPOCH=1700000000 ", "", 1700000000},
                        {"SOURCE_DATE_EPOCH=1700000000 ", "--mtime 1234567890", 1234567890}};
  for (const auto& w : cases) {
    SCOPED_TRACE(w.env + w.args);
    auto out = create(q(path("root")) + " --compress none " + w.args, "initrd.cpio", w.env);
    const std::string listing = sh("TZ=UTC LC_ALL=C cpio -tv --quiet < " + q(out));
    const std::string date = date_of(w.mtime);
    std::size_t n = 0;
    for (std::size_t at = 0, nl; (nl = listing.find('\n', at)) != std::string::npos; at = nl + 1) {
      EXPECT_TRUE(contains(listing.substr(at, nl - at), date)) << listing.substr(at, nl - at);
      ++n;
    }
    EXPECT_EQ(n, lines(sh("cd " + q(path("root")) + " && find . -mindepth 1")));
    auto l = ukikit("initrd list --json " + q(out));
    ASSERT_EQ(l.status, 0) << l.err;
    auto j = json::parse(l.out);
    ASSERT_EQ(j["entries"].size(), n);
    for (const auto& e : j["entries"]) EXPECT_EQ(e["mtime"], w.mtime) << e.dump();
  }
}

TEST_F(initrd_create, a_bad_source_date_epoch_is_refused_by_the_tool_unless_mtime_is_given) {
  auto r = ukikit("initrd create " + q(path("root")) + " -o " + q(path("x.img")),
                  "SOURCE_DATE_EPOCH=yesterday ");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(
      contains(r.err, "SOURCE_DATE_EPOCH is not a number of seconds up to 4294967295: yesterday"))
      << r.err;
  EXPECT_FALSE(fs::exists(path("x.img")));
  r = ukikit("initrd create " + q(path("root")) + " --mtime 7 -o " + q(path("x.img")),
             "SOURCE_DATE_EPOCH=4294967296 ");
  EXPECT_EQ(r.status, 0) << r.err;
}

// The library plans with the mtime it is given: it reads no environment.
TEST(initrd_create_plan, the_mtime_comes_from_the_options_not_the_environment) {
  const char* old = std::getenv("SOURCE_DATE_EPOCH");
  const std::string saved = old ? old : "";
  ::setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  create_options o;
  auto plan = plan_list("dir d 755 0 0\nslink d/l target 777 0 0\n", ".", o);
  ASSERT_TRUE(plan) << plan.error().message();
  for (const auto& e : *plan) EXPECT_EQ(e.fields.mtime, 0u) << e.name;
  o.mtime = 42;
  plan = plan_list("dir d 755 0 0\n", ".", o);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->at(0).fields.mtime, 42u);
  if (old) ::setenv("SOURCE_DATE_EPOCH", saved.c_str(), 1);
  else ::unsetenv("SOURCE_DATE_EPOCH");
}

// write_archive plans the archive from planned::size and checks the bytes
// written against it (systemd's cpio.c asserts the same): an entry whose
// data disagrees with its plan is an error, not a shifted archive.
TEST(initrd_create_plan, write_archive_refuses_bytes_that_differ_from_the_plan) {
  std::vector<planned> entries(1);
  entries[0].name = "link";
  entries[0].fields.mode = 0120777;
  entries[0].link_target = "target"; // 6 bytes of data, planned as 0
  std::string out;
  auto sink = [&](byte_span b) -> result<void> {
    out += as_chars(b);
    return success();
  };
  auto r = write_archive(entries, {}, sink);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), errc::malformed);
  // 110 + "link\0" padded to 116, then the trailer (110 + 11, padded): 240
  // planned; the 6 bytes of target, padded to 8, make 248.
  EXPECT_TRUE(contains(r.error().message(), "wrote 248 bytes, planned 240")) << r.error().message();
  entries[0].size = entries[0].link_target.size();
  out.clear();
  auto ok = write_archive(entries, {}, sink);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(*ok, 248u);
  EXPECT_EQ(out.size(), 248u);
}

TEST_F(initrd_create, crc_format_passes_gnu_cpio_checksum_verification) {
  auto out = create(q(path("root")) + " --compress none --format crc", "initrd.cpio");
  EXPECT_EQ(as_chars(t::read_file(out)).substr(0, 6), "070702");
  EXPECT_EQ(gnu_extract(out, "x"), "");
  EXPECT_EQ(describe_tree(path("x")), describe_tree(path("root")));
  // GNU cpio does check: one flipped data byte is reported.
  auto bytes = t::read_file(out);
  const auto conf = t::read_file(path("root/etc/conf"));
  auto at = std::search(bytes.begin(), bytes.end(), conf.begin(), conf.end());
  ASSERT_NE(at, bytes.end());
  *at ^= std::byte{1};
  t::write_file(path("bad.cpio"), bytes);
  fs::create_directories(path("y"));
  auto r =
      t::run("cd " + q(path("y")) + " && cpio -idm --quiet < " + q(path("bad.cpio")) + " 2>&1");
  EXPECT_TRUE(contains(r.out, "checksum error")) << r.out;
}

TEST_F(initrd_create, early_directory_is_an_uncompressed_first_archive_with_aligned_microcode) {
  auto out = create(q(path("root")) + " --early " + q(path("early")), "initrd.img");
  auto j = info_json(out);
  ASSERT_EQ(j["segments"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["segments"][0]["compression"], "none");
  EXPECT_EQ(j["segments"][0]["offset"], 0);
  EXPECT_EQ(j["segments"][1]["compression"], "zstd");
  EXPECT_TRUE(j["warnings"].empty()) << j["warnings"].dump();
  EXPECT_EQ(j["error"], nullptr);
  // GNU cpio reads the first archive: the early tree, in byte order.
  EXPECT_EQ(sh("cpio -t --quiet < " + q(out)),
            sh("cd " + q(path("early")) + " && find kernel | LC_ALL=C sort"));
  EXPECT_EQ(j["segments"][0]["entries"], 4);
  EXPECT_EQ(j["segments"][1]["entries"],
            lines(sh("cd " + q(path("root")) + " && find . -mindepth 1")));
  // The microcode data sits on 16 bytes, as distributions align it.
  auto bytes = t::read_file(out);
  const auto ucode = t::read_file(path("early/kernel/x86/microcode/GenuineIntel.bin"));
  auto at = std::search(bytes.begin(), bytes.end(), ucode.begin(), ucode.end());
  ASSERT_NE(at, bytes.end());
  EXPECT_EQ((at - bytes.begin()) % 16, 0);
  // The second segment decompresses, by the real zstd, to the main tree.
  auto main = path("main.zst");
  const auto first = j["segments"][1]["offset"].get<std::size_t>();
  t::write_file(main, std::span<const std::byte>(bytes).subspan(first));
  auto raw = filter("zstd -dc", main, "main.cpio");
  gnu_extract(raw, "x");
  EXPECT_EQ(describe_tree(path("x")), describe_tree(path("root")));
}

TEST_F(initrd_create, align_16_puts_file_data_on_16_byte_boundaries_that_gnu_cpio_reads) {
  auto out = create(q(path("root")) + " --compress none --align 16", "initrd.cpio");
  auto bytes = t::read_file(out);
  for (const char* name : {"bin/busybox", "etc/conf", "etc/deep/er/file"}) {
    SCOPED_TRACE(name);
    const auto data = t::read_file(path("root") / name);
    auto at = std::search(bytes.begin(), bytes.end(), data.begin(), data.end());
    ASSERT_NE(at, bytes.end());
    EXPECT_EQ((at - bytes.begin()) % 16, 0);
    EXPECT_EQ(std::search(at + 1, bytes.end(), data.begin(), data.end()), bytes.end())
        << "the data is in the archive once";
  }
  EXPECT_EQ(gnu_extract(out, "gnu"), "");
  EXPECT_EQ(describe_tree(path("gnu")), describe_tree(path("root")));
  bsd_extract(out, "bsd");
  EXPECT_EQ(describe_tree(path("bsd")), describe_tree(path("root")));
}

TEST_F(initrd_create, gen_init_cpio_list_gives_the_entries_cpio_tv_shows) {
  t::write_file(path("busybox"), t::sample_bytes(3000, 4));
  t::write_file(path("conf"), t::sample_bytes(33, 5));
  const std::string list = "# a gen_init_cpio list\n"
                           "dir /dev 0755 0 0\n"
                           "nod /dev/console 0600 0 5 c 5 1\n"
                           "nod /dev/sda 0660 0 6 b 8 0\n"
                           "dir /bin 0755 0 0\n"
                           "file /bin/busybox " +
                           path("busybox").string() +
                           " 0755 0 0 /bin/sh /bin/ls\n"
                           "slink /init bin/busybox 0777 0 0\n"
                           "pipe /run/initctl 0620 0 0 words after the fields are ignored\n"
                           "\n"
                           "  # gen_init_cpio: '#' starts a comment only as the first word\n"
                           "file /etc/conf " +
                           path("conf").string() + " 0640 1000 100\n";
  t::write_file(path("list"), list);
  auto out = create(q(path("list")) + " --compress gzip", "initrd.gz");
  auto raw = filter("gzip -dc", out, "initrd.cpio");
  // `cpio -tv` without the date: mode, links, uid, gid, size or device, name.
  const std::string listing = sh("LC_ALL=C cpio -tvn --quiet < " + q(raw));
  std::vector<std::string> got;
  for (std::size_t at = 0, nl; (nl = listing.find('\n', at)) != std::string::npos; at = nl + 1) {
    std::vector<std::string> w;
    std::string line = listing.substr(at, nl - at), word;
    for (char ch : line + " ") {
      if (ch != ' ') word += ch;
      else if (!word.empty()) w.push_back(std::move(word)), word.clear();
    }
    ASSERT_GE(w.size(), 8u) << line;
    const bool device = w[0][0] == 'c' || w[0][0] == 'b';
    const std::size_t date = device ? 6 : 5;
    std::string shown = w[0] + " " + w[1] + " " + w[2] + " " + w[3] + " " + w[4];
    if (device) shown += w[5];
    for (std::size_t k = date + 3; k < w.size(); ++k) shown += " " + w[k];
    got.push_back(shown);
  }
  const std::vector<std::string> want = {
      "drwxr-xr-x 2 0 0 0 dev",
      "crw------- 1 0 5 5,1 dev/console",
      "brw-rw---- 1 0 6 8,0 dev/sda",
      "drwxr-xr-x 2 0 0 0 bin",
      // hard links: data on the last one, as gen_init_cpio writes them
      "-rwxr-xr-x 3 0 0 0 bin/busybox",
      "-rwxr-xr-x 3 0 0 0 bin/sh",
      "-rwxr-xr-x 3 0 0 3000 bin/ls",
      "lrwxrwxrwx 1 0 0 11 init -> bin/busybox",
      "drwxr-xr-x 2 0 0 0 run", // a missing parent, added
      "prw--w---- 1 0 0 0 run/initctl",
      "drwxr-xr-x 2 0 0 0 etc",
      "-rw-r----- 1 1000 100 33 etc/conf",
  };
  EXPECT_EQ(got, want) << listing;
  // The three names are one file to GNU cpio.
  gnu_extract(raw, "x", "'bin/*'");
  struct stat a {
  }, b{}, c{};
  ASSERT_EQ(::lstat(path("x/bin/busybox").c_str(), &a), 0);
  ASSERT_EQ(::lstat(path("x/bin/sh").c_str(), &b), 0);
  ASSERT_EQ(::lstat(path("x/bin/ls").c_str(), &c), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_ino, c.st_ino);
  EXPECT_EQ(t::read_file(path("x/bin/sh")), t::read_file(path("busybox")));
}

TEST_F(initrd_create, an_entry_named_trailer_is_refused_as_gnu_cpio_and_bsdcpio_stop_there) {
  // Why: GNU cpio writes a file named TRAILER!!! when asked to, and then
  // it and bsdcpio read the archive only up to that entry (the kernel too,
  // unless it is a symlink); "after" would be lost.
  fs::create_directories(path("t"));
  t::write_file(path("t/TRAILER!!!"), "x");
  t::write_file(path("t/after"), "y");
  sh("cd " + q(path("t")) + " && printf 'TRAILER!!!\\nafter\\n' | cpio -o -H newc --quiet > " +
     q(path("gnu.cpio")));
  EXPECT_EQ(sh("cpio -t --quiet < " + q(path("gnu.cpio"))), "");
  EXPECT_EQ(sh("bsdcpio -t --quiet < " + q(path("gnu.cpio"))), "");

  // A list line of any type, a hard link, or a tree entry with that name.
  t::write_file(path("a"), "abc");
  for (const std::string& line :
       std::vector<std::string>{"dir /TRAILER!!! 0755 0 0", "slink TRAILER!!! a 0777 0 0",
                                "file /x " + path("a").string() + " 0644 0 0 TRAILER!!!"}) {
    SCOPED_TRACE(line);
    t::write_file(path("list"), line + "\nfile /after " + path("a").string() + " 0644 0 0\n");
    auto r = ukikit("initrd create " + q(path("list")) + " -o " + q(path("out.cpio")));
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "list line 1: the name TRAILER!!! would end the archive")) << r.err;
    EXPECT_FALSE(fs::exists(path("out.cpio")));
  }
  auto r = ukikit("initrd create " + q(path("t")) + " --compress none -o " + q(path("out.cpio")));
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "TRAILER!!! would end the archive")) << r.err;
  EXPECT_FALSE(fs::exists(path("out.cpio")));
}

TEST_F(initrd_create, a_hard_link_name_of_only_slashes_is_refused) {
  // gen_init_cpio drops the leading '/' of a hard link name as of the
  // entry's own name: "/" leaves nothing to name the link.
  t::write_file(path("a"), "abc");
  t::write_file(path("list"), "file /x " + path("a").string() + " 0644 0 0 /y /\n");
  auto r = ukikit("initrd create " + q(path("list")) + " -o " + q(path("out.cpio")));
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "list line 1: empty hard link name")) << r.err;
}

TEST_F(initrd_create, two_inputs_keep_their_hard_link_groups_apart) {
  // Inode numbers are unique over the whole archive: otherwise the kernel
  // (and cpio) would join a:b with x:y into one file.
  fs::create_directories(path("one"));
  fs::create_directories(path("two"));
  put(path("one/a"), {std::byte{'A'}, std::byte{'A'}}, 0644);
  fs::create_hard_link(path("one/a"), path("one/b"));
  put(path("two/x"), {std::byte{'B'}, std::byte{'B'}, std::byte{'B'}}, 0644);
  fs::create_hard_link(path("two/x"), path("two/y"));
  auto out = create(q(path("one")) + " " + q(path("two")) + " --compress none", "two.cpio");
  EXPECT_EQ(gnu_extract(out, "gnu"), "");
  EXPECT_EQ(describe_tree(path("gnu")),
            "a - 0644 2 " + std::to_string(fnv1a({std::byte{'A'}, std::byte{'A'}})) + "\n" +
                "b - 0644 2 " + std::to_string(fnv1a({std::byte{'A'}, std::byte{'A'}})) + "\n" +
                "hard links: a b\nhard links: x y\n" + "x - 0644 3 " +
                std::to_string(fnv1a({std::byte{'B'}, std::byte{'B'}, std::byte{'B'}})) + "\n" +
                "y - 0644 3 " +
                std::to_string(fnv1a({std::byte{'B'}, std::byte{'B'}, std::byte{'B'}})) + "\n");
}

TEST_F(initrd_create, json_output_stays_valid_for_names_that_are_not_utf8) {
  // Latin-1 names are legal in an initramfs; --json must still be one JSON
  // document (python3's json module is the independent parser).
  UKIKIT_NEED_TOOL("python3");
  fs::create_directories(path("latin1"));
  put(path("latin1") / std::string("caf\xe9"), {std::byte{'x'}}, 0644);
  auto out = create(q(path("latin1")) + " --compress none", "latin1.cpio");
  for (const std::string cmd :
       {"initrd list --json ", "initrd info --json ", "initrd list --tree --json "}) {
    auto r = ukikit(cmd + q(out));
    EXPECT_EQ(r.status, 0) << cmd << r.err;
    t::write_file(path("out.json"), as_bytes(r.out));
    EXPECT_EQ(
        t::run("python3 -c 'import json,sys; json.load(open(sys.argv[1]))' " + q(path("out.json")))
            .status,
        0)
        << cmd << r.out;
  }
}

TEST_F(initrd_create, xz_output_uses_the_crc32_check_the_kernel_needs) {
  auto out = create(q(path("root")) + " --compress xz", "initrd.xz");
  const std::string info = sh("xz -lvv " + q(out));
  EXPECT_TRUE(contains(info, "CRC32")) << info;
  EXPECT_FALSE(contains(info, "CRC64")) << info;
  EXPECT_EQ(t::run("xz -t " + q(out)).status, 0);
}

// ---------------------------------------------------------------------------
// ukiinspect: an initramfs file, and the `initrd` key of a UKI.

class initrd_inspect : public initrd_create {};

TEST_F(initrd_inspect, ukiinspect_shows_the_segments_of_an_initramfs_file) {
  auto out = create(q(path("root")) + " --early " + q(path("early")), "initrd.img");
  auto text = t::run(t::tool("ukiinspect") + " " + q(out));
  EXPECT_EQ(text.status, 0) << text.out;
  EXPECT_TRUE(contains(text.out, "initramfs, 2 segments")) << text.out;
  EXPECT_TRUE(contains(text.out, " none ")) << text.out;
  EXPECT_TRUE(contains(text.out, " zstd ")) << text.out;
  auto r = t::run(t::tool("ukiinspect") + " --json " + q(out));
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = json::parse(r.out);
  EXPECT_EQ(j["format"], "initramfs");
  const auto& segs = j["initrd"]["segments"];
  ASSERT_EQ(segs.size(), 2u) << j.dump(2);
  EXPECT_EQ(segs[0]["compression"], "none");
  EXPECT_EQ(segs[1]["compression"], "zstd");
  EXPECT_EQ(segs[0]["entries"], lines(sh("cd " + q(path("early")) + " && find kernel")));
  EXPECT_EQ(segs[1]["entries"], lines(sh("cd " + q(path("root")) + " && find . -mindepth 1")));
  // The same segments as `ukikit initrd info --json`.
  auto info = info_json(out);
  EXPECT_EQ(j["initrd"]["segments"], info["segments"]);
  EXPECT_EQ(j["initrd"]["entries"], info["entries"]);
}

// A file with no PE, cpio or compression magic (after zero padding) is named
// as neither, not shown as an initramfs of 0 segments.
TEST_F(initrd_inspect, ukiinspect_names_a_file_that_is_neither_pe_nor_initramfs) {
  t::write_file(path("notes.txt"), std::string_view("# release notes\nnothing here\n"));
  for (const std::string& file : {path("notes.txt").string(), std::string("/bin/true")}) {
    SCOPED_TRACE(file);
    auto r = t::run(t::tool("ukiinspect") + " " + q(file) + " 2>&1"); // stderr only
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(contains(r.out, "is neither a PE image nor an initramfs: no MZ, cpio or "
                                "compression magic at its start"))
        << r.out;
    EXPECT_FALSE(contains(r.out, "segments")) << r.out;
  }
  auto r = t::run(t::tool("ukiinspect") + " " + q(path("notes.txt")) + " 2>&1");
  EXPECT_TRUE(contains(r.out, "(\"# release notes\\x0a\";")) << r.out;
  // Zero padding, alone or before an archive, is still what the kernel reads.
  t::write_file(path("zeros"), std::vector<std::byte>(512, std::byte{0}));
  auto archive = create(q(path("root")), "initrd.img");
  sh("cat " + q(path("zeros")) + " " + q(archive) + " > " + q(path("padded.img")));
  for (const char* name : {"zeros", "padded.img"}) {
    SCOPED_TRACE(name);
    auto ok = t::run(t::tool("ukiinspect") + " " + q(path(name)));
    EXPECT_EQ(ok.status, 0);
    EXPECT_TRUE(contains(ok.out, "initramfs, ")) << ok.out;
  }
}

TEST_F(initrd_inspect, uki_json_initrd_key_matches_initrd_info_on_the_same_initrd) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  UKIKIT_NEED_INPUT(kernel, "vmlinuz");
  // A distribution-like initrd: early microcode, then xz and gzip segments.
  auto early = create(q(path("early")) + " --compress none", "early.cpio");
  auto xz = create(q(path("root")) + " --compress xz", "main.xz");
  auto gz = create(q(path("root") / "etc") + " --compress gzip", "etc.gz");
  auto initrd = concat({{early, 0}, {xz, 3}, {gz, 0}}, "initrd.img");
  auto b = ukikit("build --stub " + q(stub) + " --linux " + q(kernel) + " --initrd " + q(initrd) +
                  " -o " + q(path("uki.efi")));
  ASSERT_EQ(b.status, 0) << b.err;
  auto r = t::run(t::tool("ukiinspect") + " --json " + q(path("uki.efi")));
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = json::parse(r.out);
  EXPECT_EQ(j["uki"], true);
  ASSERT_TRUE(j.contains("initrd")) << "the contract key";
  const auto& segs = j["initrd"]["segments"];
  const auto want = info_json(initrd)["segments"];
  ASSERT_EQ(segs.size(), 3u) << j["initrd"].dump(2);
  ASSERT_EQ(segs.size(), want.size());
  for (std::size_t i = 0; i < segs.size(); ++i) {
    SCOPED_TRACE(i);
    for (const char* key : {"offset", "length", "compression", "size", "entries", "archives"})
      EXPECT_EQ(segs[i][key], want[i][key]) << key;
  }
  EXPECT_EQ(segs[0]["compression"], "none");
  EXPECT_EQ(segs[1]["compression"], "xz");
  EXPECT_EQ(segs[2]["compression"], "gzip");
  // `initrd list` reads the .initrd section of the UKI as the file itself.
  auto from_uki = ukikit("initrd list " + q(path("uki.efi")));
  auto from_file = ukikit("initrd list " + q(initrd));
  EXPECT_EQ(from_uki.status, 0) << from_uki.err;
  EXPECT_EQ(from_uki.out, from_file.out);
  // The readable report names the segments too.
  auto text = t::run(t::tool("ukiinspect") + " " + q(path("uki.efi")));
  EXPECT_TRUE(contains(text.out, "initrd: none (4 entries) xz (")) << text.out;
}

// ---------------------------------------------------------------------------
// `ukikit initrd extract`: the same tree GNU cpio extracts, over every
// segment in order; attacks refused with exit status 1 and nothing outside.

class initrd_extract : public initrd_create {
protected:
  // GNU cpio applied to each raw part in order, into one directory; -u
  // (unconditional) so that later files replace earlier ones, as in the
  // kernel.
  void gnu_extract_in_order(const std::vector<fs::path>& raws, const std::string& into) {
    fs::create_directories(path(into));
    for (const auto& raw : raws) {
      auto r =
          t::run("cd " + q(path(into)) + " && umask 0 && cpio -idmu --quiet < " + q(raw) + " 2>&1");
      EXPECT_EQ(r.status, 0) << r.out;
    }
  }
};

TEST_F(initrd_extract, early_plus_compressed_initramfs_extracts_as_gnu_cpio_does_part_by_part) {
  auto early = gnu_cpio(path("early"), "early.cpio", "newc");
  auto main = gnu_cpio(path("root"), "main.cpio", "newc");
  auto zst = filter("zstd -q -c", main, "main.cpio.zst");
  auto image = concat({{early, 0}, {zst, 0}}, "initrd.img");
  gnu_extract_in_order({early, main}, "gnu");
  auto r = ukikit("initrd extract " + q(image) + " " + q(path("ours")));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(describe_tree(path("ours")), describe_tree(path("gnu")));
}

TEST_F(initrd_extract, later_segments_override_earlier_ones_as_in_the_kernel) {
  // The second archive replaces bin/busybox with a symlink and a file's data.
  fs::create_directories(path("over/etc"));
  put(path("over/etc/one"), {std::byte{'y'}, std::byte{'z'}}, 0644);
  fs::create_directories(path("over/bin"));
  fs::create_symlink("/does/not/matter", path("over/bin/busybox"));
  auto first = gnu_cpio(path("root"), "first.cpio", "newc");
  auto second = gnu_cpio(path("over"), "second.cpio", "newc");
  auto image = concat({{first, 0}, {filter("gzip -n -c", second, "second.gz"), 0}}, "initrd.img");
  gnu_extract_in_order({first, second}, "gnu");
  auto r = ukikit("initrd extract " + q(image) + " " + q(path("ours")));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(describe_tree(path("ours")), describe_tree(path("gnu")));
  EXPECT_EQ(fs::read_symlink(path("ours/bin/busybox")), "/does/not/matter");
  // The tree model of `list --tree` has the same paths as the extraction.
  auto tree = ukikit("initrd list --tree " + q(image));
  ASSERT_EQ(tree.status, 0) << tree.err;
  std::string paths;
  for (auto it = fs::recursive_directory_iterator(path("gnu"));
       it != fs::recursive_directory_iterator(); ++it)
    paths += it->path().lexically_relative(path("gnu")).generic_string() + "\n";
  EXPECT_EQ(tree.out, sh("printf '%s' " + t::sh_quote(paths) + " | LC_ALL=C sort"));
}

TEST_F(initrd_extract, attacks_are_refused_entry_by_entry_and_nothing_lands_outside) {
  // A gen_init_cpio list writes names as given: "..", absolute (its leading
  // "/" is stripped by the list format, so use a relative escape), and a
  // symlink followed by a file through it.
  fs::create_directories(path("canary"));
  put(path("payload"), {std::byte{'!'}}, 0644);
  const std::string list = "slink evil " + path("canary").string() + " 777 0 0\n" +
                           "file evil/owned " + path("payload").string() + " 644 0 0\n" +
                           "file ../escaped " + path("payload").string() + " 644 0 0\n" +
                           "file a/../../escaped2 " + path("payload").string() + " 644 0 0\n" +
                           "file fine " + path("payload").string() + " 644 0 0\n";
  t::write_file(path("attack.list"), as_bytes(list));
  auto image = create(q(path("attack.list")) + " --compress none", "attack.cpio");
  fs::create_directories(path("target"));
  auto r = ukikit("initrd extract " + q(image) + " " + q(path("target")));
  EXPECT_EQ(r.status, 1) << r.err; // a check failed: refusals
  EXPECT_TRUE(contains(r.err, "evil/owned")) << r.err;
  EXPECT_TRUE(contains(r.err, "../escaped")) << r.err;
  EXPECT_TRUE(contains(r.err, "a/../../escaped2")) << r.err;
  EXPECT_TRUE(fs::is_empty(path("canary")));
  EXPECT_FALSE(fs::exists(path("escaped")));
  EXPECT_FALSE(fs::exists(path("escaped2")));
  EXPECT_TRUE(fs::is_regular_file(path("target/fine")));
  EXPECT_TRUE(fs::is_symlink(path("target/evil")));
  // --json lists each refusal with its finding code.
  auto j = ukikit("initrd extract --json " + q(image) + " " + q(path("target2")));
  EXPECT_EQ(j.status, 1) << j.err;
  std::map<std::string, std::string> codes;
  const json doc = json::parse(j.out);
  for (const auto& f : doc["refused"])
    codes[f["name"].get<std::string>()] = f["code"].get<std::string>();
  // The list adds the parents of a name ("..", "a/..", "a/../..") as entries.
  EXPECT_EQ(codes, (std::map<std::string, std::string>{{"evil/owned", "extract.through-symlink"},
                                                       {"..", "extract.dotdot"},
                                                       {"../escaped", "extract.dotdot"},
                                                       {"a/..", "extract.dotdot"},
                                                       {"a/../..", "extract.dotdot"},
                                                       {"a/../../escaped2", "extract.dotdot"}}))
      << j.out;
}

TEST_F(initrd_extract, extract_reads_the_initrd_section_of_a_uki) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  UKIKIT_NEED_INPUT(kernel, "vmlinuz");
  auto image = create(q(path("root")) + " --early " + q(path("early")), "initrd.img");
  auto uki = path("uki.efi");
  auto b = ukikit("build --stub " + q(stub) + " --linux " + q(kernel) + " --initrd " + q(image) +
                  " --output " + q(uki));
  ASSERT_EQ(b.status, 0) << b.err;
  auto from_uki = ukikit("initrd extract " + q(uki) + " " + q(path("a")));
  auto from_file = ukikit("initrd extract " + q(image) + " " + q(path("b")));
  ASSERT_EQ(from_uki.status, 0) << from_uki.err;
  ASSERT_EQ(from_file.status, 0) << from_file.err;
  EXPECT_EQ(describe_tree(path("a")), describe_tree(path("b")));
  EXPECT_TRUE(fs::is_regular_file(path("a/kernel/x86/microcode/GenuineIntel.bin")));
}

TEST_F(initrd_extract, list_tree_shows_what_the_kernel_keeps_and_warns_about_dropped_entries) {
  // A file whose parent directory never appears is dropped by the kernel.
  t::write_file(path("orphan.list"),
                as_bytes("file kept " + path("root/etc/one").string() + " 644 0 0\n"));
  auto kept = create(q(path("orphan.list")) + " --compress none", "kept.cpio");
  std::vector<std::byte> orphan;
  {
    // Hand-made: "nodir/file" with no "nodir" entry (create would add it).
    std::string name = "nodir/file";
    char h[111];
    std::snprintf(h, sizeof h, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x", 1u,
                  0100644u, 0u, 0u, 1u, 0u, 0u, 0u, 0u, 0u, 0u,
                  static_cast<unsigned>(name.size() + 1), 0u);
    std::string rec(h, 110);
    rec += name;
    rec.push_back('\0');
    while (rec.size() % 4) rec.push_back('\0');
    auto b = as_bytes(rec);
    orphan.assign(b.begin(), b.end());
    auto k = t::read_file(kept);
    orphan.insert(orphan.begin(), k.begin(), k.end());
  }
  t::write_file(path("orphan.cpio"), orphan);
  auto r = ukikit("initrd list --tree " + q(path("orphan.cpio")));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "kept\n");
  EXPECT_TRUE(contains(r.err, "\"nodir/file\" dropped by the kernel")) << r.err;
  EXPECT_TRUE(contains(r.err, "parent directory nodir does not exist")) << r.err;
  // The same as a finding: its code, the entry's name and header offset.
  const json j = info_json(path("orphan.cpio"));
  const auto found = std::find_if(j["findings"].begin(), j["findings"].end(),
                                  [](const json& f) { return f["code"] == "initrd.tree-dropped"; });
  ASSERT_NE(found, j["findings"].end()) << j.dump(2);
  EXPECT_EQ((*found)["severity"], "warning");
  EXPECT_EQ((*found)["subject"], "nodir/file");
  EXPECT_EQ((*found)["offset"], t::read_file(kept).size());
}

TEST_F(initrd_extract, list_escapes_control_bytes_in_names_and_link_targets) {
  // A name and a link target with ESC sequences (and a C1 CSI in UTF-8):
  // archived by GNU cpio, listed with every byte a terminal acts on escaped.
  fs::create_directories(path("esc"));
  const std::string evil = "red\x1b[31mname\xc2\x9b"
                           "2J";
  const std::string evil_shown = "red\\x1b[31mname\\xc2\\x9b2J";
  t::write_file(path("esc") / evil, std::string_view("x"));
  fs::create_symlink("to\x07"
                     "bell",
                     path("esc") / "link");
  auto raw = gnu_cpio(path("esc"), "esc.cpio", "newc");
  auto zst = filter("zstd -q -c", raw, "esc.cpio.zst");
  for (const auto& file : {raw, zst}) {
    for (const std::string command : {"list", "list -v", "list --tree", "list --tree -v"}) {
      SCOPED_TRACE(command + " " + file.string());
      auto r = ukikit("initrd " + command + " " + q(file));
      EXPECT_EQ(r.status, 0) << r.err;
      EXPECT_FALSE(has_control_bytes(r.out)) << r.out;
      EXPECT_TRUE(contains(r.out, evil_shown)) << r.out;
      if (contains(command, "-v")) {
        EXPECT_TRUE(contains(r.out, "-> to\\x07bell")) << r.out;
      }
    }
  }
  // JSON keeps the name (JSON escapes it its own way).
  auto j = ukikit("initrd list --json " + q(raw));
  ASSERT_EQ(j.status, 0) << j.err;
  bool found = false;
  const json doc = json::parse(j.out);
  for (const auto& e : doc["entries"]) found = found || e["name"] == evil;
  EXPECT_TRUE(found) << j.out;
}

TEST_F(initrd_extract, name_above_path_max_is_listed_by_its_first_bytes) {
  // The kernel skips a name above PATH_MAX without reading it; list and
  // extract show its first 64 bytes and its size instead of "".
  const std::string name = "\x1b[2J" + std::string(5000, 'n');
  const std::string archive = newc_record(name, 0100644, "data") +
                              newc_record("after", 0100644, "x") + newc_record("TRAILER!!!", 0, "");
  t::write_file(path("long.cpio"), std::string_view(archive));
  const std::string shown =
      "\"\\x1b[2J" + std::string(60, 'n') + "…\" (name size " + hex(name.size() + 1) + ")";
  auto r = ukikit("initrd list " + q(path("long.cpio")));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "after\n");
  EXPECT_TRUE(contains(r.err, "entry " + shown +
                                  " at offset 0x0 skipped by the kernel: name "
                                  "longer than PATH_MAX"))
      << r.err;
  EXPECT_FALSE(has_control_bytes(r.err)) << r.err;
  auto j = ukikit("initrd list --json " + q(path("long.cpio")));
  ASSERT_EQ(j.status, 0) << j.err;
  const json first = json::parse(j.out)["entries"][0];
  EXPECT_EQ(first["name"], name.substr(0, 64)) << first.dump();
  EXPECT_EQ(first["namesize"], name.size() + 1) << first.dump();
  EXPECT_EQ(first["kernel_skip"], "name longer than PATH_MAX") << first.dump();
  auto info = ukikit("initrd info " + q(path("long.cpio")));
  EXPECT_EQ(info.status, 0) << info.err;
  EXPECT_TRUE(contains(info.out, "notice: entry " + shown + " skipped")) << info.out;
  EXPECT_FALSE(has_control_bytes(info.out)) << info.out;
  auto x = ukikit("initrd extract " + q(path("long.cpio")) + " " + q(path("out")));
  EXPECT_EQ(x.status, 1) << x.err; // a refusal
  EXPECT_TRUE(contains(x.err, "\"\\x1b[2J" + std::string(60, 'n') + "\" at offset 0x0: skipped"))
      << x.err;
  EXPECT_TRUE(fs::exists(path("out/after")));
}

// ---------------------------------------------------------------------------
// README claims: creation is reproducible on another machine and day, as
// GNU cpio --reproducible and gzip -n make it; notices, warnings and
// refusals are kept up to 1000 and all counted; --owner and --devices give
// what GNU cpio -idmu gives as root.

TEST_F(initrd_create, creating_elsewhere_and_later_gives_identical_bytes) {
  UKIKIT_NEED_TOOL("faketime");
  auto year = t::run("faketime -f +400d date +%s");
  auto now = t::run("date +%s");
  ASSERT_GT(std::stoll(year.out) - std::stoll(now.out), 399LL * 86400) << year.out << now.out;
  const fs::path other = path("other/dir");
  for (const std::string c : {"none", "gzip", "zstd", "xz"}) {
    SCOPED_TRACE(c);
    auto here = create(q(path("root")) + " --early " + q(path("early")) + " --compress " + c,
                       "here." + c, "env -u SOURCE_DATE_EPOCH ");
    auto r = t::run(t::elsewhere(other, t::tool("ukikit") +
                                            " initrd create ../../root --early ../../early "
                                            "--compress " +
                                            c + " -o ../../there." + c + " 2>&1"));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(t::read_file(here), t::read_file(path("there." + c)));
  }
}

// The newc entries of an archive, read by the format's layout alone
// (formats.md §1.1): name, the 13 header fields after the magic, data.
struct parsed_newc {
  std::string name;
  std::array<std::uint32_t, 13> field{};
  std::string data;
};
std::vector<parsed_newc> newc_records(std::string_view a) {
  std::vector<parsed_newc> out;
  std::size_t at = 0;
  while (at + 110 <= a.size() && a.substr(at, 6) == "070701") {
    parsed_newc r;
    for (std::size_t k = 0; k < 13; ++k)
      r.field[k] = static_cast<std::uint32_t>(
          std::stoul(std::string(a.substr(at + 6 + 8 * k, 8)), nullptr, 16));
    r.name = std::string(a.substr(at + 110, r.field[11] - 1));
    at = (at + 110 + r.field[11] + 3) / 4 * 4;
    r.data = std::string(a.substr(at, r.field[6]));
    at = (at + r.field[6] + 3) / 4 * 4;
    out.push_back(r);
    if (out.back().name == "TRAILER!!!") break;
  }
  return out;
}

TEST_F(initrd_create, archive_and_compression_agree_with_gnu_cpio_reproducible_and_the_real_tools) {
  // GNU cpio --reproducible (inode numbers renumbered, no device numbers)
  // with names in byte order, owner 0:0 (-R) and every time 0, as ukikit's
  // defaults are: the same entries, data and header fields but two, which
  // follow gen_init_cpio instead (the kernel's own tool): inode numbers count
  // from 1 (GNU cpio: from 0) and a directory has 2 links (GNU cpio: its
  // link count on disk). Then GNU cpio pads to 512-byte blocks.
  sh("find " + q(path("root")) + " -exec touch -h -d @0 {} +");
  sh("cd " + q(path("root")) +
     " && find . -mindepth 1 -printf '%P\\n' | LC_ALL=C sort | cpio -o -H newc --reproducible "
     "-R 0:0 --quiet > " +
     q(path("gnu.cpio")));
  const std::string env = "env -u SOURCE_DATE_EPOCH ";
  auto ours = create(q(path("root")) + " --compress none", "ours.cpio", env);
  const auto gnu_bytes = t::read_file(path("gnu.cpio"));
  const auto our_bytes = t::read_file(ours);
  const auto gnu = newc_records(as_chars(gnu_bytes));
  const auto mine = newc_records(as_chars(our_bytes));
  ASSERT_EQ(mine.size(), gnu.size());
  ASSERT_EQ(gnu.size(), lines(sh("cd " + q(path("root")) + " && find . -mindepth 1")) + 1);
  for (std::size_t i = 0; i < gnu.size(); ++i) {
    SCOPED_TRACE(gnu[i].name);
    EXPECT_EQ(mine[i].name, gnu[i].name);
    EXPECT_EQ(mine[i].data, gnu[i].data);
    auto want = gnu[i].field;
    if (gnu[i].name != "TRAILER!!!") want[0] += 1;   // c_ino
    if ((want[1] & 0170000) == 0040000) want[4] = 2; // c_nlink of a directory
    EXPECT_EQ(mine[i].field, want);
  }
  EXPECT_EQ(our_bytes.size() % 4, 0u);
  EXPECT_EQ((our_bytes.size() + 511) / 512 * 512, gnu_bytes.size()) << "the same but padding";

  // Compressed: zstd -3 and xz -6 with the CRC32 check, single-threaded,
  // make exactly our bytes from our archive. gzip's own deflate differs from
  // zlib's, but the header (no name, time 0: gzip -n) and the trailer (CRC32
  // and size) are gzip -n's.
  auto zst = create(q(path("root")) + " --compress zstd", "ours.zst", env);
  EXPECT_EQ(t::read_file(zst), t::read_file(filter("zstd -3 -T1 -q -c", ours, "real.zst")));
  auto xz = create(q(path("root")) + " --compress xz", "ours.xz", env);
  EXPECT_EQ(t::read_file(xz), t::read_file(filter("xz -6 -C crc32 -T1 -c", ours, "real.xz")));
  const auto gz = t::read_file(create(q(path("root")) + " --compress gzip", "ours.gz", env));
  const auto real_gz = t::read_file(filter("gzip -n -6 -c", ours, "real.gz"));
  ASSERT_GT(gz.size(), 18u);
  EXPECT_TRUE(std::equal(gz.begin(), gz.begin() + 10, real_gz.begin())) << "header";
  EXPECT_TRUE(std::equal(gz.end() - 8, gz.end(), real_gz.end() - 8)) << "trailer";
  EXPECT_EQ(t::read_file(filter("gzip -dc", path("ours.gz"), "back.cpio")), our_bytes);
}

// A newc header and name (padded), then data (padded), by hand.
std::string newc_entry(const std::string& name, unsigned mode, const std::string& data,
                       unsigned ino) {
  return newc_record(name, mode, data, ino);
}

TEST_F(initrd_fixture, notices_and_warnings_are_kept_up_to_1000_and_all_counted) {
  // 1500 directories that carry data (the kernel skips the data: one notice
  // each), then 1500 files under a directory that never appears (the
  // kernel drops them: one warning each in the tree).
  std::string archive;
  std::vector<std::size_t> offsets;
  unsigned ino = 1;
  char name[32];
  for (int i = 0; i < 1500; ++i) {
    std::snprintf(name, sizeof name, "d%04d", i);
    offsets.push_back(archive.size());
    archive += newc_entry(name, 040755, "data", ino++);
  }
  for (int i = 0; i < 1500; ++i) {
    std::snprintf(name, sizeof name, "nodir/f%04d", i);
    archive += newc_entry(name, 0100644, "", ino++);
  }
  archive += newc_entry("TRAILER!!!", 0, "", 0);
  t::write_file(path("many.cpio"), as_bytes(archive));
  // GNU cpio reads all 3000 entries.
  UKIKIT_NEED_TOOL("cpio");
  EXPECT_EQ(lines(sh("cpio -t --quiet < " + q(path("many.cpio")))), 3000u);

  const auto j = info_json(path("many.cpio"));
  EXPECT_EQ(j["entries"], 3000);
  ASSERT_EQ(j["notices"].size(), 1001u) << "1000 kept, then the count of the rest";
  for (std::size_t i = 0; i < 1000; ++i) // the first 1000, in order, at their offsets
    EXPECT_TRUE(contains(j["notices"][i].get<std::string>(), "at offset " + hex(offsets[i])))
        << i << ": " << j["notices"][i];
  EXPECT_EQ(j["notices"][1000], "500 more notices");
  ASSERT_EQ(j["warnings"].size(), 1001u);
  EXPECT_TRUE(contains(j["warnings"][999].get<std::string>(), "\"nodir/f0999\" dropped"))
      << j["warnings"][999];
  EXPECT_EQ(j["warnings"][1000], "500 more warnings");
  // findings: the kept ones with their codes, notes first.
  ASSERT_EQ(j["findings"].size(), 2000u);
  EXPECT_EQ(j["findings"][0]["code"], "cpio.entry-skipped");
  EXPECT_EQ(j["findings"][0]["severity"], "note");
  EXPECT_EQ(j["findings"][0]["offset"], offsets[0]);
  EXPECT_EQ(j["findings"][1000]["code"], "initrd.tree-dropped");
  EXPECT_EQ(j["findings"][1999]["subject"], "nodir/f0999");
  auto text = ukikit("initrd info " + q(path("many.cpio")));
  EXPECT_EQ(text.status, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "notice: 500 more notices")) << text.out.substr(0, 2000);
  EXPECT_TRUE(contains(text.out, "warning: 500 more warnings")) << text.out.substr(0, 2000);

  auto tree = ukikit("initrd list --tree " + q(path("many.cpio")));
  EXPECT_EQ(tree.status, 0) << tree.err;
  std::size_t dropped = 0;
  for (std::size_t at = 0, nl; (nl = tree.err.find('\n', at)) != std::string::npos; at = nl + 1)
    dropped += contains(tree.err.substr(at, nl - at), "dropped by the kernel: ");
  EXPECT_EQ(dropped, 1000u);
  EXPECT_TRUE(contains(tree.err, "warning: 500 more warnings")) << tree.err.substr(0, 2000);
  EXPECT_EQ(lines(tree.err), 1001u);
}

// What a path is, as lstat sees it: type, permissions, owner, device number.
std::string ownership(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return "(missing)";
  char line[128];
  std::snprintf(line, sizeof line, "%c %04o %u:%u rdev %u:%u",
                cpio::type_letter(cpio::type_of(st.st_mode)),
                static_cast<unsigned>(st.st_mode & 07777), static_cast<unsigned>(st.st_uid),
                static_cast<unsigned>(st.st_gid),
                S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? major(st.st_rdev) : 0u,
                S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? minor(st.st_rdev) : 0u);
  return line;
}

TEST_F(initrd_fixture, extract_owner_and_devices_give_what_gnu_cpio_gives_as_root) {
  if (::geteuid() != 0) {
    if (t::inputs_required()) FAIL() << "needs root (owners and device nodes)";
    GTEST_SKIP() << "needs root";
  }
  UKIKIT_NEED_TOOL("cpio");
  // A tree with owners and device nodes, archived by GNU cpio.
  const fs::path src = path("src");
  fs::create_directories(src / "dev");
  fs::create_directories(src / "home/user");
  t::write_file(src / "home/user/file", std::string_view("data"));
  fs::create_symlink("file", src / "home/user/link");
  sh("cd " + q(src) +
     " && mknod -m 0666 dev/null c 1 3 && mknod -m 0660 dev/loop0 b 7 0 && mkfifo -m 0600 "
     "dev/fifo && chown 1234:5678 home/user/file && chmod 0640 home/user/file && chown "
     "4321:8765 home/user && chmod 0750 home/user && chown -h 77:88 home/user/link && chown 0:6 "
     "dev/loop0 && chown 42:43 dev/fifo");
  const std::vector<std::string> names = {"dev",  "dev/null",  "dev/loop0",      "dev/fifo",
                                          "home", "home/user", "home/user/file", "home/user/link"};
  auto archive = gnu_cpio(src, "owned.cpio", "newc");
  // GNU cpio as root keeps owners and makes device nodes.
  fs::create_directories(path("gnu"));
  sh("cd " + q(path("gnu")) + " && umask 0 && cpio -idmu --quiet < " + q(archive));
  auto r = ukikit("initrd extract --owner --devices " + q(archive) + " " + q(path("ours")));
  EXPECT_EQ(r.status, 0) << r.err;
  for (const auto& n : names) {
    EXPECT_EQ(ownership(path("ours") / n), ownership(path("gnu") / n)) << n;
    EXPECT_EQ(ownership(path("ours") / n), ownership(src / n)) << n;
  }
  // Without the options: everything owned by the extracting user (root),
  // device nodes skipped and listed (exit status 1); the fifo is made.
  auto plain = ukikit("initrd extract " + q(archive) + " " + q(path("plain")));
  EXPECT_EQ(plain.status, 1) << plain.err;
  EXPECT_TRUE(contains(plain.err, "dev/null")) << plain.err;
  EXPECT_TRUE(contains(plain.err, "dev/loop0")) << plain.err;
  EXPECT_EQ(ownership(path("plain/dev/null")), "(missing)");
  EXPECT_EQ(ownership(path("plain/dev/loop0")), "(missing)");
  for (const char* n : {"dev/fifo", "home/user", "home/user/file", "home/user/link"}) {
    struct stat st {};
    ASSERT_EQ(::lstat((path("plain") / n).c_str(), &st), 0) << n;
    EXPECT_EQ(st.st_uid, 0u) << n;
    EXPECT_EQ(st.st_gid, 0u) << n;
  }
  // --devices alone: nodes made, owners not kept.
  auto devices = ukikit("initrd extract --devices " + q(archive) + " " + q(path("dev_only")));
  EXPECT_EQ(devices.status, 0) << devices.err;
  EXPECT_EQ(ownership(path("dev_only/dev/null")), ownership(path("gnu/dev/null")));
  EXPECT_EQ(ownership(path("dev_only/home/user/file")), "- 0640 0:0 rdev 0:0");
}

} // namespace
} // namespace ukikit::initrd
