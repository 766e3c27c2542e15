#include <ukikit/authenticode.hpp>
#include <ukikit/compress.hpp>
#include <ukikit/pe.hpp>
#include <ukikit/pe_writer.hpp>
#include <ukikit/uki.hpp>
#include <ukikit/uki/pcr.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace ukikit::uki {
namespace {

namespace t = ukikit::test;

std::string all_findings(const std::vector<finding>& findings) {
  std::string s;
  for (const auto& f : findings) s += std::string(f.code) + ": " + f.text() + "\n";
  return s;
}
std::string all_findings(const finding_log& log) { return all_findings(log.kept()); }

// The first finding with code `c`, or nullptr: tests decide by code, as
// callers do, never by message text.
const finding* with_code(const std::vector<finding>& findings, std::string_view c) {
  for (const auto& f : findings)
    if (f.code == c) return &f;
  return nullptr;
}
const finding* with_code(const finding_log& log, std::string_view c) {
  return with_code(log.kept(), c);
}

// The finding `c` is there, with this severity and absolute offset.
template <class Findings>
::testing::AssertionResult has_finding(const Findings& findings, std::string_view c, severity level,
                                       std::uint64_t offset) {
  const finding* f = with_code(findings, c);
  if (!f) return ::testing::AssertionFailure() << "no " << c << " in\n" << all_findings(findings);
  if (f->level != level)
    return ::testing::AssertionFailure() << c << " is a " << severity_name(f->level);
  if (f->offset != offset)
    return ::testing::AssertionFailure()
           << c << " at " << hex(f->offset) << ", not " << hex(offset);
  return ::testing::AssertionSuccess();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// ---- section roles -----------------------------------------------------------------

TEST(uki_sections, roles_follow_systemd_measurement_order) {
  // src/fundamental/uki.h, "PLEASE DO NOT REORDER" (reference §1.1).
  const std::vector<std::string_view> order{
      ".linux", ".osrel",  ".cmdline", ".initrd",  ".ucode",   ".splash", ".dtb",  ".uname",
      ".sbat",  ".pcrsig", ".pcrpkey", ".profile", ".dtbauto", ".hwids",  ".efifw"};
  ASSERT_EQ(order.size(), section_kind_count);
  for (std::size_t i = 0; i < order.size(); ++i) {
    auto k = kind_of(order[i]);
    ASSERT_TRUE(k) << order[i];
    EXPECT_EQ(index_of(*k), i) << order[i];
    EXPECT_EQ(name(*k), order[i]);
  }
}

TEST(uki_sections, pcrsig_is_the_only_section_never_measured) {
  for (const auto& r : section_roles)
    EXPECT_EQ(r.measured, r.kind != section_kind::pcrsig) << r.name;
}

TEST(uki_sections, only_dtbauto_and_efifw_may_repeat_within_a_profile) {
  for (const auto& r : section_roles)
    EXPECT_EQ(r.multiple, r.kind == section_kind::dtbauto || r.kind == section_kind::efifw)
        << r.name;
}

TEST(uki_sections, text_sections_are_those_ukify_inspect_shows_as_text) {
  const std::vector<std::string_view> text{".cmdline", ".osrel", ".uname",  ".pcrpkey",
                                           ".pcrsig",  ".sbat",  ".profile"};
  for (const auto& r : section_roles)
    EXPECT_EQ(r.text, std::find(text.begin(), text.end(), r.name) != text.end()) << r.name;
}

TEST(uki_sections, kind_of_rejects_other_names) {
  for (std::string_view n :
       {".text", ".reloc", ".LINUX", ".linux2", "linux", "", ".sbom", ".machdb"})
    EXPECT_FALSE(kind_of(n)) << n;
}

// ---- os-release -----------------------------------------------------------------------

// What sh sees for KEY after sourcing FILE.
std::string sh_value(const t::fs::path& file, const std::string& key) {
  auto r = t::run("sh -c " +
                  t::sh_quote(". " + t::sh_quote(file.string()) + "; printf %s \"$" + key + "\""));
  EXPECT_EQ(r.status, 0) << key;
  return r.out;
}

// The keys sed finds at the start of assignment lines, in file order.
std::vector<std::string> sed_keys(const t::fs::path& file) {
  auto r =
      t::run("sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\1/p' " + t::sh_quote(file.string()));
  EXPECT_EQ(r.status, 0);
  return lines_of(r.out);
}

void expect_like_sh(const os_release& parsed, const t::fs::path& file) {
  for (const auto& e : parsed.entries) {
    auto value = parsed.get(e.key);
    ASSERT_TRUE(value);
    EXPECT_EQ(*value, sh_value(file, e.key)) << e.key;
  }
}

TEST(os_release_parser, reads_this_machines_os_release_as_sh_does) {
  for (const char* name : {"/etc/os-release", "/usr/lib/os-release"}) {
    t::fs::path file(name);
    if (!t::fs::exists(file)) continue;
    auto text = t::read_file(file);
    auto parsed = parse_os_release(as_chars(text), strictness::strict);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    std::vector<std::string> keys;
    for (const auto& e : parsed->entries) keys.push_back(e.key);
    EXPECT_EQ(keys, sed_keys(file)) << name;
    EXPECT_FALSE(keys.empty());
    expect_like_sh(*parsed, file);
  }
}

TEST(os_release_parser, unquotes_and_unescapes_as_sh_does) {
  t::temp_dir dir;
  const std::string text = "# a comment\n"
                           "\n"
                           "PLAIN=debian\n"
                           "DOUBLE=\"Debian GNU/Linux 12 (bookworm)\"\n"
                           "SINGLE='single \\ quoted $HOME `x` \"y\"'\n"
                           "ESCAPES=\"dollar \\$ backtick \\` quote \\\" backslash \\\\ end\"\n"
                           "EMPTY=\n"
                           "EMPTY_QUOTED=\"\"\n"
                           "UTF8=\"Gr\xc3\xbc\xc3\x9f\x65 \xe2\x80\x93 \xe2\x9c\x93\"\n"
                           "COMMENTED=\"x\" # a trailing comment\n"
                           "   INDENTED=yes\n"
                           "VERSION_ID=3.18.4\n"
                           "HOME_URL=https://alpinelinux.org/\n"
                           "HASH_INSIDE=\"a#b\"\n"
                           "REASSIGNED=1\n"
                           "REASSIGNED=2\n";
  t::write_file(dir / "os-release", text);
  auto parsed = parse_os_release(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->entries.size(), 14u);
  EXPECT_EQ(parsed->findings.total(), 3u) << all_findings(parsed->findings);
  expect_like_sh(*parsed, dir / "os-release");
  EXPECT_EQ(parsed->get("REASSIGNED"), "2");
  EXPECT_TRUE(has_finding(parsed->findings, code::osrel_duplicate_key, severity::note,
                          text.find("REASSIGNED=2")));
  EXPECT_TRUE(has_finding(parsed->findings, code::osrel_trailing_comment, severity::note,
                          text.find("# a trailing")));
  EXPECT_TRUE(has_finding(parsed->findings, code::osrel_leading_whitespace, severity::note,
                          text.find("   INDENTED")));
  EXPECT_EQ(parsed->entries[0].key, "PLAIN");
  EXPECT_EQ(parsed->entries[0].line, 3u);
  EXPECT_EQ(parsed->entries[0].offset, text.find("PLAIN"));
}

TEST(os_release_parser, accepts_a_trailing_nul) {
  using namespace std::string_view_literals;
  auto parsed = parse_os_release("ID=debian\n\0"sv, strictness::strict);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->trailing_nuls, 1u);
  EXPECT_EQ(parsed->get("ID"), "debian");
}

struct bad_text {
  std::string text;
  std::size_t offset; // expected error offset within text
  std::string message;
};

class os_release_rejects : public ::testing::TestWithParam<bad_text> {};

TEST_P(os_release_rejects, with_the_offset_of_the_offending_byte) {
  const auto& c = GetParam();
  constexpr std::uint64_t base = 0x1000;
  for (auto mode : {strictness::permissive, strictness::strict}) {
    auto parsed = parse_os_release(c.text, mode, base);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.error().offset(), base + c.offset) << parsed.error().message();
    EXPECT_NE(parsed.error().message().find(c.message), std::string::npos)
        << parsed.error().message();
  }
}

