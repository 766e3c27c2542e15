// The image build recipe (installer/recipe.hpp) and the per-architecture
// build (installer/build.hpp). The INI layer is compared with Python's
// configparser set up as ukify sets it (src/ukify/ukify.py apply_config:
// comment_prefixes='#', inline_comment_prefixes='#', delimiters='=',
// empty_lines_in_values=False, interpolation=None, strict=False, keys kept
// as written); ukify itself is not packaged here (Debian 12 has systemd
// 252, ukify came with 253/254). The values follow ukify's documented
// rules; the built UKIs and systemd-boots are checked with sbverify, Python
// (the PE machine field) and ukiverify's library call.
#include <ukikit/installer.hpp>
#include <ukikit/report/verify.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace ukikit::installer {
namespace {

namespace t = ukikit::test;
using t::sh_quote;

std::string q(const t::fs::path& p) { return sh_quote(p.string()); }

// The byte offset of line `n` (from 1) of `text`, lines ending in \n.
std::uint64_t line_offset(std::string_view text, std::size_t n) {
  std::size_t pos = 0;
  for (std::size_t i = 1; i < n; ++i) pos = text.find('\n', pos) + 1;
  return pos;
}

// ---- the INI layer against Python's configparser ------------------------------------

// What configparser, set up as ukify does, makes of `text`: the sections
// in order with their keys and values, or {"error": class name}.
nlohmann::json configparser_reads(const t::fs::path& dir, std::string_view text) {
  t::write_file(dir / "recipe.conf", text);
  t::write_file(dir / "read.py", std::string_view(R"(import configparser, json, sys
cp = configparser.ConfigParser(comment_prefixes='#', inline_comment_prefixes='#', delimiters='=',
                               empty_lines_in_values=False, interpolation=None, strict=False)
cp.optionxform = lambda option: option
try:
    with open(sys.argv[1], encoding='utf-8') as f:
        cp.read_file(f)
except configparser.Error as e:
    print(json.dumps({'error': type(e).__name__}))
    sys.exit(0)
print(json.dumps({'sections': [[name, [[k, v] for k, v in section.items()]]
                               for name, section in cp.items() if name != 'DEFAULT']}))
)"));
  auto r = t::run("python3 " + q(dir / "read.py") + " " + q(dir / "recipe.conf"));
  EXPECT_EQ(r.status, 0) << r.out;
  return nlohmann::json::parse(r.out);
}

nlohmann::json ours(std::string_view text) {
  detail::ini_reader reader;
  auto sections = reader.read(text);
  if (!sections) return {{"error", sections.error().message()}};
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : *sections) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& e : s.entries) entries.push_back({e.key, e.value});
    out.push_back({s.name, entries});
  }
  return {{"sections", out}};
}

