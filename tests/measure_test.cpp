// measure: PCR 11 prediction and .pcrsig, against systemd-measure.
//
// Expected values come from /lib/systemd/systemd-measure (systemd 252 on
// Debian 12), run on the same section files: `calculate --json=short` for
// PCR 11, `sign` for .pcrsig. systemd-measure 252 computes the policy digest
// in a TPM trial session, so `sign` needs a TPM: these tests start swtpm (a
// software TPM, on 127.0.0.1) and point systemd-measure at it through the
// swtpm TCTI. systemd-measure 252 signs each bank with that bank's hash
// (signature_mode::bank_hash). Keys come from `openssl genpkey` at test time.
#include "support.hpp"

#include <ukikit/measure.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using namespace ukikit;
namespace fs = std::filesystem;
using test::read_file;
using test::run;
using test::sh_quote;
using test::write_file;

constexpr const char* systemd_measure = "/lib/systemd/systemd-measure";
// How the installed systemd-measure (252) signs.
constexpr auto legacy = measure::signature_mode::bank_hash;

std::string trim_newline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string bank_option(hash::algorithm a) { return "--bank=" + std::string(hash::name(a)); }

// ---- a software TPM for systemd-measure sign ----------------------------------------

// swtpm on a loopback port, for this test process; stopped by its pid, and
// under `timeout` so that it goes away even when the test process crashes.
class software_tpm {
public:
  static software_tpm* get() {
    static software_tpm tpm;
    return tpm.pid_ > 0 ? &tpm : nullptr;
  }
  std::string device() const {
    return "--tpm2-device=swtpm:host=127.0.0.1,port=" + std::to_string(port_);
  }
  ~software_tpm() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM); // timeout passes it on to swtpm
    for (int i = 0; i < 100 && ::kill(pid_, 0) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

private:
  static constexpr int lifetime_seconds = 600;

  software_tpm() {
    if (!test::have_tool("swtpm") || !test::have_tool("timeout")) return;
    // Ports from the pid, so that tests running in parallel do not collide.
    for (int attempt = 0; attempt < 8 && pid_ <= 0; ++attempt) {
      const int port = 20000 + static_cast<int>((::getpid() * 7 + attempt * 101) % 20000) * 2;
      const std::string cmd =
          "timeout " + std::to_string(lifetime_seconds) +
          " swtpm socket --tpm2 --tpmstate dir=" + sh_quote(dir_.path().string()) +
          " --server type=tcp,port=" + std::to_string(port) +
          ",bindaddr=127.0.0.1 --ctrl type=tcp,port=" + std::to_string(port + 1) +
          ",bindaddr=127.0.0.1 --flags not-need-init,startup-clear >/dev/null 2>&1 & echo $!";
      const int pid = std::atoi(run(cmd).out.c_str());
      if (pid <= 0) continue;
      if (listening(pid, port)) {
        pid_ = pid;
        port_ = port;
      } else {
        ::kill(pid, SIGTERM);
      }
    }
  }

  // Wait until swtpm accepts connections on the port, or has exited.
  static bool listening(int pid, int port) {
    for (int i = 0; i < 200; ++i) {
      if (::kill(pid, 0) != 0) return false;
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<std::uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      ::close(fd);
      if (ok) return ::kill(pid, 0) == 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  test::temp_dir dir_;
  int pid_ = -1;
  int port_ = 0;
};

// The TSS libraries systemd-measure 252 loads for `sign` (dlopen), and the
// TCTI that talks to swtpm.
constexpr const char* tss_packages =
    "swtpm libtss2-esys-3.0.2-0 libtss2-rc0 libtss2-mu0 libtss2-tcti-swtpm0";
bool have_tss_libraries() {
  return run("for l in libtss2-esys.so.0 libtss2-rc.so.0 libtss2-mu.so.0 "
             "libtss2-tcti-swtpm.so.0; do ldconfig -p | grep -q \"$l\" || exit 1; done")
             .status == 0;
}

// Declare `tpm`, the software TPM for systemd-measure sign, or skip (fail in
// CI) when sign cannot run here.
#define NEED_SYSTEMD_MEASURE_SIGN(tpm)                                                             \
  UKIKIT_NEED_TOOL(systemd_measure);                                                               \
  UKIKIT_NEED_TOOL("swtpm");                                                                       \
  UKIKIT_NEED_TOOL("timeout");                                                                     \
  UKIKIT_NEED(have_tss_libraries(), "the TSS libraries systemd-measure sign loads ("               \
                                        << tss_packages << "; run scripts/setup.sh)");             \
  software_tpm* tpm = software_tpm::get();                                                         \
  if (!tpm) FAIL() << "swtpm did not start"

// ---- sample UKI sections ------------------------------------------------------------

std::vector<std::byte> text_bytes(std::string_view s) {
  auto b = as_bytes(s);
  return {b.begin(), b.end()};
}

// Section files in a temporary directory, handed to systemd-measure by its
// options and to ukikit as spans.
class sample {
public:
  sample() {
    // A kernel larger than a few hash chunks, so streaming crosses them.
    add(".linux", "linux", test::sample_bytes(1024 * 1024 + 123, 1));
    add(".osrel", "osrel",
        text_bytes("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
                   "VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n"));
    add(".cmdline", "cmdline", text_bytes("root=/dev/vda2 ro console=ttyS0 quiet"));
    add(".initrd", "initrd", test::sample_bytes(300 * 1024 + 7, 2));
    add(".splash", "splash", test::sample_bytes(4000, 3));
    add(".dtb", "dtb", test::sample_bytes(2100, 4));
  }

  void add(std::string name, std::string option, std::vector<std::byte> bytes) {
    write_file(dir_ / option, bytes);
    files_.push_back({std::move(name), std::move(option), std::move(bytes)});
  }
  void remove(std::string_view name) {
    std::erase_if(files_, [&](const file& f) { return f.name == name; });
  }
  void replace(std::string_view name, std::vector<std::byte> bytes) {
    for (auto& f : files_) {
      if (f.name != name) continue;
      write_file(dir_ / f.option, bytes);
      f.bytes = std::move(bytes);
    }
  }

  std::vector<measure::section> sections() const {
    std::vector<measure::section> out;
    for (const auto& f : files_) out.push_back({f.name, f.bytes});
    return out;
  }

  // "--linux=DIR/linux --osrel=DIR/osrel ..."
  std::string options() const {
    std::string out;
    for (const auto& f : files_)
      out += " --" + f.option + "=" + sh_quote((dir_ / f.option).string());
    return out;
  }

  fs::path path(std::string_view name) const { return dir_ / name; }

private:
  struct file {
    std::string name, option;
    std::vector<std::byte> bytes;
  };
  test::temp_dir dir_;
  std::vector<file> files_;
};

// An openssl-generated key pair in a directory.
struct key_pair {
  test::temp_dir dir;
  fs::path private_pem = dir / "key.pem";
  fs::path public_pem = dir / "pub.pem";

  explicit key_pair(std::string_view algorithm_options) {
    const auto r =
        run("openssl genpkey " + std::string(algorithm_options) + " -out " +
            sh_quote(private_pem.string()) + " 2>/dev/null && openssl pkey -in " +
            sh_quote(private_pem.string()) + " -pubout -out " + sh_quote(public_pem.string()));
    if (r.status != 0) throw std::runtime_error("openssl genpkey failed");
  }
  crypto::pkey_ptr private_key() const {
    return std::move(crypto::load_private_key(read_file(private_pem)).value());
  }
  crypto::pkey_ptr public_key() const {
    return std::move(crypto::load_public_key(read_file(public_pem)).value());
  }
};

key_pair rsa_key() { return key_pair("-algorithm RSA -pkeyopt rsa_keygen_bits:2048"); }
key_pair ec_key() { return key_pair("-algorithm EC -pkeyopt ec_paramgen_curve:P-256"); }

// systemd-measure calculate --json=short, without the trailing newline.
std::string calculate(const std::string& options) {
  const auto r = run(std::string(systemd_measure) + " calculate --json=short" + options);
  EXPECT_EQ(r.status, 0) << options;
  return trim_newline(r.out);
}

// systemd-measure sign, exactly as printed.
std::string sign_with_systemd(const software_tpm& tpm, const std::string& options,
                              const key_pair& key) {
  const auto r = run(std::string(systemd_measure) + " sign " + tpm.device() + options +
                     " --private-key=" + sh_quote(key.private_pem.string()) +
                     " --public-key=" + sh_quote(key.public_pem.string()));
  EXPECT_EQ(r.status, 0) << "systemd-measure sign" << options << " (it needs " << tss_packages
                         << ")";
  return r.out;
}

std::string phase_options(const std::vector<std::string>& phases) {
  std::string out;
  for (const auto& p : phases) out += " --phase=" + sh_quote(p);
  return out;
}

measure::prediction predict_ok(std::span<const measure::section> sections,
                               const measure::options& opts = {}) {
  auto p = measure::predict(sections, opts);
  if (!p) throw std::runtime_error(p.error().message());
  return std::move(*p);
}

measure::pcrsig parse_ok(std::string_view json) {
  auto s = measure::parse_pcrsig(as_bytes(json));
  if (!s) throw std::runtime_error(s.error().message());
  return std::move(*s);
}

bool any_finding(const measure::verification& v, std::string_view needle) {
  return std::any_of(v.findings.begin(), v.findings.end(),
                     [&](const std::string& f) { return f.find(needle) != std::string::npos; });
}

std::string all_findings(const measure::verification& v) {
  std::string out;
  for (const auto& f : v.findings) out += "  " + f + "\n";
  return out;
}

// ---- PCR 11 --------------------------------------------------------------------------

TEST(measure, predicts_every_bank_and_default_phase_like_systemd_measure) {
  UKIKIT_NEED_TOOL(systemd_measure);
  sample s;
  key_pair key = rsa_key();
  s.add(".pcrpkey", "pcrpkey", read_file(key.public_pem));
  const auto ours = predict_ok(s.sections());
  ASSERT_EQ(ours.banks.size(), 4u);
  for (const auto& b : ours.banks) ASSERT_EQ(b.values.size(), 4u);
  EXPECT_EQ(measure::to_json(ours).dump(), calculate(s.options())); // byte for byte
}

TEST(measure, predicts_the_empty_phase_path_like_systemd_measure) {
  UKIKIT_NEED_TOOL(systemd_measure);
  sample s;
  for (const std::vector<std::string>& phases :
       {std::vector<std::string>{""}, std::vector<std::string>{"", "enter-initrd"}}) {
    measure::options opts;
    opts.phases = phases;
    const auto ours = measure::to_json(predict_ok(s.sections(), opts));
    EXPECT_EQ(ours.dump(), calculate(s.options() + phase_options(phases)));
    EXPECT_FALSE(ours["sha256"][0].contains("phase")); // the sections alone have no phase key
  }
}

TEST(measure, normalises_phase_paths_like_systemd_measure) {
  UKIKIT_NEED_TOOL(systemd_measure);
  sample s;
  measure::options opts;
  opts.phases = {"zz", "aa", "zz", "foo::bar:", "::", "enter-initrd:leave-initrd"};
  EXPECT_EQ(measure::to_json(predict_ok(s.sections(), opts)).dump(),
            calculate(s.options() + phase_options(opts.phases)));
}

TEST(measure, predicts_each_bank_alone_like_systemd_measure) {
  UKIKIT_NEED_TOOL(systemd_measure);
  sample s;
  for (auto a : hash::all_algorithms) {
    measure::options opts;
    opts.banks = {a};
    EXPECT_EQ(measure::to_json(predict_ok(s.sections(), opts)).dump(),
              calculate(s.options() + " " + bank_option(a)));
  }
  measure::options two; // given in any order, printed in bank order
  two.banks = {hash::algorithm::sha512, hash::algorithm::sha1, hash::algorithm::sha512};
  EXPECT_EQ(measure::to_json(predict_ok(s.sections(), two)).dump(),
            calculate(s.options() + " --bank=sha512 --bank=sha1"));
}

TEST(measure, skips_empty_sections_like_systemd_measure) {
  UKIKIT_NEED_TOOL(systemd_measure);
  sample s;
  s.replace(".cmdline", {});
  s.replace(".dtb", {});
  EXPECT_EQ(measure::to_json(predict_ok(s.sections())).dump(), calculate(s.options()));
}

TEST(measure, every_section_alone_with_the_kernel_matches_systemd_measure) {
  UKIKIT_NEED_TOOL(systemd_measure);
  const sample full;
  for (const auto& one : full.sections()) {
    if (one.name == ".linux") continue;
    sample s;
    for (const auto& other : full.sections())
      if (other.name != ".linux" && other.name != one.name) s.remove(other.name);
    measure::options opts;
    opts.banks = {hash::algorithm::sha256};
    EXPECT_EQ(measure::to_json(predict_ok(s.sections(), opts)).dump(),
              calculate(s.options() + " --bank=sha256"))
        << one.name;
  }
}

TEST(measure, ignores_input_order_and_unmeasured_sections) {
  sample s;
  const auto expected = predict_ok(s.sections());
  auto shuffled = s.sections();
  std::reverse(shuffled.begin(), shuffled.end());
  const std::string pcrsig_text = "{}";
  shuffled.push_back({".pcrsig", as_bytes(pcrsig_text)});
  shuffled.push_back({".text", as_bytes(std::string_view("stub code"))});
  shuffled.push_back({".reloc", as_bytes(std::string_view("relocs"))});
  EXPECT_EQ(measure::to_json(predict_ok(shuffled)), measure::to_json(expected));
}

TEST(measure, rejects_a_section_given_twice) {
  sample s;
  auto sections = s.sections();
  sections.push_back({".cmdline", as_bytes(std::string_view("quiet"))});
  auto p = measure::predict(sections);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), errc::invalid_argument);
  EXPECT_NE(p.error().message().find(".cmdline given twice"), std::string::npos)
      << p.error().message();
}