INSTANTIATE_TEST_SUITE_P(
    malformed, os_release_rejects,
    ::testing::Values(bad_text{"ID\n", 2, "no '=' after ID"},
                      bad_text{"1D=x\n", 0, "key must start with a letter"},
                      bad_text{"I-D=x\n", 1, "invalid character '-' in key"},
                      bad_text{"ID =x\n", 2, "whitespace before '='"},
                      bad_text{"A=1\nID=\"abc\nB=2\n", 7, "line 2: unterminated double quote"},
                      bad_text{"ID='abc\n", 3, "unterminated single quote"},
                      bad_text{"ID=\"a$b\"\n", 5, "variable expansion"},
                      bad_text{"ID=a`b`\n", 4, "command substitution"},
                      bad_text{"ID=\"a\\\nb\"\n", 5, "line continuation"},
                      bad_text{"ID=a\\\nb\n", 4, "line continuation"},
                      bad_text{"ID=debian linux\n", 9, "unquoted whitespace in value"},
                      bad_text{"ID= debian\n", 3, "unquoted whitespace in value"},
                      bad_text{"ID=a;b\n", 4, "unquoted ';'"},
                      bad_text{"HOME_URL=~/x\n", 9, "unquoted '~'"},
                      bad_text{std::string("A=1\0B=2\n", 8), 3, "NUL byte inside"}));

TEST(os_release_parser, strict_mode_rejects_what_permissive_tolerates_like_sh) {
  struct tolerated {
    std::string text, message;
    std::string_view code;
    std::size_t offset; // of the offending byte
  };
  const std::vector<tolerated> cases{
      {"NAME=Debian*\n", "value with '*' must be quoted", code::osrel_unquoted_special, 11},
      {"ID=a#b\n", "value with '#' must be quoted", code::osrel_unquoted_special, 4},
      {"ID=\"deb\"'ian'\n", "concatenated strings", code::osrel_concatenation, 8},
      {"ID=deb\"ian\"\n", "concatenated strings", code::osrel_concatenation, 6},
      {"ID=\"a\\qb\"\n", "backslash before 'q'", code::osrel_stray_backslash, 5},
      {"ID=a\\ b\n", "backslash escape outside quotes", code::osrel_unquoted_escape, 4},
      {"ID=debian\r\n", "ends with CR", code::osrel_crlf, 9},
  };
  t::temp_dir dir;
  constexpr std::uint64_t base = 0x300;
  for (const auto& [text, message, c, offset] : cases) {
    auto strict = parse_os_release(text, strictness::strict, base); // an error
    ASSERT_FALSE(strict.ok()) << text;
    EXPECT_EQ(strict.error().offset(), base + offset) << strict.error().message();
    EXPECT_NE(strict.error().message().find(message), std::string::npos)
        << strict.error().message();
    for (auto mode : {strictness::permissive, strictness::kernel}) { // a warning with its code
      auto tolerant = parse_os_release(text, mode, base);
      ASSERT_TRUE(tolerant.ok()) << tolerant.error().message();
      EXPECT_TRUE(has_finding(tolerant->findings, c, severity::warning, base + offset)) << text;
    }
    auto permissive = parse_os_release(text);
    ASSERT_TRUE(permissive.ok()) << permissive.error().message();
    if (text.find('\r') != std::string::npos) continue; // sh keeps the CR; we drop it
    t::write_file(dir / "os-release", text);
    expect_like_sh(*permissive, dir / "os-release");
  }
}

// ---- .profile ---------------------------------------------------------------------------

TEST(profile_parser, reads_id_and_title_as_in_uapi5) {
  auto p = parse_profile("ID=factory-reset\nTITLE=\"Reset Device to Factory Defaults\"\n",
                         strictness::strict);
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->id, "factory-reset");
  EXPECT_EQ(p->title, "Reset Device to Factory Defaults");
  EXPECT_TRUE(p->fields.findings.empty()) << all_findings(p->fields.findings);
}

TEST(profile_parser, wants_a_7bit_ascii_id) {
  const std::string text = "ID=\"f\xc3\xa4"
                           "ctory\"\n";
  auto strict = parse_profile(text, strictness::strict);
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.error().message().find("7-bit ASCII"), std::string::npos);
  auto permissive = parse_profile(text);
  ASSERT_TRUE(permissive.ok());
  EXPECT_TRUE(
      has_finding(permissive->fields.findings, code::profile_id_not_ascii, severity::warning, 0));
  EXPECT_FALSE(parse_profile("ID=\"two words\"\n", strictness::strict).ok());
}

TEST(profile_parser, reports_fields_uapi5_does_not_define) {
  auto p = parse_profile("ID=regular\nCOLOR=blue\n");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(has_finding(p->fields.findings, code::profile_unknown_field, severity::note, 11));
  EXPECT_FALSE(p->title);
}

TEST(profile_parser, rejects_what_os_release_rejects) {
  auto p = parse_profile("ID=regular TITLE=\"Regular boot\"\n", strictness::permissive, 0x200);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().offset(), 0x200u + 10);
  EXPECT_NE(p.error().message().find(".profile: line 1"), std::string::npos);
}

// ---- cmdline -----------------------------------------------------------------------------

std::vector<std::string> params(const cmdline& c) {
  std::vector<std::string> out;
  for (const auto& w : c.words) out.push_back(w.param);
  return out;
}

TEST(cmdline_parser, hands_over_what_systemd_stub_makes_of_the_section) {
  using namespace std::string_view_literals;
  auto c = parse_cmdline(" \tquiet\tsplash\x01root=/dev/vda1  \n"sv);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->text, "quiet splash root=/dev/vda1");
  EXPECT_TRUE(c->trailing_newline);
  EXPECT_EQ(c->trailing_nuls, 0u);
  EXPECT_TRUE(has_finding(c->findings, code::cmdline_leading_whitespace, severity::note, 0));
  EXPECT_TRUE(has_finding(c->findings, code::cmdline_control_character, severity::note, 7));
  EXPECT_TRUE(has_finding(c->findings, code::cmdline_trailing_whitespace, severity::note, 30));
  EXPECT_EQ(params(*c), (std::vector<std::string>{"quiet", "splash", "root"}));

  auto nul = parse_cmdline("console=ttyS0\0"sv, strictness::strict);
  ASSERT_TRUE(nul.ok());
  EXPECT_EQ(nul->raw, "console=ttyS0");
  EXPECT_EQ(nul->trailing_nuls, 1u);
  EXPECT_FALSE(nul->trailing_newline);
  EXPECT_TRUE(nul->findings.empty()) << all_findings(nul->findings);
}

TEST(cmdline_parser, bytes_after_a_nul_are_ignored_and_reported) {
  using namespace std::string_view_literals;
  auto permissive = parse_cmdline("quiet\0junk"sv, strictness::permissive, 0x400);
  ASSERT_TRUE(permissive.ok());
  EXPECT_EQ(permissive->text, "quiet");
  EXPECT_TRUE(has_finding(permissive->findings, code::cmdline_after_nul, severity::warning, 0x405));
  auto strict = parse_cmdline("quiet\0junk"sv, strictness::strict, 0x400);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.error().offset(), 0x405u);
}

TEST(cmdline_parser, splits_words_as_the_kernels_next_arg) {
  const std::string text =
      "root=/dev/vda1 \"quoted word\" dyndbg=\"file x.c +p\" a\"b c\"d -- init arg";
  auto c = parse_cmdline(text, strictness::strict, 0x100);
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->words.size(), 7u);
  EXPECT_EQ(c->words[0].param, "root");
  EXPECT_EQ(c->words[0].value, "/dev/vda1");
  EXPECT_EQ(c->words[1].param, "quoted word");
  EXPECT_FALSE(c->words[1].value);
  EXPECT_EQ(c->words[1].raw, "\"quoted word\"");
  EXPECT_EQ(c->words[1].offset, 0x100u + text.find('"'));
  EXPECT_EQ(c->words[2].param, "dyndbg");
  EXPECT_EQ(c->words[2].value, "file x.c +p");
  EXPECT_EQ(c->words[3].param, "a\"b c\"d"); // quotes inside a word stay
  EXPECT_EQ(c->words[4].param, "--");
  EXPECT_EQ(c->init_args, 5u);
  EXPECT_EQ(c->words[5].param, "init");
  EXPECT_EQ(c->words[6].param, "arg");
}

