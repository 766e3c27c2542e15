// Image stores read in place (image/source.hpp) and `ukikit image inspect` /
// `ukiinspect REF` (report/image.hpp): images written by umoci and skopeo
// (OCI layout, oci-archive, docker-archive, a two-platform index) are read,
// and every value the report shows is compared with what skopeo, python3's
// json, sha256sum and GNU tar say of the same bytes. Broken stores (a blob
// changed, cut, missing, a diff_id that lies, a manifest where an index
// belongs, duplicate JSON keys, oversized JSON, an archive member named
// "..") are each reported by code, never accepted.
#include "image_fixture.hpp"
#include "support.hpp"

#include <ukikit/image/reference.hpp>
#include <ukikit/image/source.hpp>
#include <ukikit/report/image.hpp>
#include <ukikit/report/json.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace {

using namespace ukikit;
namespace t = ukikit::test;
using namespace ukikit::test::image_fixture;
using nlohmann::json;

TEST(ImageReference, ParsesSkopeoSpellings) {
  auto a = image::parse_reference("oci-archive:/x/a.tar:v1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->transport, image::transport::oci_archive);
  EXPECT_EQ(a->path, "/x/a.tar");
  EXPECT_EQ(a->tag, "v1");
  auto d = image::parse_reference("docker-archive:d.tar:foo/bar:v1");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->path, "d.tar");
  EXPECT_EQ(d->tag, "foo/bar:v1");
  auto n = image::parse_reference("docker-archive:d.tar:@1");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->tag, "@1");
  auto o = image::parse_reference("oci:dir:tag");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->transport, image::transport::layout);
  EXPECT_EQ(o->text(), "oci:dir:tag");
  EXPECT_FALSE(image::parse_reference(""));
  EXPECT_FALSE(image::parse_reference("oci:dir:"));
  EXPECT_FALSE(image::parse_reference("oci:dir:bad tag"));
  EXPECT_FALSE(image::parse_reference("oci:dir:-x"));
  EXPECT_FALSE(image::parse_reference("docker://localhost:5000/x:y")); // not yet
}

TEST(ImageReference, TagGrammarIsImageLayouts) {
  // image-layout.md: component ("/" component)*, alphanum (separator alphanum)*,
  // separator [-._:@+] | "--".
  for (const char* ok : {"v1", "1.0.0", "a--b", "a/b/c", "x:y@z+w", "latest"})
    EXPECT_TRUE(image::detail::valid_ref_name(ok)) << ok;
  for (const char* bad : {"", "-a", "a-", "a---b", "a//b", "/a", "a/", "a b", "a..b/"})
    EXPECT_FALSE(image::detail::valid_ref_name(bad)) << bad;
}

