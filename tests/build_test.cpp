// `ukikit build` and uki::build on Debian's systemd-stub and kernel, checked
// with objdump, objcopy, sbverify and systemd-measure.
#include <ukikit/authenticode.hpp>
#include <ukikit/measure.hpp>
#include <ukikit/uki.hpp>
#include <ukikit/uki/build.hpp>
#include <ukikit/uki/make.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace ukikit::uki {
namespace {

namespace t = ukikit::test;
using t::sh_quote;

std::string q(const t::fs::path& p) { return sh_quote(p.string()); }

// A section as `objdump -h` lists it: its name, size and file offset.
// For a PE image binutils gives as size the VirtualSize when it is smaller
// than SizeOfRawData, so the bytes at [offset, offset + size) are those the
// loader maps from the file and systemd-stub measures (every section ukikit
// and ukify add has VirtualSize = the data's length <= SizeOfRawData).
struct listed_section {
  std::string name;
  std::uint64_t size = 0, vma = 0, offset = 0;
};

std::vector<listed_section> objdump_sections(const t::fs::path& file) {
  auto r = t::run("objdump -h " + q(file));
  EXPECT_EQ(r.status, 0) << r.out;
  std::vector<listed_section> out;
  std::istringstream rows(r.out);
  for (std::string line; std::getline(rows, line);) {
    std::istringstream f(line);
    std::string idx, name, size, vma, lma, off;
    if (!(f >> idx >> name >> size >> vma >> lma >> off) ||
        !std::isdigit(static_cast<unsigned char>(idx[0])))
      continue;
    out.push_back({name, std::stoull(size, nullptr, 16), std::stoull(vma, nullptr, 16),
                   std::stoull(off, nullptr, 16)});
  }
  return out;
}

// systemd-stub's PCR 11 measurement order, the enum of src/fundamental/uki.h
// (reference/uki-signing-pcr.md §1.1), .pcrsig left out (never measured),
// with the release that first measures each (§1.1 notes).
struct spec_section {
  const char* name;
  unsigned since;
};
constexpr spec_section spec_order[] = {
    {".linux", 252},   {".osrel", 252},   {".cmdline", 252}, {".initrd", 252}, {".ucode", 256},
    {".splash", 252},  {".dtb", 252},     {".uname", 254},   {".sbat", 254},   {".pcrpkey", 252},
    {".profile", 257}, {".dtbauto", 257}, {".hwids", 257},   {".efifw", 258}};

// The sections a systemd-stub of `release` (0: the current one) measures for
// profile @n of the UKI `file`, found from objdump's table alone with the
// rules of reference §1.2: the sections before the first .profile are the
// base, profile @n runs from the n-th .profile to the next; within each the
// first of a name counts, the profile's override the base's; empty ones are
// skipped. .dtbauto is left out: the stub measures only the candidate it
// matches on the machine, which no prediction can know (ukikit leaves it out
// for the same reason, and says so).
std::vector<std::pair<std::string, std::span<const std::byte>>>
spec_profile_sections(const std::vector<listed_section>& table, std::span<const std::byte> file,
                      std::size_t n, unsigned release) {
  std::map<std::string, std::span<const std::byte>> base, profile;
  std::size_t profiles_seen = 0;
  for (const auto& s : table) {
    if (s.name == ".profile") ++profiles_seen;
    auto& into = profiles_seen == 0 ? base : profile;
    if (profiles_seen != 0 && profiles_seen != n + 1) continue;
    into.emplace(s.name, file.subspan(s.offset, s.size)); // the first of a name wins
  }
  std::vector<std::pair<std::string, std::span<const std::byte>>> out;
  for (const auto& [name, since] : spec_order) {
    if (std::string_view(name) == ".dtbauto" || (release != 0 && release < since)) continue;
    std::span<const std::byte> bytes;
    if (auto p = profile.find(name); p != profile.end()) bytes = p->second;
    else if (auto b = base.find(name); b != base.end()) bytes = b->second;
    if (!bytes.empty()) out.emplace_back(name, bytes);
  }
  return out;
}

// systemd-measure's default phase paths (reference §3.1), as word lists.
const std::vector<std::vector<std::string>> default_phase_paths = {
    {"enter-initrd"},
    {"enter-initrd", "leave-initrd"},
    {"enter-initrd", "leave-initrd", "sysinit"},
    {"enter-initrd", "leave-initrd", "sysinit", "ready"}};

// The `ukikit measure --json` document the spec gives for `sections`: per
// bank, one entry per default phase path.
nlohmann::json
spec_measure_json(const std::vector<std::pair<std::string, std::span<const std::byte>>>& sections,
                  const std::vector<std::string>& banks) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& bank : banks) {
    for (const auto& words : default_phase_paths) {
      std::string phase;
      for (const auto& w : words) phase += (phase.empty() ? "" : ":") + w;
      out[bank].push_back(
          {{"phase", phase}, {"pcr", 11}, {"hash", t::spec_pcr11(bank, sections, words)}});
    }
  }
  return out;
}

// Checks a .pcrsig JSON with openssl and the spec alone: every bank has one
// entry per default phase path, each for PCR 11, with the pol of reference
// §3.3 for the spec's PCR 11 value of that path, the pkfp of `key` (SHA-256
// of its PKCS#1 RSAPublicKey DER, as openssl writes it), and a signature
// that `openssl dgst -sha256 -verify` accepts over pol for the sha256 bank.
void expect_pcrsig_verifies_with_openssl(
    std::string_view pcrsig,
    const std::vector<std::pair<std::string, std::span<const std::byte>>>& sections,
    const t::fs::path& key, const t::fs::path& work) {
  while (!pcrsig.empty() && pcrsig.back() == '\0') pcrsig.remove_suffix(1);
  const auto doc = nlohmann::json::parse(pcrsig);
  ASSERT_TRUE(doc.is_object()) << pcrsig;
  EXPECT_EQ(doc.size(), 4u) << "systemd-measure's default banks: sha1, sha256, sha384, sha512";
  ASSERT_TRUE(doc.contains("sha256")) << pcrsig;
  auto pkfp = t::run("openssl rsa -in " + q(key) +
                     " -RSAPublicKey_out -outform DER 2>/dev/null | "
                     "sha256sum");
  ASSERT_EQ(pkfp.status, 0);
  ASSERT_EQ(t::run("openssl pkey -in " + q(key) + " -pubout -out " + q(work / "pcr.pub")).status,
            0);
  for (const auto& [bank, entries] : doc.items()) {
    SCOPED_TRACE(bank);
    std::vector<std::string> want, got;
    for (const auto& words : default_phase_paths)
      want.push_back(t::spec_policy_pcr11(bank, t::spec_pcr11(bank, sections, words)));
    for (const auto& e : entries) {
      EXPECT_EQ(e["pcrs"], nlohmann::json::array({11}));
      EXPECT_EQ(e["pkfp"], pkfp.out.substr(0, 64));
      got.push_back(e["pol"].get<std::string>());
      if (bank != "sha256") continue;
      const auto pol = t::bytes_of_hex(got.back());
      t::write_file(work / "pol",
                    std::span(reinterpret_cast<const std::byte*>(pol.data()), pol.size()));
      t::write_file(work / "sig.b64", e["sig"].get<std::string>());
      auto v = t::run("openssl base64 -d -A -in " + q(work / "sig.b64") + " -out " +
                      q(work / "sig") + " && openssl dgst -sha256 -verify " + q(work / "pcr.pub") +
                      " -signature " + q(work / "sig") + " " + q(work / "pol") + " 2>&1");
      EXPECT_EQ(v.status, 0) << v.out;
      EXPECT_NE(v.out.find("Verified OK"), std::string::npos) << v.out;
    }
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, want);
  }
}

