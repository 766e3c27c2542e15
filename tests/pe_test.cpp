#include <ukikit/pe.hpp>
#include <ukikit/pe_writer.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
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

// The first finding of `img` with this code, or nullptr.
const finding* find_finding(const image& img, std::string_view c) {
  for (const auto& f : img.findings.kept())
    if (f.code == c) return &f;
  return nullptr;
}

// The finding `c` is there, with this severity and offset.
::testing::AssertionResult has_finding(const image& img, std::string_view c, severity level,
                                       std::uint64_t offset) {
  const finding* f = find_finding(img, c);
  if (!f) return ::testing::AssertionFailure() << "no " << c;
  if (f->level != level)
    return ::testing::AssertionFailure() << c << " is a " << severity_name(f->level);
  if (f->offset != offset)
    return ::testing::AssertionFailure()
           << c << " at " << hex(f->offset) << ", not " << hex(offset);
  return ::testing::AssertionSuccess();
}

std::string all_findings(const image& img) {
  std::string s;
  for (const auto& f : img.findings.kept()) s += std::string(f.code) + ": " + f.text() + "\n";
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
  EXPECT_FALSE(img->findings.has_errors()) << all_findings(*img);
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
    UKIKIT_NEED_INPUT(p, "linuxx64.efi.stub");
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
  put32(bytes, offsetof(dos_header, e_lfanew), static_cast<std::uint32_t>(bytes.size() + 16));
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
  put16(bytes, pe_offset + pe_signature_size + offsetof(coff_header, number_of_sections), 0xffff);
  auto r = parse(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::limit_exceeded);
}

TEST_F(stub_mutation, section_table_past_end_of_file_is_truncation) {
  put16(bytes, pe_offset + pe_signature_size + offsetof(coff_header, number_of_sections), 4000);
  auto r = parse(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::truncated);
  EXPECT_NE(r.error().message().find("section table"), std::string::npos) << r.error().message();
}

TEST_F(stub_mutation, zero_sections_is_a_violation) {
  put16(bytes, pe_offset + pe_signature_size + offsetof(coff_header, number_of_sections), 0);
  auto r = parse(bytes, strictness::strict);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(
      has_finding(*r, code::no_sections, severity::error,
                  pe_offset + pe_signature_size + offsetof(coff_header, number_of_sections)))
      << all_findings(*r);
}

TEST_F(stub_mutation, raw_data_past_end_is_an_error_when_strict_and_clipped_when_permissive) {
  put32(bytes, section_field(0, offsetof(section_header, size_of_raw_data)), 0x1000000);
  auto strict = parse(bytes, strictness::strict);
  ASSERT_TRUE(strict.ok());
  EXPECT_TRUE(has_finding(*strict, code::section_past_end, severity::error, section_field(0, 0)))
      << all_findings(*strict);
  auto loose = parse(bytes, strictness::permissive);
  ASSERT_TRUE(loose.ok());
  EXPECT_FALSE(loose->findings.has_errors());
  EXPECT_TRUE(has_finding(*loose, code::section_past_end, severity::warning, section_field(0, 0)));
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
  EXPECT_TRUE(has_finding(*r, code::section_raw_overlap, severity::error, section_field(1, 0)))
      << all_findings(*r);
  EXPECT_TRUE(has_finding(*r, code::section_overlap, severity::error, section_field(1, 0)));
  auto loose = parse(bytes, strictness::kernel); // no kernel reads PE: permissive
  ASSERT_TRUE(loose.ok());
  EXPECT_FALSE(loose->findings.has_errors()) << all_findings(*loose);
  EXPECT_TRUE(has_finding(*loose, code::section_overlap, severity::warning, section_field(1, 0)));
}

TEST_F(stub_mutation, duplicate_section_names_are_reported) {
  std::memcpy(bytes.data() + section_field(1, 0), ".text\0\0\0", 8);
  auto r = parse(bytes);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(has_finding(*r, code::duplicate_section, severity::warning, section_field(1, 0)))
      << all_findings(*r);
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
  EXPECT_TRUE(has_finding(*r, code::certificate_table_not_last, severity::error, end + 8))
      << all_findings(*r);
}