// Every transport skopeo writes, read back: the manifest, config and layer
// digests and sizes equal sha256sum/stat of the bytes skopeo wrote, the
// platform and entrypoint equal what python3's json reads of the config,
// the diff_id equals sha256sum of the decompressed layer, the entry count
// equals GNU tar's listing.
TEST(ImageInspect, ReadsWhatUmociAndSkopeoWrite) {
  UKIKIT_NEED_TOOL("umoci");
  UKIKIT_NEED_TOOL("skopeo");
  UKIKIT_NEED_TOOL("python3");
  t::temp_dir dir;
  make_umoci_image(dir.path());
  const auto layout = dir / "L";
  ASSERT_EQ(t::run("skopeo copy -q oci:" + q(layout) + ":t oci-archive:" + q(dir / "a.tar") +
                   ":t && skopeo copy -q oci:" + q(layout) + ":t docker-archive:" +
                   q(dir / "d.tar") + ":foo/bar:v1 && skopeo copy -q oci:" + q(layout) +
                   ":t oci:" + q(dir / "L2") + ":copied")
                .status,
            0);
  // What skopeo says of the image.
  auto raw = t::run("skopeo inspect --raw oci:" + q(layout) + ":t");
  ASSERT_EQ(raw.status, 0);
  const json manifest = json::parse(raw.out);
  const std::string manifest_digest = file_json(layout / "index.json")["manifests"][0]["digest"];
  EXPECT_EQ(sha256_of(blob_path(layout, manifest_digest)), manifest_digest);
  const std::string config_digest = manifest["config"]["digest"];
  const std::string layer_digest = manifest["layers"][0]["digest"];
  const json config = file_json(blob_path(layout, config_digest));
  auto diff = t::run("gzip -dc < " + t::sh_quote(blob_path(layout, layer_digest)) +
                     " | sha256sum | cut -c1-64");
  auto count = t::run("tar -tzf " + t::sh_quote(blob_path(layout, layer_digest)) + " | wc -l");
  ASSERT_EQ(diff.status, 0);
  ASSERT_EQ(count.status, 0);
  const std::string diff_id = "sha256:" + diff.out.substr(0, 64);
  const auto entries = std::stoull(count.out);

  for (const std::string& ref :
       {"oci:" + layout.string() + ":t", layout.string(), "oci-archive:" + (dir / "a.tar").string(),
        (dir / "a.tar").string(), (dir / "L2").string() + ":copied"}) {
    SCOPED_TRACE(ref);
    const auto j = inspect_json(ref);
    ASSERT_EQ(j["manifests"].size(), 1u);
    const auto& m = j["manifests"][0];
    EXPECT_EQ(m["digest"], manifest_digest);
    EXPECT_EQ(m["config"]["digest"], config_digest);
    EXPECT_EQ(m["config"]["platform"]["architecture"], config["architecture"]);
    EXPECT_EQ(m["config"]["platform"]["os"], config["os"]);
    EXPECT_EQ(m["config"]["entrypoint"], config["config"]["Entrypoint"]);
    EXPECT_EQ(m["config"]["diff_ids"], config["rootfs"]["diff_ids"]);
    ASSERT_EQ(m["layers"].size(), 1u);
    EXPECT_EQ(m["layers"][0]["digest"], layer_digest);
    EXPECT_EQ(m["layers"][0]["size"], manifest["layers"][0]["size"]);
    EXPECT_EQ(m["layers"][0]["compression"], "gzip");
    EXPECT_EQ(m["layers"][0]["diff_id"], diff_id);
    EXPECT_EQ(m["layers"][0]["entries"], entries);
    EXPECT_TRUE(j["findings"].is_array());
    for (const auto& f : j["findings"]) EXPECT_NE(f["severity"], "error") << f.dump();
  }

  // docker-archive: the layer is the uncompressed tar (its digest is the
  // diff_id), the config is the same bytes, the tag is skopeo's RepoTags.
  for (const std::string& ref :
       {"docker-archive:" + (dir / "d.tar").string(),
        "docker-archive:" + (dir / "d.tar").string() + ":foo/bar:v1",
        "docker-archive:" + (dir / "d.tar").string() + ":@0", (dir / "d.tar").string()}) {
    SCOPED_TRACE(ref);
    const auto j = inspect_json(ref);
    ASSERT_EQ(j["manifests"].size(), 1u);
    const auto& m = j["manifests"][0];
    EXPECT_EQ(m["tag"], "docker.io/foo/bar:v1");
    EXPECT_EQ(m["config"]["digest"], config_digest);
    EXPECT_EQ(m["layers"][0]["digest"], diff_id);
    EXPECT_EQ(m["layers"][0]["diff_id"], diff_id);
    EXPECT_EQ(m["layers"][0]["compression"], "none");
    EXPECT_EQ(m["layers"][0]["entries"], entries);
  }
  // ukiinspect takes the same references and prints the same JSON.
  auto ui = t::run(t::tool("ukiinspect") + " --json " + q(dir / "a.tar"));
  ASSERT_EQ(ui.status, 0) << ui.out;
  EXPECT_EQ(json::parse(ui.out), inspect_json((dir / "a.tar").string()));
  auto text = t::run(t::tool("ukiinspect") + " oci:" + q(layout) + ":t");
  ASSERT_EQ(text.status, 0) << text.out;
  EXPECT_NE(text.out.find("linux/arm64"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(layer_digest), std::string::npos) << text.out;
}

// `ukikit layer list REF@DIGEST` lists a layer inside a store as GNU tar
// lists the blob file.
TEST(ImageInspect, LayerListTakesALayerOfAnImage) {
  UKIKIT_NEED_TOOL("umoci");
  UKIKIT_NEED_TOOL("skopeo");
  UKIKIT_NEED_TOOL("tar");
  t::temp_dir dir;
  make_umoci_image(dir.path());
  const auto layout = dir / "L";
  ASSERT_EQ(t::run("skopeo copy -q oci:" + q(layout) + ":t oci-archive:" + q(dir / "a.tar")).status,
            0);
  const std::string manifest = file_json(layout / "index.json")["manifests"][0]["digest"];
  const std::string layer = file_json(blob_path(layout, manifest))["layers"][0]["digest"];
  auto want =
      t::run("LC_ALL=C tar --numeric-owner --utc -tvzf " + t::sh_quote(blob_path(layout, layer)));
  ASSERT_EQ(want.status, 0);
  for (const std::string& ref :
       {"oci-archive:" + (dir / "a.tar").string(), (dir / "a.tar").string(), layout.string()}) {
    auto got = t::run(t::tool("ukikit") + " layer list -v " + t::sh_quote(ref + "@" + layer));
    EXPECT_EQ(got.status, 0) << ref;
    EXPECT_EQ(got.out, want.out) << ref;
  }
  auto missing = t::run(t::tool("ukikit") + " layer list " +
                        t::sh_quote(layout.string() + "@sha256:" + std::string(64, 'a')) + " 2>&1");
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.out.find("no blob"), std::string::npos) << missing.out;
}