TEST(measure, rejects_no_bank_and_no_phase) {
  sample s;
  measure::options no_bank;
  no_bank.banks.clear();
  EXPECT_FALSE(measure::predict(s.sections(), no_bank));
  measure::options no_phase;
  no_phase.phases.clear();
  EXPECT_FALSE(measure::predict(s.sections(), no_phase));
}

TEST(measure, measures_sections_in_systemd_stub_order) {
  // reference/uki-signing-pcr.md §1.1: the enum of src/fundamental/uki.h.
  const std::vector<std::string_view> stub_order = {
      ".linux", ".osrel", ".cmdline", ".initrd",  ".ucode",   ".splash", ".dtb",
      ".uname", ".sbat",  ".pcrpkey", ".profile", ".dtbauto", ".hwids",  ".efifw"};
  EXPECT_TRUE(std::equal(measure::measured_sections.begin(), measure::measured_sections.end(),
                         stub_order.begin(), stub_order.end()));
  EXPECT_FALSE(measure::measurement_position(".pcrsig"));

  // Every measured section, given in reverse: the events come in stub order.
  std::vector<std::string> contents;
  for (auto name : stub_order) contents.push_back("contents of " + std::string(name));
  std::vector<measure::section> sections;
  for (std::size_t i = stub_order.size(); i-- > 0;)
    sections.push_back({stub_order[i], as_bytes(contents[i])});
  sections.push_back({".pcrsig", as_bytes(std::string_view("{}"))});
  auto events = measure::explain(sections, hash::algorithm::sha256, "");
  ASSERT_TRUE(events) << events.error().message();
  ASSERT_EQ(events->size(), 2 * stub_order.size());
  for (std::size_t i = 0; i < stub_order.size(); ++i) {
    EXPECT_EQ((*events)[2 * i].kind, measure::event_kind::section_name);
    EXPECT_EQ((*events)[2 * i].label, stub_order[i]);
    EXPECT_EQ((*events)[2 * i].size, stub_order[i].size() + 1); // with its NUL
    EXPECT_EQ((*events)[2 * i + 1].kind, measure::event_kind::section_data);
    EXPECT_EQ((*events)[2 * i + 1].size, contents[i].size());
  }
}