TEST(installer_recipe_test, reads_ini_text_as_ukifys_configparser_does) {
  UKIKIT_NEED_TOOL("python3");
  t::temp_dir dir;
  const std::vector<std::string> cases = {
      // ukify.xml's example: a phase list continued on an indented line.
      "[UKI]\nLinux=/boot/vmlinuz-6.0.9-300.fc37.x86_64\n"
      "Initrd=early_cpio /some/path/initramfs-6.0.9-300.fc37.x86_64.img\n"
      "Cmdline=quiet rw rhgb\n\n"
      "[PCRSignature:initrd]\nPhases=enter-initrd\nPCRPrivateKey=/tmp/priv-initrd.pem\n\n"
      "[PCRSignature:system]\n"
      "Phases=enter-initrd:leave-initrd enter-initrd:leave-initrd:sysinit\n"
      "       enter-initrd:leave-initrd:sysinit:ready\n"
      "PCRPrivateKey=/tmp/priv-system.pem\n",
      // Comments: whole lines (indented too), after a blank, not after other text.
      "# a recipe\n[UKI]\n  # indented comment\nCmdline=a#b c # comment\n"
      "Uname=6.1\t# after a tab\nSBAT=x#y\n",
      // Blanks around keys and values; '=' in values; empty values.
      "[UKI]\n  Cmdline  =   console=ttyS0 quiet  \nOSRelease=\nUname =6.1=x\n",
      // Continuations: deeper indentation continues, an empty line or a
      // comment ends the value, and an indented key after that is a key.
      "[UKI]\nCmdline=one\n  two\n\tthree\n\n  Initrd=a\n    b\n# c\n  Uname=u\n",
      // A value continued after an empty first line starts with '\n'.
      "[UKI]\nInitrd=\n  a b\n  c\n",
      // An indented header right after a key is part of its value.
      "[UKI]\nInitrd=a\n  [Arch:arm64]\nLinux=k\n",
      // A section named twice is one section.
      "[UKI]\nLinux=k\n[Arch:amd64]\nStub=s\n[UKI]\nCmdline=c\n",
      // \r\n and \r end lines; \f and \v are blanks.
      "[UKI]\r\nLinux=k\r\nCmdline=a\f\r  b\rUname=\v6.1\v\r\n",
      // Headers: the name runs to the last ']'.
      "[Arch:amd64]]\nLinux=k\n",
      // No final newline, keys kept as written.
      "[UKI]\nlinux=k\nLINUX=K",
  };
  for (const auto& text : cases) {
    SCOPED_TRACE(text);
    EXPECT_EQ(ours(text), configparser_reads(dir.path(), text));
  }
  // What configparser refuses, the recipe refuses.
  for (std::string text : {"Linux=k\n[UKI]\n", "[UKI]\nLinux\n", "[UKI]\n=k\n", "[]\nLinux=k\n"}) {
    SCOPED_TRACE(text);
    EXPECT_TRUE(configparser_reads(dir.path(), text).contains("error"));
    EXPECT_TRUE(ours(text).contains("error"));
  }
}

TEST(installer_recipe_test, refuses_what_configparser_lets_pass_silently) {
  UKIKIT_NEED_TOOL("python3");
  t::temp_dir dir;
  // A key twice: configparser (strict=False) keeps the last without a word.
  const std::string twice = "[UKI]\nLinux=a\nCmdline=c\nLinux=b\n";
  EXPECT_EQ(configparser_reads(dir.path(), twice)["sections"][0][1][0][1], "b");
  auto r = parse_recipe(twice, "/r");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::invalid_argument);
  EXPECT_EQ(r.error().offset(), line_offset(twice, 4));
  // Text after a header: configparser drops it.
  const std::string trailing = "[UKI] x\nLinux=a\n";
  EXPECT_EQ(configparser_reads(dir.path(), trailing)["sections"][0][0], "UKI");
  r = parse_recipe(trailing, "/r");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::malformed);
  EXPECT_EQ(r.error().offset(), 0u);
}

// ---- values, sections, errors ---------------------------------------------------------

const char* const talos_recipe = R"(# Talos-style installer: two architectures, one PCR key.
[UKI]
Cmdline=console=ttyS0
        talos.platform=metal   # collapsed when built, as ukify does
OSRelease=@os-release
SBAT=@sbat.csv
Profile=ID=main
PCRBanks=sha256,sha384 sha512
SecureBootPrivateKey=keys/db.key
SecureBootCertificate=/etc/keys/db.crt

[Arch:amd64]
Stub=stubs/linuxx64.efi.stub
Linux=vmlinuz-amd64
Initrd=initramfs-amd64.xz extra.cpio
SystemdBoot=systemd-bootx64.efi

[Arch:arm64]
Linux=/boot/vmlinuz-arm64
Initrd=
SystemdBoot=systemd-bootaa64.efi
Cmdline=console=ttyAMA0

[PCRSignature:talos]
PCRPrivateKey=pcr.key
PCRPublicKey=pcr.pub
Phases=enter-initrd:leave-initrd,enter-initrd:leave-initrd:sysinit
)";