TEST(ImageInspect, NamesTheImageATagSelects) {
  UKIKIT_NEED_TOOL("umoci");
  UKIKIT_NEED_TOOL("skopeo");
  t::temp_dir dir;
  make_umoci_image(dir.path());
  const auto layout = dir / "L";
  ASSERT_EQ(t::run("umoci tag --image " + q(layout) + ":t other").status, 0);
  EXPECT_EQ(inspect_json(layout.string())["manifests"].size(), 2u);
  EXPECT_EQ(inspect_json(layout.string() + ":other")["manifests"].size(), 1u);
  auto r = t::detail::run_any_status(t::tool("ukikit") + " image inspect " + q(layout) +
                                     ":missing" + " 2>&1");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("no image tagged missing"), std::string::npos) << r.out;
  auto n = t::detail::run_any_status(t::tool("ukikit") + " image inspect " + q(layout) +
                                     ":bad..tag" + " 2>&1");
  EXPECT_EQ(n.status, 2);
}

// A two-platform index, as skopeo copies one (`--all` keeps every platform):
// made here from two umoci images whose manifests go into one index.json,
// which skopeo then copies; every platform is listed with its own layers.
TEST(ImageInspect, WalksAMultiPlatformIndex) {
  UKIKIT_NEED_TOOL("umoci");
  UKIKIT_NEED_TOOL("skopeo");
  UKIKIT_NEED_TOOL("python3");
  t::temp_dir dir;
  const auto two = make_two_platform_layout(dir.path(), true);
  const auto& layout = two.layout;
  const std::string& inner = two.inner;
  ASSERT_EQ(t::run("skopeo copy -q --all oci:" + q(layout) +
                   ":multi oci-archive:" + q(dir / "multi.tar") + ":multi")
                .status,
            0);
  for (const std::string& ref : {layout.string() + ":multi", (dir / "multi.tar").string()}) {
    SCOPED_TRACE(ref);
    const auto j = inspect_json(ref);
    ASSERT_EQ(j["manifests"].size(), 2u);
    EXPECT_EQ(j["manifests"][0]["platform"]["architecture"], "amd64");
    EXPECT_EQ(j["manifests"][1]["platform"]["architecture"], "arm64");
    EXPECT_EQ(j["manifests"][0]["config"]["platform"]["architecture"], "amd64");
    EXPECT_EQ(j["manifests"][1]["config"]["platform"]["architecture"], "arm64");
    EXPECT_EQ(j["manifests"][0]["parents"][0], inner);
    EXPECT_EQ(j["manifests"][0]["digest"], two.amd64);
    EXPECT_EQ(j["manifests"][1]["digest"], two.arm64);
    EXPECT_EQ(j["manifests"][1]["layers"].size(), 1u);
  }
  // skopeo agrees the archive holds both platforms.
  auto raw = t::run("skopeo inspect --raw oci-archive:" + q(dir / "multi.tar"));
  ASSERT_EQ(raw.status, 0);
  EXPECT_EQ(json::parse(raw.out)["manifests"].size(), 2u);
}

// ---- broken stores ------------------------------------------------------------