TEST_F(stub_mutation, certificate_table_inside_a_section_breaks_three_rules) {
  // The table entry points 4 bytes before the end of the last section: it
  // overlaps it, is not 8-byte aligned, and data follow it.
  const std::uint64_t dir = opt + sizeof(optional_header64) + dir_security * sizeof(data_directory);
  auto img = parse(bytes);
  ASSERT_TRUE(img.ok());
  const std::uint64_t at = img->end_of_sections() - 4;
  ASSERT_LT(at + 16, bytes.size());
  put32(bytes, dir, static_cast<std::uint32_t>(at));
  put32(bytes, dir + 4, 8);
  for (auto mode : {strictness::strict, strictness::permissive}) {
    auto r = parse(bytes, mode);
    ASSERT_TRUE(r.ok());
    const severity level = mode == strictness::strict ? severity::error : severity::warning;
    EXPECT_TRUE(has_finding(*r, code::certificate_table_overlap, level, dir)) << all_findings(*r);
    EXPECT_TRUE(has_finding(*r, code::certificate_table_unaligned, level, dir));
    EXPECT_TRUE(has_finding(*r, code::certificate_table_not_last, level, at + 8));
  }
}

TEST_F(stub_mutation, every_finding_names_its_rule) {
  // Break several rules at once: each finding has a pe. code.
  put32(bytes, section_field(0, offsetof(section_header, size_of_raw_data)), 0x1000000);
  put32(bytes, opt + opt_file_alignment_offset, 0x300);
  auto r = parse(bytes, strictness::strict);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(
      has_finding(*r, code::file_alignment, severity::error, opt + opt_file_alignment_offset));
  EXPECT_TRUE(r->findings.has_errors());
  for (const auto& f : r->findings.kept()) EXPECT_TRUE(f.code.starts_with("pe.")) << f.text();
}