TEST(installer_recipe_test, resolves_paths_against_the_recipe_and_arch_sections_override_uki) {
  auto r = parse_recipe(talos_recipe, "/src/release");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->findings.empty());
  auto arches = resolve(*r);
  ASSERT_TRUE(arches.ok()) << arches.error().message();
  ASSERT_EQ(arches->size(), 2u);
  const auto& amd = (*arches)[0];
  const auto& arm = (*arches)[1];
  const t::fs::path d = "/src/release";
  EXPECT_EQ(amd.arch, "amd64");
  EXPECT_EQ(amd.efi_arch, "x64");
  EXPECT_EQ(amd.stub, d / "stubs/linuxx64.efi.stub");
  EXPECT_EQ(amd.kernel, d / "vmlinuz-amd64");
  EXPECT_EQ(amd.initrds, (std::vector<t::fs::path>{d / "initramfs-amd64.xz", d / "extra.cpio"}));
  EXPECT_EQ(amd.systemd_boot, d / "systemd-bootx64.efi");
  // A continued value joins its lines with '\n' (collapsed by the builder).
  ASSERT_TRUE(amd.cmdline && !amd.cmdline->from_file());
  EXPECT_EQ(amd.cmdline->text, "console=ttyS0\ntalos.platform=metal");
  ASSERT_TRUE(amd.os_release && amd.os_release->from_file());
  EXPECT_EQ(amd.os_release->file, d / "os-release");
  ASSERT_TRUE(amd.sbat && amd.sbat->from_file());
  EXPECT_EQ(amd.sbat->file, d / "sbat.csv");
  ASSERT_TRUE(amd.profile);
  EXPECT_EQ(amd.profile->text, "ID=main");
  EXPECT_EQ(amd.pcr_banks,
            (std::vector<hash::algorithm>{hash::algorithm::sha256, hash::algorithm::sha384,
                                          hash::algorithm::sha512}));
  ASSERT_TRUE(amd.signing_key && amd.signing_cert);
  EXPECT_TRUE(amd.signing_key->is_file());
  EXPECT_EQ(amd.signing_key->location, (d / "keys/db.key").string());
  EXPECT_EQ(amd.signing_cert->location, "/etc/keys/db.crt");
  ASSERT_EQ(amd.pcr_signatures.size(), 1u);
  EXPECT_EQ(amd.pcr_signatures[0].name, "talos");
  EXPECT_EQ(amd.pcr_signatures[0].private_key.location, (d / "pcr.key").string());
  EXPECT_EQ(amd.pcr_signatures[0].public_key, d / "pcr.pub");
  EXPECT_EQ(
      amd.pcr_signatures[0].phases,
      (std::vector<std::string>{"enter-initrd:leave-initrd", "enter-initrd:leave-initrd:sysinit"}));
  // arm64: its own kernel (absolute), no initrds, its own cmdline; no Stub=
  // anywhere: systemd's for aa64.
  EXPECT_EQ(arm.arch, "arm64");
  EXPECT_EQ(arm.efi_arch, "aa64");
  EXPECT_TRUE(arm.stub.empty());
  EXPECT_EQ(arm.kernel, "/boot/vmlinuz-arm64");
  EXPECT_TRUE(arm.initrds.empty());
  EXPECT_EQ(arm.cmdline->text, "console=ttyAMA0");
  EXPECT_EQ(arm.os_release->file, d / "os-release");
}