TEST(cmdline_parser, follows_the_kernels_quirks) {
  struct expectation {
    std::string text, param;
    std::optional<std::string> value;
  };
  for (const auto& e : std::vector<expectation>{
           {"=foo", "=foo", std::nullopt}, // an '=' first is not a separator
           {"=a=b", "=a", "b"},
           {"a=", "a", ""},
           {"\"a=b c\"", "a", "b c"},
           {"a=\"", "a", ""},
           {"a=\"b\"c", "a", "b\"c"}, // the closing quote is removed only at the end
       }) {
    auto c = parse_cmdline(e.text);
    ASSERT_TRUE(c.ok());
    ASSERT_EQ(c->words.size(), 1u) << e.text;
    EXPECT_EQ(c->words[0].param, e.param) << e.text;
    EXPECT_EQ(c->words[0].value, e.value) << e.text;
  }
  auto open = parse_cmdline("quiet \"unbalanced rest of line");
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(params(*open), (std::vector<std::string>{"quiet", "unbalanced rest of line"}));
  EXPECT_TRUE(has_finding(open->findings, code::cmdline_unbalanced_quote, severity::note, 6));
}

// ---- uname ---------------------------------------------------------------------------------

TEST(uname_parser, accepts_this_machines_uname_r) {
  auto r = t::run("uname -r");
  ASSERT_EQ(r.status, 0);
  auto u = parse_uname(r.out, strictness::strict);
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_TRUE(u->trailing_newline);
  EXPECT_EQ(std::string(u->release) + "\n", r.out);
}

TEST(uname_parser, accepts_trailing_nuls) {
  using namespace std::string_view_literals;
  auto u = parse_uname("6.1.0-56-amd64\0\0"sv, strictness::strict);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->release, "6.1.0-56-amd64");
  EXPECT_EQ(u->trailing_nuls, 2u);
  EXPECT_FALSE(u->trailing_newline);
}

TEST(uname_parser, rejects_what_is_not_one_release) {
  const std::vector<bad_text> cases{
      {"", 0, "empty"},
      {"\n", 0, "empty"},
      {"6.1.0\n6.2.0\n", 5, "more than one line"},
      {"6.1.0 amd64", 5, "whitespace or control character"},
      {"6.1.0\t", 5, "whitespace or control character"},
      {std::string(65, '6'), 64, "longer than the kernel's limit (65 > 64 bytes)"},
  };
  for (const auto& c : cases) {
    auto u = parse_uname(c.text, strictness::permissive, 0x10);
    ASSERT_FALSE(u.ok()) << c.text;
    EXPECT_EQ(u.error().offset(), 0x10 + c.offset) << u.error().message();
    EXPECT_NE(u.error().message().find(c.message), std::string::npos) << u.error().message();
  }
  EXPECT_FALSE(parse_uname("6.1.0-\xc3\xa4", strictness::strict).ok());
  EXPECT_TRUE(parse_uname("6.1.0-\xc3\xa4").ok());
}

// ---- SBAT -----------------------------------------------------------------------------------

TEST(sbat_parser, reads_the_real_stubs_sbat_as_objcopy_and_awk_split_it) {
  UKIKIT_NEED_TOOL("objcopy");
  UKIKIT_NEED_INPUT(stub_path, "linuxx64.efi.stub");
  t::temp_dir dir;
  // objcopy rewrites its input when given no output: work on copies.
  t::fs::copy_file(stub_path, dir / "stub.efi");
  auto dump = t::run("objcopy --dump-section .sbat=" + t::sh_quote((dir / "sbat").string()) + " " +
                     t::sh_quote((dir / "stub.efi").string()) + " " +
                     t::sh_quote((dir / "scratch.efi").string()));
  ASSERT_EQ(dump.status, 0);
  auto fields = t::run("tr -d '\\000' < " + t::sh_quote((dir / "sbat").string()) +
                       " | awk -F, 'NF { for (i = 1; i <= NF; i++) print $i }'");
  ASSERT_EQ(fields.status, 0);
  const auto expected = lines_of(fields.out);

  auto bytes = t::read_file(stub_path);
  auto img = pe::parse(bytes);
  ASSERT_TRUE(img.ok());
  const pe::section* s = img->find(".sbat");
  ASSERT_NE(s, nullptr);
  auto parsed = parse_sbat(*s, strictness::strict);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  std::vector<std::string> got;
  for (const auto& e : parsed->entries) {
    for (std::string_view f : {e.component_name, std::string_view(), e.vendor_name,
                               e.vendor_package_name, e.vendor_version, e.vendor_url})
      got.emplace_back(f);
    got[got.size() - 5] = std::to_string(e.component_generation);
  }
  EXPECT_EQ(got, expected);
  EXPECT_GE(parsed->entries.size(), 2u);
  EXPECT_EQ(parsed->entries[0].component_name, "sbat");
  EXPECT_EQ(parsed->entries[1].component_name, "systemd");
  EXPECT_EQ(parsed->entries[0].offset, s->pointer_to_raw_data);
}

TEST(sbat_parser, reads_ukifys_merged_sbat_with_its_trailing_nul) {
  using namespace std::string_view_literals;
  // reference §2.4: the header row, then the default UKI row, "\n\0" at the end.
  const auto text =
      "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"
      "uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n\0"sv;
  auto parsed = parse_sbat(text, strictness::strict);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  ASSERT_EQ(parsed->entries.size(), 2u);
  EXPECT_EQ(parsed->trailing_nuls, 1u);
  const auto& uki = parsed->entries[1];
  EXPECT_EQ(uki.component_name, "uki");
  EXPECT_EQ(uki.component_generation, 1u);
  EXPECT_EQ(uki.vendor_name, "UKI");
  EXPECT_EQ(uki.vendor_package_name, "uki");
  EXPECT_EQ(uki.vendor_version, "1");
  EXPECT_EQ(uki.vendor_url, "https://uapi-group.org/specifications/specs/unified_kernel_image/");
  EXPECT_EQ(uki.line, 2u);
  EXPECT_TRUE(parsed->findings.empty()) << all_findings(parsed->findings);
}

const std::string sbat_header =
    "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n";

class sbat_rejects : public ::testing::TestWithParam<bad_text> {};

TEST_P(sbat_rejects, with_the_line_and_offset) {
  const auto& c = GetParam();
  auto parsed = parse_sbat(c.text, strictness::permissive, 0x800);
  ASSERT_FALSE(parsed.ok()) << c.text;
  EXPECT_EQ(parsed.error().offset(), 0x800 + c.offset) << parsed.error().message();
  EXPECT_NE(parsed.error().message().find(c.message), std::string::npos)
      << parsed.error().message();
}

INSTANTIATE_TEST_SUITE_P(
    malformed, sbat_rejects,
    ::testing::Values(bad_text{sbat_header + "systemd,1,The systemd Developers,systemd,252\n",
                               sbat_header.size(), "line 2: 5 fields, SBAT rows have 6"},
                      bad_text{sbat_header + "systemd,0,a,b,c,d\n", sbat_header.size() + 8,
                               "line 2: component_generation '0' is not a decimal number"},
                      bad_text{sbat_header + "systemd,x1,a,b,c,d\n", sbat_header.size() + 8,
                               "component_generation 'x1'"},
                      bad_text{sbat_header + "systemd,-1,a,b,c,d\n", sbat_header.size() + 8,
                               "component_generation '-1'"},
                      bad_text{sbat_header + "systemd,4294967296,a,b,c,d\n", sbat_header.size() + 8,
                               "component_generation '4294967296'"},
                      bad_text{sbat_header + "systemd,1,,b,c,d\n", sbat_header.size() + 10,
                               "line 2: vendor_name is empty"},
                      bad_text{"systemd,1,a,b,c,d\n", 0, "first row must be the SBAT version row"},
                      bad_text{"sbat,2,SBAT Version,sbat,2,https://example.com\n", 0,
                               "SBAT format version 2 is not supported"},
                      bad_text{"", 0, "no SBAT rows"}, bad_text{"\n\r\n", 0, "no SBAT rows"},
                      bad_text{sbat_header + std::string("\0x\n", 3), sbat_header.size(),
                               "NUL byte inside"}));