TEST_F(stub_mutation, virtual_size_larger_than_raw_data_is_a_warning) {
  put32(bytes, section_field(0, offsetof(section_header, virtual_size)), 0xd000);
  auto r = parse(bytes, strictness::strict);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(has_finding(*r, code::section_zero_filled, severity::warning, section_field(0, 0)))
      << all_findings(*r);
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

// ---- writer -----------------------------------------------------------------------

namespace ukikit::pe {
namespace {

class writer_test : public ::testing::Test {
protected:
  void SetUp() override {
    UKIKIT_NEED_INPUT(p, "linuxx64.efi.stub");
    stub = t::read_file(p);
    auto img = parse(stub);
    ASSERT_TRUE(img.ok());
    image = *img;
  }

  // Build, write to the work directory, and parse back strictly.
  std::vector<std::byte> build(const editor& e) {
    auto out = e.build();
    EXPECT_TRUE(out.ok()) << out.error().message();
    if (!out.ok()) return {};
    auto bytes = out->to_vector();
    EXPECT_EQ(bytes.size(), out->size());
    t::write_file(work / "out.efi", bytes);
    return bytes;
  }

  std::string dump_section(const std::string& name) {
    auto r = t::run("objcopy --dump-section " + t::sh_quote(name + "=" + (work / "dump").string()) +
                    " " + t::sh_quote((work / "out.efi").string()) + " " +
                    t::sh_quote((work / "copy.efi").string()) + " 2>&1");
    EXPECT_EQ(r.status, 0) << r.out;
    return std::string(as_chars(t::read_file(work / "dump")));
  }

  std::vector<std::byte> stub;
  pe::image image;
  t::temp_dir dir;
  const t::fs::path& work = dir.path();
};

constexpr std::uint32_t data_flags = scn_mem_read | scn_cnt_initialized_data;

TEST_F(writer_test, appended_sections_are_where_objdump_and_objcopy_find_them) {
  UKIKIT_NEED_TOOL("objcopy");
  auto e = editor::open(image);
  ASSERT_TRUE(e.ok()) << e.error().message();
  const std::string osrel = "ID=ukikit\nNAME=\"ukikit test\"\n", cmdline = "console=ttyS0 quiet";
  std::vector<std::byte> big = t::sample_bytes(300000);
  ASSERT_TRUE(e->append(".osrel", as_bytes(osrel), data_flags).ok());
  ASSERT_TRUE(e->append(".cmdline", as_bytes(cmdline), data_flags).ok());
  ASSERT_TRUE(e->append(".linux", big, scn_mem_read | scn_cnt_code).ok());
  auto bytes = build(*e);
  auto out = parse(bytes, strictness::strict);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_FALSE(out->findings.has_errors()) << all_findings(*out);
  ASSERT_EQ(out->sections.size(), image.sections.size() + 3);
  // Existing sections keep their addresses and bytes.
  for (std::size_t i = 0; i < image.sections.size(); ++i) {
    EXPECT_EQ(out->sections[i].virtual_address, image.sections[i].virtual_address);
    EXPECT_TRUE(std::equal(image.sections[i].data().begin(), image.sections[i].data().end(),
                           out->sections[i].data().begin()));
  }
  // New ones follow, aligned, with VirtualSize = payload length.
  const auto& last_old = image.sections.back();
  const section& s_osrel = out->sections[image.sections.size()];
  EXPECT_EQ(s_osrel.virtual_address % image.section_alignment, 0u);
  EXPECT_GE(s_osrel.virtual_address, last_old.virtual_end());
  EXPECT_EQ(s_osrel.virtual_size, osrel.size());
  EXPECT_EQ(s_osrel.pointer_to_raw_data % image.file_alignment, 0u);
  EXPECT_EQ(out->find(".linux")->characteristics, scn_mem_read | scn_cnt_code);
  EXPECT_EQ(out->size_of_image % image.section_alignment, 0u);
  EXPECT_EQ(out->size_of_image, *checked_align_up<std::uint64_t>(out->find(".linux")->virtual_end(),
                                                                 image.section_alignment));
  EXPECT_EQ(out->size_of_code, image.size_of_code + big.size());
  EXPECT_EQ(out->size_of_initialized_data,
            image.size_of_initialized_data + osrel.size() + cmdline.size());
  EXPECT_EQ(out->checksum, compute_checksum(*out));
  EXPECT_EQ(out->pointer_to_symbol_table, 0u) << "the stub's symbol table is dropped";
  // objdump and objcopy agree.
  auto rows = objdump_sections(work / "out.efi");
  ASSERT_EQ(rows.size(), out->sections.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].name, out->sections[i].name);
    EXPECT_EQ(rows[i].vma, out->image_base + out->sections[i].virtual_address);
    EXPECT_EQ(rows[i].file_offset, out->sections[i].pointer_to_raw_data);
  }
  EXPECT_EQ(dump_section(".osrel"), osrel);
  EXPECT_EQ(dump_section(".cmdline"), cmdline);
  EXPECT_EQ(dump_section(".linux"), std::string(as_chars(big)));
}

TEST_F(writer_test, building_twice_gives_identical_bytes) {
  auto a = editor::open(image), b = editor::open(image);
  ASSERT_TRUE(a.ok() && b.ok());
  for (auto* e : {&*a, &*b}) ASSERT_TRUE(e->append(".cmdline", as_bytes("quiet"), data_flags).ok());
  EXPECT_EQ(a->build()->to_vector(), b->build()->to_vector());
}

TEST_F(writer_test, unchanged_image_keeps_every_section_byte) {
  auto e = editor::open(image);
  ASSERT_TRUE(e.ok());
  auto bytes = build(*e);
  // Identical up to the end of the sections, apart from four 4-byte fields
  // the editor rewrites as ukify does (reference/uki-signing-pcr.md §1.5
  // steps 1 and 6): the COFF header's PointerToSymbolTable and
  // NumberOfSymbols, zeroed because the symbol table at the end of Debian's
  // stub is dropped; SizeOfImage, the end of the last section in memory
  // rounded up to SectionAlignment (the linker's value for Debian's stub is
  // 0x100 larger); and the CheckSum. Their places are the PE/COFF
  // specification's: e_lfanew at 0x3c, the COFF header 4 bytes after it
  // (NumberOfSections at +2, PointerToSymbolTable at +8, NumberOfSymbols at
  // +12, SizeOfOptionalHeader at +16), the optional header 20 bytes after
  // that (SectionAlignment at +32, SizeOfImage at +56, CheckSum at +64),
  // then 40-byte section headers (VirtualSize at +8, VirtualAddress at +12).
  const std::size_t end = static_cast<std::size_t>(image.end_of_sections());
  ASSERT_EQ(bytes.size(), end);
  auto le = [](const std::vector<std::byte>& b, std::size_t at, std::size_t n) {
    std::uint32_t v = 0;
    for (std::size_t i = n; i-- > 0;) v = v << 8 | std::to_integer<std::uint32_t>(b[at + i]);
    return v;
  };
  auto le32 = [&](const std::vector<std::byte>& b, std::size_t at) { return le(b, at, 4); };
  const std::size_t coff = le32(stub, 0x3c) + 4, symbols = coff + 8, count = coff + 12,
                    opt = coff + 20, size_of_image = opt + 56, checksum = opt + 64;
  const std::uint32_t alignment = le32(stub, opt + 32);
  std::uint32_t image_end = 0;
  for (std::size_t i = 0, n = le(stub, coff + 2, 2); i < n; ++i) {
    const std::size_t h = opt + le(stub, coff + 16, 2) + 40 * i;
    image_end = std::max(image_end, le32(stub, h + 12) + le32(stub, h + 8));
  }
  auto in_field = [&](std::size_t i) {
    return (i >= symbols && i < symbols + 8) || (i >= size_of_image && i < size_of_image + 4) ||
           (i >= checksum && i < checksum + 4);
  };
  for (std::size_t i = 0; i < end; ++i) {
    if (!in_field(i)) {
      ASSERT_EQ(bytes[i], stub[i]) << "byte " << i;
    }
  }
  ASSERT_NE(le32(stub, symbols), 0u) << "Debian's stub has a symbol table to drop";
  EXPECT_EQ(le32(bytes, symbols), 0u);
  EXPECT_EQ(le32(bytes, count), 0u);
  EXPECT_EQ(le32(bytes, size_of_image), (image_end + alignment - 1) / alignment * alignment);
  // The CheckSum is the one osslsigncode calculates for the output: it
  // prints "PE checksum   : X" when the stored value is the one it
  // calculates, and "Current PE checksum" and "Calculated PE checksum: Y"
  // lines otherwise (as for Debian's stub itself).
  UKIKIT_NEED_TOOL("osslsigncode");
  auto r = t::run("osslsigncode verify -in " + t::sh_quote((work / "out.efi").string()) + " 2>&1");
  EXPECT_EQ(r.out.find("Calculated PE checksum"), std::string::npos) << r.out;
  const std::string label = "\nPE checksum   : ";
  const auto at = r.out.find(label);
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_EQ(le32(bytes, checksum), std::stoul(r.out.substr(at + label.size(), 8), nullptr, 16))
      << r.out;
}

TEST_F(writer_test, replace_in_place_and_remove) {
  UKIKIT_NEED_TOOL("objcopy");
  auto e = editor::open(image);
  ASSERT_TRUE(e.ok());
  const std::string sbat =
      "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n";
  ASSERT_TRUE(e->replace(".sbat", as_bytes(sbat)).ok());
  ASSERT_TRUE(e->remove(".sdmagic").ok());
  auto bytes = build(*e);
  auto out = parse(bytes, strictness::strict);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->findings.has_errors()) << all_findings(*out);
  EXPECT_EQ(out->find(".sbat")->virtual_address, image.find(".sbat")->virtual_address)
      << "replaced in place";
  EXPECT_EQ(out->find(".sbat")->virtual_size, sbat.size());
  EXPECT_EQ(out->find(".sdmagic"), nullptr);
  EXPECT_EQ(out->sections.size(), image.sections.size() - 1);
  EXPECT_EQ(dump_section(".sbat"), sbat);
  EXPECT_FALSE(e->remove(".nothere").ok());
  EXPECT_FALSE(e->replace(".nothere", as_bytes("x")).ok());
}

