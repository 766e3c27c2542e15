// Authenticode: digests against sbsign/osslsigncode, signatures across
// ukikit, sbsign/sbverify, osslsigncode and efitools, and the bad inputs a
// verifier must refuse. Expected values come from those tools.
#include <ukikit/authenticode.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace ukikit::authenticode {
namespace {

namespace t = ukikit::test;
using t::sh_quote;

std::string q(const t::fs::path& p) { return sh_quote(p.string()); }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The hex digest after "LABEL :" in osslsigncode verify's output.
std::string osslsigncode_field(const std::string& out, const std::string& label) {
  auto pos = out.find(label);
  if (pos == std::string::npos) return {};
  pos = out.find(':', pos);
  auto end = out.find('\n', pos);
  std::string v = out.substr(pos + 1, end - pos - 1);
  v.erase(std::remove_if(v.begin(), v.end(), [](unsigned char c) { return std::isspace(c); }),
          v.end());
  return lower(v);
}

// Keys and certificates made once with the openssl CLI.
class authenticode_env : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<t::temp_dir>();
    auto make = [](const std::string& name, const std::string& newkey, const std::string& cn) {
      auto r = t::run("openssl req -x509 " + newkey + " -nodes -sha256 -days 3650 -subj " +
                      sh_quote("/CN=" + cn) + " -keyout " + q(*dir_ / (name + ".key")) + " -out " +
                      q(*dir_ / (name + ".crt")) + " 2>/dev/null");
      ASSERT_EQ(r.status, 0);
    };
    make("db", "-newkey rsa:2048", "ukikit test db");
    make("other", "-newkey rsa:2048", "ukikit other");
    make("ec", "-newkey ec -pkeyopt ec_paramgen_curve:P-256", "ukikit test ec");
    make("rsa4096", "-newkey rsa:4096", "ukikit test rsa4096");
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static t::fs::path key(const std::string& n) { return *dir_ / (n + ".key"); }
  static t::fs::path crt(const std::string& n) { return *dir_ / (n + ".crt"); }

  // An input copied into this test's own directory.
  t::fs::path copy_input(const t::fs::path& src, const std::string& name) {
    t::fs::copy_file(src, work / name, t::fs::copy_options::overwrite_existing);
    return work / name;
  }

  static std::string ukikit() { return t::tool("ukikit"); }
  static std::string ukiverify() { return t::tool("ukiverify"); }

  // ukiverify's status and output for one file.
  t::run_result verify(const t::fs::path& file, const std::string& certs,
                       const std::string& extra = "") {
    return t::run(ukiverify() + " " + certs + " " + extra + " " + q(file) + " 2>&1");
  }

  static std::unique_ptr<t::temp_dir> dir_;
  t::temp_dir work_dir;
  const t::fs::path& work = work_dir.path();
};
std::unique_ptr<t::temp_dir> authenticode_env::dir_;

hash::digest digest_of_file(const t::fs::path& p, hash::algorithm a = hash::algorithm::sha256) {
  auto bytes = t::read_file(p);
  auto img = pe::parse(bytes);
  EXPECT_TRUE(img.ok());
  auto d = image_digest(*img, a);
  EXPECT_TRUE(d.ok()) << d.error().message();
  return *d;
}

// ---- the digest ----------------------------------------------------------------

class digest_vs_sbsign : public authenticode_env,
                         public ::testing::WithParamInterface<const char*> {};

// sbsign computes the image digest the way EDK2 does (sorted sections, gaps
// skipped) and records it; osslsigncode prints what was recorded.
TEST_P(digest_vs_sbsign, equals_the_digest_sbsign_signs) {
  UKIKIT_NEED_TOOL("sbsign");
  UKIKIT_NEED_TOOL("osslsigncode");
  UKIKIT_NEED_INPUT(src, GetParam());
  auto in = copy_input(src, "in.efi");
  ASSERT_EQ(t::run("sbsign --key " + q(key("db")) + " --cert " + q(crt("db")) + " --output " +
                   q(work / "signed.efi") + " " + q(in) + " >/dev/null 2>&1")
                .status,
            0);
  auto out = t::run("osslsigncode verify -in " + q(work / "signed.efi") + " 2>&1");
  std::string signed_digest = osslsigncode_field(out.out, "Current message digest");
  ASSERT_EQ(signed_digest.size(), 64u) << out.out;
  EXPECT_EQ(digest_of_file(in).hex(), signed_digest);
  EXPECT_EQ(digest_of_file(work / "signed.efi").hex(), signed_digest)
      << "the signed image has the same digest";
}

