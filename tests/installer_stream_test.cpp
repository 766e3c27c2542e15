// The installer gate reading its PE artifacts as their layer streams past
// (uki/stream.hpp, image::layer_tree's file_stream, installer::verify with
// verify_options::stream): the same digests, verdicts, findings and report
// as the artifacts decoded whole, on real UKIs built by `ukikit build` from
// Debian's stub and kernel (one with two profiles, one with two signatures,
// one signed with sha384) and Debian's systemd-boot, signed with throwaway
// keys made by openssl. The in-memory path itself is checked against
// sbverify and systemd-measure in installer_verify_test.cpp and
// authenticode_test.cpp; here the streamed path must agree with it, and the
// file's sha256 must be sha256sum's.
#include <ukikit/authenticode.hpp>
#include <ukikit/hash.hpp>
#include <ukikit/image/reference.hpp>
#include <ukikit/image/source.hpp>
#include <ukikit/installer/verify.hpp>
#include <ukikit/pe.hpp>
#include <ukikit/report/verify.hpp>
#include <ukikit/uki.hpp>
#include <ukikit/uki/pcr.hpp>
#include <ukikit/uki/stream.hpp>

#include "image_fixture.hpp"
#include "support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace ukikit {
namespace {

namespace t = ukikit::test;
namespace image_fixture = ukikit::test::image_fixture;
using image_fixture::q;

class stream_test : public ::testing::Test {
protected:
  static inline std::optional<t::temp_dir> shared;
  static inline bool built = false, build_ok = false;

  void SetUp() override {
    UKIKIT_NEED_TOOL("openssl");
    UKIKIT_NEED_TOOL("objcopy");
    UKIKIT_NEED_TOOL("sha256sum");
    UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
    UKIKIT_NEED_INPUT(kernel, "vmlinuz");
    UKIKIT_NEED_INPUT(boot, "systemd-bootx64.efi");
    if (!built) {
      built = true;
      shared.emplace();
      build_ok = build_all(shared->path(), stub, kernel, boot);
    }
    ASSERT_TRUE(build_ok) << "building the signed artifacts failed (see above)";
    a = shared->path();
  }

  static bool build_all(const t::fs::path& a, const t::fs::path& stub, const t::fs::path& kernel,
                        const t::fs::path& boot) {
    bool ok = true;
    auto step = [&](const std::string& cmd) {
      auto r = t::run(cmd + " 2>&1");
      EXPECT_EQ(r.status, 0) << cmd << "\n" << r.out;
      ok = ok && r.status == 0;
    };
    for (const auto& c : image_fixture::key_commands(a)) step(c);
    // An initrd over stream_options::drop_at: streamed past, not kept.
    t::write_file(a / "initrd.img", t::sample_bytes(std::size_t{3} << 20, 7));
    t::write_file(a / "os-release", std::string_view("ID=talos\nNAME=\"Talos\"\n"));
    const std::string build = t::tool("ukikit") + " build --stub " + q(stub) + " --linux " +
                              q(kernel) + " --pcr-private-key " + q(a / "pcr.key") +
                              " --signing-key " + q(a / "db.key") + " --signing-cert " +
                              q(a / "db.crt");
    step(build + " --initrd " + q(a / "initrd.img") + " --os-release @" + q(a / "os-release") +
         " --cmdline 'talos.platform=metal' -o " + q(a / "plain.efi"));
    // A .pcrsig for four banks: sha1, sha384 and sha512 are not hashed as the
    // layer streams past, so the gate streams the UKI again for them.
    step(build + " --initrd " + q(a / "initrd.img") +
         " --no-os-release --pcr-banks sha1 --pcr-banks sha256 --pcr-banks sha384 --pcr-banks "
         "sha512 -o " +
         q(a / "banks.efi"));
    // Two profiles (a 257 stub's layout, as build_test makes it).
    t::write_file(a / "p.txt", std::string_view("ID=reset\nTITLE=\"Reset the system\""));
    t::write_file(a / "c.txt", std::string_view("console=ttyS0 wipe=system"));
    const auto tiny = t::fs::path(UKIKIT_SOURCE_DIR) / "fuzz/corpus/pe_fuzzer/tiny.efi";
    step("objcopy --add-section .profile=" + q(a / "p.txt") +
         " --change-section-vma .profile=0x20000 --add-section .cmdline=" + q(a / "c.txt") +
         " --change-section-vma .cmdline=0x21000 " + q(tiny) + " " + q(a / "reset.efi"));
    step(build +
         " --uname= --no-os-release --profile 'ID=main' --stub-release 257 --join-profile " +
         q(a / "reset.efi") + " -o " + q(a / "profiles.efi"));
    // Two signatures: db's (sha256), then other's appended.
    const std::string other = t::tool("ukikit") + " sign --append --key " + q(a / "other.key") +
                              " --cert " + q(a / "other.crt");
    step(other + " -o " + q(a / "two.efi") + " " + q(a / "plain.efi"));
    // Signed in sha384 only: its image digest is not computed on the way.
    step(t::tool("ukikit") + " sign --replace --digest sha384 --key " + q(a / "db.key") +
         " --cert " + q(a / "db.crt") + " -o " + q(a / "sha384.efi") + " " + q(a / "plain.efi"));
    t::fs::copy_file(boot, a / "boot-unsigned.efi");
    step(t::tool("ukikit") + " sign --key " + q(a / "db.key") + " --cert " + q(a / "db.crt") +
         " -o " + q(a / "boot.efi") + " " + q(a / "boot-unsigned.efi"));
    return ok;
  }