TEST_F(writer_test, replacement_that_would_overlap_the_next_section_moves) {
  // Debian's stub has .sdmagic 0x100 bytes after .sbat, whose raw size is
  // 0x200: 0x150 bytes fit the raw data but not the address range.
  const section* sbat = image.find(".sbat");
  const section* next = image.find(".sdmagic");
  ASSERT_TRUE(sbat && next);
  const std::size_t size = (next->virtual_address - sbat->virtual_address) + 0x50;
  ASSERT_LE(size, sbat->size_of_raw_data);
  auto e = editor::open(image);
  ASSERT_TRUE(e.ok());
  auto text = t::sample_bytes(size);
  ASSERT_TRUE(e->replace(".sbat", text).ok());
  auto bytes = build(*e);
  auto out = parse(bytes, strictness::strict);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->findings.has_errors()) << all_findings(*out);
  EXPECT_GT(out->find(".sbat")->virtual_address, image.sections.back().virtual_address);
  EXPECT_EQ(out->find(".sbat")->virtual_size, size);
}

TEST_F(writer_test, a_growing_code_section_is_refused_and_a_data_section_moves) {
  auto e = editor::open(image);
  ASSERT_TRUE(e.ok());
  auto big = t::sample_bytes(0x20000);
  auto r = e->replace(".text", big);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("code section .text cannot grow"), std::string::npos);
  ASSERT_TRUE(e->replace(".sbat", big).ok());
  auto bytes = build(*e);
  auto out = parse(bytes, strictness::strict);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->findings.has_errors()) << all_findings(*out);
  EXPECT_GT(out->find(".sbat")->virtual_address, image.sections.back().virtual_address);
}

