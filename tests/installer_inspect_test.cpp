// `ukiinspect REF` on an installer image (installer/inspect.hpp): after the
// image report, each platform's UKI as `ukiinspect FILE` shows the file that
// went in; and `ukikit image verify --sbat-policy`. The UKIs are built and
// signed by `ukikit build` from Debian's stubs and kernels, with Debian's
// systemd-boot signed by `ukikit sign`; the .linux digest is sha256sum's of
// the kernel put in.
#include "image_fixture.hpp"
#include "support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <tuple>

namespace {

namespace t = ukikit::test;
using namespace ukikit::test::image_fixture;
using nlohmann::json;

class installer_inspect_test : public ::testing::Test {
protected:
  void SetUp() override {
    UKIKIT_NEED_INPUT(stub, "linuxx64.efi.stub");
    UKIKIT_NEED_INPUT(kernel, "vmlinuz");
    UKIKIT_NEED_INPUT(arm_stub, "linuxaa64.efi.stub");
    UKIKIT_NEED_INPUT(arm_kernel, "vmlinuz-arm64");
    UKIKIT_NEED_INPUT(boot, "systemd-bootx64.efi");
    UKIKIT_NEED_INPUT(arm_boot, "root-arm64/usr/lib/systemd/boot/efi/systemd-bootaa64.efi");
    UKIKIT_NEED_TOOL("openssl");
    kernels = {kernel, arm_kernel};
    t::fs::create_directories(work / "tree/usr/bin");
    t::write_file(work / "tree/usr/bin/installer", std::string_view("#!/bin/sh\n"));
    run_ok("openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=db -keyout " +
           q(work / "db.key") + " -out " + q(work / "db.crt"));
    run_ok(t::tool("ukikit") + " image base " + q(work / "tree") + " -o " + q(work / "base") +
           ":v1 --arch amd64 --arch arm64");
    const std::string keys =
        " --signing-key " + q(work / "db.key") + " --signing-cert " + q(work / "db.crt");
    for (auto [s, k, b, arch] : {std::tuple{stub, kernel, boot, "amd64"},
                                 std::tuple{arm_stub, arm_kernel, arm_boot, "arm64"}}) {
      run_ok(t::tool("ukikit") + " build --stub " + q(s) + " --linux " + q(k) +
             " --cmdline 'console=ttyS0' --os-release 'ID=talos'" + keys + " -o " +
             q(work / (std::string(arch) + ".efi")));
      run_ok(t::tool("ukikit") + " sign --key " + q(work / "db.key") + " --cert " +
             q(work / "db.crt") + " --output " + q(work / (std::string(arch) + "-boot.efi")) + " " +
             q(b));
    }
  }

  static void run_ok(const std::string& cmd) {
    auto r = t::run(cmd + " 2>&1");
    ASSERT_EQ(r.status, 0) << cmd << "\n" << r.out;
  }

  // The image written to the layout `name`, as oci:DIR:TAG.
  std::string assemble(const std::string& name, const std::string& extra = "",
                       const std::string& arm_uki = "arm64.efi") {
    const std::string out = "oci:" + (work / name).string() + ":v1";
    run_ok(t::tool("ukikit") + " image assemble --base " + q(work / "base") + ":v1 -o " +
           t::sh_quote(out) + " --arch amd64 --uki " + q(work / "amd64.efi") + " --boot " +
           q(work / "amd64-boot.efi") + " --arch arm64 --uki " + q(work / arm_uki) + " --boot " +
           q(work / "arm64-boot.efi") + extra);
    return out;
  }

  t::temp_dir dir;
  const t::fs::path& work = dir.path();
  std::array<t::fs::path, 2> kernels;
};

TEST_F(installer_inspect_test, each_platform_shows_the_uki_as_inspect_shows_the_file) {
  const std::string ref = assemble("img");
  auto r = t::run(t::tool("ukiinspect") + " --json " + t::sh_quote(ref));
  ASSERT_EQ(r.status, 0) << r.out;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["manifests"].size(), 2u); // the image report is still there
  ASSERT_EQ(j["installer"].size(), 2u) << r.out;
  const char* arches[] = {"amd64", "arm64"};
  for (std::size_t i = 0; i < 2; ++i) {
    const std::string arch = arches[i];
    const json& p = j["installer"][i];
    EXPECT_EQ(p["platform"], "linux/" + arch);
    EXPECT_EQ(p["layout"], "uki");
    EXPECT_EQ(p["path"], "/usr/install/" + arch + "/vmlinuz.efi");
    EXPECT_FALSE(p.contains("error"));
    json file =
        json::parse(t::run(t::tool("ukiinspect") + " --json " + q(work / (arch + ".efi"))).out);
    file["file"] = "linux/" + arch + ":/usr/install/" + arch + "/vmlinuz.efi";
    EXPECT_EQ(p["uki"], file);
    bool linux_seen = false;
    for (const auto& s : p["uki"]["sections"])
      if (s["name"] == ".linux") {
        linux_seen = true;
        EXPECT_EQ("sha256:" + s["sha256"].get<std::string>(), sha256_of(kernels[i]));
      }
    EXPECT_TRUE(linux_seen);
  }

