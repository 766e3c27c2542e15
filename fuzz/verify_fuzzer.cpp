// verify_fuzzer: the installer gate (installer/verify.hpp, `ukikit image
// verify`) over hostile images, with a fixed trust set: the db and revoked
// certificates of fuzz/verify_fuzzer.keys.pem trusted, revoked's also in dbx.
//
// The first input byte chooses how the rest becomes an image store:
//  - bit 2 set (raw): the rest is an archive, read as an oci-archive and
//    again as a docker-archive, as the tool reads one;
//  - else (built): the rest is a stack of layers per image, and the fuzzer
//    writes the oci-archive around them with every digest, size and diff_id
//    right, so that mutations reach the tree, the artifacts, PE,
//    Authenticode and .pcrsig instead of stopping at a blob digest. Bit 0:
//    two images, else one; per image one byte chooses the architecture and
//    one the number of layers (1 + bits 0-1); then every layer's length but
//    the last's (three bytes, big endian); then the layers, each typed by its
//    magic (gzip, zstd, else tar). Bit 3: the last image has no platform in
//    the index; bit 4: the last layer's diff_id is wrong; bit 5: --pcrpkey
//    is the seeds' PCR key (else each UKI's own .pcrpkey); bit 6: no dbx.
//
// Invariants: the report passes only if every architecture passes, and one
// that fails fails the report; every architecture's problems are among the
// report's; a passing architecture has a uki or legacy-signed layout, both
// artifacts found, for its platform's machine, and verdicts that passed;
// the JSON dumps and says what the report says; the text has one line per
// architecture, PASS exactly for those that passed, no control characters.
#include <ukikit/authenticode/signature_lists.hpp>
#include <ukikit/compress.hpp>
#include <ukikit/hash.hpp>
#include <ukikit/image/files.hpp>
#include <ukikit/image/source.hpp>
#include <ukikit/installer/verify.hpp>
#include <ukikit/report/json.hpp>
#include <ukikit/tar_writer.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace ukikit;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Larger inputs are ignored: a run stays quick.
constexpr std::size_t max_input = 4 << 20;
constexpr std::size_t max_layer = 8 << 20; // decompressed