class build_test : public ::testing::Test {
protected:
  void SetUp() override {
    UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
    UKIKIT_NEED_INPUT(kernel, "vmlinuz");
    UKIKIT_NEED_TOOL("openssl");
    stub_path = stub;
    kernel_path = kernel;
    initrd = t::sample_bytes(100001, 5); // not a multiple of 4: padded
    t::write_file(work / "initrd", initrd);
    t::write_file(work / "os-release", std::string_view("ID=ukikit\nNAME=\"ukikit test\"\n"));
    ASSERT_EQ(
        t::run("openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=db -keyout " +
               q(work / "db.key") + " -out " + q(work / "db.crt") + " 2>/dev/null")
            .status,
        0);
    ASSERT_EQ(t::run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " +
                     q(work / "pcr.key") + " 2>/dev/null")
                  .status,
              0);
  }

  // `ukikit build` with the common arguments plus `extra`.
  t::run_result build(const std::string& out, const std::string& extra = "") {
    return t::run(t::tool("ukikit") + " build --stub " + q(stub_path) + " --linux " +
                  q(kernel_path) + " --initrd " + q(work / "initrd") + " --os-release @" +
                  q(work / "os-release") + " --cmdline 'console=ttyS0   quiet' " + extra + " -o " +
                  q(work / out) + " 2>&1");
  }

  std::string dump(const std::string& file, const std::string& section) {
    auto r = t::run("objcopy --dump-section " + sh_quote(section + "=" + (work / "dump").string()) +
                    " " + q(work / file) + " " + q(work / "junk") + " 2>&1");
    EXPECT_EQ(r.status, 0) << r.out;
    return std::string(as_chars(t::read_file(work / "dump")));
  }

  t::fs::path stub_path, kernel_path;
  std::vector<std::byte> initrd;
  t::temp_dir dir;
  const t::fs::path& work = dir.path();
};

TEST_F(build_test, sections_are_where_objdump_finds_them_with_the_given_bytes) {
  UKIKIT_NEED_TOOL("objcopy");
  auto r = build("uki.efi");
  ASSERT_EQ(r.status, 0) << r.out;
  auto bytes = t::read_file(work / "uki.efi");
  auto img = pe::parse(bytes, pe::strictness::strict);
  ASSERT_TRUE(img.ok()) << img.error().message();
  for (const auto& f : img->findings.kept()) EXPECT_FALSE(f.is_error()) << f.text();
  view v(*img);
  EXPECT_TRUE(v.is_uki());
  // Contents as objcopy extracts them.
  EXPECT_EQ(dump("uki.efi", ".cmdline"), "console=ttyS0 quiet")
      << "text given inline is collapsed, as ukify does";
  EXPECT_EQ(dump("uki.efi", ".osrel"), "ID=ukikit\nNAME=\"ukikit test\"\n");
  std::string padded(as_chars(initrd));
  padded.resize((padded.size() + 3) / 4 * 4, '\0');
  EXPECT_EQ(dump("uki.efi", ".initrd"), padded);
  EXPECT_EQ(dump("uki.efi", ".linux"), std::string(as_chars(t::read_file(kernel_path))));
  // .uname found in the kernel equals the release in the file name Debian gave it.
  auto release =
      t::fs::canonical(kernel_path).filename().string().substr(std::string("vmlinuz-").size());
  EXPECT_EQ(dump("uki.efi", ".uname"), release);
  // SBAT: the header, the stub's rows, then the uki row, ending in "\n\0".
  std::string sbat = dump("uki.efi", ".sbat");
  EXPECT_EQ(sbat.rfind(
                "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n", 0),
            0u);
  EXPECT_NE(sbat.find("systemd,1,The systemd Developers,systemd"), std::string::npos) << sbat;
  EXPECT_NE(
      sbat.find(
          "\nuki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n"),
      std::string::npos)
      << sbat;
  EXPECT_EQ(sbat.back(), '\0');
  // .linux is code; the stub's own sections keep their addresses.
  EXPECT_EQ(img->find(".linux")->characteristics, pe::scn_mem_read | pe::scn_cnt_code);
  auto stub = t::read_file(stub_path);
  auto simg = pe::parse(stub);
  ASSERT_TRUE(simg.ok());
  EXPECT_EQ(img->find(".text")->virtual_address, simg->find(".text")->virtual_address);
  EXPECT_EQ(img->find(".data")->virtual_address, simg->find(".data")->virtual_address);
}

TEST_F(build_test, building_twice_gives_identical_bytes_signed_or_not) {
  UKIKIT_NEED_TOOL("faketime");
  // faketime does move the clock of a child.
  auto year = t::run("faketime -f +400d date +%s");
  auto now = t::run("date +%s");
  ASSERT_GT(std::stoll(year.out) - std::stoll(now.out), 399LL * 86400) << year.out << now.out;
  // The second build: everything relative to another directory.
  const auto other = work / "other/dir";
  auto build_there = [&](const std::string& out, const std::string& extra) {
    auto rel = [&](const t::fs::path& p) { return q(t::fs::relative(p, other)); };
    return t::run(t::elsewhere(
        other, t::tool("ukikit") + " build --stub " + rel(stub_path) + " --linux " +
                   rel(kernel_path) + " --initrd " + rel(work / "initrd") + " --os-release @" +
                   rel(work / "os-release") + " --cmdline 'console=ttyS0   quiet' " + extra +
                   " -o " + rel(work / out) + " 2>&1"));
  };
  auto a = build("a.efi");
  ASSERT_EQ(a.status, 0) << a.out;
  auto b = build_there("b.efi", "");
  ASSERT_EQ(b.status, 0) << b.out;
  EXPECT_EQ(t::read_file(work / "a.efi"), t::read_file(work / "b.efi"));
  const auto sign_with = [&](const t::fs::path& from) {
    auto rel = [&](const t::fs::path& p) { return q(t::fs::relative(p, from)); };
    return "--pcr-private-key " + rel(work / "pcr.key") + " --signing-key " + rel(work / "db.key") +
           " --signing-cert " + rel(work / "db.crt");
  };
  auto sa = t::run("cd " + q(work) + " && " + t::tool("ukikit") + " build --stub " + q(stub_path) +
                   " --linux " + q(kernel_path) +
                   " --initrd initrd --os-release @os-release --cmdline 'console=ttyS0   quiet' " +
                   sign_with(work) + " -o sa.efi 2>&1");
  ASSERT_EQ(sa.status, 0) << sa.out;
  auto sb = build_there("sb.efi", sign_with(other));
  ASSERT_EQ(sb.status, 0) << sb.out;
  EXPECT_EQ(t::read_file(work / "sa.efi"), t::read_file(work / "sb.efi"));
}

