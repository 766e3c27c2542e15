// Writing image stores (image/write.hpp) and `ukikit image copy`
// (image/copy.hpp): what ukikit writes — an OCI layout, an oci-archive, a
// docker-archive — is accepted by `skopeo inspect` and `skopeo copy` with
// the same digests, `umoci unpack` of it gives the tree the layer holds,
// archives are byte-identical when written twice, an existing layout keeps
// its other tags, and one platform is picked out of an index.
#include "image_fixture.hpp"
#include "support.hpp"

#include <ukikit/image/copy.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace {

using namespace ukikit;
namespace t = ukikit::test;
using namespace ukikit::test::image_fixture;
using nlohmann::json;

t::run_result ukikit_image(const std::string& args) {
  return t::run(t::tool("ukikit") + " image " + args + " 2>&1");
}

std::string index_digest(const t::fs::path& layout) {
  return file_json(layout / "index.json")["manifests"][0]["digest"];
}

TEST(ImageCopy, WhatWeWriteSkopeoReadsWithTheSameDigests) {
  UKIKIT_NEED_TOOL("umoci");
  UKIKIT_NEED_TOOL("skopeo");
  t::temp_dir dir;
  make_umoci_image(dir.path());
  const auto layout = dir / "L";
  const std::string digest = index_digest(layout);
  const std::string source_manifest = t::run("skopeo inspect --raw oci:" + q(layout) + ":t").out;

  struct target {
    std::string ours, skopeo;
  };
  const std::vector<target> targets = {
      {(dir / "out-layout").string() + ":v1", "oci:" + (dir / "out-layout").string() + ":v1"},
      {"oci-archive:" + (dir / "out.tar").string() + ":v1",
       "oci-archive:" + (dir / "out.tar").string() + ":v1"},
      {"docker-archive:" + (dir / "out-docker.tar").string() + ":example/x:v1",
       "docker-archive:" + (dir / "out-docker.tar").string()},
  };
  for (const auto& tg : targets) {
    SCOPED_TRACE(tg.ours);
    auto r = ukikit_image("copy " + q(layout) + ":t " + t::sh_quote(tg.ours));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out.substr(0, digest.size()), digest);
    auto raw = t::run("skopeo inspect --raw " + t::sh_quote(tg.skopeo));
    ASSERT_EQ(raw.status, 0);
    auto info = t::run("skopeo inspect " + t::sh_quote(tg.skopeo));
    ASSERT_EQ(info.status, 0);
    const json j = json::parse(info.out);
    EXPECT_EQ(j["Architecture"], "arm64");
    if (!tg.ours.starts_with("docker-archive:")) {
      // OCI stores: the manifest is the source's, byte for byte.
      EXPECT_EQ(raw.out, source_manifest);
      EXPECT_EQ(j["Digest"], digest);
    }
    // skopeo copies it on into a layout of its own, and back it reads the same.
    const auto again = dir / ("skopeo-" + std::to_string(&tg - targets.data()));
    ASSERT_EQ(t::run("skopeo copy -q " + t::sh_quote(tg.skopeo) + " oci:" + q(again) + ":x").status,
              0);
    const json copied = inspect_json(again.string() + ":x")["manifests"][0];
    EXPECT_EQ(copied["config"]["platform"]["architecture"], "arm64");
    EXPECT_EQ(copied["layers"][0]["diff_id"],
              file_json(blob_path(
                  layout, file_json(blob_path(
                              layout, digest))["config"]["digest"]))["rootfs"]["diff_ids"][0]);
    if (!tg.ours.starts_with("docker-archive:")) { // skopeo rewrites a Docker config as OCI's
      EXPECT_EQ(copied["config"]["digest"],
                file_json(blob_path(layout, digest))["config"]["digest"]);
    }
  }
  // umoci unpacks our layout to the tree the layer holds.
  ASSERT_EQ(t::run("cd " + q(dir.path()) +
                   " && umoci unpack --rootless --image out-layout:v1 bundle " + ">/dev/null 2>&1")
                .status,
            0);
  EXPECT_EQ(t::run("cat " + q(dir / "bundle/rootfs/usr/bin/x")).out, "hello\n");
  EXPECT_EQ(t::run("readlink " + q(dir / "bundle/rootfs/usr/bin/y")).out, "x\n");
}

TEST(ImageCopy, ArchivesAreTheSameBytesWhenWrittenTwice) {
  UKIKIT_NEED_TOOL("umoci");
  UKIKIT_NEED_TOOL("cmp");
  UKIKIT_NEED_TOOL("faketime");
  t::temp_dir dir;
  make_umoci_image(dir.path());
  const std::string src = q(dir / "L") + ":t";
  for (const std::string kind : {"oci-archive", "docker-archive"}) {
    SCOPED_TRACE(kind);
    const auto a = dir / (kind + "-a.tar"), b = dir / (kind + "-b.tar");
    ASSERT_EQ(ukikit_image("copy " + src + " " + kind + ":" + q(a)).status, 0);
    // Elsewhere: another directory, clock, zone, umask.
    ASSERT_EQ(t::run(t::elsewhere(dir / "elsewhere", t::tool("ukikit") + " image copy " + src +
                                                         " " + kind + ":" + q(b)))
                  .status,
              0);
    EXPECT_EQ(t::run("cmp " + q(a) + " " + q(b)).status, 0);
  }
  // SOURCE_DATE_EPOCH sets the members' mtime.
  const auto c = dir / "sde.tar";
  ASSERT_EQ(t::run("SOURCE_DATE_EPOCH=1700000000 " + t::tool("ukikit") + " image copy " + src +
                   " oci-archive:" + q(c))
                .status,
            0);
  auto listing = t::run("tar --utc -tvf " + q(c) + " index.json");
  EXPECT_NE(listing.out.find("2023-11-14 22:13"), std::string::npos) << listing.out;
}