// fuzz/verify_fuzzer.keys.pem's certificates and PCR public key.
constexpr std::string_view db_cert = R"(-----BEGIN CERTIFICATE-----
MIIDBjCCAe6gAwIBAgIBATANBgkqhkiG9w0BAQsFADAbMRkwFwYDVQQDDBB2ZXJp
ZnktZnV6emVyLWRiMCAXDTI2MTIwNzE4MzIzNFoYDzIxMjYxMTEzMTgzMjM0WjAb
MRkwFwYDVQQDDBB2ZXJpZnktZnV6emVyLWRiMIIBIjANBgkqhkiG9w0BAQEFAAOC
AQ8AMIIBCgKCAQEAvLLAk++mqDjuKKTQwtD+HIIMbYhXVuCXoXxKEdCHdypWZVhz
m3H61tYpDsHq3GSbDQv27nJROCPgCYr4jIFVpr+ukxWxqZFQxUURRZev7sjaHrRz
nEadMjOoi7D3Sqpx+eJgYPbh6t2KcyfE2Kf651EDz2PFPPzWnOAGwjAJ3c4dOzXk
XFjyIh41AcWptA2duoFSgdJKEP/29fHVEB/ICQ7tRr3VDRAjB8hE9ric8U0khmxV
uG7RjeFEicjjW1OgE/AAItKlrcr/2zPeE9mJ1NYrsBF6QhDpMObo4VbIf4FjkY4T
XTOLq+NrIJLGJhZxHU1ZCkgBujK5yLQINGygrwIDAQABo1MwUTAdBgNVHQ4EFgQU
KgtbDm124/asgl9nUjCyPdc/ysowHwYDVR0jBBgwFoAUKgtbDm124/asgl9nUjCy
Pdc/ysowDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAabw5WPe8
8KVWZqJZQ0JTbMGsHPpCD3PR4fLbvjrqlCi3+e65wSMlHKM3JsX7xCkF/AftNdz+
TOi8wxxpb3oZ7YCAM01oPCZJEKYU65ltYA3naOEa8fd6VlufSDbehed2l895D6cs
VomDx2zfQHGxKsQyQaN/lpcntCkFKfrdlZoOFInHfDd6wAAak/6q7Okp/GbigQBX
+NXJB7HVUQMxT1WgLp2tUYw7lgdX11TSUL7ub3Z/3NzelF6xEFSSsESo2O1HM0Tr
X/4XdDowd++0ZfBYjYcQaBVvU195hQYmCnZWees1FQQn+eAatUgtuSnZmpS7cpiv
Gi4pNX2q+PRMuw==
-----END CERTIFICATE-----
)";
constexpr std::string_view revoked_cert = R"(-----BEGIN CERTIFICATE-----
MIIDEDCCAfigAwIBAgIBATANBgkqhkiG9w0BAQsFADAgMR4wHAYDVQQDDBV2ZXJp
ZnktZnV6emVyLXJldm9rZWQwIBcNMjYxMjA3MTgzMjM0WhgPMjEyNjExMTMxODMy
MzRaMCAxHjAcBgNVBAMMFXZlcmlmeS1mdXp6ZXItcmV2b2tlZDCCASIwDQYJKoZI
hvcNAQEBBQADggEPADCCAQoCggEBAOEKYp2kvoRhAH6YoJbMWgnyGpcjuXORDqnI
KR56wqVyP64Wi+JHhBJkjNTjxy7M+DULhsXb7pc5FrpDcfuCBZ2Q6pe2KMXK77M3
X3wkVbVljnXWimmk9EKayA6kYG4MPZSmmr4kLSzeRhS6sxT+9D5aXgSdUtmSPwlT
LEYbOhF+kTbydewY2yfIQTeQZKkEgXxBKDvAMsJ3cAOLfB5Q9kBze1khXgOsknPE
fNycGtEMwkYJcCPUnT9J5Yz5a8Q8zIVLLatZlCLkDCPTLZJvoG5m4I99P9vNSqvL
K7kYzYT+sVIKIjFKWKV5Pd5n3lcT90/qY0sPM/07rCa5JWpazFcCAwEAAaNTMFEw
HQYDVR0OBBYEFNWVPsJASwT7r6C3vF8RRfu3b85JMB8GA1UdIwQYMBaAFNWVPsJA
SwT7r6C3vF8RRfu3b85JMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQAD
ggEBAEE1aoayqHRTxI4pFzGWEPRQ3k3ce1w1q17ECV7n7QXWNoyFsuCwIlQirN4a
SqYf9iWYFmB8GNd5lltz0mdu1vPtj8/0ekhlCGZHxGhEQ4uDUGC7XxG5oan0TC9+
ZtR5izBdgynjSrXXONBkrlZ/sozn7ZEPFimZKeBHnrYZte/9KYTJ8Za4wTUF5Emc
cG2r5YR+/HwdewGKZovFcge42fQTo1sbbBOn3lW1Ss3o940TjyRSU74CxnG+sXWR
u1FKjPQeeula2OnCWtzqVSuly3PnPd/srUU4mPKMsSoeUW235r8sg/sY266PW0gz
YD48Ym7ljaxrzus4l2/y5/0lsJU=
-----END CERTIFICATE-----
)";
constexpr std::string_view pcr_public_key = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAlhmo9r6EVa2sCB5iDPki
gzDmQI5i8i7Rc/fE414FvOLvT5NAk/xnHFI27Y34Q4BfLu+JUohZjyflK+Ic4ruW
zTcU02U8C4GP/4cDVG4TLm4bw82Y2P+UxLRkmDD5lisfCvKRc5x06tU7bj29ikgX
mXol/vlevg64S7cUawlhkIQm1QS6tM/4TlwYw1oGVz0xgZ34k4yxAI4+BPJ8PzNf
eXQKYWloBbLgeSJwoJ8AzigP8zr244HH6YvVBuP/1ALexY1uCOw8qZchmk74GchK
QcbdXpZl9Y/V8krMrsj4LfxKdO+RI0cLe0gr1phHsjsHvqTTKSIw1mX2fHwmyoaW
+QIDAQAB
-----END PUBLIC KEY-----
)";

byte_span span_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

authenticode::signature_database load(std::string_view pem) {
  auto db = authenticode::load_trust(span_of(pem), "fuzzer certificate");
  check(db.ok());
  return std::move(*db);
}

const authenticode::signature_database& trust() {
  static const authenticode::signature_database db = [] {
    auto d = load(db_cert);
    d.merge(load(revoked_cert));
    return d;
  }();
  return db;
}