TEST_F(build_test, signed_uki_verifies_with_sbverify_and_ukiverify) {
  UKIKIT_NEED_TOOL("sbverify");
  auto r = build("uki.efi",
                 "--signing-key " + q(work / "db.key") + " --signing-cert " + q(work / "db.crt"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(t::run("sbverify --cert " + q(work / "db.crt") + " " + q(work / "uki.efi") +
                   " >/dev/null 2>&1")
                .status,
            0);
  auto v = t::run(t::tool("ukiverify") + " --cert " + q(work / "db.crt") +
                  " --require .linux --require .initrd " + q(work / "uki.efi"));
  EXPECT_EQ(v.status, 0) << v.out;
}

TEST_F(build_test, pcrsig_verifies_against_pcrpkey_for_the_predicted_values) {
  auto r = build("uki.efi", "--pcr-private-key " + q(work / "pcr.key"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto bytes = t::read_file(work / "uki.efi");
  auto img = pe::parse(bytes);
  ASSERT_TRUE(img.ok());
  ASSERT_TRUE(img->find(".pcrsig") && img->find(".pcrpkey"));
  // The public key in .pcrpkey is the PCR key's, as openssl derives it.
  auto pub = t::run("openssl pkey -in " + q(work / "pcr.key") + " -pubout");
  EXPECT_EQ(std::string(as_chars(img->find(".pcrpkey")->data())), pub.out);
  // .pcrsig entries: one per default phase path, per bank.
  auto sig = measure::parse_pcrsig(img->find(".pcrsig")->data());
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  EXPECT_EQ(sig->banks.size(), 4u);
  for (const auto& b : sig->banks) EXPECT_EQ(b.entries.size(), 4u);
}

// ukify's option names build the same bytes; --measure prints what `ukikit
// measure` prints of the result, as ukify --measure prints systemd-measure's.
TEST_F(build_test, ukify_option_names_build_the_same_uki) {
  ASSERT_EQ(
      t::run("openssl pkey -in " + q(work / "pcr.key") + " -pubout -out " + q(work / "pcr.pub"))
          .status,
      0);
  auto ours = build("ours.efi", "--pcr-private-key " + q(work / "pcr.key") + " --signing-key " +
                                    q(work / "db.key") + " --signing-cert " + q(work / "db.crt"));
  ASSERT_EQ(ours.status, 0) << ours.out;
  auto ukify = build("ukify.efi",
                     "--pcr-private-key " + q(work / "pcr.key") + " --pcr-public-key " +
                         q(work / "pcr.pub") + " --secureboot-private-key " + q(work / "db.key") +
                         " --secureboot-certificate " + q(work / "db.crt") + " --signtool sbsign");
  ASSERT_EQ(ukify.status, 0) << ukify.out;
  EXPECT_EQ(t::read_file(work / "ukify.efi"), t::read_file(work / "ours.efi"));
  auto bad = build("bad.efi", "--signtool osslsigncode");
  EXPECT_EQ(bad.status, 2) << bad.out;
  EXPECT_FALSE(t::fs::exists(work / "bad.efi"));

  const std::string common = t::tool("ukikit") + " build --stub " + q(stub_path) + " --linux " +
                             q(kernel_path) + " --initrd " + q(work / "initrd") +
                             " --os-release @" + q(work / "os-release") + " --cmdline quiet ";
  auto measured = t::run(common + "--measure --pcr-banks sha256,sha384 -o " + q(work / "m.efi") +
                         " 2>/dev/null");
  ASSERT_EQ(measured.status, 0);
  auto expected = t::run(t::tool("ukikit") + " measure --bank sha256 --bank sha384 " +
                         q(work / "m.efi") + " 2>/dev/null");
  ASSERT_EQ(expected.status, 0);
  EXPECT_EQ(measured.out, expected.out);
  EXPECT_NE(measured.out.find("sha384"), std::string::npos) << measured.out;
}

TEST_F(build_test, pcr11_follows_the_stub_release_as_systemd_measure_252_computes_it) {
  // Debian 12's stub is systemd 252: it measures .linux .osrel .cmdline
  // .initrd .splash .dtb .pcrpkey and not .uname or .sbat, which the build
  // adds. Its systemd-measure takes exactly the sections it measures, so its
  // PCR 11 over the dumped sections is what the stub will extend.
  UKIKIT_NEED_TOOL("objcopy");
  const std::string measure = "/lib/systemd/systemd-measure";
  UKIKIT_NEED_TOOL(measure);
  auto r = build("uki.efi", "--pcr-private-key " + q(work / "pcr.key"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto stub = t::run("objcopy -O binary --only-section=.sdmagic " + q(stub_path) + " " +
                     q(work / "sdmagic") + " && tr -d '\\000' < " + q(work / "sdmagic"));
  const auto at = stub.out.find("systemd-stub 252.");
  // Every expectation below is that of a 252 stub: other inputs need another test.
  UKIKIT_NEED(at != std::string::npos,
              "systemd-stub 252 as input linuxx64.efi.stub (its .sdmagic: " << stub.out << ")");
  const std::string version = stub.out.substr(at, stub.out.find(' ', at + 13) - at);
  for (const char* s : {".uname", ".sbat"})
    EXPECT_NE(r.out.find(version + " does not measure " + s), std::string::npos) << r.out;

  std::string args;
  for (const char* s : {"linux", "osrel", "cmdline", "initrd", "pcrpkey"}) {
    t::write_file(work / s, dump("uki.efi", std::string(".") + s));
    args += std::string(" --") + s + "=" + q(work / s);
  }
  auto theirs = t::run(measure + " calculate --json=short" + args);
  ASSERT_EQ(theirs.status, 0) << theirs.out;
  auto ours = t::run(t::tool("ukikit") + " measure --json " + q(work / "uki.efi") + " 2>/dev/null");
  ASSERT_EQ(ours.status, 0) << ours.out;
  EXPECT_EQ(nlohmann::json::parse(ours.out), nlohmann::json::parse(theirs.out));
  // ukiinspect predicts the same and names the stub.
  auto inspect = t::run(t::tool("ukiinspect") + " --json " + q(work / "uki.efi"));
  ASSERT_EQ(inspect.status, 0) << inspect.out;
  auto j = nlohmann::json::parse(inspect.out);
  EXPECT_EQ(j["pcr11"], nlohmann::json::parse(theirs.out));
  EXPECT_EQ(j["stub"]["release"], 252);
  EXPECT_EQ("systemd-stub " + j["stub"]["version"].get<std::string>(), version);

  // The .pcrsig was made for the 252 stub: it verifies as that stub measures,
  // and not as a current stub (which also measures .uname and .sbat) would.
  const std::string verify = t::tool("ukiverify") + " --cert " + q(work / "db.crt");
  t::fs::copy_file(work / "uki.efi", work / "signed.efi");
  ASSERT_EQ(t::run(t::tool("ukikit") + " sign --key " + q(work / "db.key") + " --cert " +
                   q(work / "db.crt") + " " + q(work / "signed.efi"))
                .status,
            0);
  auto as_252 = t::run(verify + " " + q(work / "signed.efi"));
  EXPECT_EQ(as_252.status, 0) << as_252.out;
  auto as_current = t::run(verify + " --stub-release 0 " + q(work / "signed.efi"));
  EXPECT_EQ(as_current.status, 1) << as_current.out;
  auto as_254 = t::run(verify + " --stub-release 254 " + q(work / "signed.efi"));
  EXPECT_EQ(as_254.status, 1) << as_254.out;

  // Built for a stub that measures them (a distribution's backport), the
  // prediction includes .uname and .sbat, in the stub's order (systemd-measure
  // 252 cannot take them: the §3.1 algorithm with OpenSSL alone gives the
  // expected value).
  auto r254 = build("uki254.efi", "--stub-release 254 --pcr-private-key " + q(work / "pcr.key"));
  ASSERT_EQ(r254.status, 0) << r254.out;
  EXPECT_EQ(r254.out.find("does not measure"), std::string::npos) << r254.out;
  auto ours254 =
      t::run(t::tool("ukikit") + " measure --stub-release 254 --json " + q(work / "uki254.efi"));
  ASSERT_EQ(ours254.status, 0) << ours254.out;
  std::vector<std::string> kept;
  kept.reserve(7);
  std::vector<std::pair<std::string, std::span<const std::byte>>> order;
  for (const char* s : {".linux", ".osrel", ".cmdline", ".initrd", ".uname", ".sbat", ".pcrpkey"}) {
    kept.push_back(dump("uki254.efi", s));
    order.emplace_back(s, as_bytes(kept.back()));
  }
  const auto m254 = nlohmann::json::parse(ours254.out);
  EXPECT_EQ(m254["sha256"][0]["phase"], "enter-initrd");
  EXPECT_EQ(m254["sha256"][0]["hash"], t::spec_pcr11_sha256(order, {"enter-initrd"}));
  EXPECT_NE(m254, nlohmann::json::parse(theirs.out));
  t::fs::copy_file(work / "uki254.efi", work / "signed254.efi");
  ASSERT_EQ(t::run(t::tool("ukikit") + " sign --key " + q(work / "db.key") + " --cert " +
                   q(work / "db.crt") + " " + q(work / "signed254.efi"))
                .status,
            0);
  EXPECT_EQ(t::run(verify + " --stub-release 254 " + q(work / "signed254.efi")).status, 0);
  EXPECT_EQ(t::run(verify + " " + q(work / "signed254.efi")).status, 1);
}

// An arm64 UKI built on this (x86-64) host from Debian's arm64 stub and
// kernel, checked with the aarch64 binutils, sbverify and systemd-measure.
// Debian 12's arm64 stub was made by objcopy without a PE linker: it has
// only .text and .data, and its SBAT and LoaderInfo texts lie after them.
TEST_F(build_test, cross_architecture_arm64_uki_from_debians_arm64_stub) {
  UKIKIT_NEED_INPUT(arm_stub, "linuxaa64.efi.stub");
  UKIKIT_NEED_INPUT(arm_kernel, "vmlinuz-arm64");
  UKIKIT_NEED_TOOL("aarch64-linux-gnu-objdump");
  UKIKIT_NEED_TOOL("aarch64-linux-gnu-objcopy");
  UKIKIT_NEED_TOOL("strings");
  UKIKIT_NEED_TOOL("sbverify");
  const std::string measure = "/lib/systemd/systemd-measure";
  UKIKIT_NEED_TOOL(measure);
  auto build_arm = [&](const std::string& out) {
    return t::run(t::tool("ukikit") + " build --stub " + q(arm_stub) + " --linux " + q(arm_kernel) +
                  " --initrd " + q(work / "initrd") + " --os-release @" + q(work / "os-release") +
                  " --cmdline 'console=ttyAMA0' --pcr-private-key " + q(work / "pcr.key") +
                  " --signing-key " + q(work / "db.key") + " --signing-cert " + q(work / "db.crt") +
                  " -o " + q(work / out) + " 2>&1");
  };
  auto r = build_arm("arm.efi");
  ASSERT_EQ(r.status, 0) << r.out;
  // Reproducible, signed or not.
  ASSERT_EQ(build_arm("again.efi").status, 0);
  EXPECT_EQ(t::read_file(work / "arm.efi"), t::read_file(work / "again.efi"));

  // objdump for aarch64 reads it as an arm64 EFI image, with every section
  // where ukiinspect says, and objcopy dumps the bytes we put in.
  auto inspect = t::run(t::tool("ukiinspect") + " --json " + q(work / "arm.efi"));
  ASSERT_EQ(inspect.status, 0) << inspect.out;
  const auto j = nlohmann::json::parse(inspect.out);
  EXPECT_EQ(j["machine"], "aarch64");
  EXPECT_EQ(j["stub"]["release"], 252);
  EXPECT_EQ(j["kernel"]["format"], "arm64 Image");
  auto objdump = t::run("aarch64-linux-gnu-objdump -h " + q(work / "arm.efi"));
  ASSERT_EQ(objdump.status, 0) << objdump.out;
  EXPECT_NE(objdump.out.find("file format pei-aarch64-little"), std::string::npos) << objdump.out;
  std::istringstream rows(objdump.out);
  std::size_t listed = 0;
  for (std::string line; std::getline(rows, line);) {
    std::istringstream f(line);
    std::string idx, name, size, vma, lma, off;
    if (!(f >> idx >> name >> size >> vma >> lma >> off) ||
        !std::isdigit(static_cast<unsigned char>(idx[0])))
      continue;
    ASSERT_LT(listed, j["sections"].size());
    const auto& s = j["sections"][listed++];
    EXPECT_EQ(s["name"], name);
    EXPECT_EQ(s["virtual_address"].get<std::uint64_t>(), std::stoull(vma, nullptr, 16)) << name;
    EXPECT_EQ(s["file_offset"].get<std::uint64_t>(), std::stoull(off, nullptr, 16)) << name;
  }
  EXPECT_EQ(listed, j["sections"].size());
  auto dump_arm = [&](const std::string& section) {
    auto d = t::run("aarch64-linux-gnu-objcopy --dump-section " +
                    sh_quote(section + "=" + (work / section).string()) + " " +
                    q(work / "arm.efi") + " " + q(work / "junk") + " 2>&1");
    EXPECT_EQ(d.status, 0) << d.out;
    return t::read_file(work / section);
  };
  EXPECT_EQ(dump_arm(".linux"), t::read_file(arm_kernel));
  EXPECT_EQ(std::string(as_chars(dump_arm(".cmdline"))), "console=ttyAMA0");
  // The stub has no .sbat section; its SBAT rows (which strings finds in the
  // file) are merged into the UKI's .sbat, before the UKI's own row.
  EXPECT_NE(r.out.find("its SBAT text after the last section is merged"), std::string::npos)
      << r.out;
  auto stub_rows = t::run("strings -n 8 " + q(arm_stub) + " | grep -E '^(sbat|systemd)[.,]'");
  ASSERT_EQ(stub_rows.status, 0);
  const std::string sbat(as_chars(dump_arm(".sbat")));
  EXPECT_EQ(sbat.rfind(stub_rows.out, 0), 0u) << sbat << "\nstub:\n" << stub_rows.out;
  EXPECT_NE(sbat.find("\nuki,1,UKI,"), std::string::npos) << sbat;

  // The stub's bytes after its sections are kept, after ours, where the
  // signature covers them; sbverify and ukiverify accept the image.
  const auto stub_bytes = t::read_file(arm_stub);
  auto stub_img = pe::parse(stub_bytes);
  ASSERT_TRUE(stub_img.ok());
  const auto tail_at = static_cast<std::ptrdiff_t>(stub_img->end_of_sections());
  ASSERT_LT(tail_at, static_cast<std::ptrdiff_t>(stub_bytes.size()));
  const auto uki_bytes = t::read_file(work / "arm.efi");
  auto uki_img = pe::parse(uki_bytes);
  ASSERT_TRUE(uki_img.ok());
  EXPECT_TRUE(
      std::equal(stub_bytes.begin() + tail_at, stub_bytes.end(),
                 uki_bytes.begin() + static_cast<std::ptrdiff_t>(uki_img->end_of_sections())));
  EXPECT_EQ(t::run("sbverify --cert " + q(work / "db.crt") + " " + q(work / "arm.efi") +
                   " >/dev/null 2>&1")
                .status,
            0);
  auto v =
      t::run(t::tool("ukiverify") + " --cert " + q(work / "db.crt") + " " + q(work / "arm.efi"));
  EXPECT_EQ(v.status, 0) << v.out;

  // PCR 11 as the arm64 252 stub measures it: what systemd-measure computes
  // for the sections it takes.
  std::string args;
  for (const char* s : {"linux", "osrel", "cmdline", "initrd", "pcrpkey"}) {
    dump_arm(std::string(".") + s);
    args += std::string(" --") + s + "=" + q(work / (std::string(".") + s));
  }
  auto theirs = t::run(measure + " calculate --json=short" + args);
  ASSERT_EQ(theirs.status, 0) << theirs.out;
  EXPECT_EQ(j["pcr11"], nlohmann::json::parse(theirs.out));
}

TEST_F(build_test, ukiverify_checks_pcrsig_against_pcrpkey) {
  auto r = build("uki.efi", "--pcr-private-key " + q(work / "pcr.key"));
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string sign =
      t::tool("ukikit") + " sign --key " + q(work / "db.key") + " --cert " + q(work / "db.crt");
  const std::string verify = t::tool("ukiverify") + " --cert " + q(work / "db.crt");
  // Untouched: the embedded .pcrpkey verifies .pcrsig.
  t::fs::copy_file(work / "uki.efi", work / "good.efi");
  ASSERT_EQ(t::run(sign + " " + q(work / "good.efi")).status, 0);
  auto good = t::run(verify + " --json " + q(work / "good.efi"));
  EXPECT_EQ(good.status, 0) << good.out;
  EXPECT_NE(good.out.find("\"pcrsig\""), std::string::npos) << good.out;
  // A section changed after .pcrsig was made (then Authenticode-signed
  // again): the signature still passes, .pcrsig does not.
  auto bytes = t::read_file(work / "uki.efi");
  auto img = pe::parse(bytes);
  ASSERT_TRUE(img.ok());
  const pe::section* cmdline = img->find(".cmdline");
  ASSERT_NE(cmdline, nullptr);
  bytes[cmdline->pointer_to_raw_data] = std::byte{'X'};
  t::write_file(work / "bad.efi", bytes);
  ASSERT_EQ(t::run(sign + " " + q(work / "bad.efi")).status, 0);
  auto bad = t::run(verify + " " + q(work / "bad.efi"));
  EXPECT_EQ(bad.status, 1) << bad.out;
  EXPECT_NE(bad.out.find("pol mismatch"), std::string::npos) << bad.out;
  // Another public key: the fingerprint and the signatures do not match.
  ASSERT_EQ(t::run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | "
                   "openssl pkey -pubout -out " +
                   q(work / "other.pub"))
                .status,
            0);
  auto other = t::run(verify + " --pcrpkey " + q(work / "other.pub") + " " + q(work / "good.efi"));
  EXPECT_EQ(other.status, 1) << other.out;
  EXPECT_NE(other.out.find("pkfp mismatch"), std::string::npos) << other.out;
}

TEST_F(build_test, join_profile_appends_profiles_each_with_its_own_pcrsig) {
  // Debian's 252 stub has room for 15 section headers: leave out .osrel,
  // .uname, .initrd and .cmdline from the base to fit two profiles with
  // their .pcrsig. The profile PE is made by objcopy from a tiny EFI app.
  // A 252 stub knows no profiles (the build refuses); the layout and the
  // signatures are those for a 257 stub, which --stub-release declares.
  UKIKIT_NEED_TOOL("objcopy");
  UKIKIT_NEED_TOOL("objdump");
  t::write_file(work / "p.txt", std::string_view("ID=reset\nTITLE=\"Reset the system\""));
  t::write_file(work / "c.txt", std::string_view("console=ttyS0 wipe=system"));
  const auto tiny = t::fs::path(UKIKIT_SOURCE_DIR) / "fuzz/corpus/pe_fuzzer/tiny.efi";
  auto made = t::run(
      "objcopy --add-section .profile=" + q(work / "p.txt") +
      " --change-section-vma .profile=0x20000 --add-section .cmdline=" + q(work / "c.txt") +
      " --change-section-vma .cmdline=0x21000 " + q(tiny) + " " + q(work / "reset.efi") + " 2>&1");
  ASSERT_EQ(made.status, 0) << made.out;
  const std::string base = t::tool("ukikit") + " build --stub " + q(stub_path) + " --linux " +
                           q(kernel_path) + " --uname= --no-os-release --pcr-private-key " +
                           q(work / "pcr.key") + " --profile 'ID=main' ";
  auto on_252 = t::run(base + "--join-profile " + q(work / "reset.efi") + " -o " +
                       q(work / "old.efi") + " 2>&1");
  EXPECT_EQ(on_252.status, 2) << on_252.out;
  EXPECT_NE(on_252.out.find("does not know profiles"), std::string::npos) << on_252.out;
  auto r = t::run(base + "--stub-release 257 --join-profile " + q(work / "reset.efi") + " -o " +
                  q(work / "uki.efi") + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  // objdump: the stub's own sections (as objdump lists the stub), then the
  // added ones in the file order ukify's make_uki writes (reference §1.5;
  // ukify itself is not run: Debian 12 has no systemd-ukify, which came with
  // systemd 253): the base's sections of its order that this build has, the
  // base .profile and its .pcrsig, then for the joined PE its sections of
  // the joined order and its .pcrsig. One difference, by design: ukify
  // swaps the merged SBAT into the stub's .sbat when it fits the raw size,
  // even when it then overlaps the next section's addresses (Debian's stub
  // has .sdmagic 0x100 bytes after .sbat); ukikit then moves .sbat to where
  // ukify adds it to a stub without one, after .linux.
  const std::vector<std::string> ukify_base_order = {
      ".osrel",  ".cmdline", ".dtb",   ".dtbauto", ".hwids", ".uname",   ".splash", ".pcrpkey",
      ".initrd", ".efifw",   ".ucode", ".linux",   ".sbat",  ".profile", ".pcrsig"};
  const std::vector<std::string> ukify_joined_order = {".profile", ".linux", ".osrel", ".cmdline",
                                                       ".initrd",  ".efifw", ".ucode", ".splash",
                                                       ".dtb",     ".uname", ".sbat",  ".pcrsig"};
  const auto table = objdump_sections(work / "uki.efi");
  const auto stub_table = objdump_sections(stub_path);
  std::uint64_t merged_sbat = 0;
  for (const auto& s : table)
    if (s.name == ".sbat") merged_sbat = s.size;
  std::vector<std::string> want_order, got_order;
  std::set<std::string> base_has = {".pcrpkey", ".linux", ".profile", ".pcrsig"};
  for (std::size_t i = 0; i < stub_table.size(); ++i) {
    const auto& s = stub_table[i];
    const bool moves = s.name == ".sbat" && i + 1 < stub_table.size() &&
                       s.vma + merged_sbat > stub_table[i + 1].vma;
    if (moves) base_has.insert(".sbat");
    else want_order.push_back(s.name);
  }
  if (std::none_of(stub_table.begin(), stub_table.end(),
                   [](const listed_section& s) { return s.name == ".sbat"; }))
    base_has.insert(".sbat"); // added, as to any stub without one
  for (const auto& n : ukify_base_order)
    if (base_has.count(n)) want_order.push_back(n);
  std::set<std::string> joined_has = {".pcrsig"};
  for (const auto& s : objdump_sections(work / "reset.efi")) joined_has.insert(s.name);
  for (const auto& n : ukify_joined_order)
    if (joined_has.count(n)) want_order.push_back(n);
  for (const auto& s : table) got_order.push_back(s.name);
  EXPECT_EQ(got_order, want_order);
  auto j = t::run(t::tool("ukiinspect") + " --stub-release 257 --json " + q(work / "uki.efi"));
  ASSERT_EQ(j.status, 0) << j.out;
  auto doc = nlohmann::json::parse(j.out);
  ASSERT_EQ(doc["profiles"].size(), 2u);
  EXPECT_EQ(doc["profiles"][0]["id"], "main");
  EXPECT_EQ(doc["profiles"][1]["id"], "reset");
  EXPECT_EQ(doc["profiles"][1]["title"], "Reset the system");
  for (const auto& w : doc["warnings"]) {
    EXPECT_EQ(w.get<std::string>().find("duplicate"), std::string::npos) << w;
    EXPECT_EQ(w.get<std::string>().find(".pcrsig does not match"), std::string::npos) << w;
  }
  // Both .pcrsig verify against the derived .pcrpkey (ukiverify checks every
  // profile); the two profiles measure differently.
  const std::string sign =
      t::tool("ukikit") + " sign --key " + q(work / "db.key") + " --cert " + q(work / "db.crt");
  t::fs::copy_file(work / "uki.efi", work / "unsigned.efi");
  ASSERT_EQ(t::run(sign + " " + q(work / "uki.efi")).status, 0);
  auto v = t::run(t::tool("ukiverify") + " --stub-release 257 --cert " + q(work / "db.crt") + " " +
                  q(work / "uki.efi"));
  EXPECT_EQ(v.status, 0) << v.out;
  // Each profile's PCR 11 and .pcrsig against the spec's algorithm over the
  // base and that profile's sections, found from objdump's table (before
  // signing: the signature is no section), with OpenSSL alone.
  const auto unsigned_bytes = t::read_file(work / "unsigned.efi");
  std::vector<std::size_t> pcrsigs;
  for (std::size_t i = 0; i < table.size(); ++i)
    if (table[i].name == ".pcrsig") pcrsigs.push_back(i);
  ASSERT_EQ(pcrsigs.size(), 2u);
  for (std::size_t n : {0u, 1u}) {
    SCOPED_TRACE("profile @" + std::to_string(n));
    const auto sections = spec_profile_sections(table, unsigned_bytes, n, 257);
    std::vector<std::string> names;
    for (const auto& sec : sections) names.push_back(sec.first);
    const std::vector<std::string> want =
        n == 0 ? std::vector<std::string>{".linux", ".sbat", ".pcrpkey", ".profile"}
               : std::vector<std::string>{".linux", ".cmdline", ".sbat", ".pcrpkey", ".profile"};
    EXPECT_EQ(names, want);
    auto m = t::run(t::tool("ukikit") + " measure --stub-release 257 --profile-index " +
                    std::to_string(n) + " --json " + q(work / "uki.efi"));
    ASSERT_EQ(m.status, 0) << m.out;
    EXPECT_EQ(nlohmann::json::parse(m.out),
              spec_measure_json(sections, {"sha1", "sha256", "sha384", "sha512"}));
    const auto& sig = table[pcrsigs[n]];
    expect_pcrsig_verifies_with_openssl(
        as_chars(std::span(unsigned_bytes).subspan(sig.offset, sig.size)), sections,
        work / "pcr.key", work);
  }
  // Without --profile there is no profile @0 to join to.
  auto no_base =
      t::run(t::tool("ukikit") + " build --stub " + q(stub_path) + " --linux " + q(kernel_path) +
             " --join-profile " + q(work / "reset.efi") + " -o " + q(work / "x.efi") + " 2>&1");
  EXPECT_EQ(no_base.status, 2);
  EXPECT_NE(no_base.out.find("needs --profile"), std::string::npos) << no_base.out;
}

TEST_F(build_test, sections_of_stubs_256_and_later_measure_as_the_spec_computes_per_profile) {
  // .ucode (256), .profile .hwids .dtbauto (257) and .efifw (258) have no
  // systemd-measure here (Debian 12 has 252): the expected values are the
  // spec's algorithm over the sections objdump finds, with OpenSSL alone.
  // Base: .linux .ucode .hwids .dtbauto .sbat and .profile @0; joined
  // profile @1 (made by objcopy): .profile and .efifw. With the stub's 7
  // sections that is the 15 headers Debian's stub has room for.
  UKIKIT_NEED_TOOL("objcopy");
  UKIKIT_NEED_TOOL("objdump");
  t::write_file(work / "ucode", t::sample_bytes(3000, 11));
  t::write_file(work / "hwids", t::sample_bytes(300, 12));
  t::write_file(work / "dtbauto", t::sample_bytes(700, 13));
  t::write_file(work / "efifw", t::sample_bytes(900, 14));
  t::write_file(work / "p.txt", std::string_view("ID=fw\nTITLE=\"With firmware\""));
  const auto tiny = t::fs::path(UKIKIT_SOURCE_DIR) / "fuzz/corpus/pe_fuzzer/tiny.efi";
  auto made = t::run(
      "objcopy --add-section .profile=" + q(work / "p.txt") +
      " --change-section-vma .profile=0x20000 --add-section .efifw=" + q(work / "efifw") +
      " --change-section-vma .efifw=0x21000 " + q(tiny) + " " + q(work / "fw.efi") + " 2>&1");
  ASSERT_EQ(made.status, 0) << made.out;
  auto r =
      t::run(t::tool("ukikit") + " build --stub " + q(stub_path) + " --linux " + q(kernel_path) +
             " --uname= --no-os-release --stub-release 0 --microcode " + q(work / "ucode") +
             " --section .hwids:@" + q(work / "hwids") + " --section .dtbauto:@" +
             q(work / "dtbauto") + " --profile 'ID=main' --join-profile " + q(work / "fw.efi") +
             " -o " + q(work / "uki.efi") + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto table = objdump_sections(work / "uki.efi");
  const auto bytes = t::read_file(work / "uki.efi");
  // objdump's sizes are the data's lengths (VirtualSize), not the padded raw size.
  for (const auto& sec : table) {
    if (sec.name == ".ucode") {
      EXPECT_EQ(sec.size, 3000u);
    }
  }
  struct want {
    std::size_t profile;
    unsigned release;
    std::vector<std::string> names;
  };
  const want cases[] = {
      {0, 0, {".linux", ".ucode", ".sbat", ".profile", ".hwids"}},
      {1, 0, {".linux", ".ucode", ".sbat", ".profile", ".hwids", ".efifw"}},
      // 257 does not measure .efifw (258 does).
      {1, 257, {".linux", ".ucode", ".sbat", ".profile", ".hwids"}},
  };
  for (const auto& w : cases) {
    SCOPED_TRACE("profile @" + std::to_string(w.profile) + ", stub release " +
                 std::to_string(w.release));
    const auto sections = spec_profile_sections(table, bytes, w.profile, w.release);
    std::vector<std::string> names;
    for (const auto& sec : sections) names.push_back(sec.first);
    EXPECT_EQ(names, w.names);
    auto m = t::run(t::tool("ukikit") + " measure --stub-release " + std::to_string(w.release) +
                    " --profile-index " + std::to_string(w.profile) +
                    " --json --bank sha256 --bank sha512 " + q(work / "uki.efi") + " 2>/dev/null");
    ASSERT_EQ(m.status, 0) << m.out;
    EXPECT_EQ(nlohmann::json::parse(m.out), spec_measure_json(sections, {"sha256", "sha512"}));
  }
}

TEST_F(build_test, ukikit_measure_agrees_with_systemd_measure_on_section_files) {
  const std::string measure = "/lib/systemd/systemd-measure";
  UKIKIT_NEED_TOOL(measure);
  t::write_file(work / "cmdline", std::string_view("console=ttyS0"));
  const std::string files = " --linux=" + q(kernel_path) + " --initrd=" + q(work / "initrd") +
                            " --osrel=" + q(work / "os-release") +
                            " --cmdline=" + q(work / "cmdline");
  for (const std::string& phase : {std::string("--phase=enter-initrd"), std::string("--phase=")}) {
    auto theirs = t::run(measure + " calculate --json=short --bank=sha256 --bank=sha384" + files +
                         " " + phase);
    ASSERT_EQ(theirs.status, 0);
    std::string our_phase = phase == "--phase=" ? "--phases=" : "--phases=enter-initrd";
    auto ours = t::run(t::tool("ukikit") + " measure --json --bank sha256 --bank sha384" + files +
                       " " + our_phase);
    ASSERT_EQ(ours.status, 0) << ours.out;
    // Same JSON document (ours is indented).
    auto strip = [](std::string s) {
      s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }),
              s.end());
      return s;
    };
    EXPECT_EQ(strip(ours.out), strip(theirs.out)) << phase;
  }
}

// systemd-boot or a built UKI given as the stub is named as the cause.
TEST_F(build_test, a_stub_that_is_not_systemd_stub_is_named_as_the_cause) {
  UKIKIT_NEED_INPUT(boot, "systemd-bootx64.efi");
  auto r = t::run(t::tool("ukikit") + " build --stub " + q(boot) + " --linux " + q(kernel_path) +
                  " -o " + q(work / "x.efi") + " 2>&1");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("the stub is not systemd-stub (it is systemd-boot): it has a .osrel "
                       "section already"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(t::fs::exists(work / "x.efi"));
  ASSERT_EQ(build("uki.efi").status, 0);
  auto again = t::run(t::tool("ukikit") + " build --stub " + q(work / "uki.efi") + " --linux " +
                      q(kernel_path) + " -o " + q(work / "y.efi") + " 2>&1");
  EXPECT_EQ(again.status, 2);
  EXPECT_NE(again.out.find("the stub is already a UKI (it has a .linux section)"),
            std::string::npos)
      << again.out;
}

TEST_F(build_test, refuses_a_signed_stub_and_a_kernel_of_another_architecture) {
  UKIKIT_NEED_INPUT(signed_pe, "vmlinuz");
  auto r = t::run(t::tool("ukikit") + " build --stub " + q(signed_pe) + " --linux " +
                  q(kernel_path) + " -o " + q(work / "x.efi") + " 2>&1");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("signed"), std::string::npos) << r.out;
  EXPECT_FALSE(t::fs::exists(work / "x.efi"));
  auto arch = t::run(t::tool("ukikit") + " build --efi-arch aa64 --stub " + q(stub_path) +
                     " --linux " + q(kernel_path) + " -o " + q(work / "y.efi") + " 2>&1");
  EXPECT_EQ(arch.status, 2);
  EXPECT_NE(arch.out.find("is for x64, not --efi-arch aa64"), std::string::npos) << arch.out;
}

TEST_F(build_test, ukiinspect_agrees_with_objdump_and_objcopy_on_an_objcopy_made_uki) {
  UKIKIT_NEED_TOOL("objcopy");
  UKIKIT_NEED_TOOL("objdump");
  // A UKI made the pre-ukify way, with objcopy alone.
  t::write_file(work / "cmdline", std::string_view("root=/dev/vda quiet"));
  t::write_file(work / "uname", std::string_view("6.1.0-test"));
  auto made =
      t::run("objcopy --add-section .osrel=" + q(work / "os-release") +
             " --change-section-vma .osrel=0x20000 --add-section .cmdline=" + q(work / "cmdline") +
             " --change-section-vma .cmdline=0x30000 --add-section .uname=" + q(work / "uname") +
             " --change-section-vma .uname=0x40000 --add-section .initrd=" + q(work / "initrd") +
             " --change-section-vma .initrd=0x50000 --add-section .linux=" + q(kernel_path) +
             " --change-section-vma .linux=0x2000000 " + q(stub_path) + " " +
             q(work / "objcopy.efi") + " 2>&1");
  ASSERT_EQ(made.status, 0) << made.out;
  auto j = t::run(t::tool("ukiinspect") + " --json " + q(work / "objcopy.efi"));
  ASSERT_EQ(j.status, 0) << j.out;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_TRUE(doc["uki"].get<bool>());
  EXPECT_EQ(doc["cmdline"], "root=/dev/vda quiet");
  EXPECT_EQ(doc["uname"], "6.1.0-test");
  EXPECT_EQ(doc["os_release"]["ID"], "ukikit");
  EXPECT_EQ(doc["machine"], "x86_64");
  // Every section: objdump's VMA and file offset, and the sha256 of what
  // objcopy extracts.
  auto od = t::run("objdump -h " + q(work / "objcopy.efi"));
  std::istringstream rows(od.out);
  std::string line;
  std::size_t checked = 0;
  while (std::getline(rows, line)) {
    std::istringstream ls(line);
    int idx;
    std::string name, size, vma, lma, off;
    if (!(ls >> idx >> name >> size >> vma >> lma >> off)) continue;
    const auto& sec = doc["sections"][static_cast<std::size_t>(idx)];
    EXPECT_EQ(sec["name"], name);
    EXPECT_EQ(sec["virtual_address"].get<std::uint64_t>(), std::stoull(vma, nullptr, 16)) << name;
    EXPECT_EQ(sec["file_offset"].get<std::uint64_t>(), std::stoull(off, nullptr, 16)) << name;
    t::write_file(work / "part", dump("objcopy.efi", name));
    auto sum = t::run("sha256sum " + q(work / "part"));
    EXPECT_EQ(sec["sha256"].get<std::string>(), sum.out.substr(0, 64)) << name;
    auto raw = t::run(t::tool("ukiinspect") + " --section " + name + " " + q(work / "objcopy.efi") +
                      " | sha256sum");
    EXPECT_EQ(raw.out.substr(0, 64), sum.out.substr(0, 64)) << name;
    ++checked;
  }
  EXPECT_EQ(checked, doc["sections"].size());
  // --no-hash reads headers only; non-PE input is exit 2.
  auto quick = t::run(t::tool("ukiinspect") + " --json --no-hash " + q(work / "objcopy.efi"));
  ASSERT_EQ(quick.status, 0);
  EXPECT_EQ(quick.out.find("sha256\": \""), std::string::npos);
  EXPECT_EQ(t::run(t::tool("ukiinspect") + " " + q(work / "cmdline") + " 2>/dev/null").status, 2);
}

TEST_F(build_test, ukiinspect_text_output_escapes_control_bytes_from_the_uki) {
  UKIKIT_NEED_TOOL("objcopy");
  // ESC sequences (and a C1 CSI in UTF-8) in .cmdline, .osrel and .uname,
  // and a section whose name has an ESC: none may reach the terminal raw.
  t::write_file(work / "cmdline", std::string_view("quiet \x1b[31mred\xc2\x9b"
                                                   "2J"));
  t::write_file(work / "osrel", std::string_view("ID=x\nPRETTY_NAME=\"\x1b]0;title\x07\"\n"));
  t::write_file(work / "uname", std::string_view("6.1\x1b[5m"));
  t::write_file(work / "note", std::string_view("hello"));
  const std::string odd = ".e\x1b[1m"; // 7 bytes: fits the 8 of a section name
  auto made =
      t::run("objcopy --add-section .osrel=" + q(work / "osrel") +
             " --change-section-vma .osrel=0x20000 --add-section .cmdline=" + q(work / "cmdline") +
             " --change-section-vma .cmdline=0x30000 --add-section .uname=" + q(work / "uname") +
             " --change-section-vma .uname=0x40000 --add-section " +
             sh_quote(odd + "=" + (work / "note").string()) + " --change-section-vma " +
             sh_quote(odd + "=0x50000") + " --add-section .linux=" + q(kernel_path) +
             " --change-section-vma .linux=0x2000000 " + q(stub_path) + " " + q(work / "esc.efi") +
             " 2>&1");
  ASSERT_EQ(made.status, 0) << made.out;
  // The bytes are really there (JSON escapes them its own way).
  auto j = t::run(t::tool("ukiinspect") + " --json " + q(work / "esc.efi"));
  ASSERT_EQ(j.status, 0) << j.out;
  auto doc = nlohmann::json::parse(j.out);
  // systemd-stub turns C0 controls of .cmdline into spaces (a warning says
  // so), not the C1 CSI: it stays in the command line ukikit reports.
  EXPECT_NE(doc["cmdline"].get<std::string>().find("red\xc2\x9b"), std::string::npos) << j.out;
  bool named = false;
  for (const auto& sec : doc["sections"]) named = named || sec["name"] == odd;
  EXPECT_TRUE(named) << j.out;

  auto text = t::run(t::tool("ukiinspect") + " " + q(work / "esc.efi") + " 2>&1");
  ASSERT_EQ(text.status, 0) << text.out;
  for (std::size_t i = 0; i < text.out.size(); ++i) {
    const auto c = static_cast<unsigned char>(text.out[i]);
    EXPECT_FALSE((c < 0x20 && c != '\n') || c == 0x7f) << "raw byte " << int(c) << " at " << i;
    if (c == 0xc2 && i + 1 < text.out.size()) {
      EXPECT_GE(static_cast<unsigned char>(text.out[i + 1]), 0xa0) << "raw C1 control at " << i;
    }
  }
  EXPECT_NE(text.out.find("red\\xc2\\x9b2J"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(".e\\x1b[1m"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("\\x1b]0;title\\x07"), std::string::npos) << text.out;
  // .uname is refused (not one printable release); its ESC does not leak either.
}

TEST_F(build_test, ukiinspect_reports_signatures_and_pcr11_of_a_built_uki) {
  UKIKIT_NEED_TOOL("osslsigncode");
  auto r = build("uki.efi", "--pcr-private-key " + q(work / "pcr.key") + " --signing-key " +
                                q(work / "db.key") + " --signing-cert " + q(work / "db.crt"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = t::run(t::tool("ukiinspect") + " --json " + q(work / "uki.efi"));
  ASSERT_EQ(j.status, 0) << j.out;
  auto doc = nlohmann::json::parse(j.out);
  auto ossl = t::run("osslsigncode verify -in " + q(work / "uki.efi") + " 2>&1");
  auto pos = ossl.out.find("Current message digest");
  ASSERT_NE(pos, std::string::npos) << ossl.out;
  std::string digest = ossl.out.substr(ossl.out.find(':', pos) + 2, 64);
  std::transform(digest.begin(), digest.end(), digest.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  EXPECT_EQ(doc["authenticode"]["sha256"], digest);
  ASSERT_EQ(doc["authenticode"]["signatures"].size(), 1u);
  EXPECT_EQ(doc["authenticode"]["signatures"][0]["subject"], "CN=db");
  EXPECT_TRUE(doc["authenticode"]["signatures"][0]["digest_matches"].get<bool>());
  // pcr11 has systemd-measure's shape, and the values the spec's algorithm
  // gives for what Debian's 252 stub measures of the sections objdump finds
  // (the Authenticode signature is no section).
  ASSERT_EQ(doc["stub"]["release"], 252);
  const auto bytes = t::read_file(work / "uki.efi");
  const auto sections = spec_profile_sections(objdump_sections(work / "uki.efi"), bytes, 0, 252);
  std::vector<std::string> names;
  for (const auto& sec : sections) names.push_back(sec.first);
  EXPECT_EQ(names,
            (std::vector<std::string>{".linux", ".osrel", ".cmdline", ".initrd", ".pcrpkey"}));
  EXPECT_EQ(doc["pcr11"], spec_measure_json(sections, {"sha1", "sha256", "sha384", "sha512"}));
  for (const auto& w : doc["warnings"])
    EXPECT_EQ(w.get<std::string>().find(".pcrsig does not match"), std::string::npos) << w;
}

// ---- the library call behind `ukikit build` (uki/make.hpp) ------------------------

// A request with the common inputs of build_test::build(), no signing.
build_request common_request(const t::fs::path& stub, const t::fs::path& kernel,
                             const t::fs::path& work) {
  build_request req;
  req.stub = stub;
  req.linux_ = kernel;
  req.initrds = {work / "initrd"};
  req.os_release = text_input::read_from(work / "os-release");
  req.cmdline = text_input::of("console=ttyS0   quiet");
  return req;
}

bool has_code(const std::vector<::ukikit::finding>& findings, std::string_view code) {
  return std::any_of(findings.begin(), findings.end(),
                     [&](const ::ukikit::finding& f) { return f.code == code; });
}

TEST_F(build_test, build_image_takes_systemds_stub_for_the_kernels_architecture_or_the_one_asked) {
  UKIKIT_NEED_INPUT(arm_stub, "linuxaa64.efi.stub");
  UKIKIT_NEED_INPUT(arm_kernel, "vmlinuz-arm64");
  // A stub directory laid out as systemd-boot-efi installs it.
  const auto stubs = work / "stubs";
  t::fs::create_directories(stubs);
  t::fs::copy_file(stub_path, stubs / "linuxx64.efi.stub");
  t::fs::copy_file(arm_stub, stubs / "linuxaa64.efi.stub");
  EXPECT_EQ(default_stub_path("aa64", stubs), stubs / "linuxaa64.efi.stub");
  EXPECT_EQ(default_stub_path("x64"), t::fs::path("/usr/lib/systemd/boot/efi/linuxx64.efi.stub"));

  struct want {
    t::fs::path kernel;
    std::string efi_arch;
    std::uint16_t machine;
  };
  for (const auto& w :
       {want{kernel_path, "", pe::machine_x86_64}, want{arm_kernel, "", pe::machine_aarch64},
        want{arm_kernel, "aa64", pe::machine_aarch64}}) {
    SCOPED_TRACE(w.kernel.string() + " " + w.efi_arch);
    auto req = common_request({}, w.kernel, work);
    req.stub_directory = stubs;
    req.efi_arch = w.efi_arch;
    input_problem problem;
    auto built = build_image(req, &problem);
    ASSERT_TRUE(built.ok()) << built.error().message();
    auto img = pe::parse(built->image, pe::strictness::strict);
    ASSERT_TRUE(img.ok()) << img.error().message();
    EXPECT_EQ(img->machine, w.machine);
    EXPECT_FALSE(built->signed_image);
  }
  // No stub for the architecture: the error names the path it looked for
  // and says the stub is the input at fault, naming no option.
  t::fs::remove(stubs / "linuxaa64.efi.stub");
  auto req = common_request({}, arm_kernel, work);
  req.stub_directory = stubs;
  input_problem problem;
  auto missing = build_image(req, &problem);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(problem.field, input_field::stub);
  EXPECT_NE(missing.error().message().find((stubs / "linuxaa64.efi.stub").string()),
            std::string::npos)
      << missing.error().message();
  EXPECT_EQ(missing.error().message().find("--"), std::string::npos) << missing.error().message();
}

TEST_F(build_test, build_image_refuses_a_stub_of_another_machine_than_the_kernel_or_efi_arch) {
  UKIKIT_NEED_INPUT(arm_kernel, "vmlinuz-arm64");
  input_problem problem;
  auto mixed = build_image(common_request(stub_path, arm_kernel, work), &problem);
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.error().code(), errc::invalid_argument);
  EXPECT_EQ(problem.field, input_field::kernel);
  EXPECT_EQ(mixed.error().message(), "kernel is aarch64 but the stub is x86_64");

  auto req = common_request(stub_path, kernel_path, work);
  req.efi_arch = "aa64";
  problem = {};
  auto arch = build_image(req, &problem);
  ASSERT_FALSE(arch.ok());
  EXPECT_EQ(problem.field, input_field::efi_arch);
  EXPECT_EQ(problem.found, "x64");
  EXPECT_EQ(arch.error().message(), "stub " + stub_path.string() + " is for x64, not aa64");
}

TEST_F(build_test, build_image_errors_name_the_input_not_an_option) {
  // Joined profiles need this image's own profile.
  auto req = common_request(stub_path, kernel_path, work);
  req.join_profiles = {stub_path};
  input_problem problem;
  auto joined = build_image(req, &problem);
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(problem.field, input_field::join_profiles);
  EXPECT_EQ(joined.error().message().find("--"), std::string::npos) << joined.error().message();
  // Debian's 252 stub knows no profiles; its release can be declared.
  req = common_request(stub_path, kernel_path, work);
  req.profile = text_input::of("ID=main");
  problem = {};
  auto old = build_image(req, &problem);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(problem.field, input_field::stub_release);
  EXPECT_EQ(old.error().code(), errc::unsupported);
  EXPECT_NE(old.error().message().find("does not know profiles"), std::string::npos);
  EXPECT_EQ(old.error().message().find("--"), std::string::npos) << old.error().message();
  req.stub_release = 257;
  EXPECT_TRUE(build_image(req).ok());
  // No kernel and no profile.
  req = common_request(stub_path, {}, work);
  problem = {};
  auto none = build_image(req, &problem);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(problem.field, input_field::kernel);
  EXPECT_EQ(none.error().message().find("--"), std::string::npos) << none.error().message();
}

TEST_F(build_test, build_image_reports_what_it_decided_as_findings_with_codes) {
  auto req = common_request(stub_path, kernel_path, work);
  req.pcr_private_key = work / "pcr.key";
  auto built = build_image(req);
  ASSERT_TRUE(built.ok()) << built.error().message();
  EXPECT_TRUE(has_code(built->findings, code::uname_found));
  EXPECT_TRUE(has_code(built->findings, code::pcrpkey_derived));
  for (const auto& f : built->findings) EXPECT_FALSE(f.is_error()) << f.text();
  // Debian 12's stub is 252: it measures neither .uname nor .sbat.
  std::vector<std::string> not_measured;
  for (const auto& f : built->findings)
    if (f.code == code::stub_skips_section) not_measured.push_back(f.subject);
  EXPECT_EQ(not_measured, (std::vector<std::string>{".uname", ".sbat"}));
  // The .cmdline given as text has its whitespace collapsed, as ukify does.
  auto img = pe::parse(built->image);
  ASSERT_TRUE(img.ok());
  ASSERT_NE(img->find(".cmdline"), nullptr);
  EXPECT_EQ(as_chars(img->find(".cmdline")->data()), "console=ttyS0 quiet");
}

TEST_F(build_test, build_image_signs_last_and_the_image_verifies) {
  auto req = common_request(stub_path, kernel_path, work);
  req.pcr_private_key = work / "pcr.key";
  req.signing_key = work / "db.key";
  req.signing_cert = work / "db.crt";
  auto built = build_image(req);
  ASSERT_TRUE(built.ok()) << built.error().message();
  ASSERT_TRUE(built->signed_image);
  const auto bytes = built->bytes();
  auto img = pe::parse(bytes, pe::strictness::strict);
  ASSERT_TRUE(img.ok()) << img.error().message();
  auto trust = authenticode::load_trust(t::read_file(work / "db.crt"), "db.crt");
  ASSERT_TRUE(trust.ok()) << trust.error().message();
  auto rep = authenticode::verify(*img, *trust);
  EXPECT_TRUE(rep.passed()) << (rep.reasons().empty() ? "" : rep.reasons().front());
  // The signature covers the sections, .pcrsig included: it was made last.
  ASSERT_EQ(rep.signatures.size(), 1u);
  EXPECT_TRUE(rep.signatures[0].digest_matches);
  EXPECT_NE(img->find(".pcrsig"), nullptr);
  // Signing needs the key and its certificate.
  req.signing_cert.clear();
  input_problem problem;
  EXPECT_FALSE(build_image(req, &problem).ok());
  EXPECT_EQ(problem.field, input_field::signing_cert);
}

TEST_F(build_test, build_file_writes_the_bytes_ukikit_build_writes) {
  // Signed, with .pcrsig for two banks (Debian's stub has room for 15
  // section headers: no extra sections in this one).
  auto r = build("tool.efi", "--pcr-private-key " + q(work / "pcr.key") + " --signing-key " +
                                 q(work / "db.key") + " --signing-cert " + q(work / "db.crt") +
                                 " --pcr-banks sha256,sha384");
  ASSERT_EQ(r.status, 0) << r.out;
  auto req = common_request(stub_path, kernel_path, work);
  req.pcr_private_key = work / "pcr.key";
  req.pcr_banks = std::vector<hash::algorithm>{hash::algorithm::sha256, hash::algorithm::sha384};
  req.signing_key = work / "db.key";
  req.signing_cert = work / "db.crt";
  req.output = work / "library.efi";
  auto findings = build_file(req);
  ASSERT_TRUE(findings.ok()) << findings.error().message();
  EXPECT_EQ(t::read_file(work / "library.efi"), t::read_file(work / "tool.efi"));
  // What the tool printed is the findings' messages, one line each.
  std::string printed;
  for (const auto& f : *findings) printed += "ukikit build: " + f.message + "\n";
  EXPECT_EQ(r.out, printed);

  // Unsigned, with extra sections given as text and as a file.
  t::write_file(work / "extra", std::string_view("extra bytes"));
  auto plain =
      build("plain.efi", "--section .extra:@" + q(work / "extra") + " --section .note:hello");
  ASSERT_EQ(plain.status, 0) << plain.out;
  auto unsigned_req = common_request(stub_path, kernel_path, work);
  unsigned_req.sections = {{".extra", text_input::read_from(work / "extra")},
                           {".note", text_input::of("hello")}};
  unsigned_req.output = work / "plain-library.efi";
  ASSERT_TRUE(build_file(unsigned_req).ok());
  EXPECT_EQ(t::read_file(work / "plain-library.efi"), t::read_file(work / "plain.efi"));
}

TEST(merge_sbat, needs_the_header_line_in_user_text) {
  std::vector<::ukikit::finding> notes;
  auto bad = merge_sbat({}, {}, {"uki,1,UKI,uki,1,https://example.com\n"}, notes);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("header line"), std::string::npos);
  auto good = merge_sbat({}, {}, {}, notes);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, std::string(default_uki_sbat) + '\0');
}

} // namespace
} // namespace ukikit::uki