struct broken_image : ::testing::Test {
  t::temp_dir dir;
  t::fs::path layout;
  json manifest;
  std::string manifest_digest;

  void SetUp() override {
    UKIKIT_NEED_TOOL("umoci");
    make_umoci_image(dir.path());
    layout = dir / "L";
    const json index = file_json(layout / "index.json");
    manifest_digest = index["manifests"][0]["digest"];
    manifest = file_json(blob_path(layout, manifest_digest));
  }
  std::string layer() const { return blob_path(layout, manifest["layers"][0]["digest"]); }
  std::string config() const { return blob_path(layout, manifest["config"]["digest"]); }
};

TEST_F(broken_image, ChangedLayerIsADigestMismatch) {
  auto bytes = t::read_file(layer());
  bytes[bytes.size() / 2] ^= std::byte{1};
  t::write_file(layer(), bytes);
  const auto j = inspect_json(layout.string(), 1);
  EXPECT_TRUE(has_code(j, image::code::blob_mismatch)) << j.dump(1);
  EXPECT_TRUE(j["manifests"][0]["layers"][0]["entries"].is_null());
}

TEST_F(broken_image, CutLayerIsASizeMismatch) {
  auto bytes = t::read_file(layer());
  ASSERT_FALSE(bytes.empty());
  t::write_file(layer(), std::span<const std::byte>(bytes).first(bytes.size() - 1));
  EXPECT_TRUE(has_code(inspect_json(layout.string(), 1), image::code::blob_mismatch));
}

TEST_F(broken_image, MissingConfigIsReported) {
  t::fs::remove(config());
  const auto j = inspect_json(layout.string(), 1);
  EXPECT_TRUE(has_code(j, image::code::missing_blob)) << j.dump(1);
}

// A config whose diff_id is not the layer's: the config is rewritten (and
// re-digested, and the manifest with it) so only the diff_id lies.
TEST_F(broken_image, DiffIdThatIsNotTheLayersIsReported) {
  UKIKIT_NEED_TOOL("python3");
  const std::string py = R"(
import json, hashlib, sys, os
L, md = sys.argv[1], sys.argv[2]
def put(obj):
    b = json.dumps(obj, separators=(',', ':')).encode()
    h = hashlib.sha256(b).hexdigest()
    open(L + '/blobs/sha256/' + h, 'wb').write(b)
    return 'sha256:' + h, len(b)
m = json.load(open(L + '/blobs/sha256/' + md[7:]))
c = json.load(open(L + '/blobs/sha256/' + m['config']['digest'][7:]))
c['rootfs']['diff_ids'][0] = 'sha256:' + '0' * 64
m['config']['digest'], m['config']['size'] = put(c)
d, n = put(m)
i = json.load(open(L + '/index.json'))
i['manifests'][0]['digest'], i['manifests'][0]['size'] = d, n
open(L + '/index.json', 'w').write(json.dumps(i))
)";
  t::write_file(dir / "lie.py", py);
  ASSERT_EQ(t::run("python3 " + q(dir / "lie.py") + " " + q(layout) + " " + manifest_digest).status,
            0);
  const auto j = inspect_json(layout.string(), 1);
  ASSERT_TRUE(has_code(j, report::code::image_diff_id_mismatch)) << j.dump(1);
  for (const auto& f : j["findings"]) {
    if (f["code"] == report::code::image_diff_id_mismatch) {
      EXPECT_EQ(f["claimed"], "sha256:" + std::string(64, '0'));
    }
  }
}

TEST_F(broken_image, ManifestWhereAnIndexBelongsIsAnError) {
  json index = file_json(layout / "index.json");
  index["manifests"][0]["mediaType"] = "application/vnd.oci.image.index.v1+json";
  t::write_file(layout / "index.json", index.dump());
  const auto j = inspect_json(layout.string(), 1);
  EXPECT_TRUE(has_code(j, report::code::image_bad_blob)) << j.dump(1);
}

TEST_F(broken_image, DuplicateKeysInIndexJsonAreRefused) {
  t::write_file(layout / "index.json", R"({"schemaVersion":2,"schemaVersion":2,"manifests":[]})");
  auto r = t::detail::run_any_status(t::tool("ukikit") + " image inspect " + q(layout) + " 2>&1");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("index.json"), std::string::npos) << r.out;
}