const authenticode::signature_database& forbidden() {
  static const authenticode::signature_database dbx = load(revoked_cert);
  return dbx;
}

// ---- the built store ----------------------------------------------------------------

constexpr std::string_view architectures[] = {"amd64", "arm64", "riscv64", "arm", "386", "s390x"};

std::string sha256(byte_span b) {
  auto h = hash::compute(hash::algorithm::sha256, b);
  check(h.ok());
  return h->str();
}

std::string text(const nlohmann::ordered_json& j) { return j.dump(); }

// An oci-archive whose blobs are `blobs` (digest -> bytes, kept alive by the
// caller), with oci-layout and index.json.
std::vector<std::byte> archive_of(const std::vector<std::pair<std::string, byte_span>>& blobs,
                                  const std::string& layout, const std::string& index) {
  std::vector<tar::member> members;
  auto add = [&](std::string path, byte_span data) {
    for (const auto& m : members)
      if (m.path == path) return; // one member per digest
    tar::member m;
    m.path = std::move(path);
    m.mode = 0644;
    m.size = data.size();
    m.data = data;
    members.push_back(std::move(m));
  };
  add("oci-layout", span_of(layout));
  add("index.json", span_of(index));
  for (const auto& [digest, bytes] : blobs) add("blobs/sha256/" + digest.substr(7), bytes);
  std::vector<std::byte> out;
  auto plan = tar::make_plan(std::move(members));
  check(plan.ok());
  auto sink = [&out](byte_span chunk) -> result<void> {
    out.insert(out.end(), chunk.begin(), chunk.end());
    return success();
  };
  check(tar::write(*plan, sink).ok());
  return out;
}

struct built {
  std::vector<std::string> texts; // configs, manifests: alive while the archive is read
  std::vector<std::byte> archive;
};