TEST(sbat_parser, tolerates_what_shim_tolerates) {
  const std::string text =
      "\xef\xbb\xbf" + sbat_header.substr(0, sbat_header.size() - 1) + "\r\n\nsystemd,1,a,b,c,d\n";
  auto parsed = parse_sbat(text, strictness::strict);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  ASSERT_EQ(parsed->entries.size(), 2u);
  EXPECT_EQ(parsed->entries[0].vendor_url, "https://github.com/rhboot/shim/blob/main/SBAT.md");
  EXPECT_EQ(parsed->entries[1].line, 3u);
  EXPECT_TRUE(has_finding(parsed->findings, code::sbat_bom, severity::note, 0));
  EXPECT_TRUE(has_finding(parsed->findings, code::sbat_cr, severity::note, sbat_header.size() + 2));
  EXPECT_TRUE(
      has_finding(parsed->findings, code::sbat_blank_line, severity::note, sbat_header.size() + 4));
}

TEST(sbat_parser, extra_fields_are_an_error_only_when_strict) {
  const std::string text = sbat_header + "systemd,1,a,b,c,https://x,extra\n";
  auto strict = parse_sbat(text, strictness::strict);
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.error().message().find("7 fields"), std::string::npos);
  auto permissive = parse_sbat(text);
  ASSERT_TRUE(permissive.ok());
  EXPECT_EQ(permissive->entries[1].vendor_url, "https://x");
}

TEST(sbat_parser, reports_a_component_listed_twice) {
  auto parsed = parse_sbat(sbat_header + "systemd,1,a,b,c,d\nsystemd,2,a,b,c,d\n");
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(has_finding(parsed->findings, code::sbat_duplicate_component, severity::note,
                          sbat_header.size() + 18));
}

// ---- the UKI view ----------------------------------------------------------------------------

// A UKI assembled with pe::editor from the real stub. Section data are kept
// in a deque so that the spans the editor plans stay valid.
struct assembled {
  std::vector<std::byte> stub;
  std::deque<std::string> data;
  std::vector<std::byte> bytes;
  result<pe::image> image = error(errc::invalid_argument, "not built");
};

// pe::editor refuses a second section of a name, which multi-profile UKIs
// need (ukify --join-profile writes them): such sections are added under a
// placeholder name, renamed in the built bytes, and the CheckSum redone.
void rename_placeholders(std::vector<std::byte>& bytes,
                         const std::vector<std::pair<std::string, std::string>>& renames) {
  auto img = pe::parse(bytes);
  ASSERT_TRUE(img.ok()) << img.error().message();
  for (const auto& s : img->sections)
    for (const auto& [placeholder, real] : renames)
      if (s.name == placeholder)
        for (std::size_t i = 0; i < 8; ++i)
          bytes[s.header_offset + i] = static_cast<std::byte>(i < real.size() ? real[i] : '\0');
  const std::uint64_t at = img->checksum_offset();
  std::array<byte_span, 1> all{byte_span(bytes)};
  const std::uint32_t sum = pe::compute_checksum(all, at);
  for (std::size_t i = 0; i < 4; ++i)
    bytes[at + i] = static_cast<std::byte>((sum >> (8 * i)) & 0xff);
}

void assemble(assembled& out, const t::fs::path& stub,
              const std::vector<std::pair<std::string, std::string>>& sections,
              const std::vector<std::byte>* linux_data = nullptr) {
  out.stub = t::read_file(stub);
  auto img = pe::parse(out.stub);
  ASSERT_TRUE(img.ok()) << img.error().message();
  auto ed = pe::editor::open(*img);
  ASSERT_TRUE(ed.ok()) << ed.error().message();
  std::vector<std::string> used;
  for (const auto& s : img->sections) used.push_back(s.name);
  std::vector<std::pair<std::string, std::string>> renames;
  for (const auto& [name, text] : sections) {
    byte_span data = as_bytes(out.data.emplace_back(text));
    std::uint32_t flags = pe::scn_mem_read | pe::scn_cnt_initialized_data;
    if (name == ".linux") {
      flags = pe::scn_mem_read | pe::scn_cnt_code;
      if (linux_data) data = *linux_data;
    }
    std::string as = name;
    if (std::find(used.begin(), used.end(), name) != used.end()) {
      as = "~" + std::to_string(renames.size());
      renames.emplace_back(as, name);
    }
    used.push_back(name);
    auto r = ed->append(as, data, flags);
    ASSERT_TRUE(r.ok()) << r.error().message();
  }
  auto planned = ed->build();
  ASSERT_TRUE(planned.ok()) << planned.error().message();
  out.bytes = planned->to_vector();
  if (!renames.empty()) rename_placeholders(out.bytes, renames);
  out.image = pe::parse(out.bytes);
  ASSERT_TRUE(out.image.ok()) << out.image.error().message();
  EXPECT_EQ(pe::compute_checksum(*out.image), out.image->checksum);
}

std::string text_of(const section_entry* e) {
  return e ? std::string(section_text(*e->section)) : std::string("<none>");
}

TEST(uki_view, single_profile_uki_uses_its_base_sections) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  assembled uki;
  assemble(uki, stub, {{".osrel", "ID=debian\n"}, {".cmdline", "quiet"}, {".linux", "kernel"}});
  view v(*uki.image);
  EXPECT_TRUE(v.is_uki());
  EXPECT_FALSE(v.is_addon());
  EXPECT_EQ(v.profile_count(), 0u);
  EXPECT_EQ(v.base().size(), v.sections().size());
  auto r = v.resolve();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_FALSE(r->profile);
  EXPECT_EQ(text_of(r->find(section_kind::osrel)), "ID=debian\n");
  EXPECT_EQ(text_of(r->find(section_kind::cmdline)), "quiet");
  EXPECT_EQ(text_of(r->find(section_kind::linux_)), "kernel");
  ASSERT_NE(r->find(section_kind::sbat), nullptr); // the stub's own .sbat
  EXPECT_EQ(r->find(section_kind::initrd), nullptr);
  EXPECT_TRUE(r->duplicates.empty());
  for (const auto& e : v.sections())
    if (e.section->name == ".text" || e.section->name == ".reloc") {
      EXPECT_FALSE(e.kind);
    }
  EXPECT_FALSE(v.resolve(1).ok());
  EXPECT_TRUE(v.findings().empty()) << all_findings(v.findings());
}

// Profiles as in UAPI.5's example, with a duplicate .cmdline in @1 and none
// in @2. The Debian stub's headers have room for 7 more sections.
const std::vector<std::pair<std::string, std::string>> multi_profile{
    {".cmdline", "quiet"},
    {".linux", "kernel"},
    {".profile", "ID=regular\nTITLE=\"Regular boot\"\n"},
    {".profile", "ID=factory-reset\nTITLE=\"Reset Device to Factory Defaults\"\n"},
    {".cmdline", "quiet systemd.unit=factory-reset.target"},
    {".cmdline", "never used"},
    {".profile", "ID=storagetm\nTITLE=\"Boot into Storage Target Mode\"\n"},
};