TEST(installer_recipe_test, a_plain_ukify_config_builds_its_efi_arch) {
  auto r = parse_recipe("[UKI]\nEFIArch=aa64\nLinux=k\nSystemdBoot=b\nCmdline=\n", "");
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto arches = resolve(*r);
  ASSERT_TRUE(arches.ok()) << arches.error().message();
  ASSERT_EQ(arches->size(), 1u);
  EXPECT_EQ((*arches)[0].arch, "arm64");
  EXPECT_EQ((*arches)[0].kernel, "k"); // no directory: relative to the working directory
  EXPECT_FALSE((*arches)[0].cmdline);  // ukify: an empty command line is none
  // Without EFIArch= or [Arch:NAME] there is nothing to build.
  r = parse_recipe("[UKI]\nLinux=k\n", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(resolve(*r).error().code(), errc::invalid_argument);
  // EFIArch= must agree with the architecture.
  r = parse_recipe("[UKI]\nEFIArch=x64\nLinux=k\nSystemdBoot=b\n[Arch:arm64]\n", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(resolve(*r).error().code(), errc::invalid_argument);
}

TEST(installer_recipe_test, command_line_values_win_and_initrds_follow_the_recipes) {
  auto r = parse_recipe(talos_recipe, "/src");
  ASSERT_TRUE(r.ok()) << r.error().message();
  recipe_overrides flags;
  flags.shared.cmdline = uki::text_input::of("quiet");
  flags.shared.initrds = std::vector<t::fs::path>{"late.cpio"};
  flags.shared.signing_provider = "pkcs11";
  flags.shared.signing_key = key_value{"pkcs11:token=db;object=db", "."};
  arch_section arm{"arm64", {}, 0};
  arm.settings.kernel = "vmlinuz-new";
  flags.per_arch.push_back(arm);
  arch_section riscv{"riscv64", {}, 0};
  riscv.settings.kernel = "vmlinuz-riscv";
  riscv.settings.systemd_boot = "systemd-bootriscv64.efi";
  flags.per_arch.push_back(riscv);
  pcr_signature_group g;
  g.name = "flag";
  g.private_key = key_value{"flag.key", "."};
  flags.pcr_signatures.push_back(g);
  ASSERT_TRUE(apply_overrides(*r, flags).ok());
  auto arches = resolve(*r);
  ASSERT_TRUE(arches.ok()) << arches.error().message();
  ASSERT_EQ(arches->size(), 3u);
  const auto& amd = (*arches)[0];
  const auto& arm64 = (*arches)[1];
  EXPECT_EQ(amd.cmdline->text, "quiet");
  EXPECT_EQ(arm64.cmdline->text, "quiet");
  EXPECT_EQ(amd.initrds,
            (std::vector<t::fs::path>{"/src/initramfs-amd64.xz", "/src/extra.cpio", "late.cpio"}));
  EXPECT_EQ(arm64.initrds, (std::vector<t::fs::path>{"late.cpio"}));
  EXPECT_EQ(arm64.kernel, "vmlinuz-new");
  EXPECT_EQ((*arches)[2].arch, "riscv64");
  // A provider's designation is no path.
  ASSERT_TRUE(amd.signing_key);
  EXPECT_EQ(amd.signing_key->where, keys::source::kind::provider);
  EXPECT_EQ(amd.signing_key->location, "pkcs11:token=db;object=db");
  EXPECT_EQ(amd.signing_key->module, "pkcs11");
  // ukify's group order: the command line's first. The provider holds the PCR key too.
  ASSERT_EQ(amd.pcr_signatures.size(), 2u);
  EXPECT_EQ(amd.pcr_signatures[0].name, "flag");
  EXPECT_EQ(amd.pcr_signatures[1].name, "talos");
  EXPECT_EQ(amd.pcr_signatures[1].private_key.where, keys::source::kind::provider);
  // An architecture without UEFI is refused.
  recipe_overrides bad;
  bad.per_arch.push_back({"s390x", {}, 0});
  EXPECT_EQ(apply_overrides(*r, bad).error().code(), errc::invalid_argument);
}

struct bad_case {
  std::string text;
  std::size_t line; // where the error is
  errc code;
};

TEST(installer_recipe_test, errors_name_the_line_of_bad_input) {
  const std::vector<bad_case> cases = {
      {"[UKI]\nLinux=k\nlinux=k2\n", 3, errc::invalid_argument},     // keys are case-sensitive
      {"[UKI]\nLinux=k\nPhases=ready\n", 3, errc::invalid_argument}, // [PCRSignature:NAME] only
      {"[uki]\nLinux=k\n", 1, errc::invalid_argument},               // unknown section
      {"[DEFAULT]\nLinux=k\n", 1, errc::invalid_argument},
      {"[UKI]\n[Arch:x86_64]\nLinux=k\n", 2, errc::invalid_argument}, // not an OCI name
      {"[PCRSignature:]\nPCRPrivateKey=k\n", 1, errc::invalid_argument},
      {"[PCRSignature:a:b]\nPCRPrivateKey=k\n", 1, errc::invalid_argument},
      {"[PCRSignature:a]\nPhases=enter-initrd:boot\n", 2, errc::invalid_argument},
      // ukify splits at ',' or blanks: ", " makes an empty phase path.
      {"[PCRSignature:a]\nPhases=enter-initrd, ready\n", 2, errc::invalid_argument},
      {"[PCRSignature:a]\nPhases=\n", 2, errc::invalid_argument},
      {"[UKI]\nPCRBanks=sha256,md5\n", 2, errc::invalid_argument},
      {"[UKI]\nLinux=\n", 2, errc::invalid_argument},
      {"[UKI]\nLinux=a\n  b\n", 2, errc::invalid_argument}, // one path, two lines
      {"[UKI]\nCmdline=@\n", 2, errc::invalid_argument},
      {"[UKI]\nEFIArch=x86_64\n", 2, errc::invalid_argument},
      {"[UKI]\nSignKernel=maybe\n", 2, errc::invalid_argument},
      {"[UKI]\nSignKernel=yes\n", 2, errc::unsupported},
      {"[UKI]\nFirmware=fw\n", 2, errc::unsupported},
      {"[UKI]\nSecureBootSigningTool=pesign\n", 2, errc::unsupported},
      {"[UKI]\nSecureBootCertificateName=db\n", 2, errc::unsupported},
      {"\n\nLinux=k\n", 3, errc::malformed}, // before any section
      {"[UKI]\nLinux k\n", 2, errc::malformed},
      {std::string("[UKI]\nLinux=k\0\n", 15), 2, errc::malformed},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto r = parse_recipe(c.text, "/r");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), c.code) << r.error().message();
    EXPECT_EQ(r.error().offset(), line_offset(c.text, c.line)) << r.error().message();
  }
  // The message says where too, for people.
  auto r = parse_recipe("[UKI]\n\n\nLinx=k\n", "/r");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message().rfind("line 4: ", 0), 0u) << r.error().message();
}