// The store of "built" mode; empty when the input ends too soon.
bool build(const std::uint8_t* data, std::size_t size, built& out) {
  const std::uint8_t flags = data[0];
  const std::size_t images = 1 + (flags & 1u);
  std::size_t at = 1;
  struct image_plan {
    std::string_view arch;
    std::size_t layers;
  };
  std::vector<image_plan> plan;
  std::size_t total = 0;
  for (std::size_t i = 0; i < images; ++i) {
    if (at + 2 > size) return false;
    plan.push_back({architectures[data[at] % std::size(architectures)], 1 + (data[at + 1] & 3u)});
    total += plan.back().layers;
    at += 2;
  }
  std::vector<std::size_t> lengths;
  for (std::size_t i = 0; i + 1 < total; ++i) {
    if (at + 3 > size) return false;
    lengths.push_back(std::size_t{data[at]} << 16 | std::size_t{data[at + 1]} << 8 | data[at + 2]);
    at += 3;
  }
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  std::vector<byte_span> layers;
  for (std::size_t len : lengths) {
    const std::size_t n = std::min(len, size - at);
    layers.emplace_back(bytes + at, n);
    at += n;
  }
  layers.emplace_back(bytes + at, size - at);

  using oj = nlohmann::ordered_json;
  std::vector<std::pair<std::string, byte_span>> blobs;
  // Reserved up front: blobs point into texts.
  out.texts.reserve(2 * images + 2);
  oj index{{"schemaVersion", 2},
           {"mediaType", "application/vnd.oci.image.index.v1+json"},
           {"manifests", oj::array()}};
  std::size_t next = 0;
  for (std::size_t i = 0; i < images; ++i) {
    oj descs = oj::array(), diff_ids = oj::array();
    for (std::size_t j = 0; j < plan[i].layers; ++j) {
      const byte_span blob = layers[next++];
      const auto f = compress::detect(blob);
      std::string type = "application/vnd.oci.image.layer.v1.tar";
      std::string diff_id = sha256(blob);
      if (f == compress::format::gzip || f == compress::format::zstd) {
        type += f == compress::format::gzip ? "+gzip" : "+zstd";
        compress::decode_options o;
        o.max_output = max_layer;
        auto tar = compress::decompress(blob, o);
        diff_id = tar ? sha256(*tar) : "sha256:" + std::string(64, 'e');
      }
      if ((flags & 0x10u) && next == layers.size()) diff_id = "sha256:" + std::string(64, '0');
      const std::string digest = sha256(blob);
      blobs.emplace_back(digest, blob);
      descs.push_back({{"mediaType", type}, {"digest", digest}, {"size", blob.size()}});
      diff_ids.push_back(diff_id);
    }
    const std::string arch(plan[i].arch);
    out.texts.push_back(text(oj{{"architecture", arch},
                                {"os", "linux"},
                                {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}));
    const byte_span config = span_of(out.texts.back());
    blobs.emplace_back(sha256(config), config);
    out.texts.push_back(text(oj{{"schemaVersion", 2},
                                {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                {"config",
                                 {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                                  {"digest", sha256(config)},
                                  {"size", config.size()}}},
                                {"layers", descs}}));
    const byte_span manifest = span_of(out.texts.back());
    blobs.emplace_back(sha256(manifest), manifest);
    oj entry{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
             {"digest", sha256(manifest)},
             {"size", manifest.size()}};
    if (!((flags & 0x08u) && i + 1 == images))
      entry["platform"] = {{"architecture", arch}, {"os", "linux"}};
    index["manifests"].push_back(std::move(entry));
  }
  out.texts.push_back(R"({"imageLayoutVersion":"1.0.0"})");
  const std::string& layout = out.texts.back();
  out.texts.push_back(text(index));
  out.archive = archive_of(blobs, layout, out.texts.back());
  return true;
}

// ---- the gate and its invariants --------------------------------------------------------

bool contains(const std::vector<std::string>& all, const std::string& s) {
  return std::find(all.begin(), all.end(), s) != all.end();
}

void gate(byte_span archive, image::transport how, std::uint8_t flags) {
  auto f = image::files::archive_view(archive);
  if (!f) return;
  image::reference ref;
  ref.transport = how;
  ref.path = "fuzz.tar";
  auto src = image::source::from_files(std::move(*f), ref);
  if (!src) return;
  installer::verify_options o;
  o.trust = &trust();
  o.dbx = (flags & 0x40u) ? nullptr : &forbidden();
  if (flags & 0x20u) o.pcrpkey = span_of(pcr_public_key);
  o.lookup.max_layer_size = max_layer;
  o.lookup.max_file_size = 4 << 20;
  const installer::verify_report r = installer::verify(*src, o);

  const auto problems = r.problems();
  // A failure says why; a pass has an architecture and no error (only
  // warnings may have been dropped).
  if (!r.passed()) check(!problems.empty());
  if (r.passed())
    check(!r.architectures.empty() && (problems.empty() || r.findings.dropped() != 0));
  for (const auto& a : r.architectures) {
    if (!a.passed()) check(!r.passed());
    if (r.findings.dropped() == 0)
      for (const auto& p : a.problems) check(contains(problems, p));
    for (const auto& c : a.artifacts)
      if (c.found) check(c.sha256.size() == 64);
    if (!a.passed()) continue;
    check(a.found && *a.found != installer::layout::legacy);
    check(a.artifacts.size() == 2);
    const auto machine = installer::pe_machine(a.architecture);
    check(machine.has_value());
    for (const auto& c : a.artifacts) {
      check(c.found && c.machine == machine);
      check(c.verdict && c.verdict->passed);
    }
  }

  const auto j = installer::to_json(r);
  const std::string dumped = report::json_text(j);
  check(!dumped.empty());
  check(j["passed"] == r.passed());
  check(j["architectures"].size() == r.architectures.size());
  check(j["problems"].size() == problems.size());

  const std::string lines = installer::verify_text(r);
  std::size_t n = 0, start = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto c = static_cast<unsigned char>(lines[i]);
    if (c == '\n') {
      check(n < r.architectures.size());
      const std::string_view line(lines.data() + start, i - start);
      check(line.substr(0, 5) == (r.architectures[n].passed() ? "PASS " : "FAIL "));
      ++n;
      start = i + 1;
    } else {
      check(c >= 0x20 && c != 0x7f);
    }
  }
  check(n == r.architectures.size() && start == lines.size());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > max_input) return 0;
  const std::uint8_t flags = data[0];
  if (flags & 0x04u) {
    const byte_span rest(reinterpret_cast<const std::byte*>(data + 1), size - 1);
    gate(rest, image::transport::oci_archive, flags);
    gate(rest, image::transport::docker_archive, flags);
    return 0;
  }
  built b;
  if (!build(data, size, b)) return 0;
  gate(b.archive, image::transport::oci_archive, flags);
  return 0;
}
