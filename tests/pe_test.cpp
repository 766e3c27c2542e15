#include <ukikit/pe.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace ukikit::pe {
namespace {

namespace t = ukikit::test;

result<image> parse_file(const std::vector<std::byte>& bytes,
                         strictness mode = strictness::permissive) {
  return parse(bytes, mode);
}

void put32(std::vector<std::byte>& b, std::uint64_t off, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}
void put16(std::vector<std::byte>& b, std::uint64_t off, std::uint16_t v) {
  for (int i = 0; i < 2; ++i) b[off + i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}

bool has_diagnostic(const image& img, std::string_view text, diagnostic::level level) {
  for (const auto& d : img.diagnostics)
    if (d.severity == level && d.message.find(text) != std::string::npos) return true;
  return false;
}

std::string all_diagnostics(const image& img) {
  std::string s;
  for (const auto& d : img.diagnostics) s += d.text() + "\n";
  return s;
}

// objdump -h rows: name, size (VirtualSize), VMA, file offset.
struct objdump_row {
  std::string name;
  std::uint64_t size, vma, file_offset;
};

std::vector<objdump_row> objdump_sections(const t::fs::path& file) {
  auto r = t::run("objdump -h " + t::sh_quote(file.string()));
  EXPECT_EQ(r.status, 0);
  std::vector<objdump_row> rows;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    int idx;
    std::string name, size, vma, lma, off;
    if (!(ls >> idx >> name >> size >> vma >> lma >> off)) continue;
    rows.push_back({name, std::stoull(size, nullptr, 16), std::stoull(vma, nullptr, 16),
                    std::stoull(off, nullptr, 16)});
  }
  return rows;
}

class debian_pe : public ::testing::TestWithParam<const char*> {};

TEST_P(debian_pe, section_table_agrees_with_objdump) {
  UKIKIT_NEED_TOOL("objdump");
  UKIKIT_NEED_INPUT(path, GetParam());
  auto bytes = t::read_file(path);
  auto img = parse_file(bytes, strictness::strict);
  ASSERT_TRUE(img.ok()) << img.error().message();
  EXPECT_FALSE(img->has_errors()) << all_diagnostics(*img);
  EXPECT_EQ(img->machine, machine_x86_64);
  EXPECT_EQ(machine_name(img->machine), "x86_64");
  EXPECT_TRUE(img->pe32plus);
  auto rows = objdump_sections(path);
  ASSERT_EQ(rows.size(), img->sections.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const section& s = img->sections[i];
    EXPECT_EQ(rows[i].name, s.name);
    EXPECT_EQ(rows[i].vma, img->image_base + s.virtual_address) << s.name;
    EXPECT_EQ(rows[i].file_offset, s.pointer_to_raw_data) << s.name;
    // objdump (BFD) shows min(VirtualSize, SizeOfRawData) for images: the
    // bytes loaded from the file, which is section::data().
    EXPECT_EQ(rows[i].size, s.data().size()) << s.name;
    EXPECT_EQ(s.raw.data(), bytes.data() + s.pointer_to_raw_data)
        << "sections are views into the input";
  }
}

TEST_P(debian_pe, checksum_equals_the_value_the_linker_or_signer_stored) {
  UKIKIT_NEED_INPUT(path, GetParam());
  auto bytes = t::read_file(path);
  auto img = parse_file(bytes);
  ASSERT_TRUE(img.ok()) << img.error().message();
  ASSERT_NE(img->checksum, 0u) << "Debian's binaries carry a CheckSum";
  EXPECT_EQ(compute_checksum(*img), img->checksum);
}

INSTANTIATE_TEST_SUITE_P(files, debian_pe,
                         ::testing::Values("linuxx64.efi.stub", "systemd-bootx64.efi", "vmlinuz"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(pe_checksum, split_pieces_give_the_same_sum) {
  UKIKIT_NEED_INPUT(path, "systemd-bootx64.efi");
  auto bytes = t::read_file(path);
  auto img = parse_file(bytes);
  ASSERT_TRUE(img.ok());
  byte_span all(bytes);
  // Odd split points, one inside the CheckSum field.
  const std::size_t cut1 = 7, cut2 = static_cast<std::size_t>(img->checksum_offset()) + 1,
                    cut3 = 100001;
  std::vector<byte_span> pieces{all.first(cut1), all.subspan(cut1, cut2 - cut1),
                                all.subspan(cut2, cut3 - cut2), all.subspan(cut3)};
  EXPECT_EQ(compute_checksum(pieces, img->checksum_offset()), img->checksum);
}

TEST(pe_parse, rejects_files_that_are_not_pe) {
  auto text = as_bytes(std::string_view(
      "this is not a PE file, it is text that is long enough to hold a DOS header"));
  auto r = parse(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "not a PE file (no MZ signature) at offset 0x0");
  std::vector<std::byte> tiny(10);
  tiny[0] = std::byte{'M'};
  tiny[1] = std::byte{'Z'};
  auto t2 = parse(tiny);
  ASSERT_FALSE(t2.ok());
  EXPECT_EQ(t2.error().code(), errc::truncated);
}

class stub_mutation : public ::testing::Test {
protected:
  void SetUp() override {
    auto p = t::input("linuxx64.efi.stub");
    if (p.empty()) {
      if (t::inputs_required()) FAIL() << "missing input linuxx64.efi.stub";
      GTEST_SKIP() << "input linuxx64.efi.stub not fetched";
    }
    bytes = t::read_file(p);
    auto img = parse(bytes);
    ASSERT_TRUE(img.ok());
    pe_offset = img->pe_offset;
    section_table = img->section_table_offset;
    opt = img->optional_header_offset;
  }
  std::uint64_t section_field(std::size_t index, std::size_t field) const {
    return section_table + index * sizeof(section_header) + field;
  }
  std::vector<std::byte> bytes;
  std::uint64_t pe_offset = 0, section_table = 0, opt = 0;
};

TEST_F(stub_mutation, rejects_e_lfanew_outside_the_file) {
  put32(bytes, 0x3c, static_cast<std::uint32_t>(bytes.size() + 16));
  auto r = parse(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::out_of_range);
  EXPECT_NE(r.error().message().find("e_lfanew"), std::string::npos);
}

TEST_F(stub_mutation, rejects_missing_pe_signature) {
  bytes[pe_offset] = std::byte{'X'};
  auto r = parse(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "not a PE file (no PE signature) at offset " + hex(pe_offset));
}

TEST_F(stub_mutation, rejects_absurd_section_count) {
  put16(bytes, pe_offset + 4 + offsetof(coff_header, number_of_sections), 0xffff);
  auto r = parse(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::limit_exceeded);
}

TEST_F(stub_mutation, section_table_past_end_of_file_is_truncation) {
  put16(bytes, pe_offset + 4 + offsetof(coff_header, number_of_sections), 4000);
  auto r = parse(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::truncated);
  EXPECT_NE(r.error().message().find("section table"), std::string::npos) << r.error().message();
}

TEST_F(stub_mutation, zero_sections_is_a_violation) {
  put16(bytes, pe_offset + 4 + offsetof(coff_header, number_of_sections), 0);
  auto r = parse(bytes, strictness::strict);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(has_diagnostic(*r, "NumberOfSections is 0", diagnostic::level::error));
}

TEST_F(stub_mutation, raw_data_past_end_is_an_error_when_strict_and_clipped_when_permissive) {
  put32(bytes, section_field(0, offsetof(section_header, size_of_raw_data)), 0x1000000);
  auto strict = parse(bytes, strictness::strict);
  ASSERT_TRUE(strict.ok());
  EXPECT_TRUE(has_diagnostic(*strict, "section .text raw data extends past end of file",
                             diagnostic::level::error))
      << all_diagnostics(*strict);
  auto loose = parse(bytes, strictness::permissive);
  ASSERT_TRUE(loose.ok());
  EXPECT_FALSE(loose->has_errors());
  EXPECT_TRUE(has_diagnostic(*loose, "section .text raw data extends past end of file",
                             diagnostic::level::warning));
  EXPECT_EQ(loose->sections[0].raw.size(), bytes.size() - loose->sections[0].pointer_to_raw_data);
}

TEST_F(stub_mutation, overlapping_raw_and_virtual_ranges_are_reported) {
  auto img = parse(bytes);
  ASSERT_TRUE(img.ok());
  // Section 1 (.reloc) now starts inside section 0 (.text), in the file and in memory.
  put32(bytes, section_field(1, offsetof(section_header, pointer_to_raw_data)),
        img->sections[0].pointer_to_raw_data + 0x200);
  put32(bytes, section_field(1, offsetof(section_header, virtual_address)),
        img->sections[0].virtual_address + 0x1000);
  auto r = parse(bytes, strictness::strict);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(has_diagnostic(*r, "section .reloc raw data overlaps section .text",
                             diagnostic::level::error))
      << all_diagnostics(*r);
  EXPECT_TRUE(has_diagnostic(*r, "section .reloc virtual range overlaps section .text",
                             diagnostic::level::error));
}

TEST_F(stub_mutation, duplicate_section_names_are_reported) {
  std::memcpy(bytes.data() + section_field(1, 0), ".text\0\0\0", 8);
  auto r = parse(bytes);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(has_diagnostic(*r, "duplicate section .text", diagnostic::level::warning))
      << all_diagnostics(*r);
  EXPECT_EQ(r->find(".text"), &r->sections[0])
      << "find() returns the first match, as systemd-stub does";
}

TEST_F(stub_mutation, certificate_table_not_at_end_is_a_violation) {
  // A table entry pointing inside the file, with data after it.
  const std::uint64_t dir = opt + sizeof(optional_header64) + dir_security * sizeof(data_directory);
  auto img = parse(bytes);
  ASSERT_TRUE(img.ok());
  const std::uint64_t end = (img->end_of_sections() + 7) & ~std::uint64_t{7};
  ASSERT_LT(end + 16, bytes.size());
  put32(bytes, dir, static_cast<std::uint32_t>(end));
  put32(bytes, dir + 4, 8);
  auto r = parse(bytes, strictness::strict);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(has_diagnostic(*r, "certificate table is not at the end of the file",
                             diagnostic::level::error))
      << all_diagnostics(*r);
}

TEST_F(stub_mutation, virtual_size_larger_than_raw_data_is_a_warning) {
  put32(bytes, section_field(0, offsetof(section_header, virtual_size)), 0xd000);
  auto r = parse(bytes, strictness::strict);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(has_diagnostic(*r, "section .text VirtualSize 0xd000 exceeds SizeOfRawData",
                             diagnostic::level::warning))
      << all_diagnostics(*r);
  EXPECT_EQ(r->sections[0].data().size(), r->sections[0].size_of_raw_data);
}

TEST(pe_machine, names_the_efi_architectures) {
  EXPECT_EQ(machine_name(machine_aarch64), "aarch64");
  EXPECT_EQ(efi_arch(machine_aarch64), "aa64");
  EXPECT_EQ(efi_arch(machine_x86_64), "x64");
  EXPECT_EQ(machine_name(machine_riscv64), "riscv64");
  EXPECT_EQ(machine_name(machine_loongarch64), "loongarch64");
  EXPECT_EQ(machine_name(0x1234), "unknown");
}

} // namespace
} // namespace ukikit::pe