TEST(installer_recipe_test, keys_that_change_nothing_here_are_notes) {
  const std::string text = "[UKI]\nSecureBootSigningTool=sbsign\nSecureBootCertificateValidity=30\n"
                           "SignKernel=no\n";
  auto r = parse_recipe(text, "/r");
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->findings.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r->findings[i].code, code::recipe_key_ignored);
    EXPECT_EQ(r->findings[i].level, severity::note);
    EXPECT_EQ(r->findings[i].offset, line_offset(text, i + 2));
  }
}

TEST(installer_recipe_test, resolving_checks_what_a_build_needs) {
  const std::vector<std::string> cases = {
      "[Arch:amd64]\nSystemdBoot=b\n",                                  // no kernel
      "[Arch:amd64]\nLinux=k\n",                                        // no systemd-boot
      "[Arch:amd64]\nLinux=k\nSystemdBoot=b\nSecureBootPrivateKey=k\n", // key without cert
      "[UKI]\nSigningEngine=e\nSigningProvider=p\n[Arch:amd64]\nLinux=k\nSystemdBoot=b\n",
      "[Arch:amd64]\nLinux=k\nSystemdBoot=b\n[PCRSignature:a]\nPhases=ready\n", // no PCR key
  };
  for (const auto& text : cases) {
    SCOPED_TRACE(text);
    auto r = parse_recipe(text, "/r");
    ASSERT_TRUE(r.ok()) << r.error().message();
    auto arches = resolve(*r);
    ASSERT_FALSE(arches.ok());
    EXPECT_EQ(arches.error().code(), errc::invalid_argument);
  }
}