  // The file streamed in pieces of `chunk` bytes.
  static uki::streamed_image stream(const std::vector<std::byte>& file, std::size_t chunk,
                                    uki::stream_options so = all_banks()) {
    auto s = uki::streamed_image::create(file.size(), so);
    EXPECT_TRUE(s.ok());
    for (std::size_t at = 0; at < file.size(); at += chunk)
      s->write(byte_span(file).subspan(at, std::min(chunk, file.size() - at)));
    auto done = s->finish();
    EXPECT_TRUE(done.ok()) << done.error().message();
    return std::move(*s);
  }

  static uki::stream_options all_banks() {
    uki::stream_options so;
    so.section_digests.assign(std::begin(hash::all_algorithms), std::end(hash::all_algorithms));
    return so;
  }

  report::verify_options verify_options(const authenticode::signature_database& db) const {
    report::verify_options o;
    o.name = "uki.efi";
    o.trust = &db;
    return o;
  }

  static report::verify_options with_digests(report::verify_options o,
                                             const uki::streamed_image& s) {
    o.known_image_digest = [&s](hash::algorithm alg) { return s.image_digest(alg); };
    o.known_section_digest = [&s](byte_span d, hash::algorithm alg) {
      return s.section_digest(d, alg);
    };
    return o;
  }

  // The PCR 11 predictions of every profile, as JSON.
  static nlohmann::ordered_json predictions(byte_span bytes, const measure::digest_lookup& known) {
    auto img = pe::parse(bytes);
    EXPECT_TRUE(img.ok());
    uki::view v(*img);
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    measure::options mo;
    mo.stub_release = 257;
    mo.known_digest = known;
    for (std::size_t n = 0; n < std::max<std::size_t>(v.profile_count(), 1); ++n) {
      auto p = uki::predict_pcr11(v, n, mo);
      out.push_back(p ? measure::to_json(*p) : nlohmann::ordered_json(p.error().message()));
    }
    return out;
  }

  // An installer image of `uki` and `boot` for amd64 with `compression` layers.
  std::string image_of(const std::string& uki, const std::string& compression) {
    const auto base = work / "base-tree/bin";
    if (!t::fs::exists(work / "base")) {
      t::fs::create_directories(base);
      t::write_file(base / "installer", std::string_view("#!/bin/sh\n"));
      auto r = t::run(t::tool("ukikit") + " image base " + q(work / "base-tree") + " -o " +
                      q(work / "base") + ":v1 --arch amd64 2>&1");
      EXPECT_EQ(r.status, 0) << r.out;
    }
    const auto out = work / ("img-" + std::to_string(++images));
    auto r = t::run(t::tool("ukikit") + " image assemble --base " + q(work / "base") + ":v1 -o " +
                    q(out) + " --layer-compression " + compression + " --arch amd64 --uki " +
                    q(a / uki) + " --boot " + q(a / "boot.efi") + " 2>&1");
    EXPECT_EQ(r.status, 0) << r.out;
    return out.string();
  }