TEST(uki_view, profiles_override_the_base_and_the_first_match_wins) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  assembled uki;
  assemble(uki, stub, multi_profile);
  view v(*uki.image);
  ASSERT_EQ(v.profile_count(), 3u);
  EXPECT_TRUE(v.is_uki());
  ASSERT_TRUE(v.profile(1).ok());
  EXPECT_EQ(v.profile(1)->size(), 3u);

  auto p0 = v.resolve(0);
  ASSERT_TRUE(p0.ok());
  EXPECT_EQ(p0->profile, 0u);
  EXPECT_EQ(text_of(p0->find(section_kind::cmdline)), "quiet");
  EXPECT_EQ(p0->find(section_kind::osrel), nullptr);
  ASSERT_NE(p0->find(section_kind::sbat), nullptr); // the stub's own, in the base
  auto meta = parse_profile(*p0->find(section_kind::profile)->section, strictness::strict);
  ASSERT_TRUE(meta.ok()) << meta.error().message();
  EXPECT_EQ(meta->id, "regular");
  EXPECT_TRUE(p0->duplicates.empty());

  auto p1 = v.resolve(1);
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(text_of(p1->find(section_kind::cmdline)), "quiet systemd.unit=factory-reset.target");
  EXPECT_EQ(p1->find(section_kind::cmdline)->profile, 1u);
  EXPECT_EQ(text_of(p1->find(section_kind::linux_)), "kernel");
  EXPECT_FALSE(p1->find(section_kind::linux_)->profile); // from the base
  EXPECT_EQ(parse_profile(*p1->find(section_kind::profile)->section)->title,
            "Reset Device to Factory Defaults");
  ASSERT_EQ(p1->duplicates.size(), 1u);
  EXPECT_EQ(p1->duplicates[0].kind, section_kind::cmdline);
  EXPECT_EQ(section_text(*p1->duplicates[0].ignored.section), "never used");
  EXPECT_EQ(section_text(*p1->duplicates[0].used.section),
            "quiet systemd.unit=factory-reset.target");

  auto p2 = v.resolve(2);
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(text_of(p2->find(section_kind::cmdline)), "quiet"); // none in @2: the base's
  EXPECT_EQ(parse_profile(*p2->find(section_kind::profile)->section)->id, "storagetm");
  EXPECT_TRUE(p2->duplicates.empty());

  auto p3 = v.resolve(3);
  ASSERT_FALSE(p3.ok());
  EXPECT_NE(p3.error().message().find("no profile @3"), std::string::npos);

  EXPECT_EQ(v.duplicates().size(), 1u);
  EXPECT_TRUE(has_finding(v.findings(), code::duplicate_section, severity::warning,
                          p1->duplicates[0].ignored.section->header_offset));
}

TEST(uki_view, profile_ranges_follow_the_section_table_objdump_lists) {
  UKIKIT_NEED_TOOL("objdump");
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  assembled uki;
  assemble(uki, stub, multi_profile);
  t::temp_dir dir;
  t::write_file(dir / "uki.efi", uki.bytes);
  auto r = t::run("objdump -h " + t::sh_quote((dir / "uki.efi").string()) +
                  " | awk '$1 ~ /^[0-9]+$/ { print $2 }'");
  ASSERT_EQ(r.status, 0);
  const auto names = lines_of(r.out);
  view v(*uki.image);
  ASSERT_EQ(names.size(), v.sections().size());
  std::optional<std::size_t> profile;
  std::size_t profiles = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == ".profile") profile = profiles++;
    const auto& e = v.sections()[i];
    EXPECT_EQ(e.section->name, names[i]);
    EXPECT_EQ(e.index, i);
    EXPECT_EQ(e.profile, profile) << names[i] << " at " << i;
    EXPECT_EQ(e.kind.has_value(), kind_of(names[i]).has_value());
  }
  EXPECT_EQ(v.profile_count(), profiles);
}

TEST(uki_view, duplicates_in_the_base_are_reported_for_every_profile) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  assembled uki;
  assemble(uki, stub,
           {{".osrel", "ID=first\n"},
            {".osrel", "ID=second\n"},
            {".linux", "kernel"},
            {".profile", "ID=a\n"},
            {".profile", "ID=b\n"}});
  view v(*uki.image);
  for (std::size_t n = 0; n < 2; ++n) {
    auto r = v.resolve(n);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(text_of(r->find(section_kind::osrel)), "ID=first\n");
    ASSERT_EQ(r->duplicates.size(), 1u);
    EXPECT_EQ(r->duplicates[0].kind, section_kind::osrel);
    EXPECT_FALSE(r->duplicates[0].ignored.profile);
  }
  EXPECT_TRUE(has_finding(v.findings(), code::duplicate_section, severity::warning,
                          uki.image->sections[uki.image->sections.size() - 4].header_offset));
}

TEST(uki_view, keeps_every_dtbauto_candidate_of_the_range_that_supplies_them) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  assembled uki;
  assemble(uki, stub,
           {{".linux", "kernel"},
            {".dtbauto", "base-a"},
            {".dtbauto", "base-b"},
            {".profile", "ID=a\n"},
            {".profile", "ID=b\n"},
            {".dtbauto", "b-only"}});
  view v(*uki.image);
  auto a = v.resolve(0);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->all(section_kind::dtbauto).size(), 2u);
  EXPECT_EQ(section_text(*a->all(section_kind::dtbauto)[1].section), "base-b");
  EXPECT_TRUE(a->duplicates.empty());
  auto b = v.resolve(1);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->all(section_kind::dtbauto).size(), 1u);
  EXPECT_EQ(text_of(b->find(section_kind::dtbauto)), "b-only");
}

TEST(uki_view, an_addon_has_no_linux_and_a_cmdline) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  assembled addon;
  assemble(addon, stub, {{".cmdline", "debug"}});
  view v(*addon.image);
  EXPECT_TRUE(v.is_addon());
  EXPECT_FALSE(v.is_uki());
}

TEST(uki_view, systemd_boot_is_neither_a_uki_nor_an_addon) {
  UKIKIT_NEED_INPUT(path, "systemd-bootx64.efi");
  auto bytes = t::read_file(path);
  auto img = pe::parse(bytes);
  ASSERT_TRUE(img.ok());
  view v(*img);
  EXPECT_FALSE(v.is_uki());
  EXPECT_FALSE(v.is_addon());
  EXPECT_EQ(v.profile_count(), 0u);
}

// The stub with its .sdmagic replaced by `magic` (nullopt: removed).
std::optional<stub_identity> identify_with_magic(const std::vector<std::byte>& stub,
                                                 const std::optional<std::string>& magic) {
  auto img = pe::parse(stub);
  EXPECT_TRUE(img.ok());
  auto ed = pe::editor::open(*img);
  EXPECT_TRUE(ed.ok());
  EXPECT_TRUE(ed->remove(".sdmagic").ok());
  if (magic) {
    EXPECT_TRUE(ed->append(".sdmagic", as_bytes(*magic), pe::scn_mem_read).ok());
  }
  auto built = ed->build();
  EXPECT_TRUE(built.ok());
  const auto bytes = built->to_vector();
  auto out = pe::parse(bytes);
  EXPECT_TRUE(out.ok());
  return identify_stub(*out);
}

TEST(stub_identity_test, reads_the_version_objcopy_dumps_from_sdmagic) {
  UKIKIT_NEED_TOOL("objcopy");
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  t::temp_dir dir;
  const std::string magic = t::sh_quote((dir.path() / "sdmagic").string());
  auto dumped = t::run("objcopy -O binary --only-section=.sdmagic " + t::sh_quote(stub.string()) +
                       " " + magic + " && tr -d '\\000' < " + magic +
                       " | sed -n 's/.*systemd-stub \\([^ ]*\\) .*/\\1/p'");
  ASSERT_EQ(dumped.status, 0);
  const auto bytes = t::read_file(stub);
  auto img = pe::parse(bytes);
  ASSERT_TRUE(img.ok());
  auto id = identify_stub(*img);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->version, dumped.out.substr(0, dumped.out.find('\n')));
  EXPECT_EQ(std::to_string(id->release), id->version.substr(0, 3));
  // systemd-boot says "systemd-boot …": not a stub.
  UKIKIT_NEED_INPUT(boot, "systemd-bootx64.efi");
  const auto boot_bytes = t::read_file(boot);
  auto boot_img = pe::parse(boot_bytes);
  ASSERT_TRUE(boot_img.ok());
  EXPECT_FALSE(identify_stub(*boot_img));
}