TEST(installer_recipe_test, a_recipe_past_the_size_limit_is_refused) {
  std::string big = "[UKI]\nCmdline=" + std::string(max_recipe_size, 'x') + "\n";
  auto r = parse_recipe(big, "/r");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::limit_exceeded);
}

// ---- building: Debian's stubs, kernels and systemd-boots ------------------------------

class installer_build_test : public ::testing::Test {
protected:
  void SetUp() override {
    UKIKIT_NEED_INPUT(x64_stub, "linuxx64.efi.stub");
    UKIKIT_NEED_INPUT(aa64_stub, "linuxaa64.efi.stub");
    UKIKIT_NEED_INPUT(amd_kernel, "vmlinuz");
    UKIKIT_NEED_INPUT(arm_kernel, "vmlinuz-arm64");
    UKIKIT_NEED_INPUT(x64_boot, "systemd-bootx64.efi");
    UKIKIT_NEED_INPUT(aa64_boot, "root-arm64/usr/lib/systemd/boot/efi/systemd-bootaa64.efi");
    UKIKIT_NEED_TOOL("openssl");
    inputs = {x64_stub, aa64_stub, amd_kernel, arm_kernel, x64_boot, aa64_boot};
    t::fs::create_directories(work / "keys");
    ASSERT_EQ(t::run("openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=db "
                     "-keyout " +
                     q(work / "keys/db.key") + " -out " + q(work / "keys/db.crt") + " 2>/dev/null")
                  .status,
              0);
    ASSERT_EQ(t::run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " +
                     q(work / "keys/pcr.key") + " 2>/dev/null && openssl pkey -in " +
                     q(work / "keys/pcr.key") + " -pubout -out " + q(work / "keys/pcr.pub"))
                  .status,
              0);
    t::write_file(work / "initrd", t::sample_bytes(4099, 3));
    t::write_file(work / "os-release", std::string_view("ID=talos\nNAME=Talos\n"));
  }

  // A recipe in `work` with relative key paths and the Debian inputs.
  std::string recipe_text(const std::string& extra_uki = "") const {
    return "[UKI]\nOSRelease=@os-release\nCmdline=console=ttyS0   talos.platform=metal\n"
           "Initrd=initrd\nSecureBootPrivateKey=keys/db.key\nSecureBootCertificate=keys/db.crt\n" +
           extra_uki + "\n[Arch:amd64]\nStub=" + inputs[0].string() +
           "\nLinux=" + inputs[2].string() + "\nSystemdBoot=" + inputs[4].string() +
           "\n\n[Arch:arm64]\nStub=" + inputs[1].string() + "\nLinux=" + inputs[3].string() +
           "\nSystemdBoot=" + inputs[5].string() +
           "\n\n[PCRSignature:talos]\nPCRPrivateKey=keys/pcr.key\nPCRPublicKey=keys/pcr.pub\n"
           "Phases=enter-initrd enter-initrd:leave-initrd\n";
  }

  result<std::vector<arch_recipe>> load(const std::string& text) {
    t::write_file(work / "recipe.conf", text);
    auto r = read_recipe(work / "recipe.conf");
    if (!r) return r.error();
    return resolve(*r);
  }

  // The PE machine field of a file, read by Python (PE/COFF: e_lfanew at
  // 0x3c, "PE\0\0", then Machine).
  std::string machine_of(const t::fs::path& file) {
    auto r = t::run("python3 -c \"import struct,sys; d=open(sys.argv[1],'rb').read(); "
                    "o=struct.unpack_from('<I',d,0x3c)[0]; assert d[o:o+4]==b'PE\\0\\0'; "
                    "print(hex(struct.unpack_from('<H',d,o+4)[0]))\" " +
                    q(file));
    EXPECT_EQ(r.status, 0) << r.out;
    return r.out.substr(0, r.out.find('\n'));
  }

  // A section's VirtualSize bytes, read by Python from the COFF section
  // table (PE/COFF: NumberOfSections at +6 and SizeOfOptionalHeader at +20
  // of the file header; 40-byte section headers after the optional header;
  // binutils here reads no arm64 PE).
  std::string section_of(const t::fs::path& file, const std::string& name) {
    t::write_file(work / "section.py", std::string_view(R"(import struct, sys
d = open(sys.argv[1], 'rb').read()
o = struct.unpack_from('<I', d, 0x3c)[0]
n, opt = struct.unpack_from('<H', d, o + 6)[0], struct.unpack_from('<H', d, o + 20)[0]
for i in range(n):
    h = o + 24 + opt + 40 * i
    if d[h:h + 8].rstrip(b'\0') == sys.argv[2].encode():
        size, _, _, raw = struct.unpack_from('<IIII', d, h + 8)
        sys.stdout.buffer.write(d[raw:raw + size])
)"));
    auto r = t::run("python3 " + q(work / "section.py") + " " + q(file) + " " + sh_quote(name));
    EXPECT_EQ(r.status, 0) << r.out;
    return r.out;
  }

  std::vector<t::fs::path> inputs;
  t::temp_dir dir;
  const t::fs::path& work = dir.path();
};