INSTANTIATE_TEST_SUITE_P(debian, digest_vs_sbsign,
                         ::testing::Values("linuxx64.efi.stub", "systemd-bootx64.efi"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST_F(authenticode_env, digest_of_signed_debian_kernel_equals_osslsigncode_and_the_signature) {
  UKIKIT_NEED_TOOL("osslsigncode");
  UKIKIT_NEED_INPUT(kernel, "vmlinuz");
  auto out = t::run("osslsigncode verify -in " + q(kernel) + " 2>&1");
  std::string current = osslsigncode_field(out.out, "Current message digest");
  std::string calculated = osslsigncode_field(out.out, "Calculated message digest");
  ASSERT_EQ(current.size(), 64u) << out.out;
  EXPECT_EQ(calculated, current);
  EXPECT_EQ(digest_of_file(kernel).hex(), current);
}

TEST_F(authenticode_env, digest_skips_a_gap_between_sections_as_sbsign_does) {
  UKIKIT_NEED_TOOL("sbsign");
  UKIKIT_NEED_TOOL("osslsigncode");
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  // Move every section after .text 0x200 bytes further into the file,
  // leaving a zero gap after .text.
  auto bytes = t::read_file(src);
  auto img = pe::parse(bytes);
  ASSERT_TRUE(img.ok());
  const std::uint64_t cut = img->sections[0].raw_end();
  std::vector<std::byte> gapped(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
  gapped.resize(gapped.size() + 0x200);
  gapped.insert(gapped.end(), bytes.begin() + static_cast<std::ptrdiff_t>(cut), bytes.end());
  for (std::size_t i = 1; i < img->sections.size(); ++i) {
    const auto& s = img->sections[i];
    le32 moved{};
    moved = s.pointer_to_raw_data + 0x200;
    auto mb = bytes_of(moved);
    std::copy(mb.begin(), mb.end(),
              gapped.begin() + static_cast<std::ptrdiff_t>(s.header_offset + 0x14));
  }
  t::write_file(work / "gap.efi", gapped);
  auto gimg = pe::parse(gapped);
  ASSERT_TRUE(gimg.ok());
  auto ranges = compute_ranges(*gimg);
  ASSERT_TRUE(ranges.ok());
  ASSERT_FALSE(ranges->gaps.empty());
  EXPECT_EQ(ranges->gaps[0].offset, cut);
  EXPECT_EQ(ranges->gaps[0].size, 0x200u);
  EXPECT_FALSE(ranges->gaps[0].nonzero);

  ASSERT_EQ(t::run("sbsign --key " + q(key("db")) + " --cert " + q(crt("db")) + " --output " +
                   q(work / "gap.signed") + " " + q(work / "gap.efi") + " >/dev/null 2>&1")
                .status,
            0);
  auto out = t::run("osslsigncode verify -in " + q(work / "gap.signed") + " 2>&1");
  std::string signed_digest = osslsigncode_field(out.out, "Current message digest");
  ASSERT_EQ(signed_digest.size(), 64u) << out.out;
  EXPECT_EQ(digest_of_file(work / "gap.efi").hex(), signed_digest);
  // osslsigncode hashes flat, gap included, so it disagrees: this is the case
  // where only the section-wise digest is what firmware computes.
  EXPECT_NE(osslsigncode_field(out.out, "Calculated message digest"), signed_digest);
  // ukiverify accepts it: the gap is all zeros.
  EXPECT_EQ(verify(work / "gap.signed", "--cert " + q(crt("db"))).status, 0);
}

TEST_F(authenticode_env, ranges_cover_the_file_except_checksum_and_certificate_entry) {
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  auto bytes = t::read_file(src);
  auto img = pe::parse(bytes);
  ASSERT_TRUE(img.ok());
  auto r = compute_ranges(*img);
  ASSERT_TRUE(r.ok());
  std::uint64_t total = r->zero_padding;
  for (auto s : r->ranges) total += s.size();
  // Unsigned, contiguous sections: everything but 4 + 8 bytes, plus padding to 8.
  EXPECT_EQ(total, bytes.size() - 12 + (8 - bytes.size() % 8) % 8);
  EXPECT_EQ(r->ranges[0].size(), img->checksum_offset());
}

// ---- interoperability -------------------------------------------------------------

TEST_F(authenticode_env, ukikit_rsa_signature_verifies_with_sbverify_and_osslsigncode) {
  UKIKIT_NEED_TOOL("sbverify");
  UKIKIT_NEED_TOOL("osslsigncode");
  UKIKIT_NEED_INPUT(src, "systemd-bootx64.efi");
  auto in = copy_input(src, "boot.efi");
  ASSERT_EQ(t::run(ukikit() + " sign --key " + q(key("db")) + " --cert " + q(crt("db")) + " -o " +
                   q(work / "s.efi") + " " + q(in))
                .status,
            0);
  EXPECT_EQ(t::run("sbverify --cert " + q(crt("db")) + " " + q(work / "s.efi") + " >/dev/null 2>&1")
                .status,
            0);
  EXPECT_EQ(t::run("osslsigncode verify -CAfile " + q(crt("db")) + " -in " + q(work / "s.efi") +
                   " >/dev/null 2>&1")
                .status,
            0);
  EXPECT_NE(
      t::run("sbverify --cert " + q(crt("other")) + " " + q(work / "s.efi") + " >/dev/null 2>&1")
          .status,
      0)
      << "sbverify must reject the wrong certificate, or this test proves nothing";
  auto v = verify(work / "s.efi", "--cert " + q(crt("db")));
  EXPECT_EQ(v.status, 0) << v.out;
  EXPECT_EQ(v.out, "PASS " + (work / "s.efi").string() + "\n");
}

TEST_F(authenticode_env,
       ukikit_ecdsa_and_rsa4096_signatures_verify_with_sbverify_and_osslsigncode) {
  UKIKIT_NEED_TOOL("sbverify");
  UKIKIT_NEED_TOOL("osslsigncode");
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  for (const char* k : {"ec", "rsa4096"}) {
    auto in = copy_input(src, "stub.efi");
    ASSERT_EQ(
        t::run(ukikit() + " sign --key " + q(key(k)) + " --cert " + q(crt(k)) + " " + q(in)).status,
        0)
        << k;
    EXPECT_EQ(t::run("sbverify --cert " + q(crt(k)) + " " + q(in) + " >/dev/null 2>&1").status, 0)
        << k;
    EXPECT_EQ(
        t::run("osslsigncode verify -CAfile " + q(crt(k)) + " -in " + q(in) + " >/dev/null 2>&1")
            .status,
        0)
        << k;
    EXPECT_EQ(verify(in, "--cert " + q(crt(k))).status, 0) << k;
  }
}

TEST_F(authenticode_env, sbsign_and_osslsigncode_signatures_pass_ukiverify) {
  UKIKIT_NEED_TOOL("sbsign");
  UKIKIT_NEED_TOOL("osslsigncode");
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  auto in = copy_input(src, "stub.efi");
  ASSERT_EQ(t::run("sbsign --key " + q(key("db")) + " --cert " + q(crt("db")) + " --output " +
                   q(work / "sb.efi") + " " + q(in) + " >/dev/null 2>&1")
                .status,
            0);
  ASSERT_EQ(t::run("osslsigncode sign -key " + q(key("db")) + " -certs " + q(crt("db")) +
                   " -h sha256 -in " + q(in) + " -out " + q(work / "ossl.efi") + " >/dev/null 2>&1")
                .status,
            0);
  for (const char* f : {"sb.efi", "ossl.efi"}) {
    auto v = verify(work / f, "--cert " + q(crt("db")));
    EXPECT_EQ(v.status, 0) << f << ": " << v.out;
    auto wrong = verify(work / f, "--cert " + q(crt("other")));
    EXPECT_EQ(wrong.status, 1) << f << ": " << wrong.out;
    EXPECT_NE(wrong.out.find("does not chain to a given certificate"), std::string::npos)
        << wrong.out;
  }
}

TEST_F(authenticode_env, debian_kernel_verifies_against_its_own_signer_certificate) {
  UKIKIT_NEED_TOOL("osslsigncode");
  UKIKIT_NEED_INPUT(kernel, "vmlinuz");
  // The signer certificate, as osslsigncode extracts it, is a trust anchor
  // (firmware accepts any certificate in db, leaf or CA).
  ASSERT_EQ(t::run("osslsigncode extract-signature -pem -in " + q(kernel) + " -out " +
                   q(work / "sig.pem") + " >/dev/null 2>&1")
                .status,
            0);
  ASSERT_EQ(t::run("openssl pkcs7 -print_certs -in " + q(work / "sig.pem") + " -out " +
                   q(work / "certs.pem"))
                .status,
            0);
  auto v = verify(kernel, "--cert " + q(work / "certs.pem"));
  EXPECT_EQ(v.status, 0) << v.out;
  EXPECT_EQ(verify(kernel, "--cert " + q(crt("db"))).status, 1);
}

TEST_F(authenticode_env, signing_twice_with_rsa_gives_identical_bytes) {
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  auto in = copy_input(src, "stub.efi");
  for (const char* out : {"a.efi", "b.efi"})
    ASSERT_EQ(t::run(ukikit() + " sign --key " + q(key("db")) + " --cert " + q(crt("db")) + " -o " +
                     q(work / out) + " " + q(in))
                  .status,
              0);
  EXPECT_EQ(t::read_file(work / "a.efi"), t::read_file(work / "b.efi"));
  // With --signing-time the attribute is present and osslsigncode reads it back.
  ASSERT_EQ(t::run(ukikit() + " sign --signing-time 1700000000 --key " + q(key("db")) + " --cert " +
                   q(crt("db")) + " -o " + q(work / "timed.efi") + " " + q(in))
                .status,
            0);
  EXPECT_NE(t::read_file(work / "a.efi"), t::read_file(work / "timed.efi"));
  auto out = t::run("osslsigncode verify -CAfile " + q(crt("db")) + " -in " +
                    q(work / "timed.efi") + " 2>&1");
  EXPECT_NE(out.out.find("Nov 14 22:13:20 2023"), std::string::npos) << out.out;
}

// A SoftHSM2 token made for the test, holding the db key (and its
// certificate); every command that uses it gets SOFTHSM2_CONF.
class softhsm_token {
public:
  static constexpr const char* pin = "1234";

  explicit softhsm_token(const t::fs::path& dir) : dir_(dir) {
    t::fs::create_directories(dir_ / "tokens");
    t::write_file(dir_ / "softhsm2.conf",
                  std::string_view("directories.tokendir = " + (dir_ / "tokens").string() +
                                   "\nobjectstore.backend = file\nlog.level = ERROR\n"));
  }
  // `command` with this token's configuration.
  std::string with(const std::string& command) const {
    return "SOFTHSM2_CONF=" + q(dir_ / "softhsm2.conf") + " " + command;
  }
  bool init(const t::fs::path& key, const t::fs::path& cert) const {
    return t::run(with("softhsm2-util --init-token --free --label ukikit --pin " +
                       std::string(pin) + " --so-pin 5678 >/dev/null"))
                   .status == 0 &&
           t::run("openssl pkcs8 -topk8 -nocrypt -in " + q(key) + " -out " + q(dir_ / "key.p8"))
                   .status == 0 &&
           t::run(with("softhsm2-util --import " + q(dir_ / "key.p8") +
                       " --token ukikit --label db --id 01 --pin " + pin + " >/dev/null"))
                   .status == 0 &&
           t::run("openssl x509 -in " + q(cert) + " -outform DER -out " + q(dir_ / "cert.der"))
                   .status == 0 &&
           t::run(with("pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --login --pin " +
                       std::string(pin) + " --write-object " + q(dir_ / "cert.der") +
                       " --type cert --id 01 --label db >/dev/null 2>&1"))
                   .status == 0;
  }
  static std::string uri(const std::string& object, const std::string& type,
                         const std::string& with_pin = pin) {
    return "'pkcs11:token=ukikit;object=" + object + ";type=" + type + ";pin-value=" + with_pin +
           "'";
  }

private:
  t::fs::path dir_;
};

// A key in an HSM (SoftHSM2 through the pkcs11 engine) signs what the same
// key from a file signs, byte for byte, with sbsign's, systemd-sbsign's and
// ukify's options; a wrong PIN or a missing object is a clear error that
// does not show the PIN.
TEST_F(authenticode_env, signing_with_a_pkcs11_key_gives_the_bytes_of_the_key_file) {
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  UKIKIT_NEED_INPUT(kernel, "vmlinuz");
  UKIKIT_NEED_TOOL("softhsm2-util");
  UKIKIT_NEED_TOOL("pkcs11-tool");
  UKIKIT_NEED_TOOL("sbverify");
  UKIKIT_NEED(t::fs::exists("/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"),
              "the pkcs11 engine (libengine-pkcs11-openssl; run scripts/setup.sh)");
  softhsm_token token(work / "hsm");
  ASSERT_TRUE(token.init(key("db"), crt("db")));
  auto in = copy_input(src, "stub.efi");
  const std::string cert = " --cert " + q(crt("db")) + " ";
  ASSERT_EQ(t::run(ukikit() + " sign --key " + q(key("db")) + cert + "-o " + q(work / "file.efi") +
                   " " + q(in))
                .status,
            0);
  const auto signed_from_file = t::read_file(work / "file.efi");
  const std::string key_uri = softhsm_token::uri("db", "private");
  const std::string forms[] = {
      "sign --engine pkcs11 --key " + key_uri + cert,                      // sbsign
      "sign --private-key-source engine:pkcs11 --private-key " + key_uri + // systemd-sbsign
          " --certificate-source engine:pkcs11 --certificate " + softhsm_token::uri("db", "cert") +
          " ",
      "sign --private-key-source provider:default --key " + q(key("db")) +
          cert, // a provider's store
      "sign --private-key-source provider:legacy --key " + q(key("db")) + cert, // one loaded
      // The PIN from a file (RFC 7512's pin-source), not in the command line.
      "sign --engine pkcs11 --key 'pkcs11:token=ukikit;object=db;type=private?pin-source=file:" +
          (work / "hsm/pin").string() + "'" + cert,
  };
  t::write_file(work / "hsm/pin", std::string_view(softhsm_token::pin));
  for (const auto& form : forms) {
    SCOPED_TRACE(form);
    t::fs::remove(work / "hsm.efi");
    auto r = t::run(
        token.with(ukikit() + " " + form + "-o " + q(work / "hsm.efi") + " " + q(in) + " 2>&1"));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(t::read_file(work / "hsm.efi"), signed_from_file);
  }
  EXPECT_EQ(
      t::run("sbverify --cert " + q(crt("db")) + " " + q(work / "hsm.efi") + " >/dev/null 2>&1")
          .status,
      0);

  // ukify's --signing-engine in `ukikit build`: the bytes of the key file.
  const std::string build = ukikit() + " build --stub " + q(src) + " --linux " + q(kernel) +
                            " --cmdline quiet --no-os-release --signing-cert " + q(crt("db"));
  ASSERT_EQ(t::run(build + " --signing-key " + q(key("db")) + " -o " + q(work / "uki-file.efi") +
                   " 2>/dev/null")
                .status,
            0);
  auto b = t::run(token.with(build + " --signing-engine pkcs11 --signing-key " + key_uri + " -o " +
                             q(work / "uki-hsm.efi") + " 2>&1"));
  ASSERT_EQ(b.status, 0) << b.out;
  EXPECT_EQ(t::read_file(work / "uki-hsm.efi"), t::read_file(work / "uki-file.efi"));
  // systemd-measure's --private-key-source: the .pcrsig JSON of the key file.
  const std::string measure = ukikit() + " measure --bank sha256 " + q(work / "uki-file.efi");
  auto from_file = t::run(measure + " --pcr-private-key " + q(key("db")));
  auto from_hsm =
      t::run(token.with(measure + " --private-key-source engine:pkcs11 --private-key " + key_uri));
  ASSERT_EQ(from_file.status, 0);
  ASSERT_EQ(from_hsm.status, 0);
  EXPECT_EQ(from_hsm.out, from_file.out);
  EXPECT_NE(from_hsm.out.find("\"sig\""), std::string::npos) << from_hsm.out;

  // A wrong PIN, an object that is not there, an engine that is not there.
  struct refused {
    std::string args, says;
    bool names_the_key;
  };
  const refused bad[] = {
      {"--engine pkcs11 --key " + softhsm_token::uri("db", "private", "9999"), "PIN incorrect",
       true},
      {"--engine pkcs11 --key " + softhsm_token::uri("nothing", "private"), "object not found",
       true},
      {"--engine nosuch --key " + key_uri, "no OpenSSL engine 'nosuch'", false},
      {"--private-key-source vault --key " + key_uri, "engine:NAME or provider:NAME", false},
  };
  for (const auto& r : bad) {
    SCOPED_TRACE(r.args);
    t::fs::remove(work / "bad.efi");
    // After a failed load, libp11's engine allocates EVP_PKEY methods in
    // OpenSSL's exit cleanup (ENGINE_remove) and never frees them: not ours.
    auto out = t::run(token.with("ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0\" " +
                                 ukikit() + " sign " + r.args + cert + "-o " + q(work / "bad.efi") +
                                 " " + q(in) + " 2>&1"));
    EXPECT_EQ(out.status, 2) << out.out;
    EXPECT_NE(out.out.find(r.says), std::string::npos) << out.out;
    // Our message leaves the PIN out (libp11 prints the URI as given itself).
    const auto at = out.out.find("ukikit sign: ");
    const std::string ours = at == std::string::npos ? out.out : out.out.substr(at);
    EXPECT_EQ(ours.find("pin-value=1234"), std::string::npos) << ours;
    EXPECT_EQ(ours.find("pin-value=9999"), std::string::npos) << ours;
    if (r.names_the_key) {
      EXPECT_NE(ours.find("pin-value=***"), std::string::npos) << ours;
    }
    EXPECT_FALSE(t::fs::exists(work / "bad.efi"));
  }
}

// ukify genkey's keys: RSA 2048, a self-signed CA:FALSE SHA-256 certificate
// with ukify's CN and 3650 days, keys only the owner reads; they sign what
// sbverify accepts; nothing is overwritten.
TEST_F(authenticode_env, genkey_makes_ukifys_keys_and_overwrites_nothing) {
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  UKIKIT_NEED_TOOL("sbverify");
  const auto sb_key = work / "sb.key", sb_crt = work / "sb.crt", pcr_key = work / "pcr.key",
             pcr_pub = work / "pcr.pub";
  auto r = t::run(ukikit() + " genkey --secureboot-private-key " + q(sb_key) +
                  " --secureboot-certificate " + q(sb_crt) + " --pcr-private-key " + q(pcr_key) +
                  " --pcr-public-key " + q(pcr_pub) + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("Writing SecureBoot private key to " + sb_key.string()), std::string::npos)
      << r.out;
  const auto text = [](const t::fs::path& p) { return std::string(as_chars(t::read_file(p))); };
  EXPECT_EQ(text(sb_key).rfind("-----BEGIN RSA PRIVATE KEY-----", 0), 0u);
  EXPECT_EQ(text(pcr_key).rfind("-----BEGIN RSA PRIVATE KEY-----", 0), 0u);
  for (const auto& k : {sb_key, pcr_key}) {
    EXPECT_EQ(t::fs::status(k).permissions() & t::fs::perms::all,
              t::fs::perms::owner_read | t::fs::perms::owner_write);
    EXPECT_NE(
        t::run("openssl rsa -check -noout -text -in " + q(k)).out.find("Private-Key: (2048 bit"),
        std::string::npos);
  }
  auto x = t::run("openssl x509 -noout -subject -issuer -startdate -enddate -ext basicConstraints "
                  "-text -in " +
                  q(sb_crt));
  ASSERT_EQ(x.status, 0);
  const std::string fqdn = t::run("python3 -c 'import socket; print(socket.getfqdn())'").out;
  std::string cn = "SecureBoot signing key on host " + fqdn.substr(0, fqdn.find('\n'));
  if (cn.size() > 64) cn = cn.substr(0, 61) + "...";
  EXPECT_NE(x.out.find("subject=CN = " + cn + "\n"), std::string::npos) << x.out;
  EXPECT_NE(x.out.find("issuer=CN = " + cn + "\n"), std::string::npos) << x.out;
  EXPECT_NE(x.out.find("critical\n    CA:FALSE"), std::string::npos) << x.out;
  EXPECT_NE(x.out.find("Signature Algorithm: sha256WithRSAEncryption"), std::string::npos);
  auto days = t::run("echo $(( ($(date -d \"$(openssl x509 -noout -enddate -in " + q(sb_crt) +
                     " | cut -d= -f2)\" +%s) - $(date -d \"$(openssl x509 -noout -startdate -in " +
                     q(sb_crt) + " | cut -d= -f2)\" +%s)) / 86400 ))");
  EXPECT_EQ(days.out, "3650\n");
  EXPECT_EQ(t::run("openssl x509 -noout -pubkey -in " + q(sb_crt)).out,
            t::run("openssl pkey -pubout -in " + q(sb_key)).out);
  EXPECT_EQ(text(pcr_pub), t::run("openssl pkey -pubout -in " + q(pcr_key)).out);
  auto in = copy_input(src, "stub.efi");
  ASSERT_EQ(
      t::run(ukikit() + " sign --key " + q(sb_key) + " --cert " + q(sb_crt) + " " + q(in)).status,
      0);
  EXPECT_EQ(t::run("sbverify --cert " + q(sb_crt) + " " + q(in) + " >/dev/null 2>&1").status, 0);

  // Any output that exists: exit 2, nothing written, nothing changed.
  const auto before = t::read_file(sb_crt);
  auto again = t::run(ukikit() + " genkey --pcr-private-key " + q(work / "new.key") +
                      " --secureboot-private-key " + q(work / "new-sb.key") +
                      " --secureboot-certificate " + q(sb_crt) + " 2>&1");
  EXPECT_EQ(again.status, 2) << again.out;
  EXPECT_NE(again.out.find(sb_crt.string() + " already exists"), std::string::npos) << again.out;
  EXPECT_EQ(t::read_file(sb_crt), before);
  EXPECT_FALSE(t::fs::exists(work / "new.key"));
  EXPECT_FALSE(t::fs::exists(work / "new-sb.key"));
  EXPECT_EQ(t::run(ukikit() + " genkey 2>/dev/null").status, 2);
  // --secureboot-certificate-validity and --common-name.
  ASSERT_EQ(t::run(ukikit() + " genkey --signing-key " + q(work / "b.key") + " --signing-cert " +
                   q(work / "b.crt") +
                   " --secureboot-certificate-validity 30 --common-name 'db 2026'")
                .status,
            0);
  EXPECT_NE(
      t::run("openssl x509 -noout -subject -in " + q(work / "b.crt")).out.find("CN = db 2026"),
      std::string::npos);
}

TEST_F(authenticode_env, sign_then_unsign_restores_the_image) {
  UKIKIT_NEED_TOOL("sbverify");
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  auto in = copy_input(src, "stub.efi");
  const auto original = t::read_file(in);
  ASSERT_EQ(t::run(ukikit() + " sign --key " + q(key("db")) + " --cert " + q(crt("db")) + " -o " +
                   q(work / "s1.efi") + " " + q(in))
                .status,
            0);
  ASSERT_EQ(t::run(ukikit() + " unsign -o " + q(work / "u1.efi") + " " + q(work / "s1.efi")).status,
            0);
  auto u1 = t::read_file(work / "u1.efi");
  auto u1img = pe::parse(u1);
  ASSERT_TRUE(u1img.ok());
  EXPECT_FALSE(u1img->has_certificate_table());
  EXPECT_EQ(digest_of_file(work / "u1.efi"), digest_of_file(work / "s1.efi"));
  // The original bytes, then the signer's zero padding (which stays); only
  // the CheckSum field differs.
  ASSERT_EQ(u1.size(), (original.size() + 7) / 8 * 8);
  const std::size_t cs = static_cast<std::size_t>(u1img->checksum_offset());
  EXPECT_TRUE(
      std::equal(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(cs), u1.begin()));
  EXPECT_TRUE(std::equal(original.begin() + static_cast<std::ptrdiff_t>(cs + 4), original.end(),
                         u1.begin() + static_cast<std::ptrdiff_t>(cs + 4)));
  EXPECT_TRUE(std::all_of(u1.begin() + static_cast<std::ptrdiff_t>(original.size()), u1.end(),
                          [](std::byte b) { return b == std::byte{0}; }));
  EXPECT_EQ(u1img->checksum, pe::compute_checksum(*u1img));
  // From an 8-byte aligned image, sign + unsign gives the same bytes back.
  ASSERT_EQ(t::run(ukikit() + " sign --key " + q(key("db")) + " --cert " + q(crt("db")) + " -o " +
                   q(work / "s2.efi") + " " + q(work / "u1.efi"))
                .status,
            0);
  ASSERT_EQ(t::run(ukikit() + " unsign -o " + q(work / "u2.efi") + " " + q(work / "s2.efi")).status,
            0);
  EXPECT_EQ(t::read_file(work / "u2.efi"), u1);
  EXPECT_EQ(
      t::run("sbverify --list " + q(work / "u2.efi") + " 2>&1 | grep -c 'No signature table'").out,
      "1\n");
}

TEST_F(authenticode_env, second_signature_is_listed_by_sbverify_and_either_passes) {
  UKIKIT_NEED_TOOL("sbverify");
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  auto in = copy_input(src, "stub.efi");
  ASSERT_EQ(
      t::run(ukikit() + " sign --key " + q(key("db")) + " --cert " + q(crt("db")) + " " + q(in))
          .status,
      0);
  auto again = t::run(ukikit() + " sign --key " + q(key("ec")) + " --cert " + q(crt("ec")) + " " +
                      q(in) + " 2>&1");
  EXPECT_EQ(again.status, 2);
  EXPECT_NE(again.out.find("already signed"), std::string::npos) << again.out;
  ASSERT_EQ(t::run(ukikit() + " sign --append --key " + q(key("ec")) + " --cert " + q(crt("ec")) +
                   " " + q(in))
                .status,
            0);
  auto list = t::run("sbverify --list " + q(in) + " 2>/dev/null");
  EXPECT_NE(list.out.find("signature 2"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("/CN=ukikit test ec"), std::string::npos) << list.out;
  // ukiverify --list lists the same two, no trust anchor needed.
  auto ours = t::run(ukiverify() + " --list " + q(in));
  EXPECT_EQ(ours.status, 0) << ours.out;
  EXPECT_NE(ours.out.find(": 2 signatures\n  signature 1: CN=ukikit test db (issuer CN=ukikit "
                          "test db), sha256, digest matches, signature valid\n  signature 2: "
                          "CN=ukikit test ec (issuer CN=ukikit test ec), sha256, digest "
                          "matches, signature valid\n"),
            std::string::npos)
      << ours.out;
  auto ours_json = t::run(ukiverify() + " --list --json=short " + q(in));
  EXPECT_NE(ours_json.out.find("\"subject\":\"CN=ukikit test ec\""), std::string::npos)
      << ours_json.out;
  EXPECT_EQ(t::run("sbverify --cert " + q(crt("ec")) + " " + q(in) + " >/dev/null 2>&1").status, 0);
  EXPECT_EQ(verify(in, "--cert " + q(crt("db"))).status, 0);
  EXPECT_EQ(verify(in, "--cert " + q(crt("ec"))).status, 0);
  EXPECT_EQ(verify(in, "--cert " + q(crt("other"))).status, 1);
  // Removing the first leaves the second.
  ASSERT_EQ(t::run(ukikit() + " unsign --index 0 " + q(in)).status, 0);
  EXPECT_EQ(verify(in, "--cert " + q(crt("db"))).status, 1);
  EXPECT_EQ(verify(in, "--cert " + q(crt("ec"))).status, 0);
}

TEST_F(authenticode_env, efi_signature_lists_work_as_db_and_dbx) {
  UKIKIT_NEED_TOOL("cert-to-efi-sig-list");
  UKIKIT_NEED_TOOL("hash-to-efi-sig-list");
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  auto in = copy_input(src, "stub.efi");
  ASSERT_EQ(
      t::run(ukikit() + " sign --key " + q(key("db")) + " --cert " + q(crt("db")) + " " + q(in))
          .status,
      0);
  ASSERT_EQ(
      t::run("cert-to-efi-sig-list " + q(crt("db")) + " " + q(work / "db.esl") + " >/dev/null 2>&1")
          .status,
      0);
  ASSERT_EQ(t::run("cert-to-efi-sig-list " + q(crt("other")) + " " + q(work / "other.esl") +
                   " >/dev/null 2>&1")
                .status,
            0);
  EXPECT_EQ(verify(in, "--cert " + q(work / "db.esl")).status, 0);
  EXPECT_EQ(verify(in, "--cert " + q(work / "other.esl")).status, 1);
  // dbx by image hash (hash-to-efi-sig-list computes the Authenticode digest itself).
  ASSERT_EQ(t::run("hash-to-efi-sig-list " + q(in) + " " + q(work / "dbx.esl") + " >/dev/null 2>&1")
                .status,
            0);
  auto by_hash = verify(in, "--cert " + q(work / "db.esl") + " --dbx " + q(work / "dbx.esl"));
  EXPECT_EQ(by_hash.status, 1) << by_hash.out;
  EXPECT_NE(by_hash.out.find("is listed in dbx"), std::string::npos) << by_hash.out;
  // dbx by certificate.
  auto by_cert = verify(in, "--cert " + q(work / "db.esl") + " --dbx " + q(work / "db.esl"));
  EXPECT_EQ(by_cert.status, 1) << by_cert.out;
  EXPECT_NE(by_cert.out.find("listed in dbx"), std::string::npos) << by_cert.out;
}

TEST_F(authenticode_env, offline_signing_with_an_external_signer) {
  UKIKIT_NEED_TOOL("sbverify");
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  auto in = copy_input(src, "stub.efi");
  // Step 1: the bytes to sign. Step 2: openssl (standing in for an HSM) signs
  // them. Step 3: ukikit assembles and attaches the signature.
  ASSERT_EQ(t::run(ukikit() + " sign --export-tbs " + q(work / "tbs.der") + " " + q(in)).status, 0);
  ASSERT_EQ(t::run("openssl dgst -sha256 -sign " + q(key("db")) + " -out " + q(work / "sig.bin") +
                   " " + q(work / "tbs.der"))
                .status,
            0);
  ASSERT_EQ(t::run(ukikit() + " sign --cert " + q(crt("db")) + " --signature " +
                   q(work / "sig.bin") + " -o " + q(work / "offline.efi") + " " + q(in))
                .status,
            0);
  EXPECT_EQ(
      t::run("sbverify --cert " + q(crt("db")) + " " + q(work / "offline.efi") + " >/dev/null 2>&1")
          .status,
      0);
  // RSA signing is deterministic, so the offline result equals the online one.
  ASSERT_EQ(t::run(ukikit() + " sign --key " + q(key("db")) + " --cert " + q(crt("db")) + " -o " +
                   q(work / "online.efi") + " " + q(in))
                .status,
            0);
  EXPECT_EQ(t::read_file(work / "offline.efi"), t::read_file(work / "online.efi"));
  // A signature by another key is refused before it lands in the image.
  ASSERT_EQ(t::run("openssl dgst -sha256 -sign " + q(key("other")) + " -out " +
                   q(work / "bad.bin") + " " + q(work / "tbs.der"))
                .status,
            0);
  EXPECT_NE(t::run(ukikit() + " sign --cert " + q(crt("db")) + " --signature " +
                   q(work / "bad.bin") + " -o " + q(work / "bad.efi") + " " + q(in) +
                   " 2>/dev/null")
                .status,
            0);
  EXPECT_FALSE(t::fs::exists(work / "bad.efi"));
}

TEST_F(authenticode_env, detached_signatures_attach_both_ways_with_sbsigntools) {
  UKIKIT_NEED_TOOL("sbattach");
  UKIKIT_NEED_TOOL("sbsign");
  UKIKIT_NEED_TOOL("sbverify");
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  auto in = copy_input(src, "stub.efi");
  // ukikit's detached signature, attached by sbattach.
  ASSERT_EQ(t::run(ukikit() + " sign --detached " + q(work / "ours.p7") + " --key " + q(key("db")) +
                   " --cert " + q(crt("db")) + " " + q(in))
                .status,
            0);
  auto copy = copy_input(in, "by-sbattach.efi");
  ASSERT_EQ(t::run("sbattach --attach " + q(work / "ours.p7") + " " + q(copy) + " >/dev/null 2>&1")
                .status,
            0);
  EXPECT_EQ(verify(copy, "--cert " + q(crt("db"))).status, 0);
  // sbsign's detached signature, attached by ukikit.
  ASSERT_EQ(t::run("sbsign --detached --key " + q(key("db")) + " --cert " + q(crt("db")) +
                   " --output " + q(work / "theirs.p7") + " " + q(in) + " >/dev/null 2>&1")
                .status,
            0);
  ASSERT_EQ(t::run(ukikit() + " attach --signature " + q(work / "theirs.p7") + " -o " +
                   q(work / "by-ukikit.efi") + " " + q(in))
                .status,
            0);
  EXPECT_EQ(t::run("sbverify --cert " + q(crt("db")) + " " + q(work / "by-ukikit.efi") +
                   " >/dev/null 2>&1")
                .status,
            0);
  // A signature for another image is refused.
  auto other = copy_input(src, "other.efi");
  auto bytes = t::read_file(other);
  bytes[0x500] ^= std::byte{1};
  t::write_file(other, bytes);
  auto r =
      t::run(ukikit() + " attach --signature " + q(work / "theirs.p7") + " " + q(other) + " 2>&1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("signature is for another image"), std::string::npos) << r.out;
  // The same check in the library: by code, with both digests.
  const auto p7 = t::read_file(work / "theirs.p7");
  const auto in_bytes = t::read_file(in);
  auto in_img = pe::parse(in_bytes);
  auto other_img = pe::parse(bytes);
  ASSERT_TRUE(in_img.ok() && other_img.ok());
  EXPECT_TRUE(check_detached_signature(*in_img, p7).ok());
  auto mismatch = check_detached_signature(*other_img, p7);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code(), errc::checksum_mismatch);
  EXPECT_NE(mismatch.error().message().find("computed=" + digest_of_file(other).hex()),
            std::string::npos)
      << mismatch.error().message();
}

// ---- bad input --------------------------------------------------------------------

class tampered : public authenticode_env {
protected:
  void SetUp() override {
    UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
    signed_path = copy_input(src, "signed.efi");
    ASSERT_EQ(t::run(ukikit() + " sign --key " + q(key("db")) + " --cert " + q(crt("db")) + " " +
                     q(signed_path))
                  .status,
              0);
    bytes = t::read_file(signed_path);
    auto img = pe::parse(bytes);
    ASSERT_TRUE(img.ok());
    image = *img;
    ASSERT_EQ(verify(signed_path, "--cert " + q(crt("db"))).status, 0)
        << "the untampered image must pass";
  }

  // Write the tampered bytes and return ukiverify's result for them.
  t::run_result check(const std::vector<std::byte>& b, const std::string& extra = "") {
    t::write_file(work / "bad.efi", b);
    return verify(work / "bad.efi", "--cert " + q(crt("db")), extra);
  }

  std::uint64_t cert_dir() const { return image.security_directory_offset(); }

  t::fs::path signed_path;
  std::vector<std::byte> bytes;
  pe::image image;
};

#define EXPECT_FAILS_WITH(res, text)                                                               \
  do {                                                                                             \
    auto r_ = (res);                                                                               \
    EXPECT_EQ(r_.status, 1) << r_.out;                                                             \
    EXPECT_EQ(r_.out.rfind("FAIL ", 0), 0u) << r_.out;                                             \
    EXPECT_NE(r_.out.find(text), std::string::npos) << r_.out;                                     \
  } while (0)

TEST_F(tampered, byte_changed_in_a_section_fails_with_both_digests) {
  bytes[image.sections[0].pointer_to_raw_data + 0x100] ^= std::byte{0x01};
  EXPECT_FAILS_WITH(check(bytes), "digest mismatch: signed=");
}

TEST_F(tampered, byte_changed_in_the_header_fails) {
  bytes[image.pe_offset + 8] ^= std::byte{0x01}; // TimeDateStamp
  EXPECT_FAILS_WITH(check(bytes), "digest mismatch");
}

TEST_F(tampered, data_hidden_in_a_gap_fails) {
  // Open a gap after .text by moving .text's raw size down, then put data there.
  const auto& text = image.sections[0];
  le32 smaller{};
  smaller = text.size_of_raw_data - 0x200;
  auto sb = bytes_of(smaller);
  std::copy(sb.begin(), sb.end(),
            bytes.begin() + static_cast<std::ptrdiff_t>(text.header_offset + 0x10));
  bytes[text.raw_end() - 0x100] = std::byte{0x42};
  EXPECT_FAILS_WITH(check(bytes), "unhashed data");
}

TEST_F(tampered, data_appended_after_the_certificate_table_fails) {
  for (int i = 0; i < 16; ++i) bytes.push_back(std::byte{0x41});
  EXPECT_FAILS_WITH(check(bytes), "certificate table is not at the end of the file");
}

TEST_F(tampered, certificate_table_moved_away_from_the_end_fails) {
  // Point the table 8 bytes earlier: now it overlaps data and does not end at EOF.
  le32 off{};
  off = static_cast<std::uint32_t>(image.certificate_table_offset - 8);
  auto ob = bytes_of(off);
  std::copy(ob.begin(), ob.end(), bytes.begin() + static_cast<std::ptrdiff_t>(cert_dir()));
  EXPECT_FAILS_WITH(check(bytes), "certificate table");
}

TEST_F(tampered, wrong_certificate_fails) {
  EXPECT_FAILS_WITH(verify(signed_path, "--cert " + q(crt("other"))),
                    "does not chain to a given certificate");
}

TEST_F(tampered, unsigned_image_fails) {
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  EXPECT_FAILS_WITH(verify(src, "--cert " + q(crt("db"))), "image is not signed");
}

TEST_F(tampered, nested_only_signature_fails_and_says_firmware_ignores_it) {
  UKIKIT_NEED_TOOL("osslsigncode");
  // Outer signature by an untrusted key; the trusted one only nested.
  auto src = t::input("linuxx64.efi.stub");
  ASSERT_EQ(t::run("osslsigncode sign -key " + q(key("other")) + " -certs " + q(crt("other")) +
                   " -in " + q(src) + " -out " + q(work / "outer.efi") + " >/dev/null 2>&1")
                .status,
            0);
  ASSERT_EQ(t::run("osslsigncode sign -nest -key " + q(key("db")) + " -certs " + q(crt("db")) +
                   " -in " + q(work / "outer.efi") + " -out " + q(work / "nested.efi") +
                   " >/dev/null 2>&1")
                .status,
            0);
  auto r = t::run(ukiverify() + " --json --cert " + q(crt("db")) + " " + q(work / "nested.efi"));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("firmware ignores them"), std::string::npos) << r.out;
}

TEST_F(tampered, truncated_pkcs7_fails) {
  // Shorten dwLength so the DER ends early.
  le32 len{};
  len = static_cast<std::uint32_t>(image.certificate_table_size - 0x100);
  auto lb = bytes_of(len);
  std::copy(lb.begin(), lb.end(),
            bytes.begin() + static_cast<std::ptrdiff_t>(image.certificate_table_offset));
  EXPECT_FAILS_WITH(check(bytes), "no valid PKCS#7");
}

TEST_F(tampered, dw_length_past_the_table_fails) {
  le32 len{};
  len = image.certificate_table_size + 64;
  auto lb = bytes_of(len);
  std::copy(lb.begin(), lb.end(),
            bytes.begin() + static_cast<std::ptrdiff_t>(image.certificate_table_offset));
  EXPECT_FAILS_WITH(check(bytes), "passes the end of the table");
}

TEST_F(tampered, zero_length_entry_fails_without_looping) {
  le32 len{};
  len = 0;
  auto lb = bytes_of(len);
  std::copy(lb.begin(), lb.end(),
            bytes.begin() + static_cast<std::ptrdiff_t>(image.certificate_table_offset));
  EXPECT_FAILS_WITH(check(bytes), "dwLength 0");
}

TEST_F(tampered, sha1_only_signature_is_refused_unless_allowed) {
  UKIKIT_NEED_TOOL("osslsigncode");
  auto src = t::input("linuxx64.efi.stub");
  ASSERT_EQ(t::run("osslsigncode sign -h sha1 -key " + q(key("db")) + " -certs " + q(crt("db")) +
                   " -in " + q(src) + " -out " + q(work / "sha1.efi") + " >/dev/null 2>&1")
                .status,
            0);
  EXPECT_FAILS_WITH(verify(work / "sha1.efi", "--cert " + q(crt("db"))),
                    "sha1 image digest refused by policy");
  EXPECT_EQ(verify(work / "sha1.efi", "--cert " + q(crt("db")), "--allow-sha1").status, 0);
}

TEST_F(tampered, not_a_pe_file_is_exit_2) {
  t::write_file(work / "text.efi",
                std::string_view("hello, this is not a PE image at all, but long enough"));
  auto r = verify(work / "text.efi", "--cert " + q(crt("db")));
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_EQ(r.out, "FAIL " + (work / "text.efi").string() +
                       ": not a PE file (no MZ signature) at offset 0x0\n");
}

TEST_F(tampered, several_files_give_one_line_each_and_the_worst_status) {
  UKIKIT_NEED_INPUT(src, "linuxx64.efi.stub");
  auto r = t::run(ukiverify() + " --cert " + q(crt("db")) + " " + q(signed_path) + " " + q(src) +
                  " 2>&1");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  EXPECT_EQ(r.out.rfind("PASS ", 0), 0u) << r.out;
  auto json =
      t::run(ukiverify() + " --json --cert " + q(crt("db")) + " " + q(signed_path) + " " + q(src));
  EXPECT_EQ(json.status, 1);
  EXPECT_EQ(json.out.front(), '{');
  EXPECT_NE(json.out.find("\"passed\": false"), std::string::npos);
  EXPECT_NE(json.out.find("\"passed\": true"), std::string::npos);
}

TEST_F(tampered, pass_and_fail_lines_escape_control_bytes_from_names) {
  const auto odd = work / "a\x1b[31mb.efi";
  t::fs::copy_file(signed_path, odd);
  auto pass = verify(odd, "--cert " + q(crt("db")));
  EXPECT_EQ(pass.status, 0) << pass.out;
  EXPECT_EQ(pass.out.find('\x1b'), std::string::npos) << pass.out;
  EXPECT_NE(pass.out.find("a\\x1b[31mb.efi"), std::string::npos) << pass.out;
  auto fail = verify(odd, "--cert " + q(crt("other")));
  EXPECT_EQ(fail.status, 1) << fail.out;
  EXPECT_EQ(fail.out.find('\x1b'), std::string::npos) << fail.out;
}

TEST_F(tampered, required_section_missing_fails) {
  EXPECT_FAILS_WITH(verify(signed_path, "--cert " + q(crt("db")), "--require .linux"),
                    "required section .linux is missing");
  EXPECT_EQ(verify(signed_path, "--cert " + q(crt("db")), "--require .sbat").status, 0);
}

TEST_F(tampered, usage_errors_are_exit_2) {
  EXPECT_EQ(t::run(ukiverify() + " " + q(signed_path) + " >/dev/null 2>&1").status, 2)
      << "--cert is required";
  EXPECT_EQ(
      t::run(ukiverify() + " --cert /nonexistent " + q(signed_path) + " >/dev/null 2>&1").status,
      2);
  EXPECT_EQ(t::run(ukiverify() + " --help >/dev/null 2>&1").status, 0);
  EXPECT_EQ(t::run(ukiverify() + " --version").out.rfind("ukiverify ", 0), 0u);
}

// ---- dbx against every signature, and unsigned bytes in the certificate table -------
//
// The verdicts follow EDK2's DxeImageVerificationHandler (the comment above
// authenticode::verify quotes its rules): dbx refuses the whole image as
// soon as any entry's signer, any issuer it chains to, or its certificate
// hash is listed, even when another entry chains to db. The strict gate
// also refuses every certificate-table byte that no signature covers.
// Inputs: a real UKI built from Debian's stub and signed kernel, signed by
// ukikit and by sbsign; dbx lists made by efitools.

class signed_uki : public authenticode_env {
protected:
  static void SetUpTestSuite() {
    authenticode_env::SetUpTestSuite();
    auto stub = t::input("linuxx64.efi.stub"), kernel = t::input("vmlinuz");
    if (stub.empty() || kernel.empty()) return; // each test's SetUp reports it
    ASSERT_EQ(t::run(ukikit() + " build --stub " + q(stub) + " --linux " + q(kernel) +
                     " --cmdline 'console=ttyS0' --output " + q(*dir_ / "uki.efi") + " 2>&1")
                  .status,
              0);
    // A CA and a leaf it issued: the leaf's signatures carry the leaf only.
    const auto ca = *dir_ / "ca", leaf = *dir_ / "leaf";
    ASSERT_EQ(t::run("openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "
                     "'/CN=ukikit test ca' -addext basicConstraints=critical,CA:TRUE -keyout " +
                     q(ca.string() + ".key") + " -out " + q(ca.string() + ".crt") + " 2>/dev/null")
                  .status,
              0);
    ASSERT_EQ(t::run("openssl req -newkey rsa:2048 -nodes -sha256 -subj '/CN=ukikit test leaf' "
                     "-keyout " +
                     q(leaf.string() + ".key") + " -out " + q(leaf.string() + ".csr") +
                     " 2>/dev/null && openssl x509 -req -days 3650 -in " +
                     q(leaf.string() + ".csr") + " -CA " + q(ca.string() + ".crt") + " -CAkey " +
                     q(ca.string() + ".key") + " -set_serial 7 -out " + q(leaf.string() + ".crt") +
                     " 2>/dev/null")
                  .status,
              0);
  }

  void SetUp() override {
    UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
    UKIKIT_NEED_INPUT(kernel, "vmlinuz");
    UKIKIT_NEED_TOOL("sbsign");
    UKIKIT_NEED_TOOL("cert-to-efi-sig-list");
    UKIKIT_NEED_TOOL("cert-to-efi-hash-list");
    ASSERT_TRUE(t::fs::exists(*dir_ / "uki.efi"));
    uki = copy_input(*dir_ / "uki.efi", "uki.efi");
  }

  // Sign with ukikit (first signature) or append sbsign's detached one.
  void sign(const std::string& who) {
    ASSERT_EQ(
        t::run(ukikit() + " sign --key " + q(key(who)) + " --cert " + q(crt(who)) + " " + q(uki))
            .status,
        0);
  }
  void append_sbsign(const std::string& who) {
    ASSERT_EQ(t::run("sbsign --key " + q(key(who)) + " --cert " + q(crt(who)) + " --detached " +
                     "--output " + q(work / "sig.p7") + " " + q(uki) + " >/dev/null 2>&1")
                  .status,
              0);
    ASSERT_EQ(t::run(ukikit() + " attach --append --signature " + q(work / "sig.p7") + " " + q(uki))
                  .status,
              0);
  }
  t::fs::path esl(const std::string& who, const std::string& opts = "") {
    auto out = work / (who + "-" + std::to_string(++lists) + ".esl");
    const std::string cmd = opts.empty() ? "cert-to-efi-sig-list " : "cert-to-efi-hash-list ";
    EXPECT_EQ(t::run(cmd + opts + " " + q(crt(who)) + " " + q(out) + " >/dev/null 2>&1").status, 0);
    return out;
  }

  // ukiverify --json: exit status, the file's finding codes, and the JSON.
  struct verdict {
    int status = 0;
    std::vector<std::string> codes;
    nlohmann::json file;
  };
  verdict gate(const t::fs::path& file, const std::string& args) {
    auto r = t::run(ukiverify() + " --json " + args + " " + q(file));
    verdict v;
    v.status = r.status;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    if (j.is_discarded()) return v;
    v.file = j["files"][0];
    for (const auto& f : v.file["findings"]) v.codes.push_back(f["code"].get<std::string>());
    return v;
  }
  static bool has(const verdict& v, const std::string& code) {
    return std::find(v.codes.begin(), v.codes.end(), code) != v.codes.end();
  }

  t::fs::path uki;
  int lists = 0;
};

static t::fs::path ca_crt(const t::fs::path& dir) { return dir / "ca.crt"; }

// Two signatures, one by db's key and one by an unrelated key, in either
// order; dbx lists the unrelated signer as an EFI signature list and as PEM.
class dbx_every_signature : public signed_uki,
                            public ::testing::WithParamInterface<std::tuple<bool, bool>> {};

TEST_P(dbx_every_signature, refuses_the_image_when_any_signer_is_listed) {
  const auto [db_first, as_esl] = GetParam();
  if (db_first) {
    sign("db");
    append_sbsign("other");
  } else {
    sign("other");
    append_sbsign("db");
  }
  // Key rollover: a second valid signature by another key is acceptable.
  auto plain = gate(uki, "--cert " + q(crt("db")));
  EXPECT_EQ(plain.status, 0) << plain.file.dump();
  EXPECT_TRUE(plain.codes.empty()) << plain.file.dump();

  const auto dbx = as_esl ? esl("other") : crt("other");
  auto v = gate(uki, "--cert " + q(crt("db")) + " --dbx " + q(dbx));
  EXPECT_EQ(v.status, 1) << v.file.dump();
  EXPECT_TRUE(has(v, "authenticode.dbx-certificate")) << v.file.dump();
  const auto& sigs = v.file["authenticode"]["signatures"];
  ASSERT_EQ(sigs.size(), 2u);
  EXPECT_EQ(sigs[db_first ? 1 : 0]["revoked"], true);
  EXPECT_EQ(sigs[db_first ? 0 : 1]["revoked"], false);
  // The text line says FAIL and why.
  auto text = verify(uki, "--cert " + q(crt("db")) + " --dbx " + q(dbx));
  EXPECT_EQ(text.status, 1);
  EXPECT_EQ(text.out.rfind("FAIL ", 0), 0u) << text.out;
  EXPECT_NE(text.out.find("firmware refuses the image"), std::string::npos) << text.out;
}

INSTANTIATE_TEST_SUITE_P(orders_and_forms, dbx_every_signature,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()));

TEST_F(signed_uki, dbx_certificate_hash_of_any_signer_refuses_the_image) {
  sign("db");
  append_sbsign("other");
  // EFI_CERT_X509_SHA256/384/512 with and without a revocation time: there
  // is no dbt to clear a timestamped signature, so every one refuses.
  for (const std::string opts : {"-s 256", "-s 384", "-s 512", "-s 256 -t 2020-01-01"}) {
    auto v = gate(uki, "--cert " + q(crt("db")) + " --dbx " + q(esl("other", opts)));
    EXPECT_EQ(v.status, 1) << opts << ": " << v.file.dump();
    EXPECT_TRUE(has(v, "authenticode.dbx-certificate-hash")) << opts << ": " << v.file.dump();
  }
  // A hash of a certificate that signed nothing here changes nothing.
  auto v = gate(uki, "--cert " + q(crt("db")) + " --dbx " + q(esl("ec", "-s 256")));
  EXPECT_EQ(v.status, 0) << v.file.dump();
}

TEST_F(signed_uki, dbx_listing_the_issuer_refuses_a_signature_that_does_not_carry_it) {
  // The leaf's signature carries only the leaf; dbx lists its CA. EDK2
  // verifies the signature with each dbx certificate as the root, so the CA
  // refuses it; comparing certificates in the signature would not.
  sign("db");
  ASSERT_EQ(t::run("sbsign --key " + q(*dir_ / "leaf.key") + " --cert " + q(*dir_ / "leaf.crt") +
                   " --detached --output " + q(work / "leaf.p7") + " " + q(uki) +
                   " >/dev/null 2>&1")
                .status,
            0);
  ASSERT_EQ(t::run(ukikit() + " attach --append --signature " + q(work / "leaf.p7") + " " + q(uki))
                .status,
            0);
  EXPECT_EQ(gate(uki, "--cert " + q(ca_crt(dir_->path()))).status, 0)
      << "the leaf chains to its CA";
  auto v = gate(uki, "--cert " + q(crt("db")) + " --dbx " + q(ca_crt(dir_->path())));
  EXPECT_EQ(v.status, 1) << v.file.dump();
  EXPECT_TRUE(has(v, "authenticode.dbx-certificate")) << v.file.dump();
}

TEST_F(signed_uki, db_anchor_listed_in_dbx_by_hash_does_not_allow_the_image) {
  // IsAllowedByDb: the db certificate that verifies the signature must not
  // have its own hash in dbx. The leaf itself is not listed.
  ASSERT_EQ(t::run(ukikit() + " sign --key " + q(*dir_ / "leaf.key") + " --cert " +
                   q(*dir_ / "leaf.crt") + " " + q(uki))
                .status,
            0);
  auto dbx = work / "ca-hash.esl";
  ASSERT_EQ(
      t::run("cert-to-efi-hash-list " + q(ca_crt(dir_->path())) + " " + q(dbx) + " >/dev/null 2>&1")
          .status,
      0);
  EXPECT_EQ(gate(uki, "--cert " + q(ca_crt(dir_->path()))).status, 0);
  auto v = gate(uki, "--cert " + q(ca_crt(dir_->path())) + " --dbx " + q(dbx));
  EXPECT_EQ(v.status, 1) << v.file.dump();
  EXPECT_TRUE(has(v, "authenticode.db-anchor-revoked")) << v.file.dump();
}

TEST_F(signed_uki, dbx_image_digest_refuses_and_names_its_code) {
  UKIKIT_NEED_TOOL("hash-to-efi-sig-list");
  sign("db");
  ASSERT_EQ(t::run("hash-to-efi-sig-list " + q(uki) + " " + q(work / "h.esl") + " >/dev/null 2>&1")
                .status,
            0);
  auto v = gate(uki, "--cert " + q(crt("db")) + " --dbx " + q(work / "h.esl"));
  EXPECT_EQ(v.status, 1) << v.file.dump();
  EXPECT_TRUE(has(v, "authenticode.dbx-image-digest")) << v.file.dump();
}

TEST_F(signed_uki, two_cmdline_sections_are_reported_and_fail_with_strict_sections) {
  // The first section renamed to .cmdline: its bytes come before the real
  // one, so which command line boots depends on the stub's release.
  auto b = t::read_file(uki);
  auto img = pe::parse(b);
  ASSERT_TRUE(img.ok());
  const pe::section* osrel = img->find(".osrel");
  ASSERT_NE(osrel, nullptr);
  ASSERT_NE(img->find(".cmdline"), nullptr);
  const std::string name = ".cmdline";
  for (std::size_t i = 0; i < 8; ++i) b[osrel->header_offset + i] = static_cast<std::byte>(name[i]);
  t::write_file(uki, b);
  sign("db");
  auto plain = gate(uki, "--cert " + q(crt("db")));
  EXPECT_EQ(plain.status, 0) << plain.file.dump();
  EXPECT_TRUE(has(plain, "uki.duplicate-section")) << plain.file.dump();
  auto text = verify(uki, "--cert " + q(crt("db")));
  EXPECT_EQ(text.status, 0);
  EXPECT_NE(text.out.find("warning:"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("duplicate .cmdline"), std::string::npos) << text.out;
  auto strict = gate(uki, "--cert " + q(crt("db")) + " --strict-sections");
  EXPECT_EQ(strict.status, 1) << strict.file.dump();
  EXPECT_TRUE(has(strict, "uki.duplicate-section")) << strict.file.dump();
}

// ---- unsigned bytes in the certificate table ----

class cert_table : public signed_uki {
protected:
  void SetUp() override {
    signed_uki::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    sign("db");
    original = t::read_file(uki);
    auto img = pe::parse(original);
    ASSERT_TRUE(img.ok());
    auto sigs = existing_signatures(*img);
    ASSERT_EQ(sigs.size(), 1u);
    der.assign(sigs[0].begin(), sigs[0].end());
  }

  // The image with its certificate table made of these payloads (type 2),
  // and the parsed walk of the result.
  std::vector<std::byte> with_entries(const std::vector<std::vector<std::byte>>& payloads) {
    auto img = pe::parse(original);
    std::vector<byte_span> spans(payloads.begin(), payloads.end());
    auto pieces = with_certificates(*img, spans);
    EXPECT_TRUE(pieces.ok());
    std::vector<std::byte> out;
    for (byte_span p : pieces->pieces()) out.insert(out.end(), p.begin(), p.end());
    return out;
  }
  verdict strict(const std::vector<std::byte>& b) {
    t::write_file(work / "bad.efi", b);
    return gate(work / "bad.efi", "--cert " + q(crt("db")));
  }
  // ukiinspect reports the finding as a warning and exits 0.
  void inspect_reports(const std::string& code) {
    auto r = t::run(t::tool("ukiinspect") + " --json " + q(work / "bad.efi"));
    EXPECT_EQ(r.status, 0) << r.out;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.out;
    bool found = false;
    for (const auto& f : j["authenticode"]["findings"])
      if (f["code"] == code) found = f["severity"] == "warning";
    EXPECT_TRUE(found) << code << " in " << j["authenticode"].dump();
  }
  const nlohmann::json* finding(const verdict& v, const std::string& code) {
    for (const auto& f : v.file["findings"])
      if (f["code"] == code) return &f;
    return nullptr;
  }

  std::vector<std::byte> original, der;
};

TEST_F(cert_table, junk_entry_before_or_after_a_valid_signature_fails) {
  std::vector<std::byte> junk(100, std::byte{0x41});
  for (bool junk_first : {false, true}) {
    auto b = junk_first ? with_entries({junk, der}) : with_entries({der, junk});
    auto img = pe::parse(b);
    ASSERT_TRUE(img.ok());
    auto walk = walk_certificate_table(*img);
    ASSERT_EQ(walk.entries.size(), 2u);
    const auto& bad = walk.entries[junk_first ? 0 : 1];
    auto v = strict(b);
    EXPECT_EQ(v.status, 1) << v.file.dump();
    const auto* f = finding(v, "authenticode.entry-not-signature");
    ASSERT_NE(f, nullptr) << v.file.dump();
    EXPECT_EQ((*f)["offset"], bad.offset);
    EXPECT_EQ((*f)["length"], 8 + 104u) << "dwLength 108 padded to 112";
    EXPECT_NE((*f)["message"].get<std::string>().find("firmware skips it"), std::string::npos);
    inspect_reports("authenticode.entry-not-signature");
  }
}

TEST_F(cert_table, entry_of_another_certificate_type_fails) {
  auto b = with_entries({der, der});
  auto img = pe::parse(b);
  auto walk = walk_certificate_table(*img);
  ASSERT_EQ(walk.entries.size(), 2u);
  EXPECT_EQ(strict(b).status, 0) << "two copies of a valid signature pass";
  // wCertificateType 0x0001 (WIN_CERT_TYPE_X509) on the second entry.
  b[walk.entries[1].offset + offsetof(pe::win_certificate, certificate_type)] = std::byte{1};
  auto v = strict(b);
  EXPECT_EQ(v.status, 1) << v.file.dump();
  const auto* f = finding(v, "authenticode.entry-type");
  ASSERT_NE(f, nullptr) << v.file.dump();
  EXPECT_EQ((*f)["offset"], walk.entries[1].offset);
  inspect_reports("authenticode.entry-type");
}

TEST_F(cert_table, bytes_after_the_pkcs7_inside_dw_length_fail) {
  for (std::size_t extra : {std::size_t{5}, std::size_t{4096}}) {
    auto payload = der;
    payload.resize(der.size() + extra, std::byte{0x5a});
    auto b = with_entries({payload});
    auto img = pe::parse(b);
    auto walk = walk_certificate_table(*img);
    ASSERT_EQ(walk.entries.size(), 1u);
    auto v = strict(b);
    EXPECT_EQ(v.status, 1) << v.file.dump();
    const auto* f = finding(v, "authenticode.trailing-data");
    ASSERT_NE(f, nullptr) << v.file.dump();
    EXPECT_EQ((*f)["offset"], walk.entries[0].offset + 8 + der.size());
    EXPECT_EQ((*f)["length"], extra);
    inspect_reports("authenticode.trailing-data");
  }
}

TEST_F(cert_table, non_zero_alignment_padding_fails_and_zero_padding_passes) {
  // A signature whose entry needs padding: RSA ones are fixed in size, so
  // re-sign with the EC key (ECDSA DER varies) until one does.
  auto b = with_entries({der});
  for (int i = 0; i < 32 && (8 + der.size()) % 8 == 0; ++i) {
    auto unsigned_path = work / "unsigned.efi";
    ASSERT_EQ(t::run(ukikit() + " unsign -o " + q(unsigned_path) + " " + q(uki)).status, 0);
    ASSERT_EQ(t::run(ukikit() + " sign --key " + q(key("ec")) + " --cert " + q(crt("ec")) + " -o " +
                     q(work / "ec.efi") + " " + q(unsigned_path))
                  .status,
              0);
    const auto signed_bytes = t::read_file(work / "ec.efi");
    auto img = pe::parse(signed_bytes);
    ASSERT_TRUE(img.ok());
    auto s = existing_signatures(*img);
    der.assign(s[0].begin(), s[0].end());
  }
  ASSERT_NE((8 + der.size()) % 8, 0u);
  b = with_entries({der});
  auto img = pe::parse(b);
  auto walk = walk_certificate_table(*img);
  ASSERT_EQ(walk.entries.size(), 1u);
  const std::string cert = "--cert " + q(crt("db")) + " --cert " + q(crt("ec"));
  t::write_file(work / "bad.efi", b);
  EXPECT_EQ(gate(work / "bad.efi", cert).status, 0) << "zero padding is fine";
  const std::uint64_t pad_at = walk.entries[0].offset + walk.entries[0].length;
  b[pad_at] = std::byte{0x01};
  t::write_file(work / "bad.efi", b);
  auto v = gate(work / "bad.efi", cert);
  EXPECT_EQ(v.status, 1) << v.file.dump();
  const auto* f = finding(v, "authenticode.nonzero-padding");
  ASSERT_NE(f, nullptr) << v.file.dump();
  EXPECT_EQ((*f)["offset"], pad_at);
  EXPECT_EQ((*f)["length"], 8 - (8 + der.size()) % 8);
  inspect_reports("authenticode.nonzero-padding");
}

TEST_F(cert_table, second_signature_whose_own_bytes_were_changed_fails) {
  // The last bytes of the DER are the signer's signature value.
  auto broken = der;
  broken.back() ^= std::byte{0x01};
  auto v = strict(with_entries({der, broken}));
  EXPECT_EQ(v.status, 1) << v.file.dump();
  EXPECT_TRUE(has(v, "authenticode.signature-invalid")) << v.file.dump();
}

// ---- README claims: --replace, ECDSA P-384, WIN_CERT_TYPE_EFI_GUID ---------------
// (README "Signing and verifying PE images"; each checked with sbverify,
// osslsigncode or the bytes the UEFI specification defines.)
namespace readme_claims {

std::uint32_t le32_at(const std::vector<std::byte>& b, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 4; i-- > 0;) v = v << 8 | std::to_integer<std::uint32_t>(b[at + i]);
  return v;
}
void put_le(std::vector<std::byte>& b, std::size_t at, std::uint32_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) b[at + i] = static_cast<std::byte>(v >> (8 * i) & 0xff);
}

// The Certificate Table data directory entry (PE/COFF: optional header +
// 128 for PE32, + 144 for PE32+; offset then size).
std::size_t certificate_directory(const std::vector<std::byte>& b) {
  const std::size_t opt = le32_at(b, 0x3c) + 24;
  const auto magic = std::to_integer<unsigned>(b[opt]) | std::to_integer<unsigned>(b[opt + 1]) << 8;
  return opt + (magic == 0x20b ? 144 : 128);
}

} // namespace readme_claims

TEST_F(authenticode_env, sign_replace_leaves_only_the_new_signature) {
  UKIKIT_NEED_TOOL("sbverify");
  UKIKIT_NEED_TOOL("osslsigncode");
  UKIKIT_NEED_INPUT(src, "systemd-bootx64.efi");
  auto in = copy_input(src, "boot.efi");
  const std::string sign = ukikit() + " sign ";
  ASSERT_EQ(t::run(sign + "--key " + q(key("db")) + " --cert " + q(crt("db")) + " " + q(in)).status,
            0);
  ASSERT_EQ(t::run(sign + "--append --key " + q(key("other")) + " --cert " + q(crt("other")) + " " +
                   q(in))
                .status,
            0);
  auto before = t::run("sbverify --list " + q(in) + " 2>/dev/null");
  ASSERT_NE(before.out.find("signature 2"), std::string::npos) << before.out;
  // --replace: both old signatures go, the new one is the only one.
  ASSERT_EQ(
      t::run(sign + "--replace --key " + q(key("ec")) + " --cert " + q(crt("ec")) + " " + q(in))
          .status,
      0);
  auto after = t::run("sbverify --list " + q(in) + " 2>/dev/null");
  EXPECT_NE(after.out.find("signature 1"), std::string::npos) << after.out;
  EXPECT_EQ(after.out.find("signature 2"), std::string::npos) << after.out;
  EXPECT_NE(after.out.find("/CN=ukikit test ec"), std::string::npos) << after.out;
  EXPECT_EQ(t::run("sbverify --cert " + q(crt("ec")) + " " + q(in) + " >/dev/null 2>&1").status, 0);
  EXPECT_NE(t::run("sbverify --cert " + q(crt("db")) + " " + q(in) + " >/dev/null 2>&1").status, 0);
  EXPECT_EQ(
      t::run("osslsigncode verify -CAfile " + q(crt("ec")) + " -in " + q(in) + " >/dev/null 2>&1")
          .status,
      0);
  EXPECT_EQ(verify(in, "--cert " + q(crt("ec"))).status, 0);
  EXPECT_EQ(verify(in, "--cert " + q(crt("db"))).status, 1);
  EXPECT_EQ(verify(in, "--cert " + q(crt("other"))).status, 1);
  // The image is the unsigned one plus one signature: unsigning it gives
  // back the input's bytes as osslsigncode remove-signature does.
  ASSERT_EQ(t::run("osslsigncode remove-signature -in " + q(in) + " -out " + q(work / "bare.efi") +
                   " >/dev/null 2>&1")
                .status,
            0);
  ASSERT_EQ(t::run(ukikit() + " unsign -o " + q(work / "ours.efi") + " " + q(in)).status, 0);
  EXPECT_EQ(t::read_file(work / "ours.efi"), t::read_file(work / "bare.efi"));
}

TEST_F(authenticode_env, ecdsa_p384_signature_verifies_with_sbverify_and_osslsigncode) {
  UKIKIT_NEED_TOOL("sbverify");
  UKIKIT_NEED_TOOL("osslsigncode");
  UKIKIT_NEED_INPUT(src, "systemd-bootx64.efi");
  ASSERT_EQ(t::run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -sha384 "
                   "-days 30 -subj /CN=p384 -keyout " +
                   q(work / "p384.key") + " -out " + q(work / "p384.crt") + " 2>/dev/null")
                .status,
            0);
  for (const std::string digest : {"", "sha384"}) {
    SCOPED_TRACE(digest.empty() ? "default digest" : digest);
    auto in = copy_input(src, "boot.efi");
    auto r =
        t::run(ukikit() + " sign " + (digest.empty() ? "" : "--digest " + digest + " ") + "--key " +
               q(work / "p384.key") + " --cert " + q(work / "p384.crt") + " " + q(in) + " 2>&1");
    ASSERT_EQ(r.status, 0) << r.out;
    // sbverify hashes images with SHA-256 only ("Invalid algorithm type"
    // for a sha384 signature): it checks the default digest.
    if (digest.empty()) {
      EXPECT_EQ(t::run("sbverify --cert " + q(work / "p384.crt") + " " + q(in) + " >/dev/null 2>&1")
                    .status,
                0);
    }
    auto ossl =
        t::run("osslsigncode verify -CAfile " + q(work / "p384.crt") + " -in " + q(in) + " 2>&1");
    EXPECT_EQ(ossl.status, 0) << ossl.out;
    // The signer is the P-384 key, as openssl reads the PKCS#7 osslsigncode extracts.
    t::fs::remove(work / "sig.der"); // osslsigncode does not overwrite
    ASSERT_EQ(t::run("osslsigncode extract-signature -in " + q(in) + " -out " +
                     q(work / "sig.der") + " >/dev/null 2>&1")
                  .status,
              0);
    auto curve = t::run("openssl pkcs7 -inform DER -in " + q(work / "sig.der") +
                        " -print_certs | openssl x509 -noout -text");
    EXPECT_NE(curve.out.find("NIST CURVE: P-384"), std::string::npos) << curve.out;
    auto pkcs7 = t::run("openssl asn1parse -inform DER -in " + q(work / "sig.der"));
    EXPECT_NE(pkcs7.out.find(":ecdsa-with-SHA"), std::string::npos) << pkcs7.out;
    EXPECT_NE(ossl.out.find("Message digest algorithm  : " +
                            std::string(digest.empty() ? "SHA256" : "SHA384")),
              std::string::npos)
        << ossl.out;
    // And not against another certificate.
    EXPECT_NE(
        t::run("osslsigncode verify -CAfile " + q(crt("ec")) + " -in " + q(in) + " >/dev/null 2>&1")
            .status,
        0);
    EXPECT_EQ(verify(in, "--cert " + q(work / "p384.crt")).status, 0);
  }
}