// The sections systemd-measure 252 takes ("--linux=PATH ... → .linux" in its
// --help) are the sections its stub measures.
TEST(measure, the_252_stub_measures_what_systemd_measure_252_takes) {
  UKIKIT_NEED_TOOL(systemd_measure);
  const auto version = run(std::string(systemd_measure) + " --version");
  // What it takes and what measured_by(…, 252) says are compared: both 252.
  UKIKIT_NEED(version.out.rfind("systemd 252 ", 0) == 0,
              "systemd-measure of systemd 252 (it says \"" << trim_newline(version.out) << "\")");
  const auto help = run(std::string(systemd_measure) + " --help");
  std::vector<std::string> theirs;
  std::istringstream lines(help.out);
  for (std::string line; std::getline(lines, line);)
    for (std::string_view arrow : {"\u2192 .", "-> ."}) // "->" outside UTF-8 locales
      if (const auto at = line.find(arrow); at != std::string::npos)
        theirs.push_back(trim_newline(line.substr(at + arrow.size() - 1)));
  std::vector<std::string> ours;
  for (auto name : measure::measured_sections)
    if (measure::measured_by(name, 252)) ours.emplace_back(name);
  EXPECT_EQ(ours, theirs) << help.out;
  // The current stub measures all of them; .pcrsig never.
  for (auto name : measure::measured_sections) EXPECT_TRUE(measure::measured_by(name, 0));
  EXPECT_FALSE(measure::measured_by(".pcrsig", 0));
  EXPECT_FALSE(measure::measured_by(".uname", 253));
  EXPECT_TRUE(measure::measured_by(".uname", 254));
  EXPECT_TRUE(measure::measured_by(".sbat", 254));
  EXPECT_FALSE(measure::measured_by(".ucode", 255));
  EXPECT_TRUE(measure::measured_by(".ucode", 256));
  EXPECT_FALSE(measure::measured_by(".profile", 256));
  EXPECT_TRUE(measure::measured_by(".profile", 257));
  EXPECT_FALSE(measure::measured_by(".efifw", 257));
  EXPECT_TRUE(measure::measured_by(".efifw", 258));
  // Before 252 the stub measured nothing into PCR 11: only the phase words.
  EXPECT_FALSE(measure::measured_by(".linux", 251));
  sample s;
  measure::options for_251;
  for_251.stub_release = 251;
  for_251.banks = {hash::algorithm::sha256};
  for_251.phases = {"enter-initrd"};
  EXPECT_EQ(predict_ok(s.sections(), for_251).banks[0].values[0].value.hex(),
            test::spec_pcr11_sha256({}, {"enter-initrd"}));
}