TEST_F(broken_image, OversizedIndexJsonIsRefused) {
  std::string big = R"({"schemaVersion":2,"manifests":[],"annotations":{"x":")";
  big += std::string(5u << 20, 'a');
  big += "\"}}";
  t::write_file(layout / "index.json", big);
  auto r = t::detail::run_any_status(t::tool("ukikit") + " image inspect " + q(layout) + " 2>&1");
  EXPECT_EQ(r.status, 2) << r.out;
}

TEST_F(broken_image, InvalidUtf8InAManifestIsReported) {
  // The manifest gains an annotation with a byte that is not UTF-8; the
  // index points at the new bytes, so only the encoding is wrong.
  auto bytes = t::read_file(blob_path(layout, manifest_digest));
  std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  text.insert(text.size() - 1, ",\"annotations\":{\"a\":\"\xff\"}");
  const auto p = dir / "m.json";
  t::write_file(p, text);
  const std::string d = sha256_of(p);
  t::fs::copy_file(p, blob_path(layout, d));
  json index = file_json(layout / "index.json");
  index["manifests"][0]["digest"] = d;
  index["manifests"][0]["size"] = text.size();
  t::write_file(layout / "index.json", index.dump());
  EXPECT_TRUE(has_code(inspect_json(layout.string(), 1), report::code::image_bad_blob));
}

// Archives whose members would put a blob somewhere else for another tool.
TEST(ImageArchive, RefusesDotDotAndDuplicateMembers) {
  UKIKIT_NEED_TOOL("python3");
  t::temp_dir dir;
  const std::string py = R"(
import tarfile, io, sys
def add(t, name, data):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
with tarfile.open(sys.argv[1], 'w', format=tarfile.USTAR_FORMAT) as t:
    add(t, 'oci-layout', b'{"imageLayoutVersion":"1.0.0"}')
    add(t, '../index.json', b'{"schemaVersion":2,"manifests":[]}')
with tarfile.open(sys.argv[2], 'w', format=tarfile.USTAR_FORMAT) as t:
    add(t, 'oci-layout', b'{"imageLayoutVersion":"1.0.0"}')
    add(t, 'index.json', b'{"schemaVersion":2,"manifests":[]}')
    add(t, './index.json', b'{"schemaVersion":2,"manifests":[{}]}')
with tarfile.open(sys.argv[3], 'w', format=tarfile.USTAR_FORMAT) as t:
    add(t, 'oci-layout', b'{"imageLayoutVersion":"2.0.0"}')
    add(t, 'index.json', b'{"schemaVersion":2,"manifests":[]}')
)";
  t::write_file(dir / "mk.py", py);
  ASSERT_EQ(t::run("python3 " + q(dir / "mk.py") + " " + q(dir / "dotdot.tar") + " " +
                   q(dir / "dup.tar") + " " + q(dir / "v2.tar"))
                .status,
            0);
  for (const char* name : {"dotdot.tar", "dup.tar", "v2.tar"}) {
    auto r = t::detail::run_any_status(t::tool("ukikit") +
                                       " image inspect oci-archive:" + q(dir / name) + " 2>&1");
    EXPECT_EQ(r.status, 2) << name << ": " << r.out;
  }
  auto ok =
      image::source::open(*image::parse_reference("oci-archive:" + (dir / "dup.tar").string()));
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message().find("twice"), std::string::npos) << ok.error().message();
}

// A docker-archive symlink member (old `docker save` links identical layers)
// resolves inside the archive; one that leaves it is refused.
TEST(ImageArchive, FollowsSymlinksOnlyInsideTheArchive) {
  EXPECT_EQ(image::detail::resolve_link("abc/layer.tar", "../x.tar"), "x.tar");
  EXPECT_EQ(image::detail::resolve_link("abc/layer.tar", "./y/../x.tar"), "abc/x.tar");
  EXPECT_FALSE(image::detail::resolve_link("abc/layer.tar", "../../x.tar"));
  EXPECT_FALSE(image::detail::resolve_link("abc/layer.tar", "/etc/passwd"));
  EXPECT_EQ(image::detail::normalize_member("./a//b/"), "a/b");
  EXPECT_FALSE(image::detail::normalize_member("a/../b"));
  EXPECT_FALSE(image::detail::normalize_member("/a"));
}

} // namespace
