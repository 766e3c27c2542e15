// The reports as library calls: the inspect report of a UKI built by
// `ukikit build` from Debian's stub and kernel has the contract's keys and
// is, byte for byte, what `ukiinspect --json` prints; the verify verdict is
// what `ukiverify` prints, PASS and FAIL alike, with a code for every reason.
#include <ukikit/pe.hpp>
#include <ukikit/report.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace ukikit::report {
namespace {

namespace t = ukikit::test;

std::string q(const t::fs::path& p) { return t::sh_quote(p.string()); }

class report_test : public ::testing::Test {
protected:
  void SetUp() override {
    UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
    UKIKIT_NEED_INPUT(kernel, "vmlinuz");
    UKIKIT_NEED_TOOL("openssl");
    for (const char* who : {"db", "other"})
      ASSERT_EQ(t::run("openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=" +
                       std::string(who) + " -keyout " + q(work / (std::string(who) + ".key")) +
                       " -out " + q(work / (std::string(who) + ".crt")) + " 2>/dev/null")
                    .status,
                0);
    ASSERT_EQ(t::run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " +
                     q(work / "pcr.key") + " 2>/dev/null && openssl pkey -in " +
                     q(work / "pcr.key") + " -pubout -out " + q(work / "pcr.pub"))
                  .status,
              0);
    t::fs::create_directories(work / "root/etc");
    t::write_file(work / "root/etc/hostname", std::string_view("ukikit\n"));
    ASSERT_EQ(t::run(t::tool("ukikit") + " initrd create " + q(work / "root") + " -o " +
                     q(work / "initrd.img"))
                  .status,
              0);
    t::write_file(work / "os-release", std::string_view("ID=ukikit\nNAME=\"ukikit test\"\n"));
    auto b = t::run(t::tool("ukikit") + " build --stub " + q(stub) + " --linux " + q(kernel) +
                    " --initrd " + q(work / "initrd.img") + " --os-release @" +
                    q(work / "os-release") + " --cmdline 'console=ttyS0 quiet' --pcr-private-key " +
                    q(work / "pcr.key") + " --signing-key " + q(work / "db.key") +
                    " --signing-cert " + q(work / "db.crt") + " -o " + q(uki) + " 2>&1");
    ASSERT_EQ(b.status, 0) << b.out;
    bytes = t::read_file(uki);
  }

  // The verdict the library gives for `file` with these trust anchors.
  verdict verify_file(const t::fs::path& file, const std::vector<std::string>& certs,
                      const std::vector<std::byte>& pcrpkey = {}) {
    auto trust = load_databases(certs);
    EXPECT_TRUE(trust.ok()) << trust.error().message();
    if (!trust) return {};
    verify_options o;
    o.name = file.string();
    o.trust = &*trust;
    o.pcrpkey = pcrpkey;
    const auto data = t::read_file(file);
    return verify_uki(data, o);
  }

  t::temp_dir dir;
  const t::fs::path& work = dir.path();
  const t::fs::path uki = work / "uki.efi";
  std::vector<std::byte> bytes;
};

bool has_code(const nlohmann::json& findings, std::string_view code) {
  return std::any_of(findings.begin(), findings.end(),
                     [&](const nlohmann::json& f) { return f["code"] == code; });
}