TEST(measure, a_stub_release_leaves_out_what_that_stub_does_not_measure) {
  UKIKIT_NEED_TOOL(systemd_measure);
  sample s;
  const std::string calc = calculate(s.options()); // 252 takes none of the sections below
  const auto without = predict_ok(s.sections());
  auto more = s.sections();
  const std::string uname = "6.1.0-56-amd64", sbat = "sbat,1,SBAT Version,sbat,1,x\n",
                    ucode = "microcode";
  more.push_back({".uname", as_bytes(uname)});
  more.push_back({".sbat", as_bytes(sbat)});
  more.push_back({".ucode", as_bytes(ucode)});
  measure::options for_252;
  for_252.stub_release = 252;
  EXPECT_EQ(measure::to_json(predict_ok(more, for_252)).dump(), calc);
  // A current stub measures them, a 254 one .uname and .sbat only.
  const auto current = predict_ok(more);
  EXPECT_NE(measure::to_json(current), measure::to_json(without));
  // For 254: .uname and .sbat after .dtb, no .ucode (the §3.1 algorithm with
  // OpenSSL alone gives the expected value).
  measure::options for_254;
  for_254.stub_release = 254;
  for_254.banks = {hash::algorithm::sha256};
  for_254.phases = {"enter-initrd"};
  std::vector<std::pair<std::string, std::span<const std::byte>>> order;
  for (const auto& sec : s.sections()) order.emplace_back(std::string(sec.name), sec.data);
  order.emplace_back(".uname", as_bytes(uname));
  order.emplace_back(".sbat", as_bytes(sbat));
  EXPECT_EQ(predict_ok(more, for_254).banks[0].values[0].value.hex(),
            test::spec_pcr11_sha256(order, {"enter-initrd"}));
  // explain() follows the same release, and says what was left out.
  auto events = measure::explain(more, hash::algorithm::sha256, "enter-initrd", 252);
  ASSERT_TRUE(events) << events.error().message();
  EXPECT_EQ(events->back().pcr.hex(), nlohmann::json::parse(calc)["sha256"][0]["hash"]);
  const std::vector<std::string_view> left_out = {".uname", ".sbat", ".ucode"};
  EXPECT_EQ(measure::not_measured_by(more, 252), left_out);
  EXPECT_TRUE(measure::not_measured_by(more, 0).empty());
}

// openssl dgst of a file, as hex.
std::string openssl_digest(hash::algorithm a, const fs::path& file) {
  const auto r = run("openssl dgst -" + std::string(hash::name(a)) + " -r " +
                     sh_quote(file.string()) + " | cut -d' ' -f1");
  return trim_newline(r.out);
}

TEST(measure, explanation_digests_match_openssl_and_end_at_systemd_measure_value) {
  UKIKIT_NEED_TOOL(systemd_measure);
  sample s;
  test::temp_dir dir;
  const auto calc = nlohmann::json::parse(calculate(s.options()));
  for (auto a : hash::all_algorithms) {
    const std::string phase = "enter-initrd:leave-initrd";
    auto events = measure::explain(s.sections(), a, phase);
    ASSERT_TRUE(events) << events.error().message();
    ASSERT_EQ(events->size(), 2 * s.sections().size() + 2);
    for (const auto& e : *events) {
      EXPECT_EQ(e.measured.alg(), a);
      EXPECT_FALSE(measure::describe(e).empty());
      fs::path bytes = dir / "measured";
      if (e.kind == measure::event_kind::section_data) {
        bytes = s.path(e.label == ".linux"     ? "linux"
                       : e.label == ".osrel"   ? "osrel"
                       : e.label == ".cmdline" ? "cmdline"
                       : e.label == ".initrd"  ? "initrd"
                       : e.label == ".splash"  ? "splash"
                                               : "dtb");
      } else {
        std::string text = e.label;
        if (e.kind == measure::event_kind::section_name) text.push_back('\0');
        write_file(bytes, text);
      }
      EXPECT_EQ(e.measured.hex(), openssl_digest(a, bytes)) << e.label;
    }
    EXPECT_EQ(events->back().pcr.hex(), calc[std::string(hash::name(a))][1]["hash"]);
    EXPECT_EQ(events->back().label, "leave-initrd");
    EXPECT_EQ(measure::to_json(*events).size(), events->size());
  }
}

// ---- pol and pkfp --------------------------------------------------------------------

TEST(measure, pkfp_is_sha256_of_pkcs1_for_rsa_and_of_the_point_for_ec) {
  key_pair rsa = rsa_key();
  const auto rsa_der = run("openssl pkey -pubin -in " + sh_quote(rsa.public_pem.string()) +
                           " -outform DER | openssl rsa -pubin -inform DER -RSAPublicKey_out "
                           "-outform DER 2>/dev/null | openssl dgst -sha256 -r | cut -d' ' -f1");
  auto fp = measure::public_key_fingerprint(rsa.public_key().get());
  ASSERT_TRUE(fp) << fp.error().message();
  EXPECT_EQ(fp->hex(), trim_newline(rsa_der.out));
  auto from_private = measure::public_key_fingerprint(rsa.private_key().get());
  ASSERT_TRUE(from_private);
  EXPECT_EQ(*from_private, *fp);

  key_pair ec = ec_key(); // P-256 SPKI DER ends with the 65-byte uncompressed point
  const auto point = run("openssl pkey -pubin -in " + sh_quote(ec.public_pem.string()) +
                         " -outform DER | tail -c 65 | openssl dgst -sha256 -r | cut -d' ' -f1");
  auto ec_fp = measure::public_key_fingerprint(ec.public_key().get());
  ASSERT_TRUE(ec_fp) << ec_fp.error().message();
  EXPECT_EQ(ec_fp->hex(), trim_newline(point.out));
}

TEST(measure, rejects_keys_that_are_neither_rsa_nor_ec) {
  key_pair ed("-algorithm ED25519");
  auto fp = measure::public_key_fingerprint(ed.public_key().get());
  ASSERT_FALSE(fp);
  EXPECT_EQ(fp.error().code(), errc::unsupported);
  sample s;
  auto signed_ = measure::sign(predict_ok(s.sections()), ed.private_key().get());
  ASSERT_FALSE(signed_);
  EXPECT_NE(signed_.error().message().find("RSA or EC"), std::string::npos);
}