TEST_F(writer_test, fails_cleanly_without_header_space) {
  auto e = editor::open(image);
  ASSERT_TRUE(e.ok());
  // The stub's headers end at 0x400; each section header takes 40 bytes.
  const std::uint64_t room =
      (0x400 - image.section_table_offset) / sizeof(section_header) - image.sections.size();
  for (std::uint64_t i = 0; i < room; ++i)
    ASSERT_TRUE(e->append(".s" + std::to_string(i), as_bytes("x"), data_flags).ok());
  ASSERT_TRUE(e->build().ok()) << "exactly full still fits";
  ASSERT_TRUE(e->append(".onemore", as_bytes("x"), data_flags).ok());
  auto r = e->build();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("not enough header space"), std::string::npos)
      << r.error().message();
}

TEST_F(writer_test, refuses_bad_names_duplicates_and_signed_images) {
  auto e = editor::open(image);
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->append(".toolongname", as_bytes("x"), data_flags).ok());
  EXPECT_FALSE(e->append("", as_bytes("x"), data_flags).ok());
  EXPECT_FALSE(e->append(".text", as_bytes("x"), data_flags).ok());
  UKIKIT_NEED_INPUT(kernel, "vmlinuz");
  auto k = t::read_file(kernel);
  auto signed_img = parse(k);
  ASSERT_TRUE(signed_img.ok());
  auto refused = editor::open(*signed_img);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("image is signed"), std::string::npos);
}

} // namespace
} // namespace ukikit::pe