TEST(stub_identity_test, takes_the_release_from_the_leading_digits_only) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  const auto bytes = t::read_file(stub);
  auto release = [&](const std::string& magic) -> std::optional<unsigned> {
    auto id = identify_with_magic(bytes, magic);
    return id ? std::optional<unsigned>(id->release) : std::nullopt;
  };
  EXPECT_EQ(release("#### LoaderInfo: systemd-stub 257.9-1 ####"), 257u);
  EXPECT_EQ(release(std::string("#### LoaderInfo: systemd-stub 258\0\0", 35)), 258u);
  EXPECT_EQ(release("#### LoaderInfo: systemd-stub git-1234 ####"), 0u);   // no release
  EXPECT_EQ(release("#### LoaderInfo: systemd-stub 99999999 ####"), 0u);   // too many digits
  EXPECT_EQ(release("#### LoaderInfo: systemd-stub  ####"), std::nullopt); // no version
  EXPECT_EQ(release("#### LoaderInfo: systemd-boot 252 ####"), std::nullopt);
  EXPECT_EQ(release("systemd-stub 252"), std::nullopt);
  EXPECT_FALSE(identify_with_magic(bytes, std::nullopt));
  // A version is at most 64 printable characters.
  auto id = identify_with_magic(bytes, "#### LoaderInfo: systemd-stub " + std::string(100, '7'));
  ASSERT_TRUE(id);
  EXPECT_EQ(id->version.size(), 64u);
}

// Without .sdmagic the LoaderInfo text is searched after the sections, but
// not in a COFF symbol table (the editor drops it) nor in the certificate
// table (no signature covers it): a UKI's stub release cannot come from
// bytes that are lost or unsigned.
TEST(stub_identity_test, ignores_the_marker_in_a_symbol_table_or_certificate_table) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  const auto stub_bytes = t::read_file(stub);
  auto img = pe::parse(stub_bytes);
  ASSERT_TRUE(img.ok());
  auto ed = pe::editor::open(*img);
  ASSERT_TRUE(ed.ok());
  ASSERT_TRUE(ed->remove(".sdmagic").ok());
  auto built = ed->build();
  ASSERT_TRUE(built.ok());
  const auto plain = built->to_vector();
  const std::string marker = "#### LoaderInfo: systemd-stub 999 ####";

  auto with_tail = plain;
  for (char c : marker) with_tail.push_back(static_cast<std::byte>(c));
  auto tail_img = pe::parse(with_tail);
  ASSERT_TRUE(tail_img.ok());
  auto found = identify_stub(*tail_img);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->release, 999u);
  EXPECT_FALSE(identify_stub(*tail_img, true)); // .sdmagic only

  // The same bytes as a symbol table.
  auto symbols = with_tail;
  const auto at = static_cast<std::uint32_t>(plain.size());
  const std::size_t field =
      tail_img->pe_offset + 4 + offsetof(pe::coff_header, pointer_to_symbol_table);
  for (std::size_t i = 0; i < 4; ++i)
    symbols[field + i] = static_cast<std::byte>((at >> (8 * i)) & 0xff);
  auto symbols_img = pe::parse(symbols);
  ASSERT_TRUE(symbols_img.ok());
  EXPECT_FALSE(identify_stub(*symbols_img));

  // The same text as a "signature" in the certificate table.
  auto plain_img = pe::parse(plain);
  ASSERT_TRUE(plain_img.ok());
  EXPECT_FALSE(identify_stub(*plain_img));
  auto pieces = authenticode::with_certificates(*plain_img, {as_bytes(marker)});
  ASSERT_TRUE(pieces.ok()) << pieces.error().message();
  std::vector<std::byte> signed_bytes;
  for (byte_span p : pieces->pieces()) signed_bytes.insert(signed_bytes.end(), p.begin(), p.end());
  auto signed_img = pe::parse(signed_bytes);
  ASSERT_TRUE(signed_img.ok());
  ASSERT_TRUE(signed_img->has_certificate_table());
  EXPECT_FALSE(identify_stub(*signed_img));
}

// A stub before 257 takes, per name it knows, the last section whose name
// starts with it (pe.c locate_sections: memcmp over the known name's length,
// every match overwrites). Expected PCR 11 values: systemd-measure 252 over
// the bytes that rule picks.
TEST(legacy_stub_lookup, last_match_and_name_prefix_as_the_252_stub_finds_sections) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  const std::string measure = "/lib/systemd/systemd-measure";
  UKIKIT_NEED_TOOL(measure);
  assembled uki;
  assemble(uki, stub,
           {{".osrel", "ID=legacy\n"},
            {".cmdline", "first"},
            {".linux", "kernel bytes"},
            {".cmdline", "second"},
            {".dtbauto", "a devicetree candidate"}});
  view v(*uki.image);
  // The lookup rule and the expected values are those of a 252 stub.
  const unsigned release = stub_release(*uki.image);
  UKIKIT_NEED(release == 252,
              "systemd-stub 252 as input linuxx64.efi.stub (it is " << release << ")");
  t::temp_dir dir;
  auto calc = [&](const std::vector<std::pair<std::string, std::string>>& files) {
    std::string args;
    for (const auto& [option, text] : files) {
      t::write_file(dir.path() / option, text);
      args += " --" + option + "=" + t::sh_quote((dir.path() / option).string());
    }
    auto r = t::run(measure + " calculate --json=short --bank=sha256 --phase=enter-initrd" + args);
    EXPECT_EQ(r.status, 0) << r.out;
    return nlohmann::json::parse(r.out);
  };
  measure::options opts;
  opts.banks = {hash::algorithm::sha256};
  opts.phases = {"enter-initrd"};
  opts.stub_release = 252;
  auto as_252 = predict_pcr11(v, 0, opts);
  ASSERT_TRUE(as_252.ok()) << as_252.error().message();
  EXPECT_EQ(nlohmann::json::parse(measure::to_json(*as_252).dump()),
            calc({{"linux", "kernel bytes"},
                  {"osrel", "ID=legacy\n"},
                  {"cmdline", "second"},
                  {"dtb", "a devicetree candidate"}}));
  const auto findings = legacy_lookup_findings(*uki.image, 252, "systemd-stub 252");
  EXPECT_TRUE(
      has_finding(findings, code::legacy_last_section, severity::warning, error::no_offset));
  EXPECT_TRUE(
      has_finding(findings, code::legacy_prefix_match, severity::warning, error::no_offset));
  EXPECT_FALSE(predict_pcr11(v, 1, opts)); // no profiles before 257

  // From 257 on: exact names, the first match, and the stub's own .sbat is
  // measured; .dtbauto is the candidate the stub selects on the machine,
  // which no prediction knows. systemd-measure 252 takes no .sbat: the
  // reference algorithm computed with OpenSSL alone gives the value.
  opts.stub_release = 257;
  auto as_257 = predict_pcr11(v, 0, opts);
  ASSERT_TRUE(as_257.ok()) << as_257.error().message();
  const std::string kernel = "kernel bytes", osrel = "ID=legacy\n", first = "first";
  EXPECT_EQ(as_257->banks[0].values[0].value.hex(),
            t::spec_pcr11_sha256({{".linux", as_bytes(kernel)},
                                  {".osrel", as_bytes(osrel)},
                                  {".cmdline", as_bytes(first)},
                                  {".sbat", uki.image->find(".sbat")->data()}},
                                 {"enter-initrd"}));
  EXPECT_TRUE(legacy_lookup_findings(*uki.image, 257, "systemd-stub 257").empty());
}

TEST(uki_view, reports_what_makes_bootctl_say_not_a_uki) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  assembled uki;
  assemble(uki, stub, {{".linux", "kernel"}});
  view v(*uki.image);
  EXPECT_TRUE(v.is_uki());
  EXPECT_TRUE(has_finding(v.findings(), code::no_osrel, severity::warning, error::no_offset));
}

TEST(uki_view, text_section_errors_point_into_the_file) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  assembled uki;
  assemble(uki, stub, {{".osrel", "ID=debian linux\n"}, {".linux", "kernel"}});
  view v(*uki.image);
  auto r = v.resolve();
  ASSERT_TRUE(r.ok());
  const pe::section& s = *r->find(section_kind::osrel)->section;
  auto parsed = parse_os_release(s);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().offset(), s.pointer_to_raw_data + 9u);
  EXPECT_EQ(uki.bytes[s.pointer_to_raw_data + 9], std::byte{' '});
}