TEST(measure, pol_and_pkfp_equal_systemd_measure_sign) {
  NEED_SYSTEMD_MEASURE_SIGN(tpm);
  sample s;
  key_pair key = rsa_key();
  const auto theirs = parse_ok(sign_with_systemd(*tpm, s.options(), key));
  const auto prediction = predict_ok(s.sections());
  auto pkfp = measure::public_key_fingerprint(key.public_key().get());
  ASSERT_TRUE(pkfp);
  ASSERT_EQ(theirs.banks.size(), prediction.banks.size());
  for (std::size_t b = 0; b < prediction.banks.size(); ++b) {
    const auto& pb = prediction.banks[b];
    ASSERT_EQ(theirs.banks[b].bank, pb.bank);
    ASSERT_EQ(theirs.banks[b].entries.size(), pb.values.size());
    for (std::size_t i = 0; i < pb.values.size(); ++i) {
      const auto& e = theirs.banks[b].entries[i];
      auto pol = measure::policy_digest(pb.values[i].value);
      ASSERT_TRUE(pol);
      EXPECT_EQ(e.pol, *pol) << hash::name(pb.bank) << " " << pb.values[i].phase;
      EXPECT_EQ(e.pkfp, *pkfp);
      EXPECT_EQ(e.pcrs, std::vector<std::uint32_t>{11});
    }
  }
}

// ---- signing -------------------------------------------------------------------------

TEST(measure, rsa_pcrsig_is_byte_identical_to_systemd_measure_sign) {
  NEED_SYSTEMD_MEASURE_SIGN(tpm);
  sample s;
  key_pair key = rsa_key();
  s.add(".pcrpkey", "pcrpkey", read_file(key.public_pem));
  auto ours = measure::sign(predict_ok(s.sections()), key.private_key().get(), legacy);
  ASSERT_TRUE(ours) << ours.error().message();
  EXPECT_EQ(measure::serialize(*ours), sign_with_systemd(*tpm, s.options(), key));

  // One bank, the empty path and a custom path.
  measure::options opts;
  opts.banks = {hash::algorithm::sha384};
  opts.phases = {"", "enter-initrd::sysinit"};
  auto some = measure::sign(predict_ok(s.sections(), opts), key.private_key().get(), legacy);
  ASSERT_TRUE(some) << some.error().message();
  EXPECT_EQ(
      measure::serialize(*some),
      sign_with_systemd(*tpm, s.options() + " --bank=sha384" + phase_options(opts.phases), key));
}

TEST(measure, ec_pcrsig_has_systemd_measure_structure_pol_and_pkfp) {
  NEED_SYSTEMD_MEASURE_SIGN(tpm);
  sample s;
  key_pair key = ec_key();
  const auto prediction = predict_ok(s.sections());
  auto ours = measure::sign(prediction, key.private_key().get(), legacy);
  ASSERT_TRUE(ours) << ours.error().message();
  const auto theirs = parse_ok(sign_with_systemd(*tpm, s.options(), key));
  // ECDSA signatures are randomised: everything else is equal.
  auto without_sigs = [](measure::pcrsig p) {
    for (auto& b : p.banks)
      for (auto& e : b.entries) e.sig.clear();
    return p;
  };
  EXPECT_EQ(without_sigs(*ours), without_sigs(theirs));
  EXPECT_EQ(measure::to_json(*ours).size(), measure::to_json(theirs).size());
  // Both verify.
  for (const measure::pcrsig* doc :
       std::initializer_list<const measure::pcrsig*>{&*ours, &theirs}) {
    auto v = measure::verify(*doc, prediction, key.public_key().get(), legacy);
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_TRUE(v->ok()) << all_findings(*v);
  }
}

// openssl dgst -verify of one entry's signature over its pol.
bool openssl_verifies(const measure::signature& e, hash::algorithm md, const key_pair& key) {
  test::temp_dir dir;
  write_file(dir / "pol", e.pol.bytes());
  write_file(dir / "sig", e.sig);
  const auto r =
      run("openssl dgst -" + std::string(hash::name(md)) + " -verify " +
          sh_quote(key.public_pem.string()) + " -signature " + sh_quote((dir / "sig").string()) +
          " " + sh_quote((dir / "pol").string()) + " 2>&1");
  return r.status == 0 && r.out.find("Verified OK") != std::string::npos;
}

TEST(measure, our_signatures_verify_with_openssl) {
  UKIKIT_NEED_TOOL("openssl");
  sample s;
  for (const key_pair& key : {rsa_key(), ec_key()}) {
    for (auto mode : {measure::signature_mode::systemd, legacy}) {
      auto ours = measure::sign(predict_ok(s.sections()), key.private_key().get(), mode);
      ASSERT_TRUE(ours) << ours.error().message();
      for (const auto& b : ours->banks) {
        const auto md = mode == legacy ? b.bank : hash::algorithm::sha256;
        for (const auto& e : b.entries) EXPECT_TRUE(openssl_verifies(e, md, key));
      }
    }
  }
}

TEST(measure, systemd_measure_pcrsig_verifies) {
  NEED_SYSTEMD_MEASURE_SIGN(tpm);
  sample s;
  key_pair key = rsa_key();
  const std::string json = sign_with_systemd(*tpm, s.options(), key);
  const auto pcrpkey = read_file(key.public_pem); // .pcrpkey: PEM SubjectPublicKeyInfo
  const auto prediction = predict_ok(s.sections());
  auto v = measure::verify(parse_ok(json), prediction, pcrpkey, legacy);
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_TRUE(v->ok()) << all_findings(*v);
  EXPECT_EQ(v->checks.size(), 16u);
  for (const auto& c : v->checks) {
    EXPECT_TRUE(c.ok());
    ASSERT_TRUE(c.claimed_pol);
    EXPECT_EQ(*c.claimed_pol, c.pol);
  }

  // systemd-measure 252 signs every bank with its own hash: in systemd mode
  // (SHA-256 for all banks, as systemd signs since PR #41051) only sha256
  // verifies; in talos mode (no sha1 bank) the other three do.
  auto as_systemd = measure::verify(parse_ok(json), prediction, pcrpkey);
  ASSERT_TRUE(as_systemd);
  EXPECT_FALSE(as_systemd->ok());
  for (const auto& c : as_systemd->checks)
    EXPECT_EQ(c.signature_valid, c.bank == hash::algorithm::sha256) << hash::name(c.bank);
  measure::options talos_banks;
  talos_banks.banks = {hash::algorithm::sha256, hash::algorithm::sha384, hash::algorithm::sha512};
  auto as_talos = measure::verify(parse_ok(json), predict_ok(s.sections(), talos_banks), pcrpkey,
                                  measure::signature_mode::talos);
  ASSERT_TRUE(as_talos);
  EXPECT_TRUE(as_talos->ok()) << all_findings(*as_talos);
}