namespace ukikit::pe {
namespace {

// Found by pe_fuzzer: a symbol-table pointer past the end of the file made
// the editor read past the input. Such a pointer explains nothing: the
// bytes after the sections are kept, at the end of the output.
TEST(pe_writer_regression, symbol_table_pointer_past_end_of_file_keeps_the_bytes) {
  UKIKIT_NEED_INPUT(path, "linuxx64.efi.stub");
  auto bytes = t::read_file(path);
  auto img = parse(bytes);
  ASSERT_TRUE(img.ok());
  put32(bytes, img->pe_offset + 4 + offsetof(coff_header, pointer_to_symbol_table),
        static_cast<std::uint32_t>(bytes.size() + 0x1000));
  auto bad = parse(bytes);
  ASSERT_TRUE(bad.ok());
  const auto end = static_cast<std::ptrdiff_t>(bad->end_of_sections());
  ASSERT_LT(end, static_cast<std::ptrdiff_t>(bytes.size())) << "the stub has a symbol table";
  auto e = editor::open(*bad);
  ASSERT_TRUE(e.ok()) << e.error().message();
  EXPECT_EQ(e->trailing().size(), bytes.size() - static_cast<std::size_t>(end));
  auto built = e->build();
  ASSERT_TRUE(built.ok()) << built.error().message();
  const auto out = built->to_vector();
  auto parsed = parse(out);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(std::equal(bytes.begin() + end, bytes.end(),
                         out.begin() + static_cast<std::ptrdiff_t>(parsed->end_of_sections())));
  EXPECT_EQ(out.size(), parsed->end_of_sections() + e->trailing().size());
  EXPECT_EQ(parsed->checksum, compute_checksum(*parsed));
}

// Bytes after the last section that no symbol table explains (Debian 12's
// arm64 stub has its SBAT and LoaderInfo texts there) are not loaded, and
// are kept after the sections added, where Authenticode hashes them.
TEST(pe_writer, keeps_unexplained_bytes_after_the_sections_at_the_end) {
  UKIKIT_NEED_INPUT(path, "linuxx64.efi.stub");
  auto bytes = t::read_file(path);
  auto img = parse(bytes);
  ASSERT_TRUE(img.ok());
  put32(bytes, img->pe_offset + 4 + offsetof(coff_header, pointer_to_symbol_table), 0);
  put32(bytes, img->pe_offset + 4 + offsetof(coff_header, number_of_symbols), 0);
  const std::string tail = "#### LoaderInfo: systemd-stub 252.1 ####";
  for (char c : tail) bytes.push_back(static_cast<std::byte>(c));
  auto with_tail = parse(bytes);
  ASSERT_TRUE(with_tail.ok());
  const auto end = static_cast<std::ptrdiff_t>(with_tail->end_of_sections());
  auto e = editor::open(*with_tail);
  ASSERT_TRUE(e.ok()) << e.error().message();
  const std::string linux_data(5000, 'k');
  ASSERT_TRUE(e->append(".linux", as_bytes(linux_data), scn_mem_read | scn_cnt_code).ok());
  auto built = e->build();
  ASSERT_TRUE(built.ok()) << built.error().message();
  const auto out = built->to_vector();
  auto parsed = parse(out, strictness::strict);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  const auto tail_at = static_cast<std::ptrdiff_t>(parsed->end_of_sections());
  EXPECT_TRUE(std::equal(bytes.begin() + end, bytes.end(), out.begin() + tail_at));
  EXPECT_EQ(out.size() - static_cast<std::size_t>(tail_at),
            bytes.size() - static_cast<std::size_t>(end));
  const auto linux_out = parsed->find(".linux")->data();
  EXPECT_TRUE(std::equal(linux_out.begin(), linux_out.end(), as_bytes(linux_data).begin(),
                         as_bytes(linux_data).end()));
  EXPECT_EQ(parsed->checksum, compute_checksum(*parsed));
}

} // namespace
} // namespace ukikit::pe