// ---- kernel facts -----------------------------------------------------------------------------

// "6.1.0-56-amd64" from /…/vmlinuz-6.1.0-56-amd64: Debian names the file after uname -r.
std::string release_from_file_name(const t::fs::path& kernel) {
  std::string name = t::fs::canonical(kernel).filename().string();
  const std::string prefix = "vmlinuz-";
  EXPECT_EQ(name.rfind(prefix, 0), 0u) << name;
  return name.substr(prefix.size());
}

// The version `file` prints: "…bzImage, version <VERSION>, RO-rootFS, …".
std::string version_from_file_tool(const t::fs::path& kernel) {
  auto r = t::run("file -bL " + t::sh_quote(kernel.string()));
  EXPECT_EQ(r.status, 0);
  const std::string marker = ", version ";
  auto begin = r.out.find(marker);
  if (begin == std::string::npos) return "no version in: " + r.out;
  begin += marker.size();
  auto end = r.out.find(", R", begin); // ", RO-rootFS" or ", RW-rootFS" follows
  return r.out.substr(begin, end - begin);
}

TEST(kernel_facts_test, x86_version_matches_the_file_name_and_file) {
  UKIKIT_NEED_TOOL("file");
  UKIKIT_NEED_INPUT(path, "vmlinuz");
  auto bytes = t::read_file(path);
  auto info = kernel_facts(bytes);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->format, kernel_format::x86_bzimage);
  EXPECT_TRUE(info->pe);
  ASSERT_EQ(info->versions.size(), 1u) << all_findings(info->findings);
  EXPECT_EQ(info->versions[0].source, version_source::x86_boot_header);
  EXPECT_EQ(info->uname(), release_from_file_name(path));
  EXPECT_EQ(info->version(), version_from_file_tool(path));
  ASSERT_TRUE(info->x86);
  EXPECT_EQ(info->x86->payload_compression, compress::format::xz);
  EXPECT_GE(info->x86->protocol, 0x20fu);
  EXPECT_TRUE(info->findings.empty()) << all_findings(info->findings);
}

TEST(kernel_facts_test, x86_payload_banner_agrees_with_the_setup_header) {
  UKIKIT_NEED_INPUT(path, "vmlinuz");
  auto bytes = t::read_file(path);
  kernel_options options;
  options.x86_payload = true;
  auto info = kernel_facts(bytes, options);
  ASSERT_TRUE(info.ok()) << info.error().message();
  ASSERT_EQ(info->versions.size(), 2u) << all_findings(info->findings);
  const auto& banner = info->versions[1];
  EXPECT_EQ(banner.source, version_source::decompressed_banner);
  EXPECT_EQ(banner.uname, release_from_file_name(path));
  EXPECT_EQ(banner.version.rfind(banner.uname + " (", 0), 0u) << banner.version;
  EXPECT_GT(info->decompressed, banner.offset);
  EXPECT_LE(info->decompressed, max_decompressed_kernel);
  EXPECT_TRUE(info->findings.empty()) << all_findings(info->findings);
}

TEST(kernel_facts_test, uki_linux_section_gives_the_kernels_uname) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  UKIKIT_NEED_INPUT(kernel, "vmlinuz");
  auto kernel_bytes = t::read_file(kernel);
  assembled uki;
  assemble(uki, stub, {{".osrel", "ID=debian\n"}, {".linux", ""}}, &kernel_bytes);
  view v(*uki.image);
  auto r = v.resolve();
  ASSERT_TRUE(r.ok());
  auto info = kernel_facts(r->find(section_kind::linux_)->section->data());
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->uname(), release_from_file_name(kernel));
}

// An EFI zboot image as drivers/firmware/efi/libstub/zboot-header.S lays it
// out: "MZ", "zimg" at 4, payload offset at 8, size at 0xc, compression
// type at 0x18, then the payload.
std::vector<std::byte> zboot_image(std::string_view type, byte_span payload) {
  constexpr std::size_t header_size = 0x200;
  // Sized once and filled: g++ 12 -O3 warns (falsely) about insert() here.
  std::vector<std::byte> out(header_size + payload.size());
  auto put32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out[at + i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
  };
  out[0] = std::byte{'M'};
  out[1] = std::byte{'Z'};
  for (std::size_t i = 0; i < 4; ++i) out[4 + i] = static_cast<std::byte>("zimg"[i]);
  put32(0x08, static_cast<std::uint32_t>(header_size));
  put32(0x0c, static_cast<std::uint32_t>(payload.size()));
  for (std::size_t i = 0; i < type.size(); ++i) out[0x18 + i] = static_cast<std::byte>(type[i]);
  put32(0x38, 0x818223cd); // LINUX_PE_MAGIC
  std::copy(payload.begin(), payload.end(), out.begin() + header_size);
  return out;
}

const std::string test_banner =
    "Linux version 6.6.0-test+ (builder@host) (gcc (GCC) 13.2.0, GNU ld 2.41) #1 SMP PREEMPT";

// A fake decompressed Image: code-like bytes, the banner across the 128 KiB
// boundary of the decoder's output chunks, more bytes.
std::string fake_image() {
  auto noise = t::sample_bytes(compress::chunk_size - 20, 7);
  std::string image(as_chars(noise));
  image += "Linux version %s\n"; // a format string first, as in real images
  image += test_banner + "\n";
  image += std::string(std::size_t{300} << 10, 'x');
  return image;
}

class zboot_kernel : public ::testing::TestWithParam<std::pair<const char*, compress::format>> {};

TEST_P(zboot_kernel, version_comes_from_the_decompressed_banner) {
  const auto [type, fmt] = GetParam();
  const std::string image = fake_image();
  compress::encode_options options;
  options.fmt = fmt;
  auto payload = compress::compress(as_bytes(image), options);
  ASSERT_TRUE(payload.ok()) << payload.error().message();
  auto file = zboot_image(type, *payload);
  auto info = kernel_facts(file);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->format, kernel_format::efi_zboot);
  ASSERT_TRUE(info->zboot);
  EXPECT_EQ(info->zboot->compression_type, type);
  EXPECT_EQ(info->zboot->compression, fmt);
  EXPECT_EQ(info->zboot->payload_offset, 0x200u);
  ASSERT_EQ(info->versions.size(), 1u) << all_findings(info->findings);
  EXPECT_EQ(info->uname(), "6.6.0-test+");
  EXPECT_EQ(info->version(), test_banner.substr(std::string("Linux version ").size()));
  EXPECT_EQ(info->versions[0].offset, image.find(test_banner));
  EXPECT_LT(info->decompressed, image.size()); // stopped at the banner
  EXPECT_TRUE(info->findings.empty()) << all_findings(info->findings);
}

INSTANTIATE_TEST_SUITE_P(compressions, zboot_kernel,
                         ::testing::Values(std::pair{"gzip", compress::format::gzip},
                                           std::pair{"xzkern", compress::format::xz},
                                           std::pair{"zstd22", compress::format::zstd}),
                         [](const auto& info) { return std::string(info.param.first); });

TEST(kernel_facts_test, zboot_lzma_payload_made_by_the_lzma_tool) {
  UKIKIT_NEED_TOOL("lzma");
  t::temp_dir dir;
  const std::string image = fake_image();
  t::write_file(dir / "Image", image);
  auto r = t::run("lzma -9 -c " + t::sh_quote((dir / "Image").string()) + " > " +
                  t::sh_quote((dir / "Image.lzma").string()));
  ASSERT_EQ(r.status, 0);
  auto payload = t::read_file(dir / "Image.lzma");
  auto info = kernel_facts(zboot_image("lzma", payload));
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->uname(), "6.6.0-test+") << all_findings(info->findings);
}