// ---- verification failures -------------------------------------------------------------

// A .pcrsig made by systemd-measure, and what it was made for.
class signed_sample : public ::testing::Test {
protected:
  void SetUp() override {
    NEED_SYSTEMD_MEASURE_SIGN(tpm);
    json = sign_with_systemd(*tpm, s.options(), key);
    doc = parse_ok(json);
    prediction = predict_ok(s.sections());
  }

  measure::verification check(const measure::pcrsig& d, const key_pair& k) {
    auto v = measure::verify(d, prediction, k.public_key().get(), legacy);
    if (!v) throw std::runtime_error(v.error().message());
    return std::move(*v);
  }
  measure::verification check(const measure::pcrsig& d) { return check(d, key); }

  sample s;
  key_pair key = rsa_key();
  std::string json;
  measure::pcrsig doc;
  measure::prediction prediction;
};

TEST_F(signed_sample, tampered_pol_fails) {
  // Change one hex digit of the second sha256 entry's pol in the JSON text.
  auto j = nlohmann::ordered_json::parse(json);
  std::string pol = j["sha256"][1]["pol"];
  pol[0] = pol[0] == '0' ? '1' : '0';
  j["sha256"][1]["pol"] = pol;
  const auto v = check(parse_ok(j.dump()));
  EXPECT_FALSE(v.ok());
  EXPECT_TRUE(
      any_finding(v, "sha256 enter-initrd:leave-initrd (entry 1): pol mismatch: signed=" + pol))
      << all_findings(v);
  EXPECT_TRUE(any_finding(v, "signature does not verify")) << all_findings(v);
  EXPECT_EQ(v.findings.size(), 2u) << all_findings(v); // only that entry
}

TEST_F(signed_sample, tampered_signature_fails) {
  auto d = doc;
  d.banks[2].entries[3].sig[10] ^= std::byte{1};
  const auto v = check(d);
  EXPECT_FALSE(v.ok());
  ASSERT_EQ(v.findings.size(), 1u) << all_findings(v);
  EXPECT_TRUE(any_finding(v, "sha384 enter-initrd:leave-initrd:sysinit:ready (entry 3): "
                             "signature does not verify"))
      << all_findings(v);
}

TEST_F(signed_sample, tampered_pkfp_fails) {
  auto j = nlohmann::ordered_json::parse(json);
  j["sha512"][0]["pkfp"] = std::string(64, 'a');
  const auto v = check(parse_ok(j.dump()));
  EXPECT_FALSE(v.ok());
  EXPECT_TRUE(any_finding(v, "sha512 enter-initrd (entry 0): pkfp mismatch: signed=aaaa"))
      << all_findings(v);
}

TEST_F(signed_sample, wrong_key_fails_everywhere) {
  key_pair other = rsa_key();
  const auto v = check(doc, other);
  EXPECT_FALSE(v.ok());
  for (const auto& c : v.checks) {
    EXPECT_TRUE(c.pol_matches);
    EXPECT_FALSE(c.pkfp_matches);
    EXPECT_FALSE(c.signature_valid);
  }
  EXPECT_EQ(v.findings.size(), 32u) << all_findings(v); // pkfp and signature, 16 times
}

TEST_F(signed_sample, other_sections_fail_with_a_hint) {
  s.replace(".cmdline", text_bytes("root=/dev/vda2 ro console=ttyS0 quiet init=/bin/sh"));
  prediction = predict_ok(s.sections());
  const auto v = check(doc);
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.findings.size(), 16u) << all_findings(v);
  EXPECT_TRUE(any_finding(v, "the signature is valid for the signed pol")) << all_findings(v);
  for (const auto& c : v.checks) {
    EXPECT_FALSE(c.pol_matches);
    EXPECT_TRUE(c.pkfp_matches);
    EXPECT_TRUE(c.signature_valid);
  }
}

TEST_F(signed_sample, missing_bank_and_wrong_pcrs_fail) {
  auto j = nlohmann::ordered_json::parse(json);
  j.erase("sha384");
  j["sha1"][2]["pcrs"] = {11, 12};
  const auto v = check(parse_ok(j.dump()));
  EXPECT_FALSE(v.ok());
  EXPECT_TRUE(any_finding(v, "no sha384 bank in .pcrsig (it has sha1, sha256, sha512)"))
      << all_findings(v);
  EXPECT_TRUE(any_finding(v, "sha1 enter-initrd:leave-initrd:sysinit (entry 2): pcrs is [11,12]"))
      << all_findings(v);
  EXPECT_EQ(v.findings.size(), 2u) << all_findings(v);
}

TEST_F(signed_sample, reordered_entries_and_other_keys_still_verify) {
  auto d = doc;
  std::reverse(d.banks[1].entries.begin(), d.banks[1].entries.end());
  // Another key's entries (ukify merges several keys) are ignored.
  key_pair other = ec_key();
  auto theirs = measure::sign(prediction, other.private_key().get(), legacy);
  ASSERT_TRUE(theirs);
  for (std::size_t b = 0; b < d.banks.size(); ++b)
    d.banks[b].entries.insert(d.banks[b].entries.begin(), theirs->banks[b].entries.begin(),
                              theirs->banks[b].entries.end());
  const auto v = check(d);
  EXPECT_TRUE(v.ok()) << all_findings(v);
  const auto v2 = check(d, other);
  EXPECT_TRUE(v2.ok()) << all_findings(v2);
}

