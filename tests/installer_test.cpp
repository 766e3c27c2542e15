// Installer images (installer/base.hpp, installer/assemble.hpp) through
// `ukikit image base` and `ukikit image assemble`, checked with the real
// tools: skopeo reads and copies what we write (every architecture), umoci
// unpacks it to installer-base's tree plus usr/install/<arch>/… byte for
// byte, GNU tar lists the artifacts layer as Talos' imager writes it, and
// the same inputs give the same digests down to the index.
#include "image_fixture.hpp"
#include "support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace {

namespace t = ukikit::test;
using namespace ukikit::test::image_fixture;
using nlohmann::json;

t::run_result image(const std::string& args) {
  return t::detail::run_any_status(t::tool("ukikit") + " image " + args + " 2>&1");
}

// A small installer-base tree in top/tree: a tool, a symlink to it, a config file.
void make_tree(const t::fs::path& top) {
  const auto dir = top / "tree";
  t::fs::create_directories(dir / "usr/bin");
  t::fs::create_directories(dir / "etc");
  t::write_file(dir / "usr/bin/installer", "#!/bin/sh\necho install\n");
  t::fs::permissions(dir / "usr/bin/installer", t::fs::perms(0755));
  t::fs::create_symlink("installer", dir / "usr/bin/imager");
  t::write_file(dir / "etc/os-release", "ID=test\n");
}

// Artifacts with distinct bytes (assemble does not look inside them).
void make_artifacts(const t::fs::path& dir) {
  t::write_file(dir / "amd64.efi", t::sample_bytes(70000, 1));
  t::write_file(dir / "amd64-boot.efi", t::sample_bytes(30000, 2));
  t::write_file(dir / "arm64.efi", t::sample_bytes(80000, 3));
  t::write_file(dir / "arm64-boot.efi", t::sample_bytes(20000, 4));
}

std::string base_args(const t::fs::path& dir) {
  return "base " + q(dir / "tree") + " -o " + q(dir / "base") +
         ":v1 --arch amd64 --arch arm64 --entrypoint '[\"/bin/installer\"]' --env VERSION=v1.10.0 "
         "--label org.opencontainers.image.source=https://example.com/os";
}

std::string assemble_args(const t::fs::path& dir, const std::string& out) {
  return "assemble --base " + q(dir / "base") + ":v1 -o " + t::sh_quote(out) +
         " --arch amd64 --uki " + q(dir / "amd64.efi") + " --boot " + q(dir / "amd64-boot.efi") +
         " --arch arm64 --uki " + q(dir / "arm64.efi") + " --boot " + q(dir / "arm64-boot.efi");
}

json skopeo_raw(const std::string& ref, const std::string& extra = "") {
  auto r = t::run("skopeo inspect --raw " + extra + " " + t::sh_quote(ref));
  return json::parse(r.out);
}

// One platform's manifest as skopeo picks it out of the index (copied
// into a layout of its own: `inspect --raw` shows the index itself).
json skopeo_manifest(const std::string& ref, const std::string& arch, const t::fs::path& work) {
  const auto one = work / ("picked-" + arch);
  EXPECT_EQ(t::run("skopeo copy -q --override-arch " + arch + " " + t::sh_quote(ref) +
                   " oci:" + q(one) + ":x")
                .status,
            0);
  return skopeo_raw("oci:" + one.string() + ":x");
}

// Only stdout (the JSON), not the findings on stderr.
json image_json(const std::string& args) {
  auto r = t::detail::run_any_status(t::tool("ukikit") + " image " + args + " 2>/dev/null");
  EXPECT_EQ(r.status, 0) << args;
  return json::parse(r.out);
}