TEST_F(authenticode_env, efi_guid_certificate_entry_is_reported_as_unsupported) {
  // sbsign signs systemd-boot (a WIN_CERT_TYPE_PKCS_SIGNED_DATA entry, which
  // passes). The same PKCS#7 moved into a WIN_CERTIFICATE_UEFI_GUID entry
  // (UEFI 2.10 §32.2.4: the 8-byte header with wCertificateType 0x0EF1,
  // then CertType EFI_CERT_TYPE_PKCS7_GUID, then the data) is not read.
  using namespace readme_claims;
  UKIKIT_NEED_TOOL("sbsign");
  UKIKIT_NEED_INPUT(src, "systemd-bootx64.efi");
  auto in = copy_input(src, "boot.efi");
  ASSERT_EQ(t::run("sbsign --key " + q(key("db")) + " --cert " + q(crt("db")) + " --output " +
                   q(work / "signed.efi") + " " + q(in) + " 2>/dev/null")
                .status,
            0);
  EXPECT_EQ(verify(work / "signed.efi", "--cert " + q(crt("db"))).status, 0);
  auto bytes = t::read_file(work / "signed.efi");
  const std::size_t dir = certificate_directory(bytes);
  const std::size_t table = le32_at(bytes, dir);
  ASSERT_EQ(table + le32_at(bytes, dir + 4), bytes.size()) << "the table ends the file";
  const std::size_t length = le32_at(bytes, table);
  ASSERT_EQ(le32_at(bytes, table + 4), 0x00020200u) << "revision 0x0200, PKCS_SIGNED_DATA";
  const std::vector<std::byte> pkcs7(bytes.begin() + static_cast<std::ptrdiff_t>(table + 8),
                                     bytes.begin() + static_cast<std::ptrdiff_t>(table + length));
  // EFI_CERT_TYPE_PKCS7_GUID 4aafd29d-68df-49ee-8aa9-347d375665a7, as stored.
  const unsigned char guid[16] = {0x9d, 0xd2, 0xaf, 0x4a, 0xdf, 0x68, 0xee, 0x49,
                                  0x8a, 0xa9, 0x34, 0x7d, 0x37, 0x56, 0x65, 0xa7};
  bytes.resize(table);
  std::vector<std::byte> entry(8);
  for (unsigned char g : guid) entry.push_back(static_cast<std::byte>(g));
  entry.insert(entry.end(), pkcs7.begin(), pkcs7.end());
  put_le(entry, 0, static_cast<std::uint32_t>(entry.size()), 4);
  put_le(entry, 4, 0x0200, 2);
  put_le(entry, 6, 0x0ef1, 2);
  entry.resize((entry.size() + 7) / 8 * 8);
  bytes.insert(bytes.end(), entry.begin(), entry.end());
  put_le(bytes, dir + 4, static_cast<std::uint32_t>(entry.size()), 4);
  t::write_file(work / "guid.efi", bytes);
  auto v = verify(work / "guid.efi", "--cert " + q(crt("db")));
  EXPECT_EQ(v.status, 1) << v.out;
  EXPECT_NE(v.out.find("FAIL "), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("0xef1"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("not PKCS_SIGNED_DATA"), std::string::npos) << v.out;
  // Put back as PKCS_SIGNED_DATA (same bytes, header type 2, no GUID) it passes.
  std::vector<std::byte> back(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(table));
  back.resize(table + 8);
  back.insert(back.end(), pkcs7.begin(), pkcs7.end());
  put_le(back, table, static_cast<std::uint32_t>(8 + pkcs7.size()), 4);
  put_le(back, table + 4, 0x0200, 2);
  put_le(back, table + 6, 0x0002, 2);
  back.resize(table + (8 + pkcs7.size() + 7) / 8 * 8);
  put_le(back, dir + 4, static_cast<std::uint32_t>(back.size() - table), 4);
  t::write_file(work / "back.efi", back);
  EXPECT_EQ(verify(work / "back.efi", "--cert " + q(crt("db"))).status, 0);
}

} // namespace
} // namespace ukikit::authenticode