TEST(ImageCopy, AnExistingLayoutKeepsItsOtherTags) {
  UKIKIT_NEED_TOOL("umoci");
  UKIKIT_NEED_TOOL("skopeo");
  t::temp_dir dir;
  make_umoci_image(dir.path());
  const auto out = dir / "out";
  ASSERT_EQ(t::run("skopeo copy -q oci:" + q(dir / "L") + ":t oci:" + q(out) + ":a").status, 0);
  ASSERT_EQ(ukikit_image("copy " + q(dir / "L") + ":t " + q(out) + ":b").status, 0);
  ASSERT_EQ(ukikit_image("copy " + q(dir / "L") + ":t " + q(out) + ":b").status, 0);
  const json index = file_json(out / "index.json");
  ASSERT_EQ(index["manifests"].size(), 2u) << index.dump();
  EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "a");
  EXPECT_EQ(index["manifests"][1]["annotations"]["org.opencontainers.image.ref.name"], "b");
  for (const char* tag : {"a", "b"})
    EXPECT_EQ(t::run("skopeo inspect oci:" + q(out) + ":" + tag + " >/dev/null").status, 0) << tag;
  // A blob in the layout that is not what its name says is replaced.
  const std::string layer =
      file_json(blob_path(out, index_digest(dir / "L")))["layers"][0]["digest"];
  t::write_file(blob_path(out, layer), "garbage");
  ASSERT_EQ(ukikit_image("copy " + q(dir / "L") + ":t " + q(out) + ":c").status, 0);
  EXPECT_EQ(sha256_of(blob_path(out, layer)), layer);
}

TEST(ImageCopy, PicksOnePlatformOutOfAnIndex) {
  UKIKIT_NEED_TOOL("umoci");
  UKIKIT_NEED_TOOL("skopeo");
  UKIKIT_NEED_TOOL("python3");
  t::temp_dir dir;
  const std::string arm = make_two_platform_layout(dir.path(), false).arm64;
  // Both platforms without --platform: two roots; a docker-archive cannot hold them.
  EXPECT_EQ(ukikit_image("copy " + q(dir / "a/L") + " " + q(dir / "both")).status, 0);
  EXPECT_EQ(file_json(dir / "both/index.json")["manifests"].size(), 2u);
  auto refused = ukikit_image("copy " + q(dir / "a/L") + " docker-archive:" + q(dir / "d.tar"));
  EXPECT_EQ(refused.status, 2);
  EXPECT_NE(refused.out.find("--platform"), std::string::npos) << refused.out;
  // --platform picks arm64's manifest, unchanged; skopeo sees arm64.
  auto r = ukikit_image("copy --platform linux/arm64 " + q(dir / "a/L") +
                        " docker-archive:" + q(dir / "d.tar") + ":x/y:z");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.substr(0, arm.size()), arm);
  auto info = t::run("skopeo inspect docker-archive:" + q(dir / "d.tar"));
  ASSERT_EQ(info.status, 0);
  EXPECT_EQ(json::parse(info.out)["Architecture"], "arm64");
  auto none = ukikit_image("copy --platform linux/s390x " + q(dir / "a/L") + " " + q(dir / "n"));
  EXPECT_EQ(none.status, 2);
  EXPECT_NE(none.out.find("linux/s390x"), std::string::npos) << none.out;
  EXPECT_EQ(ukikit_image("copy --platform linux " + q(dir / "a/L") + " " + q(dir / "n")).status, 2);
}

TEST(ImageCopy, RefusesToCopyABrokenBlob) {
  UKIKIT_NEED_TOOL("umoci");
  t::temp_dir dir;
  make_umoci_image(dir.path());
  const auto layout = dir / "L";
  const std::string layer =
      file_json(blob_path(layout, index_digest(layout)))["layers"][0]["digest"];
  auto bytes = t::read_file(blob_path(layout, layer));
  bytes[10] ^= std::byte{0x40};
  t::write_file(blob_path(layout, layer), bytes);
  auto r = ukikit_image("copy " + q(layout) + " oci-archive:" + q(dir / "out.tar"));
  EXPECT_EQ(r.status, 1); // a digest mismatch is a failed check
  EXPECT_NE(r.out.find("digest mismatch"), std::string::npos) << r.out;
  EXPECT_FALSE(t::fs::exists(dir / "out.tar")); // nothing half-written
}

} // namespace