  // `image verify`'s JSON and text, streamed or decoded whole.
  std::pair<std::string, std::string> gate(const std::string& ref, bool streamed,
                                           const std::string& cert = "db.crt",
                                           const std::string& pcrpkey = "") const {
    auto trust = report::load_databases({(a / cert).string()});
    EXPECT_TRUE(trust.ok());
    std::vector<std::byte> key;
    if (!pcrpkey.empty()) key = t::read_file(a / pcrpkey);
    auto parsed = image::parse_reference(ref);
    EXPECT_TRUE(parsed.ok());
    auto src = image::source::open(*parsed);
    EXPECT_TRUE(src.ok());
    installer::verify_options o;
    o.trust = &*trust;
    o.pcrpkey = key;
    o.stream = streamed;
    auto r = installer::verify(*src, o);
    return {installer::to_json(r).dump(1), installer::verify_text(r)};
  }

  t::fs::path a;
  t::temp_dir dir;
  const t::fs::path& work = dir.path();
  int images = 0;
};

TEST_F(stream_test, streamed_digests_are_the_whole_files_at_any_chunk_size) {
  for (const char* name : {"plain.efi", "profiles.efi", "two.efi", "boot.efi"}) {
    SCOPED_TRACE(name);
    const auto file = t::read_file(a / name);
    auto img = pe::parse(file);
    ASSERT_TRUE(img.ok());
    const auto want = authenticode::image_digest(*img, hash::algorithm::sha256);
    ASSERT_TRUE(want.ok());
    auto sum = t::run("sha256sum " + q(a / name));
    ASSERT_EQ(sum.status, 0);
    for (std::size_t chunk :
         {std::size_t{4093}, std::size_t{65536}, std::size_t{1} << 20, file.size()}) {
      SCOPED_TRACE(chunk);
      auto s = stream(file, chunk);
      ASSERT_TRUE(s.file_digest());
      EXPECT_EQ(s.file_digest()->hex(), sum.out.substr(0, 64));
      // systemd-boot has no large payload: kept whole, nothing precomputed.
      EXPECT_EQ(s.whole(), std::string(name) == "boot.efi");
      std::size_t dropped = 0;
      for (const auto& sec : img->sections) {
        const std::uint64_t off = sec.pointer_to_raw_data;
        const byte_span in_stream = s.bytes().subspan(off, sec.data().size());
        if (!uki::droppable_section(sec.name) || sec.size_of_raw_data < (1u << 20) || s.whole()) {
          EXPECT_TRUE(std::equal(in_stream.begin(), in_stream.end(), sec.data().begin()))
              << sec.name << " is kept verbatim";
          continue;
        }
        ++dropped;
        for (auto alg : hash::all_algorithms) {
          auto got = s.section_digest(in_stream, alg);
          ASSERT_TRUE(got) << sec.name;
          EXPECT_EQ(*got, *hash::compute(alg, sec.data())) << sec.name;
        }
      }
      if (!s.whole()) {
        EXPECT_GE(dropped, 1u);
        auto got = s.image_digest(hash::algorithm::sha256);
        ASSERT_TRUE(got);
        EXPECT_EQ(*got, *want);
        EXPECT_LT(s.kept(), file.size() / 2) << "the kernel is not kept";
      }
      EXPECT_FALSE(s.missed());
    }
  }
}

TEST_F(stream_test, a_digest_not_computed_is_a_miss_never_a_wrong_answer) {
  const auto file = t::read_file(a / "sha384.efi");
  uki::stream_options so; // image digests: sha256 only; sections: sha256 only
  auto s = stream(file, 65536, so);
  ASSERT_FALSE(s.whole());
  EXPECT_FALSE(s.image_digest(hash::algorithm::sha384));
  EXPECT_TRUE(s.missed());
  // .linux of each stream's own copy (the digests are of its bytes).
  const auto linux_of = [](const uki::streamed_image& st) {
    auto img = pe::parse(st.bytes());
    EXPECT_TRUE(img.ok());
    const pe::section* sec = img->find(".linux");
    EXPECT_NE(sec, nullptr);
    return sec ? sec->data() : byte_span();
  };
  auto fresh = stream(file, 65536, so);
  EXPECT_TRUE(fresh.section_digest(linux_of(fresh), hash::algorithm::sha256));
  EXPECT_FALSE(fresh.missed());
  EXPECT_FALSE(fresh.section_digest(linux_of(fresh), hash::algorithm::sha512));
  EXPECT_TRUE(fresh.missed());
  auto again = stream(file, 65536, so);
  EXPECT_FALSE(again.section_digest(linux_of(again).first(10), hash::algorithm::sha256))
      << "part of a dropped section";
  EXPECT_TRUE(again.missed());
}

TEST_F(stream_test, verify_uki_and_pcr11_on_the_stream_are_those_of_the_whole_file) {
  auto db = report::load_databases({(a / "db.crt").string()});
  ASSERT_TRUE(db.ok());
  const auto pcr_other = t::read_file(a / "pcr-other.pub");
  for (const char* name : {"plain.efi", "profiles.efi", "two.efi", "boot.efi"}) {
    for (bool other_key : {false, true}) {
      SCOPED_TRACE(std::string(name) + (other_key ? " with another PCR key" : ""));
      const auto file = t::read_file(a / name);
      auto s = stream(file, 65536);
      auto o = verify_options(*db);
      if (other_key) o.pcrpkey = pcr_other;
      const auto whole = report::to_json(report::verify_uki(file, o)).dump(1);
      const auto streamed = report::to_json(report::verify_uki(s.bytes(), with_digests(o, s)));
      EXPECT_EQ(streamed.dump(1), whole);
      // The profiles' .pcrsig cannot verify for Debian's 252 stub (no
      // profiles); systemd-boot has no .pcrsig to check.
      const bool profiles = std::string(name) == "profiles.efi";
      EXPECT_EQ(streamed["passed"], (!other_key && !profiles) || std::string(name) == "boot.efi");
      EXPECT_EQ(
          predictions(s.bytes(),
                      [&s](byte_span d, hash::algorithm alg) { return s.section_digest(d, alg); })
              .dump(),
          predictions(file, {}).dump());
      EXPECT_FALSE(s.missed());
    }
  }
}

TEST_F(stream_test, gate_reports_are_the_same_streamed_or_decoded_whole) {
  struct one_case {
    const char* uki;
    const char* compression;
    const char* cert;
    const char* pcrpkey;
    bool passes;
  };
  for (const one_case& c : {one_case{"plain.efi", "gzip", "db.crt", "", true},
                            one_case{"plain.efi", "zstd", "db.crt", "pcr.pub", true},
                            one_case{"plain.efi", "none", "db.crt", "", true},
                            one_case{"profiles.efi", "gzip", "db.crt", "", false},
                            one_case{"two.efi", "zstd", "other.crt", "", false},
                            one_case{"two.efi", "gzip", "db.crt", "", true},
                            one_case{"sha384.efi", "gzip", "db.crt", "", true},
                            one_case{"banks.efi", "gzip", "db.crt", "", true},
                            one_case{"banks.efi", "none", "db.crt", "", true},
                            one_case{"banks.efi", "zstd", "db.crt", "pcr-other.pub", false},
                            one_case{"plain.efi", "gzip", "other.crt", "pcr-other.pub", false}}) {
    SCOPED_TRACE(std::string(c.uki) + " " + c.compression + " " + c.cert + " " + c.pcrpkey);
    const auto ref = image_of(c.uki, c.compression);
    const auto streamed = gate(ref, true, c.cert, c.pcrpkey);
    const auto whole = gate(ref, false, c.cert, c.pcrpkey);
    EXPECT_EQ(streamed.first, whole.first);
    EXPECT_EQ(streamed.second, whole.second);
    EXPECT_EQ(nlohmann::json::parse(streamed.first)["passed"], c.passes) << streamed.second;
  }
}

} // namespace
} // namespace ukikit