TEST_F(installer_build_test, signs_the_uki_and_systemd_boot_of_each_architecture) {
  UKIKIT_NEED_TOOL("sbverify");
  UKIKIT_NEED_TOOL("python3");
  auto arches = load(recipe_text());
  ASSERT_TRUE(arches.ok()) << arches.error().message();
  auto built = build_arches(*arches);
  ASSERT_TRUE(built.ok()) << built.error().message();
  ASSERT_EQ(built->size(), 2u);

  auto db = report::load_databases({(work / "keys/db.crt").string()});
  ASSERT_TRUE(db.ok()) << db.error().message();
  const auto pcrpub = t::read_file(work / "keys/pcr.pub");
  // PE/COFF machine types (Microsoft PE format, "Machine Types").
  const std::pair<std::string, std::string> want[] = {{"amd64", "0x8664"}, {"arm64", "0xaa64"}};
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& b = (*built)[i];
    SCOPED_TRACE(b.arch);
    EXPECT_EQ(b.arch, want[i].first);
    t::write_file(work / "uki.efi", b.uki);
    t::write_file(work / "boot.efi", b.boot);
    for (const char* f : {"uki.efi", "boot.efi"}) {
      auto v = t::run("sbverify --cert " + q(work / "keys/db.crt") + " " + q(work / f) + " 2>&1");
      EXPECT_EQ(v.status, 0) << f << ": " << v.out;
      EXPECT_EQ(machine_of(work / f), want[i].second) << f;
    }
    // ukiverify's checks: signed by the test certificate, and .pcrsig
    // verifies with the PCR public key for the phases asked for.
    report::verify_options o;
    o.name = b.arch;
    o.trust = &*db;
    o.pcrpkey = pcrpub;
    o.phases = {"enter-initrd", "enter-initrd:leave-initrd"};
    o.required_sections = {".linux", ".initrd", ".cmdline", ".osrel", ".pcrsig", ".pcrpkey"};
    auto verdict = report::verify_uki(b.uki, o);
    EXPECT_TRUE(verdict.passed) << (verdict.problems.empty() ? "" : verdict.problems.front());
    // The recipe's PCRPublicKey= is the .pcrpkey, byte for byte (ukify).
    EXPECT_EQ(section_of(work / "uki.efi", ".pcrpkey"),
              std::string(as_chars(std::span<const std::byte>(pcrpub))));
  }
}

TEST_F(installer_build_test, refuses_a_uki_for_another_architecture) {
  // [Arch:amd64] given arm64's stub and kernel: they agree with each other,
  // not with the architecture.
  std::string text = recipe_text();
  const auto amd_stub = "Stub=" + inputs[0].string(), amd_linux = "Linux=" + inputs[2].string();
  text.replace(text.find(amd_stub), amd_stub.size(), "Stub=" + inputs[1].string());
  text.replace(text.find(amd_linux), amd_linux.size(), "Linux=" + inputs[3].string());
  auto arches = load(text);
  ASSERT_TRUE(arches.ok()) << arches.error().message();
  auto built = build_arch((*arches)[0]);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.error().code(), errc::invalid_argument) << built.error().message();
  // systemd-boot for another architecture is refused the same way.
  (*arches)[1].systemd_boot = inputs[4];
  built = build_arch((*arches)[1]);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.error().code(), errc::invalid_argument) << built.error().message();
}