TEST_F(report_test, inspect_json_has_the_contract_keys_and_is_what_ukiinspect_prints) {
  inspect_options o;
  o.name = uki.string();
  auto r = inspect_uki(bytes, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto j = nlohmann::json::parse(json_text(to_json(*r)));

  ASSERT_TRUE(j["sections"].is_array());
  ASSERT_FALSE(j["sections"].empty());
  for (const auto& s : j["sections"])
    for (const char* key :
         {"name", "virtual_address", "virtual_size", "file_offset", "size", "sha256"})
      EXPECT_TRUE(s.contains(key)) << key << " in " << s.dump();
  EXPECT_EQ(j["machine"], "x86_64");
  EXPECT_EQ(j["cmdline"], "console=ttyS0 quiet");
  EXPECT_EQ(j["os_release"]["NAME"], "ukikit test");
  EXPECT_TRUE(j["uname"].is_string());
  ASSERT_TRUE(j["sbat"].is_array());
  EXPECT_EQ(j["sbat"][0]["component_name"], "sbat");
  EXPECT_TRUE(j["profiles"].is_array());
  const auto& ac = j["authenticode"];
  EXPECT_EQ(ac["sha256"].get<std::string>().size(), 64u);
  ASSERT_EQ(ac["signatures"].size(), 1u);
  for (const char* key : {"subject", "issuer", "digest_algorithm", "digest_matches"})
    EXPECT_TRUE(ac["signatures"][0].contains(key)) << key;
  EXPECT_EQ(ac["signatures"][0]["subject"], "CN=db");
  EXPECT_EQ(ac["signatures"][0]["digest_matches"], true);
  EXPECT_TRUE(j["pcr11"].contains("sha256")) << j["pcr11"].dump();
  ASSERT_EQ(j["initrd"]["segments"].size(), 1u) << j["initrd"].dump();
  EXPECT_EQ(j["initrd"]["segments"][0]["compression"], "zstd");
  EXPECT_EQ(j["initrd"]["segments"][0]["entries"], 2); // etc and etc/hostname
  // Findings: Debian's 252 stub measures neither .uname nor .sbat, and its
  // .sdmagic is not section-aligned; each finding names its rule.
  ASSERT_TRUE(j["findings"].is_array());
  for (const auto& f : j["findings"])
    for (const char* key : {"code", "severity", "offset", "message"})
      EXPECT_TRUE(f.contains(key)) << key << " in " << f.dump();
  EXPECT_TRUE(has_code(j["findings"], uki::code::stub_skips_section)) << j["findings"].dump();
  EXPECT_TRUE(has_code(j["findings"], pe::code::section_unaligned)) << j["findings"].dump();
  EXPECT_EQ(j["warnings"].size(), j["findings"].size()) << "a signed UKI: every finding is shown";

  // Byte for byte what the tool prints, with and without --no-hash.
  auto tool = t::run(t::tool("ukiinspect") + " --json " + q(uki));
  EXPECT_EQ(tool.status, 0);
  EXPECT_EQ(tool.out, json_text(to_json(*r)) + "\n");
  o.hashes = false;
  auto quick = inspect_uki(bytes, o);
  ASSERT_TRUE(quick.ok());
  auto quick_tool = t::run(t::tool("ukiinspect") + " --json --no-hash " + q(uki));
  EXPECT_EQ(quick_tool.out, json_text(to_json(*quick)) + "\n");
  EXPECT_TRUE(to_json(*quick)["initrd"].is_null());
}

// The digests are computed on several threads (measure::precomputed): the
// report does not depend on how many, with one signature or two in
// different algorithms.
TEST_F(report_test, inspect_is_the_same_on_any_number_of_threads) {
  auto r = t::run(t::tool("ukikit") + " sign --append --digest sha384 --key " +
                  q(work / "other.key") + " --cert " + q(work / "other.crt") + " -o " +
                  q(work / "two.efi") + " " + q(uki) + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const auto& file : {uki, work / "two.efi"}) {
    const auto data = t::read_file(file);
    inspect_options o;
    o.name = file.string();
    o.jobs = 1;
    auto one = inspect_uki(data, o);
    ASSERT_TRUE(one.ok());
    const std::string want = json_text(to_json(*one));
    EXPECT_NE(want.find("\"digest_matches\": true"), std::string::npos) << want;
    for (unsigned jobs : {2u, 5u, 0u}) {
      o.jobs = jobs;
      auto many = inspect_uki(data, o);
      ASSERT_TRUE(many.ok());
      EXPECT_EQ(json_text(to_json(*many)), want) << "jobs " << jobs;
    }
  }
  // What was precomputed is hash::compute's; what was not is nullopt.
  const auto img = pe::parse(bytes);
  ASSERT_TRUE(img.ok());
  std::vector<byte_span> spans;
  for (const auto& sec : img->sections) spans.push_back(sec.data());
  const std::vector<hash::algorithm> algs{hash::algorithm::sha1, hash::algorithm::sha512};
  const auto pre = measure::precomputed::compute(spans, algs, 2);
  std::size_t found = 0;
  for (byte_span sp : spans) {
    for (auto a : algs) {
      auto d = pre.find(sp, a);
      if (sp.size() < (std::size_t{64} << 10)) {
        EXPECT_FALSE(d);
        continue;
      }
      ASSERT_TRUE(d);
      EXPECT_EQ(*d, *hash::compute(a, sp));
      ++found;
    }
    EXPECT_FALSE(pre.find(sp, hash::algorithm::sha256));
  }
  EXPECT_GE(found, 2u); // .linux at least, in both
}

TEST_F(report_test, a_hostile_section_table_is_a_finding_with_its_code) {
  // .linux's VirtualAddress moved into .text: the section ranges overlap in
  // memory. Inspect (permissive) warns; the gate (strict) refuses with the
  // same code.
  auto img = pe::parse(bytes);
  ASSERT_TRUE(img.ok());
  const pe::section* linux_section = img->find(".linux");
  ASSERT_NE(linux_section, nullptr);
  const std::uint64_t field =
      linux_section->header_offset + offsetof(pe::section_header, virtual_address);
  const std::uint32_t va = img->sections[0].virtual_address;
  for (int i = 0; i < 4; ++i) bytes[field + i] = static_cast<std::byte>((va >> (8 * i)) & 0xff);
  t::write_file(work / "bad.efi", bytes);

  inspect_options o;
  o.name = (work / "bad.efi").string();
  auto r = inspect_uki(bytes, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const finding* overlap = nullptr;
  for (const auto& f : r->findings.kept())
    if (f.code == pe::code::section_overlap && f.offset == linux_section->header_offset)
      overlap = &f;
  ASSERT_NE(overlap, nullptr) << json_text(to_json(*r));
  EXPECT_EQ(overlap->level, severity::warning);
  auto tool = t::run(t::tool("ukiinspect") + " --json " + q(work / "bad.efi"));
  EXPECT_EQ(tool.out, json_text(to_json(*r)) + "\n");

  auto v = verify_file(work / "bad.efi", {(work / "db.crt").string()});
  EXPECT_FALSE(v.passed);
  EXPECT_TRUE(std::any_of(v.reasons.begin(), v.reasons.end(), [&](const finding& f) {
    return f.code == pe::code::section_overlap && f.is_error() &&
           f.offset == linux_section->header_offset;
  })) << json_text(to_json(v));
}

TEST_F(report_test, verify_verdict_is_what_ukiverify_prints_for_pass_and_fail) {
  const std::string db = (work / "db.crt").string();
  const auto pcrpkey = t::read_file(work / "pcr.pub");
  const std::string gate =
      t::tool("ukiverify") + " --cert " + q(db) + " --pcrpkey " + q(work / "pcr.pub") + " ";

  // PASS: signed by db, .pcrsig verifies with the PCR public key.
  auto pass = verify_file(uki, {db}, pcrpkey);
  EXPECT_TRUE(pass.passed) << json_text(to_json(pass));
  EXPECT_TRUE(pass.reasons.empty());
  auto pass_json = to_json(pass);
  ASSERT_TRUE(pass_json.contains("pcrsig")) << json_text(pass_json);
  auto tool = t::run(gate + "--json " + q(uki));
  EXPECT_EQ(tool.status, 0);
  EXPECT_EQ(tool.out, json_text(ojson{{"files", ojson::array({pass_json})}}) + "\n");
  auto line = t::run(gate + q(uki));
  EXPECT_EQ(line.out, "PASS " + uki.string() + "\n");

  // FAIL: one byte of .linux changed after signing. The digest no longer
  // matches (both values in the reason) and the .pcrsig no longer verifies.
  auto img = pe::parse(bytes);
  ASSERT_TRUE(img.ok());
  auto tampered = bytes;
  tampered[img->find(".linux")->pointer_to_raw_data + 0x1000] ^= std::byte{1};
  const auto bad = work / "tampered.efi";
  t::write_file(bad, tampered);
  auto fail = verify_file(bad, {db}, pcrpkey);
  EXPECT_FALSE(fail.passed);
  const finding* mismatch = nullptr;
  for (const auto& f : fail.reasons)
    if (f.code == code::digest_mismatch) mismatch = &f;
  ASSERT_NE(mismatch, nullptr) << json_text(to_json(fail));
  EXPECT_EQ(mismatch->claimed.size(), 64u);
  EXPECT_EQ(mismatch->computed.size(), 64u);
  EXPECT_NE(mismatch->claimed, mismatch->computed);
  EXPECT_TRUE(std::any_of(fail.reasons.begin(), fail.reasons.end(), [](const finding& f) {
    return f.code == uki::code::pcrsig_mismatch;
  })) << json_text(to_json(fail));
  for (const auto& f : fail.reasons) EXPECT_TRUE(f.is_error()) << f.code;
  auto fail_tool = t::run(gate + "--json " + q(bad));
  EXPECT_EQ(fail_tool.status, 1);
  EXPECT_EQ(fail_tool.out, json_text(ojson{{"files", ojson::array({to_json(fail)})}}) + "\n");
  auto fail_line = t::run(gate + q(bad));
  std::string want = "FAIL " + bad.string() + ":";
  for (std::size_t i = 0; i < fail.problems.size(); ++i)
    want += (i ? "; " : " ") + escape_controls(fail.problems[i]);
  EXPECT_EQ(fail_line.out, want + "\n");

  // An untrusted signer: a reason with its code, and the tool agrees.
  auto other = verify_file(uki, {(work / "other.crt").string()});
  EXPECT_FALSE(other.passed);
  EXPECT_TRUE(std::any_of(other.reasons.begin(), other.reasons.end(), [](const finding& f) {
    return f.code == code::signature_rejected;
  })) << json_text(to_json(other));
  auto other_tool =
      t::run(t::tool("ukiverify") + " --json --cert " + q(work / "other.crt") + " " + q(uki));
  EXPECT_EQ(other_tool.status, 1);
  EXPECT_EQ(other_tool.out, json_text(ojson{{"files", ojson::array({to_json(other)})}}) + "\n");

  // Not a PE image: unreadable, exit 2.
  t::write_file(work / "text.efi", std::string_view("not a PE image, only some text"));
  auto text = verify_file(work / "text.efi", {db});
  EXPECT_FALSE(text.readable);
  ASSERT_EQ(text.reasons.size(), 1u);
  EXPECT_EQ(text.reasons[0].code, code::unreadable);
  auto text_tool =
      t::run(t::tool("ukiverify") + " --json --cert " + q(db) + " " + q(work / "text.efi"));
  EXPECT_EQ(text_tool.status, 2);
  EXPECT_EQ(text_tool.out, json_text(ojson{{"files", ojson::array({to_json(text)})}}) + "\n");
}

TEST_F(report_test, required_sections_fail_with_their_code) {
  auto trust = load_databases({(work / "db.crt").string()});
  ASSERT_TRUE(trust.ok());
  verify_options o;
  o.name = uki.string();
  o.trust = &*trust;
  o.required_sections = {".linux", ".dtb"};
  auto v = verify_uki(bytes, o);
  EXPECT_FALSE(v.passed);
  ASSERT_EQ(v.reasons.size(), 1u) << json_text(to_json(v));
  EXPECT_EQ(v.reasons[0].code, code::required_section_missing);
  EXPECT_EQ(v.problems, std::vector<std::string>{"required section .dtb is missing"});
}

// shim's SbatLevel rule (SBAT.md; shim's sbat.c): a row of the image's .sbat
// whose generation is below the policy's for that component is revoked; an
// equal generation is not. The UKI's .sbat has ukify's default uki,1 row.
TEST_F(report_test, sbat_policy_refuses_revoked_generations_as_shim_does) {
  const std::string gate = t::tool("ukiverify") + " --cert " + q(work / "db.crt") + " ";
  t::write_file(work / "level-ok", std::string_view("sbat,1,2024010100\nuki,1\n"));
  auto ok = t::run(gate + "--sbat-policy " + q(work / "level-ok") + " " + q(uki));
  EXPECT_EQ(ok.status, 0) << ok.out;

  t::write_file(work / "level-uki2", std::string_view("sbat,1,2024010100\nuki,2\n"));
  // The efivarfs file of SbatLevelRT: a 4-byte attribute prefix first.
  t::write_file(work / "efivar", std::string_view("\x07\0\0\0sbat,1,2024010100\nuki,2\n", 28));
  for (const char* policy : {"level-uki2", "efivar"}) {
    auto r = t::run(gate + "--json --sbat-policy " + q(work / policy) + " " + q(uki));
    EXPECT_EQ(r.status, 1) << r.out;
    const auto j = nlohmann::json::parse(r.out)["files"][0];
    EXPECT_FALSE(j["passed"].get<bool>());
    bool found = false;
    for (const auto& p : j["problems"])
      found = found || p == ".sbat uki generation 1 is revoked by the SBAT policy (generation 2)";
    EXPECT_TRUE(found) << r.out;
  }

  auto parsed = uki::parse_sbat_level("sbat,1,2024010100\nuki,2\n");
  ASSERT_TRUE(parsed.ok());
  report::verify_options vo;
  auto trust = report::load_databases({(work / "db.crt").string()});
  ASSERT_TRUE(trust.ok());
  vo.trust = &*trust;
  vo.sbat_policy = &*parsed;
  auto v = report::verify_uki(bytes, vo);
  EXPECT_FALSE(v.passed);
  ASSERT_EQ(v.reasons.size(), 1u) << json_text(to_json(v));
  EXPECT_EQ(v.reasons[0].code, code::sbat_revoked);
  EXPECT_EQ(v.reasons[0].claimed, "1");
  EXPECT_EQ(v.reasons[0].computed, "2");

  // A policy that is not one: a usage error, exit 2.
  t::write_file(work / "level-bad", std::string_view("uki,2\n"));
  auto bad = t::run(gate + "--sbat-policy " + q(work / "level-bad") + " " + q(uki) + " 2>&1");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.out.find("first row must be sbat,1,DATESTAMP"), std::string::npos) << bad.out;
}

} // namespace
} // namespace ukikit::report
