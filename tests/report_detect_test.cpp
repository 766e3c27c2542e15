// report/detect.hpp: what a file is, from its bytes, on files the real
// tools write: systemd-stub and a UKI `ukikit build` makes (PE), archives of
// GNU cpio in each format it writes (and the byte-swapped binary one), the
// streams of zstd, xz, lzma, gzip, bzip2 and lz4, and garbage.
#include <ukikit/report/detect.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace t = ukikit::test;
namespace fs = std::filesystem;
namespace report = ukikit::report;
using report::input_kind;

std::string q(const fs::path& p) { return t::sh_quote(p.string()); }

class report_detect : public ::testing::Test {
protected:
  void SetUp() override {
    fs::create_directories(dir.path() / "root/etc");
    t::write_file(dir.path() / "root/etc/conf", t::sample_bytes(3000, 7));
  }
  fs::path path(std::string_view name) const { return dir.path() / name; }
  // `command` run in the tree, its stdout into `name`.
  std::vector<std::byte> made_by(const std::string& command, const std::string& name) {
    const auto r = t::run("cd " + q(path("root")) + " && " + command + " > " + q(path(name)));
    EXPECT_EQ(r.status, 0) << command;
    return t::read_file(path(name));
  }
  std::vector<std::byte> archive(const std::string& format) {
    return made_by("find . | LC_ALL=C sort | cpio -o --quiet -H " + format, format + ".cpio");
  }
  t::temp_dir dir;
};

TEST_F(report_detect, names_each_cpio_format_gnu_cpio_writes) {
  UKIKIT_NEED_TOOL("cpio");
  const std::pair<std::string, ukikit::cpio::format> cases[] = {
      {"newc", ukikit::cpio::format::newc},
      {"crc", ukikit::cpio::format::crc},
      {"odc", ukikit::cpio::format::odc},
  };
  for (const auto& [name, format] : cases) {
    SCOPED_TRACE(name);
    const auto d = report::detect(archive(name));
    EXPECT_EQ(d.kind, input_kind::cpio);
    EXPECT_EQ(d.cpio_format, format);
    EXPECT_TRUE(d.initramfs());
    EXPECT_FALSE(d.starts_as_pe());
  }
  // Old binary: in the machine's byte order, and swapped.
  auto bin = archive("bin");
  const auto native = report::detect(bin);
  EXPECT_EQ(native.kind, input_kind::cpio);
  ASSERT_TRUE(native.cpio_format == ukikit::cpio::format::bin_le ||
              native.cpio_format == ukikit::cpio::format::bin_be);
  std::swap(bin[0], bin[1]);
  const auto swapped = report::detect(bin);
  EXPECT_EQ(swapped.kind, input_kind::cpio);
  EXPECT_NE(swapped.cpio_format, native.cpio_format);
}

TEST_F(report_detect, names_each_compression_of_the_real_compressors) {
  struct compressor {
    std::string tool, command;
    ukikit::compress::format format;
  };
  const compressor cases[] = {
      {"zstd", "zstd -q -c", ukikit::compress::format::zstd},
      {"xz", "xz -q -c", ukikit::compress::format::xz},
      {"xz", "xz -q --format=lzma -c", ukikit::compress::format::lzma},
      {"gzip", "gzip -n -c", ukikit::compress::format::gzip},
      {"bzip2", "bzip2 -c", ukikit::compress::format::bzip2},
      {"lz4", "lz4 -q -l -c", ukikit::compress::format::lz4},
      {"lz4", "lz4 -q -c", ukikit::compress::format::lz4},
  };
  UKIKIT_NEED_TOOL("cpio");
  UKIKIT_NEED_TOOLS_OF(cases);
  archive("newc");
  for (const auto& c : cases) {
    SCOPED_TRACE(c.command);
    const auto d = report::detect(made_by(c.command + " < " + q(path("newc.cpio")), "out"));
    EXPECT_EQ(d.kind, input_kind::compressed);
    EXPECT_EQ(d.compression, c.format);
    EXPECT_TRUE(d.initramfs());
  }
  // lzop is not installed here: its magic (lzop's header), by hand.
  const unsigned char lzo[] = {0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a};
  const auto d = report::detect(std::as_bytes(std::span(lzo)));
  EXPECT_EQ(d.kind, input_kind::compressed);
  EXPECT_EQ(d.compression, ukikit::compress::format::lzo);
}

TEST_F(report_detect, names_a_pe_image_and_a_file_that_only_starts_like_one) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  const auto d = report::detect(t::read_file(stub));
  EXPECT_EQ(d.kind, input_kind::pe);
  EXPECT_TRUE(d.starts_as_pe());
  EXPECT_FALSE(d.pe_error);
  // "MZ" and garbage: a file the tools read as a PE image and report why not.
  const std::string mz = "MZ" + std::string(200, 'x');
  const auto bad = report::detect(ukikit::as_bytes(std::string_view(mz)));
  EXPECT_EQ(bad.kind, input_kind::bad_pe);
  EXPECT_TRUE(bad.starts_as_pe());
  ASSERT_TRUE(bad.pe_error);
  EXPECT_EQ(report::name(bad.kind), "bad-pe");
}

TEST_F(report_detect, garbage_and_empty_input_are_unknown) {
  for (std::string_view text : {std::string_view("hello world\n"), std::string_view("M"),
                                std::string_view("07070"), std::string_view()}) {
    SCOPED_TRACE(std::string(text));
    const auto d = report::detect(ukikit::as_bytes(text));
    EXPECT_EQ(d.kind, input_kind::unknown);
    EXPECT_TRUE(d.initramfs()) << "the tools walk it as an initramfs, which says why not";
    EXPECT_EQ(d.compression, ukikit::compress::format::none);
    EXPECT_FALSE(d.cpio_format);
  }
  EXPECT_EQ(report::detect(t::sample_bytes(4096, 3)).kind, input_kind::unknown);
}

TEST_F(report_detect, initrd_bytes_are_the_initrd_section_of_a_uki_else_the_whole_file) {
  UKIKIT_NEED_TOOL("cpio");
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  UKIKIT_NEED_INPUT(kernel, "vmlinuz");
  const auto raw = archive("newc");
  EXPECT_TRUE(std::ranges::equal(*report::initrd_bytes(raw), raw)) << "not a PE: the whole file";
  const auto b = t::run(t::tool("ukikit") + " build --stub " + q(stub) + " --linux " + q(kernel) +
                        " --initrd " + q(path("newc.cpio")) + " --output " + q(path("uki.efi")));
  ASSERT_EQ(b.status, 0);
  const auto uki = t::read_file(path("uki.efi"));
  EXPECT_EQ(report::detect(uki).kind, input_kind::pe);
  auto section = report::initrd_bytes(uki);
  ASSERT_TRUE(section) << section.error().message();
  EXPECT_TRUE(std::ranges::equal(*section, raw)) << "the .initrd section";
  EXPECT_GT(section->data(), uki.data()); // a view into the file, not a copy
  // A PE without .initrd, and one pe::parse refuses, are errors.
  const auto no_initrd = report::initrd_bytes(t::read_file(stub));
  ASSERT_FALSE(no_initrd);
  EXPECT_EQ(no_initrd.error().code(), ukikit::errc::invalid_argument);
  const std::string mz = "MZ" + std::string(200, 'x');
  EXPECT_FALSE(report::initrd_bytes(ukikit::as_bytes(std::string_view(mz))));
}

} // namespace