TEST_F(signed_sample, a_bad_extra_entry_of_the_same_key_fails) {
  auto d = doc;
  auto extra = d.banks[1].entries[0];
  extra.pol = d.banks[0].entries[0].pol; // a pol no phase predicts, signature not over it
  d.banks[1].entries.push_back(extra);
  const auto v = check(d);
  EXPECT_FALSE(v.ok());
  EXPECT_TRUE(any_finding(v, "sha256 entry 4: signature does not verify")) << all_findings(v);
}

// ---- talos mode --------------------------------------------------------------------------

TEST(measure, talos_mode_signs_sha384_and_sha512_with_their_own_hash) {
  UKIKIT_NEED_TOOL("openssl");
  sample s;
  key_pair key = rsa_key();
  measure::options opts;
  opts.banks = {hash::algorithm::sha256, hash::algorithm::sha384, hash::algorithm::sha512};
  const auto prediction = predict_ok(s.sections(), opts);
  auto talos = measure::sign(prediction, key.private_key().get(), measure::signature_mode::talos);
  ASSERT_TRUE(talos) << talos.error().message();
  for (const auto& b : talos->banks)
    for (const auto& e : b.entries) EXPECT_TRUE(openssl_verifies(e, b.bank, key));

  auto v =
      measure::verify(*talos, prediction, key.public_key().get(), measure::signature_mode::talos);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->ok()) << all_findings(*v);

  // In systemd mode only the sha256 bank verifies.
  auto as_systemd = measure::verify(*talos, prediction, key.public_key().get());
  ASSERT_TRUE(as_systemd);
  EXPECT_FALSE(as_systemd->ok());
  for (const auto& c : as_systemd->checks)
    EXPECT_EQ(c.signature_valid, c.bank == hash::algorithm::sha256);

  // And a systemd-style .pcrsig fails talos mode on sha384 and sha512: one
  // finding for each entry whose signature openssl does not verify with
  // its bank's own hash, as talos mode requires (the sha384 and sha512
  // entries, one per default phase path; sha256 is the same either way).
  auto systemd = measure::sign(prediction, key.private_key().get());
  ASSERT_TRUE(systemd);
  std::size_t refused = 0;
  for (const auto& b : systemd->banks)
    for (const auto& e : b.entries) {
      const bool ok = openssl_verifies(e, b.bank, key);
      EXPECT_EQ(ok, b.bank == hash::algorithm::sha256);
      refused += !ok;
    }
  auto as_talos =
      measure::verify(*systemd, prediction, key.public_key().get(), measure::signature_mode::talos);
  ASSERT_TRUE(as_talos);
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(as_talos->findings.size(), refused) << all_findings(*as_talos);
}

TEST(measure, talos_mode_has_no_sha1_bank) {
  sample s;
  key_pair key = ec_key();
  const auto prediction = predict_ok(s.sections()); // all four banks
  auto talos = measure::sign(prediction, key.private_key().get(), measure::signature_mode::talos);
  ASSERT_FALSE(talos);
  EXPECT_NE(talos.error().message().find("no sha1 bank"), std::string::npos);

  auto systemd = measure::sign(prediction, key.private_key().get());
  ASSERT_TRUE(systemd);
  auto v =
      measure::verify(*systemd, prediction, key.public_key().get(), measure::signature_mode::talos);
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->ok());
  EXPECT_TRUE(any_finding(*v, "sha1: talos mode has no sha1 bank")) << all_findings(*v);
}

// ---- the parser ----------------------------------------------------------------------------

TEST(measure, pcrsig_round_trips_and_takes_an_optional_trailing_nul) {
  sample s;
  key_pair key = ec_key();
  auto made = measure::sign(predict_ok(s.sections()), key.private_key().get());
  ASSERT_TRUE(made);
  const std::string text = measure::serialize(*made);
  EXPECT_EQ(parse_ok(text), *made);
  EXPECT_EQ(parse_ok(text + std::string(1, '\0')), *made);
  EXPECT_EQ(parse_ok(trim_newline(text)), *made);
  EXPECT_EQ(parse_ok(measure::to_json(*made).dump(2)), *made); // any formatting
}

TEST(measure, pcrsig_keeps_unknown_banks_and_keys_by_name) {
  const std::string pol(64, 'b'), pkfp(64, 'c');
  const std::string json =
      R"({"sm3_256":[{"pcrs":[11],"x":{"y":[1,2,{}]}}],"sha256":[{"pcrs":[11],)"
      R"("pkfp":")" +
      pkfp + R"(","pol":")" + pol + R"(","ref":"initrd","sig":"AAEC","tbs":null}],"md5":7})";
  const auto d = parse_ok(json);
  ASSERT_EQ(d.banks.size(), 1u);
  EXPECT_EQ(d.other_banks, (std::vector<std::string>{"sm3_256", "md5"}));
  ASSERT_EQ(d.banks[0].entries.size(), 1u);
  const auto& e = d.banks[0].entries[0];
  EXPECT_EQ(e.other_keys, (std::vector<std::string>{"ref", "tbs"}));
  EXPECT_EQ(e.pol.hex(), pol);
  EXPECT_EQ(e.pkfp.hex(), pkfp);
  EXPECT_EQ(e.sig, (std::vector<std::byte>{std::byte{0}, std::byte{1}, std::byte{2}}));
}

struct malformed_case {
  std::string name;
  std::string json;
  std::string error; // a part of the message
};

std::string entry(std::string_view body) { return R"({"sha256":[{)" + std::string(body) + "}]}"; }