TEST(kernel_facts_test, zboot_output_limit_is_a_finding_not_a_crash) {
  const std::string image = fake_image();
  compress::encode_options options;
  options.fmt = compress::format::zstd;
  auto payload = compress::compress(as_bytes(image), options);
  ASSERT_TRUE(payload.ok());
  kernel_options limits;
  limits.max_decompressed = 4096;
  auto info = kernel_facts(zboot_image("zstd", *payload), limits);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_TRUE(info->versions.empty());
  // Where the decoder stopped is its business; that it says so is ours.
  const finding* f = with_code(info->findings, code::kernel_payload_corrupt);
  ASSERT_NE(f, nullptr) << all_findings(info->findings);
  EXPECT_EQ(f->level, severity::warning);
  EXPECT_GE(f->offset, 0x200u);
}

TEST(kernel_facts_test, zboot_reports_what_it_cannot_decode) {
  std::vector<std::byte> payload(64, std::byte{0x42});
  auto lz4 = kernel_facts(zboot_image("lz4", payload));
  ASSERT_TRUE(lz4.ok());
  EXPECT_TRUE(lz4->versions.empty());
  EXPECT_TRUE(
      has_finding(lz4->findings, code::kernel_compression_unsupported, severity::warning, 0x200));

  auto gzip = kernel_facts(zboot_image("gzip", payload));
  ASSERT_TRUE(gzip.ok());
  EXPECT_TRUE(
      has_finding(gzip->findings, code::kernel_zboot_type_mismatch, severity::warning, 0x200));
  ASSERT_NE(with_code(gzip->findings, code::kernel_payload_corrupt), nullptr)
      << all_findings(gzip->findings);
}

TEST(kernel_facts_test, zboot_payload_past_end_of_file_is_an_error) {
  std::vector<std::byte> payload(64);
  auto file = zboot_image("gzip", payload);
  file[0x0c] = std::byte{0xff}; // payload size 0xff + 0x40 bytes, past the end
  auto info = kernel_facts(file);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code(), errc::out_of_range);
  EXPECT_NE(info.error().message().find("zboot payload extends past end"), std::string::npos);
}

// An arm64 Image header (booting.rst): "ARM\x64" at 0x38; flags bit 0
// big-endian, bits 1-2 page size (1 = 4K, 2 = 16K, 3 = 64K).
std::vector<std::byte> arm64_image(std::uint64_t flags, const std::string& body) {
  constexpr std::size_t header_size = 64;
  std::vector<std::byte> out(header_size + body.size());
  auto put64 = [&](std::size_t at, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out[at + i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
  };
  out[0] = std::byte{'M'};
  out[1] = std::byte{'Z'};
  put64(0x08, 0x80000); // text_offset, the historical value
  put64(0x10, 0x200000);
  put64(0x18, flags);
  for (std::size_t i = 0; i < 4; ++i) out[0x38 + i] = static_cast<std::byte>("ARM\x64"[i]);
  auto b = as_bytes(body);
  std::copy(b.begin(), b.end(), out.begin() + header_size);
  return out;
}

TEST(kernel_facts_test, arm64_image_header_agrees_with_file) {
  UKIKIT_NEED_TOOL("file");
  t::temp_dir dir;
  // file's magic names 4K and 16K pages right; for 64K (bits 1-2 = 3) it
  // prints every size, so that one is checked against booting.rst below.
  for (std::uint64_t flags : {0x2u, 0x4u, 0x3u}) {
    auto bytes = arm64_image(flags, fake_image());
    t::write_file(dir / "Image", bytes);
    auto info = kernel_facts(bytes);
    ASSERT_TRUE(info.ok()) << info.error().message();
    EXPECT_EQ(info->format, kernel_format::arm64_image);
    ASSERT_TRUE(info->arm64);
    EXPECT_EQ(info->arm64->text_offset, 0x80000u);
    EXPECT_EQ(info->arm64->image_size, 0x200000u);
    EXPECT_EQ(info->uname(), "6.6.0-test+");
    EXPECT_EQ(info->versions[0].source, version_source::image_banner);
    auto desc = t::run("file -b " + t::sh_quote((dir / "Image").string())).out;
    EXPECT_NE(desc.find("ARM64"), std::string::npos) << desc;
    const std::string endian = info->arm64->big_endian ? "big-endian" : "little-endian";
    EXPECT_NE(desc.find(endian), std::string::npos) << desc;
    const std::string pages = std::to_string(info->arm64->page_size / 1024) + "K pages";
    EXPECT_NE(desc.find(pages), std::string::npos) << desc;
  }
}

TEST(kernel_facts_test, arm64_page_size_follows_booting_rst) {
  const std::vector<std::pair<std::uint64_t, std::uint32_t>> sizes{
      {0x0, 0}, {0x2, 4096}, {0x4, 16384}, {0x6, 65536}};
  for (const auto& [flags, size] : sizes) {
    auto info = kernel_facts(arm64_image(flags, fake_image()));
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->arm64->page_size, size) << flags;
    EXPECT_FALSE(info->arm64->big_endian);
  }
}

TEST(kernel_facts_test, x86_version_pointer_past_end_of_file_is_a_finding) {
  UKIKIT_NEED_INPUT(path, "vmlinuz");
  auto bytes = t::read_file(path);
  bytes.resize(0x1000);
  bytes[0x20e] = std::byte{0xff};
  bytes[0x20f] = std::byte{0xff};
  auto info = kernel_facts(bytes);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_TRUE(info->versions.empty());
  EXPECT_TRUE(has_finding(info->findings, code::kernel_version_past_end, severity::warning, 0x20e));
}

TEST(kernel_facts_test, rejects_what_is_not_a_kernel) {
  UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
  for (const auto& bytes :
       {t::read_file(stub), std::vector<std::byte>(16), t::sample_bytes(4096)}) {
    auto info = kernel_facts(bytes);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error().code(), errc::unsupported);
    EXPECT_NE(info.error().message().find("not a Linux kernel image"), std::string::npos);
  }
}

// ---- SbatLevel -------------------------------------------------------------------------------

TEST(sbat_level, reads_shims_variable_format) {
  // shim's SbatLevel_Variable.txt form: the version row with its date, then
  // component,generation rows; an optional third field is a date.
  auto parsed = parse_sbat_level("sbat,1,2023012900\nshim,2\ngrub,3\ngrub.debian,4,2023\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->datestamp, "2023012900");
  ASSERT_EQ(parsed->entries.size(), 4u);
  EXPECT_EQ(parsed->entries[2].component_name, "grub");
  EXPECT_EQ(parsed->entries[2].component_generation, 3u);
  EXPECT_EQ(parsed->entries[3].component_name, "grub.debian");
  EXPECT_EQ(parsed->entries[3].line, 4u);
  // efivarfs: the 4-byte attributes before the data.
  auto efivar = parse_sbat_level(std::string_view("\x07\0\0\0sbat,1,2021030218\n", 22));
  ASSERT_TRUE(efivar.ok()) << efivar.error().message();
  EXPECT_EQ(efivar->datestamp, "2021030218");
  for (std::string_view bad : {"", "grub,3\n", "sbat,2,2023\n", "sbat,1,2023\ngrub\n",
                               "sbat,1,2023\ngrub,0\n", "sbat,1,2023\ngrub,x\n"})
    EXPECT_FALSE(parse_sbat_level(bad).ok()) << bad;
}

TEST(sbat_level, revokes_generations_below_the_policys_only) {
  const std::string text = sbat_header + "grub,2,Free Software Foundation,grub,2.06,https://x\n"
                                         "grub.debian,4,Debian,grub2,2.06-13,https://y\n";
  auto image = parse_sbat(text); // views `text`
  ASSERT_TRUE(image.ok());
  auto policy = parse_sbat_level("sbat,1,2024010100\ngrub,3\ngrub.debian,4\nshim,4\n");
  ASSERT_TRUE(policy.ok());
  auto revoked = sbat_revoked(*image, *policy);
  ASSERT_EQ(revoked.size(), 1u); // grub 2 < 3; grub.debian 4 == 4 stays; shim is not listed
  EXPECT_EQ(revoked[0].image_row->component_name, "grub");
  EXPECT_EQ(revoked[0].policy_row->component_generation, 3u);
  auto lenient = parse_sbat_level("sbat,1,2021030218\n");
  ASSERT_TRUE(lenient.ok());
  EXPECT_TRUE(sbat_revoked(*image, *lenient).empty());
}

} // namespace
} // namespace ukikit::uki