  auto text = t::run(t::tool("ukiinspect") + " " + t::sh_quote(ref) + " 2>&1");
  EXPECT_EQ(text.status, 0) << text.out;
  EXPECT_NE(text.out.find("\nlinux/arm64:/usr/install/arm64/vmlinuz.efi: PE32+ aarch64, UKI"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("  cmdline: console=ttyS0\n"), std::string::npos) << text.out;
}

TEST_F(installer_inspect_test, legacy_signed_names_and_images_without_artifacts) {
  auto r = t::run(t::tool("ukiinspect") + " --json " +
                  t::sh_quote(assemble("legacy", " --layout legacy-signed")));
  ASSERT_EQ(r.status, 0) << r.out;
  json j = json::parse(r.out);
  ASSERT_EQ(j["installer"].size(), 2u);
  EXPECT_EQ(j["installer"][0]["layout"], "legacy-signed");
  EXPECT_EQ(j["installer"][0]["path"], "/usr/install/amd64/vmlinuz.efi.signed");
  EXPECT_TRUE(j["installer"][0]["uki"]["uki"].get<bool>());

  // installer-base has no artifacts: the image report alone.
  r = t::run(t::tool("ukiinspect") + " --json oci:" + q(work / "base") + ":v1");
  ASSERT_EQ(r.status, 0) << r.out;
  j = json::parse(r.out);
  EXPECT_FALSE(j.contains("installer"));
  EXPECT_EQ(j["manifests"].size(), 2u);
}

TEST_F(installer_inspect_test, a_uki_that_is_no_pe_image_is_that_platforms_error) {
  t::write_file(work / "junk.efi", t::sample_bytes(5000, 9));
  const std::string ref = assemble("junk", "", "junk.efi");
  auto r = t::run(t::tool("ukiinspect") + " --json " + t::sh_quote(ref) + " 2>" + q(work / "err"));
  EXPECT_EQ(r.status, 1) << r.out;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["installer"].size(), 2u);
  EXPECT_TRUE(j["installer"][0].contains("uki"));
  EXPECT_FALSE(j["installer"][1].contains("uki"));
  EXPECT_TRUE(j["installer"][1].contains("error"));
  EXPECT_NE(t::run("cat " + q(work / "err")).out.find("linux/arm64:/usr/install/arm64/vmlinuz.efi"),
            std::string::npos);
}

// shim's rule over both artifacts of each architecture: Debian's stubs (so
// the UKIs) and amd64 systemd-boot list systemd,1 in .sbat (uki_test reads
// the stub's as objcopy dumps it); the UKIs also have ukify's uki,1 row.
// Debian 12's systemd-bootaa64.efi has only .text and .data (its SBAT text
// sits inside .data), and shim refuses an image without .sbat under any
// policy.
TEST_F(installer_inspect_test, image_verify_applies_the_sbat_policy_to_uki_and_systemd_boot) {
  const std::string ref = assemble("img");
  const std::string gate =
      t::tool("ukikit") + " image verify --json --cert " + q(work / "db.crt") + " ";
  auto pass = t::run(gate + t::sh_quote(ref));
  ASSERT_EQ(pass.status, 0) << pass.out;

  auto revoked = [&](const std::string& policy) {
    t::write_file(work / "level", policy);
    auto r = t::run(gate + "--sbat-policy " + q(work / "level") + " " + t::sh_quote(ref));
    EXPECT_EQ(r.status, 1) << r.out;
    std::vector<std::string> subjects;
    const json j = json::parse(r.out);
    for (const auto& f : j["findings"])
      if (f["code"] == "installer.sbat-revoked")
        subjects.push_back(f["subject"].get<std::string>() + " " + f["message"].get<std::string>());
    return subjects;
  };
  auto has = [](const std::string& s, std::string_view part) {
    return s.find(part) != std::string::npos;
  };
  auto uki2 = revoked("sbat,1,2024010100\nuki,2\n");
  ASSERT_EQ(uki2.size(), 3u);
  EXPECT_TRUE(has(uki2[0], "usr/install/amd64/vmlinuz.efi")) << uki2[0];
  EXPECT_TRUE(has(uki2[0], ".sbat uki generation 1 is revoked by the SBAT policy (generation 2)"))
      << uki2[0];
  EXPECT_TRUE(has(uki2[1], "usr/install/arm64/vmlinuz.efi")) << uki2[1];
  EXPECT_TRUE(has(uki2[2], "usr/install/arm64/systemd-boot.efi")) << uki2[2];
  EXPECT_TRUE(has(uki2[2], "no .sbat section")) << uki2[2];
  auto systemd2 = revoked("sbat,1,2024010100\nsystemd,2\n");
  ASSERT_EQ(systemd2.size(), 4u);
  EXPECT_TRUE(has(systemd2[1], "usr/install/amd64/systemd-boot.efi")) << systemd2[1];
  EXPECT_TRUE(has(systemd2[1], ".sbat systemd generation 1 is revoked")) << systemd2[1];
  auto equal = revoked("sbat,1,2024010100\nsystemd,1\nuki,1\n");
  ASSERT_EQ(equal.size(), 1u); // equal generations pass; the missing .sbat does not
  EXPECT_TRUE(has(equal[0], "usr/install/arm64/systemd-boot.efi")) << equal[0];
}

} // namespace