TEST(ImageBase, SkopeoSeesOneLayerPerArchitectureWithTheConfigGiven) {
  UKIKIT_NEED_TOOL("skopeo");
  UKIKIT_NEED_TOOL("umoci");
  t::temp_dir dir;
  make_tree(dir.path());
  auto r = image(base_args(dir.path()));
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string ref = "oci:" + (dir / "base").string() + ":v1";
  const json idx = skopeo_raw(ref);
  EXPECT_EQ(idx["mediaType"], "application/vnd.oci.image.index.v1+json");
  ASSERT_EQ(idx["manifests"].size(), 2u);
  EXPECT_EQ(idx["manifests"][0]["platform"]["architecture"], "amd64");
  EXPECT_EQ(idx["manifests"][1]["platform"]["architecture"], "arm64");
  for (std::string arch : {"amd64", "arm64"}) {
    auto cfg = json::parse(
        t::run("skopeo inspect --config --override-arch " + arch + " " + t::sh_quote(ref)).out);
    EXPECT_EQ(cfg["architecture"], arch);
    EXPECT_EQ(cfg["os"], "linux");
    EXPECT_EQ(cfg["config"]["Entrypoint"], json::array({"/bin/installer"}));
    EXPECT_EQ(cfg["config"]["Env"], json::array({"VERSION=v1.10.0"}));
    EXPECT_EQ(cfg["config"]["Labels"]["org.opencontainers.image.source"], "https://example.com/os");
    EXPECT_EQ(cfg["created"], "1970-01-01T00:00:00Z");
    auto m = skopeo_manifest(ref, arch, dir.path());
    EXPECT_EQ(m["layers"].size(), 1u); // squashed into exactly one layer
  }
  // One tree, one layer blob shared by both manifests.
  auto a = skopeo_manifest(ref, "amd64", dir.path());
  auto b = skopeo_manifest(ref, "arm64", dir.path());
  EXPECT_EQ(a["layers"][0]["digest"], b["layers"][0]["digest"]);
  // umoci unpacks the tree as it was.
  ASSERT_EQ(t::run("cd " + q(dir.path()) + " && skopeo copy -q --override-arch arm64 " +
                   t::sh_quote(ref) +
                   " oci:one:x && umoci unpack --rootless --image one:x bundle " +
                   ">/dev/null 2>&1")
                .status,
            0);
  EXPECT_EQ(
      t::run("diff -r --no-dereference " + q(dir / "tree") + " " + q(dir / "bundle/rootfs")).status,
      0);
}

TEST(ImageBase, SameTreeSameDigestsAndSourceDateEpochSetsCreated) {
  UKIKIT_NEED_TOOL("faketime");
  UKIKIT_NEED_TOOL("date");
  t::temp_dir dir;
  make_tree(dir.path());
  ASSERT_EQ(image(base_args(dir.path())).status, 0);
  const std::string args2 =
      "base " + q(dir / "tree") + " -o " + q(dir / "again") +
      ":v1 --arch amd64 --arch arm64 --entrypoint '[\"/bin/installer\"]' --env VERSION=v1.10.0 "
      "--label org.opencontainers.image.source=https://example.com/os";
  ASSERT_EQ(t::run(t::elsewhere(dir / "elsewhere", t::tool("ukikit") + " image " + args2)).status,
            0);
  EXPECT_EQ(file_json(dir / "base/index.json")["manifests"][0]["digest"],
            file_json(dir / "again/index.json")["manifests"][0]["digest"]);

  ASSERT_EQ(t::run("SOURCE_DATE_EPOCH=1700000000 " + t::tool("ukikit") + " image base " +
                   q(dir / "tree") + " -o " + q(dir / "dated") + ":v1 --arch amd64")
                .status,
            0);
  const std::string idx = file_json(dir / "dated/index.json")["manifests"][0]["digest"];
  const json inner = file_json(blob_path(dir / "dated", idx));
  const json m = file_json(blob_path(dir / "dated", inner["manifests"][0]["digest"]));
  const json cfg = file_json(blob_path(dir / "dated", m["config"]["digest"]));
  const std::string want = t::run("date -u -d @1700000000 +%Y-%m-%dT%H:%M:%SZ").out;
  EXPECT_EQ(cfg["created"].get<std::string>() + "\n", want);
  // and every member's mtime (GNU tar's listing)
  auto listing = t::run("tar --utc -tvzf " + q(blob_path(dir / "dated", m["layers"][0]["digest"])));
  EXPECT_NE(listing.out.find("2023-11-14 22:13 usr/bin/installer"), std::string::npos)
      << listing.out;
}

