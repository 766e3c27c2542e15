// What the image tests share: an image made by umoci, and reading what
// `ukikit image inspect --json` and the stores' JSON files say; the signing
// keys and a corrupted blob of the installer tests.
#pragma once

#include "support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace ukikit::test::image_fixture {

namespace t = ukikit::test;
using nlohmann::json;

inline std::string q(const t::fs::path& p) { return t::sh_quote(p.string()); }

inline std::string sha256_of(const t::fs::path& p) {
  auto r = t::run("sha256sum < " + q(p) + " | cut -c1-64");
  EXPECT_EQ(r.status, 0);
  return "sha256:" + r.out.substr(0, 64);
}

inline std::string blob_path(const t::fs::path& layout, const std::string& digest) {
  return (layout / "blobs/sha256" / digest.substr(7)).string();
}

// Flips a byte in the middle of the file (a blob that is no longer the one
// its digest names).
inline void corrupt(const t::fs::path& file) {
  auto bytes = t::read_file(file);
  bytes[bytes.size() / 2] ^= std::byte{0xff};
  t::write_file(file, bytes);
}

// The openssl commands that make, in `dir`, the test's signing keys: db and
// other (key and self-signed certificate), pcr and pcr-other (RSA key pairs).
inline std::vector<std::string> key_commands(const t::fs::path& dir) {
  std::vector<std::string> out;
  for (const char* who : {"db", "other"})
    out.push_back("openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=" +
                  std::string(who) + " -keyout " + q(dir / (std::string(who) + ".key")) + " -out " +
                  q(dir / (std::string(who) + ".crt")));
  for (const char* k : {"pcr", "pcr-other"})
    out.push_back("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " +
                  q(dir / (std::string(k) + ".key")) + " && openssl pkey -in " +
                  q(dir / (std::string(k) + ".key")) + " -pubout -out " +
                  q(dir / (std::string(k) + ".pub")));
  return out;
}

// An image made by umoci: one gzip layer from a small tree, an entrypoint,
// the given architecture, tag `t`.
inline void make_umoci_image(const t::fs::path& dir, const std::string& arch = "arm64") {
  t::fs::create_directories(dir / "tree/usr/bin");
  t::write_file(dir / "tree/usr/bin/x", "hello\n");
  t::fs::create_symlink("x", dir / "tree/usr/bin/y");
  const auto layout = dir / "L";
  ASSERT_EQ(t::run("tar --sort=name -cf " + q(dir / "layer.tar") + " -C " + q(dir / "tree") +
                   " . && umoci init --layout " + q(layout) + " && umoci new --image " + q(layout) +
                   ":t && umoci config --image " + q(layout) +
                   ":t --config.entrypoint /bin/x --architecture " + arch +
                   " && umoci raw add-layer --image " + q(layout) + ":t " + q(dir / "layer.tar"))
                .status,
            0);
}

inline json inspect_json(const std::string& ref, int want_status = 0) {
  auto r = t::detail::run_any_status(t::tool("ukikit") + " image inspect --json " +
                                     t::sh_quote(ref) + " 2>/dev/null");
  EXPECT_EQ(r.status, want_status) << ref;
  return json::parse(r.out);
}

inline json file_json(const t::fs::path& p) {
  auto bytes = t::read_file(p);
  return json::parse(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

inline bool has_code(const json& j, std::string_view code) {
  for (const auto& f : j["findings"])
    if (f["code"] == code) return true;
  return false;
}

// Two umoci images (amd64 in dir/a, arm64 in dir/b) in one layout, dir/a/L,
// its index.json listing both manifests with their platforms (flat), or
// one entry tagged `multi` for an inner index that lists them (nested).
struct two_platforms {
  t::fs::path layout;
  std::string amd64, arm64, inner; // manifest digests; the inner index's when nested
};

inline two_platforms make_two_platform_layout(const t::fs::path& dir, bool nested) {
  make_umoci_image(dir / "a", "amd64");
  make_umoci_image(dir / "b", "arm64");
  const std::string py = R"(
import json, hashlib, os, sys, shutil
a, b, nested = sys.argv[1], sys.argv[2], sys.argv[3] == '1'
for name in os.listdir(b + '/blobs/sha256'):
    shutil.copy(b + '/blobs/sha256/' + name, a + '/blobs/sha256/' + name)
ents = []
for layout, arch in ((a, 'amd64'), (b, 'arm64')):
    m = json.load(open(layout + '/index.json'))['manifests'][0]
    ents.append({'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': m['digest'],
                 'size': m['size'], 'platform': {'architecture': arch, 'os': 'linux'}})
inner = ''
if nested:
    body = json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.index.v1+json',
                       'manifests': ents}, separators=(',', ':')).encode()
    inner = 'sha256:' + hashlib.sha256(body).hexdigest()
    open(a + '/blobs/sha256/' + inner[7:], 'wb').write(body)
    ents = [{'mediaType': 'application/vnd.oci.image.index.v1+json', 'digest': inner,
             'size': len(body), 'annotations': {'org.opencontainers.image.ref.name': 'multi'}}]
json.dump({'schemaVersion': 2, 'manifests': ents}, open(a + '/index.json', 'w'))
)";
  t::write_file(dir / "merge.py", py);
  two_platforms out;
  out.layout = dir / "a/L";
  auto digest_of = [](const t::fs::path& layout) {
    return file_json(layout / "index.json")["manifests"][0]["digest"].get<std::string>();
  };
  out.amd64 = digest_of(out.layout);
  out.arm64 = digest_of(dir / "b/L");
  auto r = t::run("python3 " + q(dir / "merge.py") + " " + q(out.layout) + " " + q(dir / "b/L") +
                  (nested ? " 1" : " 0"));
  EXPECT_EQ(r.status, 0);
  if (nested) out.inner = digest_of(out.layout);
  return out;
}

} // namespace ukikit::test::image_fixture