const std::string good_pol = std::string(64, '1');
const std::string fields =
    R"("pkfp":")" + std::string(64, '2') + R"(","pol":")" + good_pol + R"(","sig":"AAAA")";

TEST(measure, malformed_pcrsig_fails_cleanly) {
  const std::vector<malformed_case> cases = {
      {"empty", "", ".pcrsig is empty"},
      {"only a nul", std::string(1, '\0'), ".pcrsig is empty"},
      {"two nuls", "{}" + std::string(2, '\0'), "NUL byte before its end"},
      {"nul inside", std::string("{}\0 ", 4), "NUL byte before its end"},
      {"nul then more", std::string("{}\0{\"sha1\":[]}", 14), "NUL byte before its end"},
      {"not json", "pcrsig", "not valid JSON"},
      {"trailing garbage", "{} {}", "not valid JSON"},
      {"truncated", R"({"sha256":[{"pcrs":[11])", "not valid JSON"},
      {"a list", "[]", ".pcrsig must be a JSON object of banks, not a list"},
      {"a string", R"("x")", "must be a JSON object of banks, not a string"},
      {"bank not a list", R"({"sha256":{}})", "bank sha256 must be a list, not an object"},
      {"bank a number", R"({"sha256":1})", "bank sha256 must be a list, not a number"},
      {"entry not an object", R"({"sha256":[[]]})", "sha256 entry 0 must be an object, not a list"},
      {"bank twice", R"({"sha256":[],"sha256":[]})", "names bank \"sha256\" twice"},
      {"no pcrs", entry(fields), "sha256 entry 0: no \"pcrs\""},
      {"no sig",
       entry(R"("pcrs":[11],"pkfp":")" + std::string(64, '2') + R"(","pol":")" + good_pol + "\""),
       "sha256 entry 0: no \"sig\""},
      {"pcrs not a list", entry(R"("pcrs":11,)" + fields),
       "\"pcrs\" must be a list of PCR numbers"},
      {"pcrs a string", entry(R"("pcrs":"11",)" + fields),
       "\"pcrs\" must be a list of PCR numbers"},
      {"pcr too big", entry(R"("pcrs":[24],)" + fields), "pcr 24 does not exist"},
      {"pcr negative", entry(R"("pcrs":[-1],)" + fields), "not a negative number"},
      {"pcr fraction", entry(R"("pcrs":[11.5],)" + fields), "not a fractional number"},
      {"pcr nested", entry(R"("pcrs":[[11]],)" + fields), "\"pcrs\" must hold PCR numbers"},
      {"pol too short",
       entry(R"("pcrs":[11],"pkfp":")" + std::string(64, '2') + R"(","pol":"abcd","sig":"AAAA")"),
       "\"pol\": sha256 digest must be 64 hex digits, not 4"},
      {"pol upper case",
       entry(R"("pcrs":[11],"pkfp":")" + std::string(64, '2') + R"(","pol":")" +
             std::string(64, 'A') + R"(","sig":"AAAA")"),
       "\"pol\": sha256 digest has a character that is not lowercase hex"},
      {"pol a number", entry(R"("pcrs":[11],"pol":5)"),
       "\"pol\" must be a hex string, not a number"},
      {"pkfp twice", entry(R"("pkfp":")" + std::string(64, '2') + R"(","pkfp":"")"),
       "sha256 entry 0: \"pkfp\" given twice"},
      {"sig not base64",
       entry(R"("pcrs":[11],"pkfp":")" + std::string(64, '2') + R"(","pol":")" + good_pol +
             R"(","sig":"A*AA")"),
       "\"sig\": not base64 at character 1"},
      {"sig bad length",
       entry(R"("pcrs":[11],"pkfp":")" + std::string(64, '2') + R"(","pol":")" + good_pol +
             R"(","sig":"AAA")"),
       "\"sig\": base64 length 3 is not a multiple of 4"},
      {"sig padding bits",
       entry(R"("pcrs":[11],"pkfp":")" + std::string(64, '2') + R"(","pol":")" + good_pol +
             R"(","sig":"AB==")"),
       "non-zero padding bits"},
      {"sig padding inside",
       entry(R"("pcrs":[11],"pkfp":")" + std::string(64, '2') + R"(","pol":")" + good_pol +
             R"(","sig":"AA==AAAA")"),
       "not base64 at character 2"},
      {"sig empty",
       entry(R"("pcrs":[11],"pkfp":")" + std::string(64, '2') + R"(","pol":")" + good_pol +
             R"(","sig":"")"),
       "\"sig\" is empty"},
      {"sig too long",
       entry(R"("pcrs":[11],"pkfp":")" + std::string(64, '2') + R"(","pol":")" + good_pol +
             R"(","sig":")" + std::string(4000, 'A') + "\""),
       "longer than 2048 bytes"},
      {"unknown key twice", entry(R"("ref":1,"ref":2)"), "\"ref\" given twice"},
      {"too deep", entry(R"("x":)" + std::string(20, '[') + std::string(20, ']')),
       "nests deeper than 8 levels"},
      {"too deep unknown bank",
       R"({"x":)" + std::string(100000, '[') + std::string(100000, ']') + "}",
       "nests deeper than 8 levels"},
  };
  for (const auto& c : cases) {
    auto r = measure::parse_pcrsig(as_bytes(c.json));
    ASSERT_FALSE(r) << c.name;
    EXPECT_NE(r.error().message().find(c.error), std::string::npos)
        << c.name << ": " << r.error().message();
  }
}

TEST(measure, pcrsig_limits_are_errors_that_show_the_limit) {
  const std::string one = R"({"pcrs":[11],)" + fields + "}";
  std::string many = R"({"sha256":[)";
  for (std::size_t i = 0; i <= measure::max_pcrsig_entries; ++i) many += (i ? "," : "") + one;
  many += "]}";
  auto r = measure::parse_pcrsig(as_bytes(many));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), errc::limit_exceeded);
  EXPECT_NE(r.error().message().find("more than 1024 signatures"), std::string::npos)
      << r.error().message();

  std::string big = "{" + std::string(measure::max_pcrsig_size, ' ') + "}";
  auto r2 = measure::parse_pcrsig(as_bytes(big));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code(), errc::limit_exceeded);
  EXPECT_NE(r2.error().message().find("larger than 1048576 bytes"), std::string::npos);

  std::string all_pcrs = "[0";
  for (int i = 1; i <= 24; ++i) all_pcrs += ",1";
  auto r3 = measure::parse_pcrsig(as_bytes(entry(R"("pcrs":)" + all_pcrs + "]," + fields)));
  ASSERT_FALSE(r3);
  EXPECT_NE(r3.error().message().find("more than 24 pcrs"), std::string::npos);
}

TEST(measure, syntax_errors_have_an_offset) {
  auto r = measure::parse_pcrsig(as_bytes(std::string_view(R"({"sha256": [x]})")));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().has_offset());
  EXPECT_EQ(r.error().offset(), 12u) << r.error().message();
}

} // namespace