TEST(ImageBase, PerArchitectureTreesAndBadArguments) {
  t::temp_dir dir;
  make_tree(dir.path());
  t::fs::create_directories(dir / "arm/usr/bin");
  t::write_file(dir / "arm/usr/bin/installer", "arm64 build\n");
  auto r = image("base " + q(dir / "tree") + " -o " + q(dir / "L") +
                 " --arch amd64 --arch arm64 --rootfs arm64=" + q(dir / "arm") + " --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["images"].size(), 2u);
  EXPECT_NE(j["images"][0]["layer"]["digest"], j["images"][1]["layer"]["digest"]);
  EXPECT_EQ(j["images"][1]["entries"], 3); // usr/, usr/bin/, usr/bin/installer

  EXPECT_EQ(image("base -o " + q(dir / "M") + " --arch amd64").status, 2); // no tree
  EXPECT_EQ(image("base " + q(dir / "tree") + " -o " + q(dir / "M") + " --arch AMD64").status, 2);
  EXPECT_EQ(image("base " + q(dir / "tree") + " -o " + q(dir / "M") + " --env NOVALUE").status, 2);
  EXPECT_EQ(image("base " + q(dir / "tree") + " -o " + q(dir / "M") +
                  " --arch amd64 --rootfs s390x=" + q(dir / "arm"))
                .status,
            2);
  auto two = image("base " + q(dir / "tree") + " -o docker-archive:" + q(dir / "d.tar") +
                   " --arch amd64 --arch arm64");
  EXPECT_EQ(two.status, 2);
  EXPECT_NE(two.out.find("docker-archive holds one platform"), std::string::npos) << two.out;
  EXPECT_FALSE(t::fs::exists(dir / "d.tar"));
}

// umoci unpack of `arch` out of `ref` (skopeo picks it into a layout of its
// own): installer-base's tree (dir/tree) plus usr/install/<arch>/ holding
// make_artifacts' two files of that architecture and nothing else, byte for
// byte.
void expect_unpacks_to_base_plus_artifacts(const std::string& ref, const std::string& arch,
                                           const t::fs::path& dir) {
  const auto one = dir / ("one-" + arch);
  const auto bundle = dir / ("bundle-" + arch);
  t::fs::remove_all(one);
  t::fs::remove_all(bundle);
  ASSERT_EQ(t::run("skopeo copy -q --override-arch " + arch + " " + t::sh_quote(ref) +
                   " oci:" + q(one) + ":x && umoci unpack --rootless --image " + q(one) + ":x " +
                   q(bundle) + " >/dev/null 2>&1")
                .status,
            0)
      << ref << " " << arch;
  const auto root = bundle / "rootfs";
  EXPECT_EQ(t::run("cmp " + q(dir / (arch + ".efi")) + " " +
                   q(root / "usr/install" / arch / "vmlinuz.efi"))
                .status,
            0);
  EXPECT_EQ(t::run("cmp " + q(dir / (arch + "-boot.efi")) + " " +
                   q(root / "usr/install" / arch / "systemd-boot.efi"))
                .status,
            0);
  EXPECT_EQ(t::run("cd " + q(root) + " && find usr/install | sort").out,
            "usr/install\nusr/install/" + arch + "\nusr/install/" + arch +
                "/systemd-boot.efi\nusr/install/" + arch + "/vmlinuz.efi\n");
  t::fs::remove_all(root / "usr/install");
  EXPECT_EQ(t::run("diff -r --no-dereference " + q(dir / "tree") + " " + q(root)).status, 0);
}

TEST(ImageAssemble, InstallerImageIsBaseTreePlusArtifactsPerArchitecture) {
  UKIKIT_NEED_TOOL("skopeo");
  UKIKIT_NEED_TOOL("umoci");
  t::temp_dir dir;
  make_tree(dir.path());
  make_artifacts(dir.path());
  ASSERT_EQ(image(base_args(dir.path())).status, 0);
  const std::string out = "oci-archive:" + (dir / "installer.tar").string() + ":v1.10.0";
  auto r = image(assemble_args(dir.path(), out));
  ASSERT_EQ(r.status, 0) << r.out;

  // skopeo copies every architecture, with the digests we wrote.
  ASSERT_EQ(
      t::run("skopeo copy -q --all " + t::sh_quote(out) + " oci:" + q(dir / "copy") + ":x").status,
      0);
  const json idx = skopeo_raw(out);
  ASSERT_EQ(idx["manifests"].size(), 2u);
  EXPECT_EQ(skopeo_raw("oci:" + (dir / "copy").string() + ":x"), idx);
  for (std::string arch : {"amd64", "arm64"}) {
    auto m = skopeo_manifest(out, arch, dir.path());
    ASSERT_EQ(m["layers"].size(), 2u);
    EXPECT_EQ(m["layers"][1]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
    auto cfg = json::parse(
        t::run("skopeo inspect --config --override-arch " + arch + " " + t::sh_quote(out)).out);
    EXPECT_EQ(cfg["architecture"], arch);
    EXPECT_EQ(cfg["config"]["Entrypoint"], json::array({"/bin/installer"})); // the base's
    EXPECT_EQ(cfg["rootfs"]["diff_ids"].size(), 2u);
    EXPECT_EQ(cfg["history"].size(), 2u);

    // umoci unpack: installer-base's tree plus usr/install/<arch>/, byte for byte.
    expect_unpacks_to_base_plus_artifacts(out, arch, dir.path());
  }
}

// An OCI layout written by assemble: skopeo copies it --all into an
// oci-archive and back into a layout with the index and every manifest
// unchanged (nothing converted), and umoci unpacks each architecture of the
// copy to the base tree plus that architecture's artifacts, byte for byte.
TEST(ImageAssemble, SkopeoCopiesALayoutAllArchitecturesAndUmociUnpacksTheCopy) {
  UKIKIT_NEED_TOOL("skopeo");
  UKIKIT_NEED_TOOL("umoci");
  t::temp_dir dir;
  make_tree(dir.path());
  make_artifacts(dir.path());
  ASSERT_EQ(image(base_args(dir.path())).status, 0);
  const std::string out = "oci:" + (dir / "layout").string() + ":v1";
  auto r = image(assemble_args(dir.path(), (dir / "layout").string() + ":v1"));
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string archive = "oci-archive:" + (dir / "copy.tar").string() + ":v1";
  const std::string back = "oci:" + (dir / "back").string() + ":v1";
  ASSERT_EQ(t::run("skopeo copy -q --all " + t::sh_quote(out) + " " + t::sh_quote(archive) +
                   " && skopeo copy -q --all " + t::sh_quote(archive) + " " + t::sh_quote(back))
                .status,
            0);
  const json idx = skopeo_raw(out);
  ASSERT_EQ(idx["manifests"].size(), 2u);
  EXPECT_EQ(skopeo_raw(archive), idx);
  EXPECT_EQ(skopeo_raw(back), idx);
  for (const auto& m : idx["manifests"]) {
    const std::string arch = m["platform"]["architecture"];
    const std::string d = m["digest"];
    EXPECT_EQ(sha256_of(blob_path(dir / "back", d)), d) << arch; // the manifest's bytes kept
    expect_unpacks_to_base_plus_artifacts(back, arch, dir.path());
  }
}

TEST(ImageAssemble, ArtifactsLayerIsSortedFilesWithZeroTimesAndExplicitModes) {
  t::temp_dir dir;
  make_tree(dir.path());
  make_artifacts(dir.path());
  ASSERT_EQ(image(base_args(dir.path())).status, 0);
  auto r = image(assemble_args(dir.path(), (dir / "out").string() + ":v1") + " --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["layout"], "uki");
  ASSERT_EQ(j["images"].size(), 2u);
  EXPECT_EQ(j["images"][0]["base_layers"], 1);
  const std::string layer = j["images"][1]["artifacts"]["digest"];
  EXPECT_EQ(sha256_of(blob_path(dir / "out", layer)), layer);
  auto listing = t::run("tar --utc --numeric-owner -tvzf " + q(blob_path(dir / "out", layer)));
  EXPECT_EQ(listing.out, "-rw-r--r-- 0/0           20000 1970-01-01 00:00 "
                         "usr/install/arm64/systemd-boot.efi\n"
                         "-rw-r--r-- 0/0           80000 1970-01-01 00:00 "
                         "usr/install/arm64/vmlinuz.efi\n");
  // the diff_id is the uncompressed layer's sha256
  EXPECT_EQ(j["images"][1]["artifacts_diff_id"],
            "sha256:" +
                t::run("gzip -dc " + q(blob_path(dir / "out", layer)) + " | sha256sum | cut -c1-64")
                    .out.substr(0, 64));
}

TEST(ImageAssemble, SameInputsSameDigestsDownToTheIndex) {
  UKIKIT_NEED_TOOL("faketime");
  UKIKIT_NEED_TOOL("cmp");
  t::temp_dir dir;
  make_tree(dir.path());
  make_artifacts(dir.path());
  ASSERT_EQ(image(base_args(dir.path())).status, 0);
  ASSERT_EQ(image(assemble_args(dir.path(), "oci-archive:" + (dir / "a.tar").string())).status, 0);
  ASSERT_EQ(
      t::run(t::elsewhere(dir / "elsewhere",
                          t::tool("ukikit") + " image " +
                              assemble_args(dir.path(), "oci-archive:" + (dir / "b.tar").string())))
          .status,
      0);
  EXPECT_EQ(t::run("cmp " + q(dir / "a.tar") + " " + q(dir / "b.tar")).status, 0);
  // zstd layers are reproducible too, and differ from gzip ones
  ASSERT_EQ(
      image(assemble_args(dir.path(), (dir / "z").string()) + " --layer-compression zstd").status,
      0);
  auto m = skopeo_manifest("oci:" + (dir / "z").string(), "amd64", dir.path());
  EXPECT_EQ(m["layers"][1]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
}

TEST(ImageAssemble, LegacyLayoutsAndOverlay) {
  t::temp_dir dir;
  make_tree(dir.path());
  make_artifacts(dir.path());
  t::fs::create_directories(dir / "overlay/installers");
  t::write_file(dir / "overlay/installers/default", "overlay installer\n");
  t::write_file(dir / "overlay/extra-options", "a: b\n");
  ASSERT_EQ(image(base_args(dir.path())).status, 0);
  auto signed_ = image(assemble_args(dir.path(), (dir / "s").string()) +
                       " --layout legacy-signed --overlay " + q(dir / "overlay") + " --json");
  ASSERT_EQ(signed_.status, 0) << signed_.out;
  const json j = json::parse(signed_.out);
  const std::string art = j["images"][0]["artifacts"]["digest"];
  EXPECT_EQ(t::run("tar -tzf " + q(blob_path(dir / "s", art))).out,
            "usr/install/amd64/systemd-boot.efi.signed\nusr/install/amd64/vmlinuz.efi.signed\n");
  const std::string ov = j["images"][0]["overlay"]["digest"];
  EXPECT_EQ(t::run("tar -tzf " + q(blob_path(dir / "s", ov))).out,
            "overlay/\noverlay/extra-options\noverlay/installers/\noverlay/installers/default\n");
  EXPECT_EQ(j["images"][1]["overlay"]["digest"], ov); // one overlay layer for all

  t::write_file(dir / "initramfs.xz", t::sample_bytes(5000, 9));
  auto legacy = image("assemble --base " + q(dir / "base") + ":v1 -o " + q(dir / "l") +
                      " --layout legacy --arch amd64 --kernel " + q(dir / "amd64.efi") +
                      " --initramfs " + q(dir / "initramfs.xz") + " --json");
  ASSERT_EQ(legacy.status, 0) << legacy.out;
  const std::string lart = json::parse(legacy.out)["images"][0]["artifacts"]["digest"];
  EXPECT_EQ(t::run("tar -tzf " + q(blob_path(dir / "l", lart))).out,
            "usr/install/amd64/initramfs.xz\nusr/install/amd64/vmlinuz\n");
  // flags of the other layout are refused
  EXPECT_EQ(image("assemble --base " + q(dir / "base") + ":v1 -o " + q(dir / "x") +
                  " --layout legacy --arch amd64 --uki " + q(dir / "amd64.efi") + " --boot " +
                  q(dir / "amd64-boot.efi"))
                .status,
            2);
}

TEST(ImageAssemble, AnInstallerImageAsBaseLosesItsArtifactsLayer) {
  t::temp_dir dir;
  make_tree(dir.path());
  make_artifacts(dir.path());
  ASSERT_EQ(image(base_args(dir.path())).status, 0);
  ASSERT_EQ(image(assemble_args(dir.path(), (dir / "first").string() + ":v1")).status, 0);
  // the first installer image as the base of a second: its artifacts layer goes
  const json j = image_json("assemble --base " + q(dir / "first") + ":v1 -o " + q(dir / "second") +
                            " --arch arm64 --uki " + q(dir / "amd64.efi") + " --boot " +
                            q(dir / "amd64-boot.efi") + " --json");
  EXPECT_EQ(j["images"][0]["base_layers"], 1);
  ASSERT_EQ(j["findings"].size(), 1u);
  EXPECT_EQ(j["findings"][0]["code"], "installer.base-artifacts-dropped");
}

TEST(ImageAssemble, RefusesWhatCannotBeAssembled) {
  t::temp_dir dir;
  make_tree(dir.path());
  make_artifacts(dir.path());
  ASSERT_EQ(image("base " + q(dir / "tree") + " -o " + q(dir / "base") + ":v1 --arch amd64").status,
            0);
  const std::string amd =
      " --arch amd64 --uki " + q(dir / "amd64.efi") + " --boot " + q(dir / "amd64-boot.efi");
  // a platform the base does not have
  auto none =
      image("assemble --base " + q(dir / "base") + ":v1 -o " + q(dir / "o") +
            " --arch arm64 --uki " + q(dir / "arm64.efi") + " --boot " + q(dir / "arm64-boot.efi"));
  EXPECT_EQ(none.status, 2);
  EXPECT_NE(none.out.find("no image for linux/arm64"), std::string::npos) << none.out;
  // uneven groups
  EXPECT_EQ(image("assemble --base " + q(dir / "base") + ":v1 -o " + q(dir / "o") +
                  " --arch amd64 --uki " + q(dir / "amd64.efi"))
                .status,
            2);
  // a missing input
  EXPECT_EQ(image("assemble --base " + q(dir / "base") + ":v1 -o " + q(dir / "o") +
                  " --arch amd64 --uki " + q(dir / "nope.efi") + " --boot " +
                  q(dir / "amd64-boot.efi"))
                .status,
            2);
  EXPECT_FALSE(t::fs::exists(dir / "o"));
  // a base layer whose bytes are not its digest: a failed check, nothing written
  const std::string idx = file_json(dir / "base/index.json")["manifests"][0]["digest"];
  const json inner = file_json(blob_path(dir / "base", idx));
  const json m = file_json(blob_path(dir / "base", inner["manifests"][0]["digest"]));
  const auto layer = blob_path(dir / "base", m["layers"][0]["digest"]);
  ASSERT_EQ(
      t::run("printf x | dd of=" + q(layer) + " bs=1 seek=100 conv=notrunc 2>/dev/null").status, 0);
  auto broken = image("assemble --base " + q(dir / "base") + ":v1 -o " + q(dir / "o") + amd);
  EXPECT_EQ(broken.status, 1) << broken.out;
  EXPECT_FALSE(t::fs::exists(dir / "o"));
}

TEST(ImageAssemble, OneArchitectureToADockerArchiveSkopeoReads) {
  UKIKIT_NEED_TOOL("skopeo");
  t::temp_dir dir;
  make_tree(dir.path());
  make_artifacts(dir.path());
  ASSERT_EQ(image(base_args(dir.path())).status, 0);
  auto r =
      image("assemble --base " + q(dir / "base") + ":v1 -o docker-archive:" + q(dir / "d.tar") +
            ":example.com/installer:v1 --arch arm64 --uki " + q(dir / "arm64.efi") + " --boot " +
            q(dir / "arm64-boot.efi"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto info = json::parse(t::run("skopeo inspect docker-archive:" + q(dir / "d.tar")).out);
  EXPECT_EQ(info["Architecture"], "arm64");
  EXPECT_EQ(info["Layers"].size(), 2u);
  // docker load's tag, in manifest.json as GNU tar extracts it
  auto saved = json::parse(t::run("tar -xOf " + q(dir / "d.tar") + " manifest.json").out);
  EXPECT_EQ(saved[0]["RepoTags"], json::array({"example.com/installer:v1"}));
}

// `ukikit image build`: a recipe (ukify's format with [Arch:NAME]
// sections) built into signed UKIs and systemd-boots for amd64 and arm64
// from Debian's stubs and kernels, and assembled on a base. What lands in
// each artifacts layer (GNU tar extracts it) passes sbverify with the
// recipe's certificate and has the architecture's PE machine (read by
// Python); flags alone build one architecture into a docker-archive.
std::string pe_machine(const t::fs::path& efi) {
  return t::run("python3 -c 'import struct,sys; d=open(sys.argv[1],\"rb\").read(); "
                "o=struct.unpack_from(\"<I\",d,0x3c)[0]; "
                "print(hex(struct.unpack_from(\"<H\",d,o+4)[0]))' " +
                q(efi))
      .out;
}

TEST(ImageBuild, RecipeToSignedInstallerImageForTwoArchitectures) {
  UKIKIT_NEED_TOOL("openssl");
  UKIKIT_NEED_TOOL("skopeo");
  UKIKIT_NEED_TOOL("sbverify");
  UKIKIT_NEED_TOOL("python3");
  UKIKIT_NEED_INPUT(stub_x64, "linuxx64.efi.stub");
  UKIKIT_NEED_INPUT(stub_aa64, "linuxaa64.efi.stub");
  UKIKIT_NEED_INPUT(kernel_x64, "vmlinuz");
  UKIKIT_NEED_INPUT(kernel_aa64, "vmlinuz-arm64");
  UKIKIT_NEED_INPUT(boot_x64, "systemd-bootx64.efi");
  UKIKIT_NEED_INPUT(boot_aa64, "systemd-bootaa64.efi");
  t::temp_dir dir;
  make_tree(dir.path());
  ASSERT_EQ(image(base_args(dir.path())).status, 0);
  ASSERT_EQ(t::run("cd " + q(dir.path()) +
                   " && openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=db "
                   "-keyout db.key -out db.crt 2>/dev/null && openssl genpkey -algorithm RSA "
                   "-pkeyopt rsa_keygen_bits:2048 -out pcr.key 2>/dev/null && openssl pkey -in "
                   "pcr.key -pubout -out pcr.pub")
                .status,
            0);
  t::write_file(dir / "initrd.img", t::sample_bytes(4096, 5));
  t::write_file(dir / "recipe.conf",
                "[UKI]\nCmdline=console=ttyS0 quiet\nInitrd=initrd.img\n"
                "SecureBootPrivateKey=db.key\nSecureBootCertificate=db.crt\n\n"
                "[Arch:amd64]\nStub=" +
                    stub_x64.string() + "\nLinux=" + kernel_x64.string() + "\nSystemdBoot=" +
                    boot_x64.string() + "\n\n[Arch:arm64]\nStub=" + stub_aa64.string() +
                    "\nLinux=" + kernel_aa64.string() + "\nSystemdBoot=" + boot_aa64.string() +
                    "\n\n[PCRSignature:all]\nPCRPrivateKey=pcr.key\nPCRPublicKey=pcr.pub\n");
  const json j = image_json("build --config " + q(dir / "recipe.conf") + " --base " +
                            q(dir / "base") + ":v1 -o " + q(dir / "out") + ":v1 --json");
  ASSERT_EQ(j["images"].size(), 2u);
  const std::string want_machine[] = {"0x8664\n", "0xaa64\n"};
  for (int i = 0; i < 2; ++i) {
    const std::string arch = i == 0 ? "amd64" : "arm64";
    EXPECT_EQ(j["images"][i]["platform"], "linux/" + arch);
    const auto x = dir / ("x-" + arch);
    t::fs::create_directories(x);
    ASSERT_EQ(t::run("tar -xzf " +
                     q(blob_path(dir / "out", j["images"][i]["artifacts"]["digest"])) + " -C " +
                     q(x))
                  .status,
              0);
    const auto uki = x / "usr/install" / arch / "vmlinuz.efi";
    const auto boot = x / "usr/install" / arch / "systemd-boot.efi";
    EXPECT_EQ(
        t::run("sbverify --cert " + q(dir / "db.crt") + " " + q(uki) + " >/dev/null 2>&1").status,
        0)
        << arch;
    EXPECT_EQ(
        t::run("sbverify --cert " + q(dir / "db.crt") + " " + q(boot) + " >/dev/null 2>&1").status,
        0)
        << arch;
    EXPECT_EQ(pe_machine(uki), want_machine[i]);
    EXPECT_EQ(pe_machine(boot), want_machine[i]);
    // The recipe's PCR public key is the UKI's .pcrpkey (Python reads the
    // section table: binutils here has no arm64 PE support).
    EXPECT_EQ(
        t::run(
            "python3 -c 'import struct,sys\n"
            "d=open(sys.argv[1],\"rb\").read(); o=struct.unpack_from(\"<I\",d,0x3c)[0]\n"
            "n=struct.unpack_from(\"<H\",d,o+6)[0]; h=o+24+struct.unpack_from(\"<H\",d,o+20)[0]\n"
            "for i in range(n):\n"
            " e=h+40*i; vs,va,rs,rp=struct.unpack_from(\"<IIII\",d,e+8)\n"
            " if d[e:e+8].rstrip(b\"\\0\")==b\".pcrpkey\": "
            "sys.stdout.buffer.write(d[rp:rp+min(vs,rs)])' " +
            q(uki) + " > " + q(x / "pcrpkey") + " && cmp " + q(x / "pcrpkey") + " " +
            q(dir / "pcr.pub"))
            .status,
        0)
        << arch;
  }

  // What build and assemble wrote passes the gate, with the recipe's
  // certificate and PCR key; a certificate that signed nothing fails it.
  auto verified = image("verify --cert " + q(dir / "db.crt") + " --pcrpkey " + q(dir / "pcr.pub") +
                        " " + q(dir / "out") + ":v1");
  EXPECT_EQ(verified.status, 0) << verified.out;
  EXPECT_NE(verified.out.find("PASS " + (dir / "out").string() + ":v1"), std::string::npos)
      << verified.out;
  ASSERT_EQ(t::run("cd " + q(dir.path()) +
                   " && openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=other "
                   "-keyout other.key -out other.crt 2>/dev/null")
                .status,
            0);
  EXPECT_EQ(image("verify --cert " + q(dir / "other.crt") + " " + q(dir / "out") + ":v1").status,
            1);
  // skopeo copies the signed image --all into an oci-archive, and its copy
  // passes the gate too.
  ASSERT_EQ(t::run("skopeo copy -q --all oci:" + q(dir / "out") +
                   ":v1 oci-archive:" + q(dir / "copy.tar") + ":v1")
                .status,
            0);
  auto copied = image("verify --cert " + q(dir / "db.crt") + " --pcrpkey " + q(dir / "pcr.pub") +
                      " oci-archive:" + q(dir / "copy.tar") + ":v1");
  EXPECT_EQ(copied.status, 0) << copied.out;
  // The UKI taken back out is the one in the layer, byte for byte.
  ASSERT_EQ(image("extract " + q(dir / "out") +
                  ":v1 --arch arm64 usr/install/arm64/vmlinuz.efi -o " + q(dir / "back.efi"))
                .status,
            0);
  EXPECT_EQ(
      t::run("cmp " + q(dir / "back.efi") + " " + q(dir / "x-arm64/usr/install/arm64/vmlinuz.efi"))
          .status,
      0);

  // Flags alone: one architecture, into a docker-archive.
  auto flags =
      image("build --base " + q(dir / "base") + ":v1 -o docker-archive:" + q(dir / "one.tar") +
            " --arch arm64 --stub arm64=" + q(stub_aa64) + " --linux arm64=" + q(kernel_aa64) +
            " --systemd-boot arm64=" + q(boot_aa64) + " --signing-key " + q(dir / "db.key") +
            " --signing-cert " + q(dir / "db.crt") + " --cmdline 'console=ttyAMA0'");
  ASSERT_EQ(flags.status, 0) << flags.out;
  // An arm64 kernel under amd64 is refused, and nothing is written.
  auto wrong =
      image("build --base " + q(dir / "base") + ":v1 -o " + q(dir / "wrong") +
            " --arch amd64 --stub amd64=" + q(stub_x64) + " --linux amd64=" + q(kernel_aa64) +
            " --systemd-boot amd64=" + q(boot_x64) + " --signing-key " + q(dir / "db.key") +
            " --signing-cert " + q(dir / "db.crt"));
  EXPECT_EQ(wrong.status, 2) << wrong.out;
  EXPECT_FALSE(t::fs::exists(dir / "wrong"));
}

} // namespace