TEST_F(installer_build_test, builds_unsigned_without_a_secure_boot_key) {
  std::string text = recipe_text();
  for (const std::string key :
       {"SecureBootPrivateKey=keys/db.key\n", "SecureBootCertificate=keys/db.crt\n"})
    text.erase(text.find(key), key.size());
  auto arches = load(text);
  ASSERT_TRUE(arches.ok()) << arches.error().message();
  auto built = build_arch((*arches)[0]);
  ASSERT_TRUE(built.ok()) << built.error().message();
  EXPECT_EQ(built->boot, t::read_file(inputs[4])) << "systemd-boot is shipped as it is";
  auto img = pe::parse(built->uki, pe::strictness::strict);
  ASSERT_TRUE(img.ok());
  EXPECT_FALSE(img->has_certificate_table());
}

TEST_F(installer_build_test, a_signed_systemd_boot_is_refused_unless_asked_to_keep_or_replace) {
  UKIKIT_NEED_TOOL("sbverify");
  auto arches = load(recipe_text());
  ASSERT_TRUE(arches.ok()) << arches.error().message();
  auto first = build_arch((*arches)[0]);
  ASSERT_TRUE(first.ok()) << first.error().message();
  t::write_file(work / "signed-boot.efi", first->boot);
  auto again = (*arches)[0];
  again.systemd_boot = work / "signed-boot.efi";
  auto refused = build_arch(again);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), errc::invalid_argument);
  // sbverify --list counts the signatures.
  const auto count = [&](const std::vector<std::byte>& bytes) {
    t::write_file(work / "check.efi", bytes);
    auto r = t::run("sbverify --list " + q(work / "check.efi") + " 2>&1");
    std::size_t n = 0;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("signature ", 0) == 0) ++n; // "signature N" opens each
    return n;
  };
  build_options keep;
  keep.boot_signatures = signed_boot::keep;
  auto kept = build_arch(again, keep);
  ASSERT_TRUE(kept.ok()) << kept.error().message();
  EXPECT_EQ(count(kept->boot), 2u);
  build_options replace;
  replace.boot_signatures = signed_boot::replace;
  auto replaced = build_arch(again, replace);
  ASSERT_TRUE(replaced.ok()) << replaced.error().message();
  EXPECT_EQ(count(replaced->boot), 1u);
}

// Keys not in files load through OpenSSL (keys.hpp; a PKCS#11 token is
// tested in authenticode_test); a provider that is not installed is a clear
// error naming it.
TEST_F(installer_build_test, keys_of_a_provider_that_is_not_installed_are_a_clear_error) {
  auto arches = load(recipe_text("SigningProvider=pkcs11\n"));
  ASSERT_TRUE(arches.ok()) << arches.error().message();
  EXPECT_EQ((*arches)[0].signing_key->where, keys::source::kind::provider);
  auto built = build_arch((*arches)[0]);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.error().code(), errc::crypto) << built.error().message();
  EXPECT_NE(built.error().message().find("no OpenSSL provider 'pkcs11'"), std::string::npos)
      << built.error().message();
}

TEST_F(installer_build_test, a_pcr_public_key_of_another_key_is_refused) {
  ASSERT_EQ(t::run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | "
                   "openssl pkey -pubout -out " +
                   q(work / "keys/pcr.pub"))
                .status,
            0);
  auto arches = load(recipe_text());
  ASSERT_TRUE(arches.ok()) << arches.error().message();
  auto built = build_arch((*arches)[0]);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.error().code(), errc::invalid_argument) << built.error().message();
}

} // namespace
} // namespace ukikit::installer
