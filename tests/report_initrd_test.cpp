// report/initrd.hpp: an embedder gets from the library, byte for byte, what
// `ukikit initrd info [--json]` and `ukiinspect [--json]` print for an
// initramfs: clean archives of GNU cpio, compressed by zstd, with an early
// archive in front, a hostile one with a finding of every kind the walk and
// the tree make, a truncated one, and the .initrd of a UKI.
#include <ukikit/report/detect.hpp>
#include <ukikit/report/initrd.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace t = ukikit::test;
namespace fs = std::filesystem;
namespace report = ukikit::report;
using ojson = nlohmann::ordered_json;

std::string q(const fs::path& p) { return t::sh_quote(p.string()); }

// The tools' JSON text (tools/cli.hpp json_text): two-space indent, invalid
// UTF-8 replaced.
std::string json_text(const ojson& j) {
  return j.dump(2, ' ', false, ojson::error_handler_t::replace);
}

// One newc record, padded to 4.
std::string newc_record(const std::string& name, std::uint32_t mode, std::string_view data,
                        unsigned ino) {
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

class report_initrd : public ::testing::Test {
protected:
  void SetUp() override {
    UKIKIT_NEED_TOOL("cpio");
    UKIKIT_NEED_TOOL("zstd");
    fs::create_directories(path("root/etc"));
    fs::create_directories(path("early/kernel/x86/microcode"));
    t::write_file(path("root/etc/conf"), t::sample_bytes(3000, 7));
    t::write_file(path("root/init"), std::string_view("#!/bin/sh\n"));
    t::write_file(path("early/kernel/x86/microcode/GenuineIntel.bin"), t::sample_bytes(1000, 9));
    sh("cd " + q(path("root")) + " && find . | LC_ALL=C sort | cpio -o --quiet -H newc > " +
       q(path("main.cpio")));
    sh("cd " + q(path("early")) + " && find kernel | LC_ALL=C sort | cpio -o --quiet -H newc > " +
       q(path("early.cpio")));
    sh("zstd -q -c < " + q(path("main.cpio")) + " > " + q(path("main.cpio.zst")));
    sh("zstd -q -c < " + q(path("early.cpio")) + " > " + q(path("early.cpio.zst")));
    sh("cat " + q(path("early.cpio")) + " " + q(path("main.cpio.zst")) + " > " +
       q(path("initrd.img")));
    // A note (a directory with data the kernel skips), a tree drop (no
    // parent), then microcode in a compressed segment (misplaced).
    const std::string hostile = newc_record("d", 040755, "data", 1) +
                                newc_record("nodir/f", 0100644, "x", 2) +
                                newc_record("TRAILER!!!", 0, "", 0);
    t::write_file(path("hostile.cpio"), std::string_view(hostile));
    sh("cat " + q(path("hostile.cpio")) + " " + q(path("early.cpio.zst")) + " > " +
       q(path("hostile.img")));
    // Cut inside an entry: truncated.
    t::write_file(path("cut.cpio"), std::string_view(hostile).substr(0, 150));
  }

  fs::path path(std::string_view name) const { return dir.path() / name; }
  static void sh(const std::string& command) {
    const auto r = t::run(command);
    ASSERT_EQ(r.status, 0) << command;
  }
  // stdout of a tool; its status is not checked (a truncated input exits 2
  // after printing its report).
  static std::string out_of(const std::string& command) {
    return t::run(command + " 2>/dev/null").out;
  }

  // The library's `initrd info` report of a file, named as on the command line.
  report::initrd_info info_of(const fs::path& file) {
    bytes = t::read_file(file);
    auto initramfs = report::initrd_bytes(bytes);
    EXPECT_TRUE(initramfs) << initramfs.error().message();
    auto info = report::walk_tree(file.string(), *initramfs);
    EXPECT_TRUE(info) << info.error().message();
    return std::move(*info);
  }

  // The library's and the tools' outputs for `file` are the same bytes.
  void expect_tools_print_the_library_report(const fs::path& file, bool initramfs_file = true) {
    SCOPED_TRACE(file.filename().string());
    const auto info = info_of(file);
    EXPECT_EQ(json_text(report::to_json(info)) + "\n",
              out_of(t::tool("ukikit") + " initrd info --json " + q(file)));
    EXPECT_EQ(info.render_text(), out_of(t::tool("ukikit") + " initrd info " + q(file)));
    if (!initramfs_file) return; // ukiinspect reports a UKI, not its .initrd alone
    auto inspection = report::inspect_initrd(file.string(), bytes);
    ASSERT_TRUE(inspection) << inspection.error().message();
    EXPECT_EQ(json_text(report::to_json(*inspection)) + "\n",
              out_of(t::tool("ukiinspect") + " --json " + q(file)));
    EXPECT_EQ(inspection->render_text(), out_of(t::tool("ukiinspect") + " " + q(file)));
  }

  t::temp_dir dir;
  std::vector<std::byte> bytes; // of the last file read
};

TEST_F(report_initrd, json_and_text_equal_the_tools_output_for_clean_archives) {
  expect_tools_print_the_library_report(path("main.cpio"));
  expect_tools_print_the_library_report(path("main.cpio.zst"));
  expect_tools_print_the_library_report(path("initrd.img"));
  const auto info = info_of(path("initrd.img"));
  ASSERT_EQ(info.walk.segments.size(), 2u);
  EXPECT_TRUE(info.walk.findings().empty());
  EXPECT_FALSE(info.walk.stopped());
  EXPECT_EQ(report::to_json(info)["findings"], ojson::array());
}

TEST_F(report_initrd, json_and_text_equal_the_tools_output_for_hostile_and_truncated_input) {
  expect_tools_print_the_library_report(path("hostile.img"));
  expect_tools_print_the_library_report(path("cut.cpio"));

  const auto info = info_of(path("hostile.img"));
  const ojson j = report::to_json(info);
  std::vector<std::string> codes;
  for (const auto& f : j["findings"]) codes.push_back(f["code"].get<std::string>());
  EXPECT_EQ(codes, (std::vector<std::string>{"cpio.entry-skipped", "initrd.misplaced-microcode",
                                             "initrd.tree-dropped"}))
      << j.dump(2);
  EXPECT_EQ(j["findings"][0]["severity"], "note");
  EXPECT_EQ(j["findings"][0]["offset"], 0);
  EXPECT_EQ(j["findings"][2]["subject"], "nodir/f");
  EXPECT_EQ(j["findings"][2]["offset"], 116);
  // The texts of the contract's keys are the findings' texts.
  EXPECT_EQ(j["notices"][0], info.walk.notices.kept()[0].text());
  EXPECT_EQ(j["warnings"].size(), 2u);

  const auto cut = info_of(path("cut.cpio"));
  ASSERT_TRUE(cut.walk.stopped());
  EXPECT_EQ(cut.walk.stopped()->code(), ukikit::errc::truncated);
  EXPECT_FALSE(cut.walk.failure) << "the kernel keeps what came before";
  ASSERT_EQ(cut.walk.warnings.kept().size(), 1u);
  EXPECT_EQ(cut.walk.warnings.kept()[0].code, ukikit::initrd::code::truncated);
}

TEST_F(report_initrd, json_and_text_equal_the_tools_output_for_the_initrd_of_a_uki) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  UKIKIT_NEED_INPUT(kernel, "vmlinuz");
  sh(t::tool("ukikit") + " build --stub " + q(stub) + " --linux " + q(kernel) + " --initrd " +
     q(path("hostile.img")) + " --output " + q(path("uki.efi")));
  expect_tools_print_the_library_report(path("uki.efi"), false);
  // The same initramfs, in a section at another offset: offsets are the
  // section's (its zero padding to the section's size aside).
  const ojson in_uki = report::to_json(info_of(path("uki.efi")));
  const ojson alone = report::to_json(info_of(path("hostile.img")));
  EXPECT_EQ(in_uki["segments"], alone["segments"]);
  EXPECT_EQ(in_uki["findings"], alone["findings"]);
}

TEST_F(report_initrd, text_escapes_names_from_the_input) {
  const std::string evil = "a\x1b[2Jb";
  const std::string archive =
      newc_record("x/" + evil, 0100644, "", 1) + newc_record("TRAILER!!!", 0, "", 0);
  t::write_file(path("evil.cpio"), std::string_view(archive));
  const auto info = info_of(path("evil.cpio"));
  const std::string text = info.render_text();
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_NE(text.find("a\\x1b[2Jb"), std::string::npos) << text;
  EXPECT_EQ(report::to_json(info)["findings"][0]["subject"], "x/" + evil) << "raw in JSON";
  expect_tools_print_the_library_report(path("evil.cpio"));
}

} // namespace
