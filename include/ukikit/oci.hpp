// OCI image model (image-spec v1.1.1) and Docker image manifest v2 schema 2:
// digests, media types, descriptors, platforms, image indexes (and Docker
// manifest lists), image manifests, image configs; strict parsers and
// deterministic writers. No I/O: every parser takes the bytes as received.
//
// Facts: ../shared/reference/formats.md §3 (reference copy of image-spec
// descriptor.md, manifest.md, image-index.md, config.md).
//
// Parsing (parse_index, parse_manifest, parse_manifest_or_index,
// parse_config, parse_descriptor, parse_layout_header for `oci-layout`):
// - the JSON is read by json.hpp, which refuses duplicate names, invalid
//   UTF-8 and lone surrogate escapes, deep nesting and input over the size
//   limit (4 MiB by default, parse_options::limits);
// - every parser returns the model together with the digest and size of the
//   bytes it was given (never of a re-serialization);
// - with parse_options::described_by (the descriptor the bytes were fetched
//   by), the size is compared first, then the digest; and a manifest or
//   index whose body has a mediaType must agree with the descriptor's
//   (CVE-2021-41190). A body without mediaType is judged by the descriptor's
//   mediaType, else by its fields (`manifests` for an index, `config` and
//   `layers` for a manifest); a body with both is an error;
// - wrong JSON types, sizes that are negative, fractional or beyond int64,
//   bad digests, a missing required field, schemaVersion other than 2, a
//   rootfs.type other than "layers", a manifest whose config is the empty
//   type without artifactType, and a descriptor whose `data` does not match
//   its size and digest are errors with the byte offset of the value;
// - null for an optional field is the same as the field being absent (as Go
//   reads it); a `created` that is not RFC 3339 is a finding;
// - unknown fields are kept, in input order, in each object's `extra` and
//   written back after the known ones; unknown annotation keys are kept like
//   any other.
//
// Writing: oci_writer.hpp (to_json, serialize; compact, deterministic key
// order; parse(serialize(x)) == x).
#pragma once

#include "base64.hpp"
#include "bytes.hpp"
#include "diagnostics.hpp"
#include "hash.hpp"
#include "json.hpp"
#include "result.hpp"

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace ukikit::oci {

// Finding codes (README, "OCI model").
namespace code {
// A layer whose media type is neither an OCI nor a Docker layer type (note;
// the spec says such layers MUST NOT be an error).
inline constexpr std::string_view unknown_layer_type = "oci.unknown-layer-type";
// A nondistributable (deprecated) OCI layer or a Docker foreign layer.
inline constexpr std::string_view nondistributable = "oci.nondistributable";
// A manifest or index body without mediaType (SHOULD be set).
inline constexpr std::string_view missing_media_type = "oci.missing-media-type";
// A digest whose algorithm matches the grammar but is not sha256 or sha512:
// kept as written, but nothing can be verified against it.
inline constexpr std::string_view unverifiable_digest = "oci.unverifiable-digest";
// A required list written as null (moby#47210: "manifests": null), read as
// empty (permissive; an error when strict).
inline constexpr std::string_view null_list = "oci.null-list";
// An ExposedPorts or Volumes value that is not {}: the value is ignored.
inline constexpr std::string_view set_value_ignored = "oci.set-value-ignored";
// A config's or history entry's `created` that is not an RFC 3339 date-time.
inline constexpr std::string_view bad_timestamp = "oci.bad-timestamp";
} // namespace code

// ---- media types --------------------------------------------------------------------

namespace media_type {
inline constexpr std::string_view index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view config = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view layer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view layer_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
// Deprecated (image-spec 1.1): SHOULD NOT be written.
inline constexpr std::string_view layer_nondistributable =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
inline constexpr std::string_view layer_nondistributable_gzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr std::string_view layer_nondistributable_zstd =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
inline constexpr std::string_view empty = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view layout_header = "application/vnd.oci.layout.header.v1+json";

// Docker image manifest v2 schema 2.
inline constexpr std::string_view docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view docker_manifest_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view docker_config = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view docker_layer = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view docker_layer_gzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view docker_layer_zstd =
    "application/vnd.docker.image.rootfs.diff.tar.zstd";
inline constexpr std::string_view docker_layer_foreign =
    "application/vnd.docker.image.rootfs.foreign.diff.tar";
inline constexpr std::string_view docker_layer_foreign_gzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
// Schema 1 (deprecated, signed JWS): not read.
inline constexpr std::string_view docker_schema1_manifest =
    "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view docker_schema1_signed_manifest =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

constexpr bool is_index(std::string_view t) noexcept {
  return t == index || t == docker_manifest_list;
}
constexpr bool is_manifest(std::string_view t) noexcept {
  return t == manifest || t == docker_manifest;
}
constexpr bool is_config(std::string_view t) noexcept { return t == config || t == docker_config; }
} // namespace media_type

// The empty descriptor's content (image-spec manifest.md, "Guidance for an
// Empty Descriptor").
inline constexpr std::string_view empty_json = "{}";
inline constexpr std::string_view empty_digest_text =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
inline constexpr std::int64_t empty_size = 2;
inline constexpr std::string_view empty_data = "e30=";

enum class compression : std::uint8_t { none, gzip, zstd };

constexpr std::string_view compression_name(compression c) noexcept {
  switch (c) {
  case compression::none: return "none";
  case compression::gzip: return "gzip";
  case compression::zstd: return "zstd";
  }
  return "unknown";
}

struct layer_type {
  oci::compression compression = compression::none;
  bool nondistributable = false; // OCI nondistributable (deprecated) or Docker foreign
  bool docker = false;           // a Docker media type
};

// What a layer media type says, or nullopt when it is not a layer type.
constexpr std::optional<layer_type> layer_type_of(std::string_view t) noexcept {
  using namespace media_type;
  if (t == layer) return layer_type{compression::none, false, false};
  if (t == layer_gzip) return layer_type{compression::gzip, false, false};
  if (t == layer_zstd) return layer_type{compression::zstd, false, false};
  if (t == layer_nondistributable) return layer_type{compression::none, true, false};
  if (t == layer_nondistributable_gzip) return layer_type{compression::gzip, true, false};
  if (t == layer_nondistributable_zstd) return layer_type{compression::zstd, true, false};
  if (t == docker_layer) return layer_type{compression::none, false, true};
  if (t == docker_layer_gzip) return layer_type{compression::gzip, false, true};
  if (t == docker_layer_zstd) return layer_type{compression::zstd, false, true};
  if (t == docker_layer_foreign) return layer_type{compression::none, true, true};
  if (t == docker_layer_foreign_gzip) return layer_type{compression::gzip, true, true};
  return std::nullopt;
}

// A layer's compression from its media type; nullopt when not a layer type.
constexpr std::optional<compression> layer_compression(std::string_view t) noexcept {
  if (auto l = layer_type_of(t)) return l->compression;
  return std::nullopt;
}

// ---- digests ------------------------------------------------------------------------

// "algorithm:encoded" (descriptor.md, "Digests"), built only by a validating
// parse or by hashing. sha256 and sha512 must be lowercase hex of their
// length; other algorithms that match the grammar are accepted as written
// but cannot be verified (verifiable() is false, verify() says so).
// A default-constructed digest is empty (no digest); no parse returns one.
class digest {
public:
  digest() = default;

  static result<digest> parse(std::string_view s) {
    const auto colon = s.find(':');
    if (colon == std::string_view::npos)
      return error(errc::malformed, "digest " + quote(s) + " has no ':' after its algorithm");
    const std::string_view alg = s.substr(0, colon), enc = s.substr(colon + 1);
    if (alg.empty()) return error(errc::malformed, "digest " + quote(s) + " has no algorithm");
    if (!hash::detail::valid_oci_algorithm(alg))
      return error(errc::malformed,
                   "digest " + quote(s) + " has an algorithm outside [a-z0-9]+([+._-][a-z0-9]+)*");
    if (enc.empty()) return error(errc::malformed, "digest " + quote(s) + " has nothing after ':'");
    if (!hash::detail::valid_oci_encoded(enc))
      return error(errc::malformed,
                   "digest " + quote(s) + " has an encoded part outside [a-zA-Z0-9=_-]+");
    if (alg == "sha256" || alg == "sha512") {
      auto h = hash::digest::from_hex(*hash::parse_algorithm(alg), enc);
      if (!h) return error(errc::malformed, "digest " + quote(s) + ": " + h.error().context());
    }
    digest d;
    d.text_.assign(s);
    d.colon_ = colon;
    return d;
  }

  static digest of(const hash::digest& h) {
    digest d;
    d.text_ = h.str();
    d.colon_ = hash::name(h.alg()).size();
    return d;
  }

  // The digest of `data` with sha256 or sha512 (the algorithms OCI registers).
  static result<digest> compute(byte_span data, hash::algorithm a = hash::algorithm::sha256) {
    if (a != hash::algorithm::sha256 && a != hash::algorithm::sha512)
      return error(errc::invalid_argument,
                   "oci digests are sha256 or sha512, not " + std::string(hash::name(a)));
    UKIKIT_TRY_ASSIGN(auto h, hash::compute(a, data));
    return of(h);
  }

  bool empty() const noexcept { return text_.empty(); }
  std::string_view algorithm() const noexcept { return std::string_view(text_).substr(0, colon_); }
  std::string_view encoded() const noexcept {
    return empty() ? std::string_view{} : std::string_view(text_).substr(colon_ + 1);
  }
  // "sha256:<hex>"
  const std::string& str() const noexcept { return text_; }

  // sha256 or sha512: the ones ukikit can compute and check.
  bool verifiable() const noexcept { return algorithm() == "sha256" || algorithm() == "sha512"; }
  std::optional<hash::algorithm> hash_algorithm() const noexcept {
    if (!verifiable()) return std::nullopt;
    return hash::parse_algorithm(algorithm());
  }
  std::optional<hash::digest> as_hash() const {
    auto a = hash_algorithm();
    if (!a) return std::nullopt;
    auto h = hash::digest::from_hex(*a, encoded());
    if (!h) return std::nullopt;
    return *h;
  }

  // "blobs/<algorithm>/<encoded>", where an OCI layout keeps the blob. The
  // grammar admits no '/' and no ".." in either part.
  std::string blob_path() const {
    return "blobs/" + std::string(algorithm()) + "/" + std::string(encoded());
  }

  // ok when `data` hashes to this digest; checksum_mismatch with both values
  // when not; unsupported when the algorithm is not sha256 or sha512.
  // `consumed`, when given, is told about each piece once hashed (a caller
  // that mapped the data may drop those pages).
  result<void> verify(byte_span data,
                      const std::function<void(byte_span)>& consumed = nullptr) const {
    UKIKIT_TRY_ASSIGN(auto a, verifiable_algorithm());
    UKIKIT_TRY_ASSIGN(auto hasher, hash::hasher::create(a));
    constexpr std::size_t piece = std::size_t{4} << 20;
    for (std::size_t at = 0; at < data.size(); at += piece) {
      const byte_span p = data.subspan(at, std::min(piece, data.size() - at));
      hasher.update(p);
      if (consumed) consumed(p);
    }
    UKIKIT_TRY_ASSIGN(auto h, hasher.finish());
    return check(h);
  }

  // The algorithm to compute for verify() or check(); an error names it
  // when ukikit computes no such digest.
  result<hash::algorithm> verifiable_algorithm() const {
    auto a = hash_algorithm();
    if (!a)
      return error(errc::unsupported, "digest " + quote(text_) +
                                          " cannot be verified: ukikit computes sha256 and "
                                          "sha512, not " +
                                          std::string(algorithm()));
    return *a;
  }

  // A digest computed elsewhere (as the data streamed past) against this one.
  result<void> check(const hash::digest& h) const {
    if (h.alg() != hash_algorithm() || h.hex() != encoded())
      return error(errc::checksum_mismatch,
                   "digest mismatch: claimed " + text_ + ", computed " + h.str());
    return success();
  }

  friend bool operator==(const digest& a, const digest& b) noexcept { return a.text_ == b.text_; }
  friend std::strong_ordering operator<=>(const digest& a, const digest& b) noexcept {
    return a.text_.compare(b.text_) <=> 0;
  }

private:
  static std::string quote(std::string_view s) {
    return "\"" + json::detail::excerpt(s, 80) + "\"";
  }

  std::string text_;
  std::size_t colon_ = 0;
};

// ChainIDs of a layer stack (config.md, "Layer ChainID"):
//   ChainID(L0) = DiffID(L0)
//   ChainID(L0|...|Ln) = sha256(ChainID(L0|...|Ln-1) + " " + DiffID(Ln))
// One per layer, base first.
inline result<std::vector<digest>> chain_ids(std::span<const digest> diff_ids) {
  std::vector<digest> out;
  out.reserve(diff_ids.size());
  for (const auto& d : diff_ids) {
    if (d.empty()) return error(errc::invalid_argument, "a diff_id is empty");
    if (out.empty()) {
      out.push_back(d);
      continue;
    }
    const std::string text = out.back().str() + " " + d.str();
    UKIKIT_TRY_ASSIGN(auto c, digest::compute(as_bytes(text)));
    out.push_back(std::move(c));
  }
  return out;
}

// The ChainID of the whole stack (the last of chain_ids).
inline result<digest> chain_id(std::span<const digest> diff_ids) {
  if (diff_ids.empty()) return error(errc::invalid_argument, "no diff_ids: no chain id");
  UKIKIT_TRY_ASSIGN(auto all, chain_ids(diff_ids));
  return all.back();
}

// ---- the model ----------------------------------------------------------------------

using annotations = std::map<std::string, std::string>;

// image-index.md "platform"; config.md uses the same names at its top level.
struct platform {
  std::string architecture;             // REQUIRED (GOARCH)
  std::string os;                       // REQUIRED (GOOS)
  std::string os_version;               // "os.version"
  std::vector<std::string> os_features; // "os.features"
  std::string variant;
  std::vector<std::string> features; // reserved
  json::object extra;                // unknown fields, in input order

  friend bool operator==(const platform&, const platform&) = default;
};

struct descriptor {
  std::string media_type; // REQUIRED
  oci::digest digest;     // REQUIRED
  std::int64_t size = 0;  // REQUIRED, >= 0
  std::vector<std::string> urls;
  oci::annotations annotations;
  std::optional<std::vector<std::byte>> data; // base64 in JSON; equals the content
  std::optional<oci::platform> platform;
  std::string artifact_type; // "artifactType"
  json::object extra;

  friend bool operator==(const descriptor&, const descriptor&) = default;
};

// The empty descriptor: {} as application/vnd.oci.empty.v1+json, size 2,
// optionally with its content embedded as data "e30=".
inline descriptor empty_descriptor(bool with_data = false) {
  descriptor d;
  d.media_type = media_type::empty;
  d.digest = *digest::parse(empty_digest_text);
  d.size = empty_size;
  if (with_data) {
    const auto b = as_bytes(empty_json);
    d.data.emplace(b.begin(), b.end());
  }
  return d;
}

// An image index, or a Docker manifest list (media_type says which).
struct index {
  int schema_version = 2;
  std::string media_type; // empty when the body has none
  std::string artifact_type;
  std::vector<descriptor> manifests; // REQUIRED, may be empty
  std::optional<descriptor> subject;
  oci::annotations annotations;
  json::object extra;

  friend bool operator==(const index&, const index&) = default;
};

// An image manifest, or a Docker v2 schema 2 manifest.
struct manifest {
  int schema_version = 2;
  std::string media_type;    // empty when the body has none
  std::string artifact_type; // REQUIRED when config is the empty type
  descriptor config;
  std::vector<descriptor> layers; // base first
  std::optional<descriptor> subject;
  oci::annotations annotations;
  json::object extra;

  friend bool operator==(const manifest&, const manifest&) = default;
};

// config.md "config": the execution parameters.
struct execution_config {
  std::string user;                          // "User"
  std::set<std::string> exposed_ports;       // "ExposedPorts": {"80/tcp": {}}
  std::vector<std::string> env;              // "Env": "NAME=value"
  std::vector<std::string> entrypoint;       // "Entrypoint"
  std::vector<std::string> cmd;              // "Cmd"
  std::set<std::string> volumes;             // "Volumes": {"/data": {}}
  std::string working_dir;                   // "WorkingDir"
  std::map<std::string, std::string> labels; // "Labels"
  std::string stop_signal;                   // "StopSignal"
  json::object extra; // ArgsEscaped, Healthcheck, Docker's Hostname, ... as read

  friend bool operator==(const execution_config&, const execution_config&) = default;
};

struct rootfs {
  std::string type = "layers";       // MUST be "layers"
  std::vector<oci::digest> diff_ids; // sha256 of each uncompressed layer, base first
  json::object extra;

  friend bool operator==(const rootfs&, const rootfs&) = default;
};

struct history_entry {
  std::string created; // RFC 3339
  std::string created_by;
  std::string author;
  std::string comment;
  bool empty_layer = false;
  json::object extra;

  friend bool operator==(const history_entry&, const history_entry&) = default;
};

// An image config (OCI or Docker: the same JSON).
struct image_config {
  std::string created; // RFC 3339
  std::string author;
  std::string architecture;             // REQUIRED
  std::string os;                       // REQUIRED
  std::string os_version;               // "os.version"
  std::vector<std::string> os_features; // "os.features"
  std::string variant;
  execution_config config;
  oci::rootfs rootfs; // REQUIRED
  std::vector<history_entry> history;
  json::object extra; // Docker's container, container_config, docker_version, ...

  friend bool operator==(const image_config&, const image_config&) = default;
};

// The `oci-layout` file of an image layout (image-layout.md):
// {"imageLayoutVersion":"1.0.0"}; other fields are allowed and kept.
struct layout_header {
  std::string image_layout_version = "1.0.0"; // REQUIRED
  json::object extra;

  friend bool operator==(const layout_header&, const layout_header&) = default;
};

// What a parser returns: the model, and the digest and size of the bytes it
// was given.
template <class T> struct parsed {
  T value;
  oci::digest digest;
  std::int64_t size = 0;
};

using manifest_or_index = std::variant<manifest, index>;

struct parse_options {
  json::limits limits{};
  strictness mode = strictness::strict;
  // The descriptor the bytes were fetched by: their size and digest are
  // checked against it (size first), its digest algorithm is the one
  // parsed::digest uses, and a manifest's or index's mediaType must agree
  // with it. Not owned; null when there is none.
  const descriptor* described_by = nullptr;
};

// Checks `content` against a descriptor: the size first, then the digest,
// then `data` when the descriptor embeds it. checksum_mismatch on a
// difference, unsupported when the digest cannot be verified.
// `consumed`: see digest::verify.
inline result<void> verify(const descriptor& d, byte_span content,
                           const std::function<void(byte_span)>& consumed = nullptr);
// verify()'s parts: the size, and the embedded data when there is any (the
// digest is the descriptor's digest.verify()).
inline result<void> verify_size(const descriptor& d, byte_span content);
inline result<void> verify_data(const descriptor& d, byte_span content);

inline result<parsed<descriptor>> parse_descriptor(byte_span bytes, finding_log& log,
                                                   const parse_options& opt = {});
inline result<parsed<index>> parse_index(byte_span bytes, finding_log& log,
                                         const parse_options& opt = {});
inline result<parsed<manifest>> parse_manifest(byte_span bytes, finding_log& log,
                                               const parse_options& opt = {});
inline result<parsed<manifest_or_index>> parse_manifest_or_index(byte_span bytes, finding_log& log,
                                                                 const parse_options& opt = {});
inline result<parsed<image_config>> parse_config(byte_span bytes, finding_log& log,
                                                 const parse_options& opt = {});
// The oci-layout file. A version other than 1.0.0 is unsupported.
inline result<parsed<layout_header>> parse_layout_header(byte_span bytes, finding_log& log,
                                                         const parse_options& opt = {});

// ---- reading ------------------------------------------------------------------------

namespace detail {

// Input text quoted for a message (json::detail::excerpt: valid UTF-8, one line).
inline std::string shown(std::string_view s) { return "\"" + json::detail::excerpt(s, 120) + "\""; }

// The reading of one document: where findings go, how strict.
struct reading {
  finding_log& log;
  strictness mode;

  void note(severity level, std::string_view c, std::string message, const json::value& at) {
    log.add(level, c, std::move(message), at.offset);
  }
};

inline error bad(const json::value& v, std::string message, errc code = errc::malformed) {
  return error(code, std::move(message), v.offset);
}

inline result<void> expect(const json::value& v, json::kind k, const std::string& path) {
  if (v.kind == k) return success();
  return bad(v, path + " must be " + std::string(json::kind_name(k)) + ", not " +
                    std::string(json::kind_name(v.kind)));
}

inline std::string member_path(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// A required string.
inline result<std::string> get_string(const json::value& v, const std::string& path) {
  UKIKIT_TRY(expect(v, json::kind::string, path));
  return v.text;
}

// An optional string: null is absent.
inline result<std::string> opt_string(const json::value& v, const std::string& path) {
  if (v.is(json::kind::null)) return std::string{};
  return get_string(v, path);
}

inline result<std::vector<std::string>> opt_strings(const json::value& v, const std::string& path) {
  std::vector<std::string> out;
  if (v.is(json::kind::null)) return out;
  UKIKIT_TRY(expect(v, json::kind::array, path));
  out.reserve(v.items.size());
  for (std::size_t i = 0; i < v.items.size(); ++i) {
    UKIKIT_TRY_ASSIGN(auto s, get_string(v.items[i], path + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(s));
  }
  return out;
}

inline result<std::map<std::string, std::string>> opt_string_map(const json::value& v,
                                                                 const std::string& path) {
  std::map<std::string, std::string> out;
  if (v.is(json::kind::null)) return out;
  UKIKIT_TRY(expect(v, json::kind::object, path));
  for (const auto& m : v.members) {
    UKIKIT_TRY_ASSIGN(auto s, get_string(m.value, path + "[" + shown(m.key) + "]"));
    out.emplace(m.key, std::move(s));
  }
  return out;
}

// {"key": {}, ...}: a set of keys.
inline result<std::set<std::string>> opt_key_set(const json::value& v, const std::string& path,
                                                 reading& r) {
  std::set<std::string> out;
  if (v.is(json::kind::null)) return out;
  UKIKIT_TRY(expect(v, json::kind::object, path));
  for (const auto& m : v.members) {
    const auto& x = m.value;
    if (!x.is(json::kind::object) || !x.members.empty())
      r.note(severity::warning, code::set_value_ignored,
             path + "[" + shown(m.key) + "] is " + std::string(json::kind_name(x.kind)) +
                 " where {} belongs; the value is ignored",
             x);
    out.insert(m.key);
  }
  return out;
}

inline result<bool> opt_bool(const json::value& v, const std::string& path) {
  if (v.is(json::kind::null)) return false;
  UKIKIT_TRY(expect(v, json::kind::boolean, path));
  return v.boolean;
}

// A required list, where null is read as empty with a finding (permissive)
// or refused (strict).
inline result<const std::vector<json::value>*> required_list(const json::value& v,
                                                             const std::string& path, reading& r) {
  static const std::vector<json::value> none;
  if (v.is(json::kind::null)) {
    if (r.mode == strictness::strict)
      return bad(v, path + " must be a list, not null (moby#47210 wrote null for an empty list)");
    r.note(severity::warning, code::null_list, path + " is null: read as an empty list", v);
    return &none;
  }
  UKIKIT_TRY(expect(v, json::kind::array, path));
  return &v.items;
}

// int64 >= 0, an integer literal.
inline result<std::int64_t> get_size(const json::value& v, const std::string& path) {
  UKIKIT_TRY(expect(v, json::kind::number, path));
  if (v.is_fractional()) return bad(v, path + " must be an integer, not " + shown(v.text));
  auto n = v.as_int64();
  if (!n)
    return bad(v, path + " " + shown(v.text) + " is out of range (int64)", errc::out_of_range);
  if (*n < 0) return bad(v, path + " must not be negative (" + v.text + ")", errc::out_of_range);
  return *n;
}

inline result<digest> get_digest(const json::value& v, const std::string& path, reading& r) {
  UKIKIT_TRY(expect(v, json::kind::string, path));
  auto d = digest::parse(v.text);
  if (!d) return error(d.error().code(), path + ": " + d.error().context(), v.offset);
  if (!d->verifiable())
    r.note(severity::warning, code::unverifiable_digest,
           path + " uses algorithm " + shown(d->algorithm()) +
               ", which ukikit cannot compute (sha256, sha512): not verified",
           v);
  return std::move(*d);
}

inline result<int> get_schema_version(const json::value& v, const std::string& path) {
  UKIKIT_TRY(expect(v, json::kind::number, path));
  if (v.text != "2") return bad(v, path + " must be 2, not " + shown(v.text), errc::unsupported);
  return 2;
}

inline result<platform> read_platform(const json::value& v, const std::string& path) {
  UKIKIT_TRY(expect(v, json::kind::object, path));
  platform p;
  bool has_arch = false, has_os = false;
  for (const auto& m : v.members) {
    const auto& x = m.value;
    const std::string at = member_path(path, m.key);
    if (m.key == "architecture") {
      UKIKIT_TRY_ASSIGN(p.architecture, get_string(x, at));
      has_arch = true;
    } else if (m.key == "os") {
      UKIKIT_TRY_ASSIGN(p.os, get_string(x, at));
      has_os = true;
    } else if (m.key == "os.version") {
      UKIKIT_TRY_ASSIGN(p.os_version, opt_string(x, at));
    } else if (m.key == "os.features") {
      UKIKIT_TRY_ASSIGN(p.os_features, opt_strings(x, at));
    } else if (m.key == "variant") {
      UKIKIT_TRY_ASSIGN(p.variant, opt_string(x, at));
    } else if (m.key == "features") {
      UKIKIT_TRY_ASSIGN(p.features, opt_strings(x, at));
    } else {
      p.extra.push_back(m);
    }
  }
  if (!has_arch) return bad(v, path + " has no architecture");
  if (!has_os) return bad(v, path + " has no os");
  return p;
}

inline result<descriptor> read_descriptor(const json::value& v, const std::string& path,
                                          reading& r) {
  UKIKIT_TRY(expect(v, json::kind::object, path));
  descriptor d;
  bool has_type = false, has_digest = false, has_size = false;
  const json::value* data = nullptr;
  for (const auto& m : v.members) {
    const auto& x = m.value;
    const std::string at = member_path(path, m.key);
    if (m.key == "mediaType") {
      UKIKIT_TRY_ASSIGN(d.media_type, get_string(x, at));
      has_type = true;
    } else if (m.key == "digest") {
      UKIKIT_TRY_ASSIGN(d.digest, get_digest(x, at, r));
      has_digest = true;
    } else if (m.key == "size") {
      UKIKIT_TRY_ASSIGN(d.size, get_size(x, at));
      has_size = true;
    } else if (m.key == "urls") {
      UKIKIT_TRY_ASSIGN(d.urls, opt_strings(x, at));
    } else if (m.key == "annotations") {
      UKIKIT_TRY_ASSIGN(d.annotations, opt_string_map(x, at));
    } else if (m.key == "data") {
      if (!x.is(json::kind::null)) {
        UKIKIT_TRY(expect(x, json::kind::string, at));
        auto bytes = base64_decode(x.text, x.text.size());
        if (!bytes) return bad(x, at + ": " + bytes.error().context());
        d.data = std::move(*bytes);
        data = &x;
      }
    } else if (m.key == "platform") {
      if (!x.is(json::kind::null)) {
        UKIKIT_TRY_ASSIGN(d.platform, read_platform(x, at));
      }
    } else if (m.key == "artifactType") {
      UKIKIT_TRY_ASSIGN(d.artifact_type, opt_string(x, at));
    } else {
      d.extra.push_back(m);
    }
  }
  if (!has_type) return bad(v, path + " has no mediaType");
  if (!has_digest) return bad(v, path + " has no digest");
  if (!has_size) return bad(v, path + " has no size");
  if (data) {
    // data MUST match the content the descriptor names.
    const auto n = static_cast<std::int64_t>(d.data->size());
    if (n != d.size)
      return bad(*data,
                 path + ".data holds " + std::to_string(n) + " bytes, but size is " +
                     std::to_string(d.size),
                 errc::checksum_mismatch);
    if (d.digest.verifiable()) {
      auto ok = d.digest.verify(*d.data);
      if (!ok) return bad(*data, path + ".data: " + ok.error().context(), ok.error().code());
    }
  }
  return d;
}

enum class document_kind : std::uint8_t { index, manifest };

// Which of the two a body is (the CVE-2021-41190 rules in the header comment).
inline result<document_kind> judge_kind(const json::value& root, const descriptor* described_by,
                                        reading& r) {
  UKIKIT_TRY(expect(root, json::kind::object, "the document"));
  const json::value* body_type = root.find("mediaType");
  if (body_type && body_type->is(json::kind::null)) body_type = nullptr;
  if (body_type) UKIKIT_TRY(expect(*body_type, json::kind::string, "mediaType"));
  const bool has_manifests = root.find("manifests") != nullptr;
  const json::value* config = root.find("config");
  const json::value* layers = root.find("layers");
  const bool has_manifest_fields = config != nullptr || layers != nullptr;
  if (has_manifests && has_manifest_fields)
    return bad(root, "the document has both manifests (an index) and " +
                         std::string(config ? "config" : "layers") +
                         " (a manifest): it is ambiguous (CVE-2021-41190)");
  const std::string outer = described_by ? described_by->media_type : std::string{};
  if (body_type && !outer.empty() && body_type->text != outer)
    return bad(*body_type, "mediaType " + shown(body_type->text) +
                               " disagrees with the descriptor's " + shown(outer) +
                               " (CVE-2021-41190)");
  if (!body_type)
    r.note(severity::warning, code::missing_media_type,
           "the document has no mediaType" +
               std::string(outer.empty() ? "; judged by its fields"
                                         : "; the descriptor's " + shown(outer) + " is used"),
           root);
  const std::string type = body_type ? body_type->text : outer;
  if (type.empty()) {
    if (has_manifests) return document_kind::index;
    if (has_manifest_fields) return document_kind::manifest;
    return bad(root, "the document has no mediaType, no manifests and no config: neither an "
                     "image index nor a manifest");
  }
  const json::value& at = body_type ? *body_type : root;
  if (media_type::is_index(type)) {
    if (has_manifest_fields)
      return bad(at, "an image index (" + type + ") must not have config or layers");
    return document_kind::index;
  }
  if (media_type::is_manifest(type)) {
    if (has_manifests) return bad(at, "an image manifest (" + type + ") must not have manifests");
    return document_kind::manifest;
  }
  if (type == media_type::docker_schema1_manifest ||
      type == media_type::docker_schema1_signed_manifest)
    return bad(at, "docker schema 1 manifests are not supported (" + type + ")", errc::unsupported);
  return bad(at, "mediaType " + shown(type) + " is neither an image index nor a manifest",
             errc::unsupported);
}

inline result<index> read_index(const json::value& root, reading& r) {
  index out;
  bool has_version = false, has_manifests = false;
  for (const auto& m : root.members) {
    const auto& x = m.value;
    const std::string& at = m.key;
    if (m.key == "schemaVersion") {
      UKIKIT_TRY_ASSIGN(out.schema_version, get_schema_version(x, at));
      has_version = true;
    } else if (m.key == "mediaType") {
      UKIKIT_TRY_ASSIGN(out.media_type, opt_string(x, at));
    } else if (m.key == "artifactType") {
      UKIKIT_TRY_ASSIGN(out.artifact_type, opt_string(x, at));
    } else if (m.key == "manifests") {
      UKIKIT_TRY_ASSIGN(auto list, required_list(x, at, r));
      out.manifests.reserve(list->size());
      for (std::size_t i = 0; i < list->size(); ++i) {
        UKIKIT_TRY_ASSIGN(auto d,
                          read_descriptor((*list)[i], "manifests[" + std::to_string(i) + "]", r));
        out.manifests.push_back(std::move(d));
      }
      has_manifests = true;
    } else if (m.key == "subject") {
      if (!x.is(json::kind::null)) {
        UKIKIT_TRY_ASSIGN(out.subject, read_descriptor(x, at, r));
      }
    } else if (m.key == "annotations") {
      UKIKIT_TRY_ASSIGN(out.annotations, opt_string_map(x, at));
    } else {
      out.extra.push_back(m);
    }
  }
  if (!has_version) return bad(root, "the image index has no schemaVersion");
  if (!has_manifests) return bad(root, "the image index has no manifests");
  return out;
}

inline void check_layer_type(const descriptor& d, const json::value& at, const std::string& path,
                             reading& r) {
  auto t = layer_type_of(d.media_type);
  if (!t) {
    r.note(severity::note, code::unknown_layer_type,
           path + " has media type " + shown(d.media_type) + ", which is not a layer type", at);
  } else if (t->nondistributable) {
    r.note(severity::warning, code::nondistributable,
           path + " is " + (t->docker ? "a foreign" : "a nondistributable (deprecated)") +
               " layer (" + d.media_type + ")",
           at);
  }
}

inline result<manifest> read_manifest(const json::value& root, reading& r) {
  manifest out;
  bool has_version = false, has_config = false, has_layers = false;
  const json::value* layer_values = nullptr;
  for (const auto& m : root.members) {
    const auto& x = m.value;
    const std::string& at = m.key;
    if (m.key == "schemaVersion") {
      UKIKIT_TRY_ASSIGN(out.schema_version, get_schema_version(x, at));
      has_version = true;
    } else if (m.key == "mediaType") {
      UKIKIT_TRY_ASSIGN(out.media_type, opt_string(x, at));
    } else if (m.key == "artifactType") {
      UKIKIT_TRY_ASSIGN(out.artifact_type, opt_string(x, at));
    } else if (m.key == "config") {
      UKIKIT_TRY_ASSIGN(out.config, read_descriptor(x, at, r));
      has_config = true;
    } else if (m.key == "layers") {
      UKIKIT_TRY_ASSIGN(auto list, required_list(x, at, r));
      out.layers.reserve(list->size());
      for (std::size_t i = 0; i < list->size(); ++i) {
        UKIKIT_TRY_ASSIGN(auto d,
                          read_descriptor((*list)[i], "layers[" + std::to_string(i) + "]", r));
        out.layers.push_back(std::move(d));
      }
      layer_values = &x;
      has_layers = true;
    } else if (m.key == "subject") {
      if (!x.is(json::kind::null)) {
        UKIKIT_TRY_ASSIGN(out.subject, read_descriptor(x, at, r));
      }
    } else if (m.key == "annotations") {
      UKIKIT_TRY_ASSIGN(out.annotations, opt_string_map(x, at));
    } else {
      out.extra.push_back(m);
    }
  }
  if (!has_version) return bad(root, "the image manifest has no schemaVersion");
  if (!has_config) return bad(root, "the image manifest has no config");
  if (!has_layers) return bad(root, "the image manifest has no layers");
  if (out.config.media_type == media_type::empty && out.artifact_type.empty())
    return bad(*root.find("config"), "the image manifest's config is the empty type " +
                                         std::string(media_type::empty) +
                                         ", so artifactType is required");
  if (media_type::is_config(out.config.media_type) && layer_values &&
      layer_values->is(json::kind::array))
    for (std::size_t i = 0; i < out.layers.size(); ++i)
      check_layer_type(out.layers[i], layer_values->items[i], "layers[" + std::to_string(i) + "]",
                       r);
  return out;
}

inline result<execution_config> read_execution_config(const json::value& v, const std::string& path,
                                                      reading& r) {
  execution_config c;
  if (v.is(json::kind::null)) return c;
  UKIKIT_TRY(expect(v, json::kind::object, path));
  for (const auto& m : v.members) {
    const auto& x = m.value;
    const std::string at = member_path(path, m.key);
    if (m.key == "User") {
      UKIKIT_TRY_ASSIGN(c.user, opt_string(x, at));
    } else if (m.key == "ExposedPorts") {
      UKIKIT_TRY_ASSIGN(c.exposed_ports, opt_key_set(x, at, r));
    } else if (m.key == "Env") {
      UKIKIT_TRY_ASSIGN(c.env, opt_strings(x, at));
    } else if (m.key == "Entrypoint") {
      UKIKIT_TRY_ASSIGN(c.entrypoint, opt_strings(x, at));
    } else if (m.key == "Cmd") {
      UKIKIT_TRY_ASSIGN(c.cmd, opt_strings(x, at));
    } else if (m.key == "Volumes") {
      UKIKIT_TRY_ASSIGN(c.volumes, opt_key_set(x, at, r));
    } else if (m.key == "WorkingDir") {
      UKIKIT_TRY_ASSIGN(c.working_dir, opt_string(x, at));
    } else if (m.key == "Labels") {
      UKIKIT_TRY_ASSIGN(c.labels, opt_string_map(x, at));
    } else if (m.key == "StopSignal") {
      UKIKIT_TRY_ASSIGN(c.stop_signal, opt_string(x, at));
    } else {
      c.extra.push_back(m);
    }
  }
  return c;
}

inline result<rootfs> read_rootfs(const json::value& v, const std::string& path, reading& r) {
  UKIKIT_TRY(expect(v, json::kind::object, path));
  rootfs out;
  bool has_type = false, has_diff_ids = false;
  for (const auto& m : v.members) {
    const auto& x = m.value;
    const std::string at = member_path(path, m.key);
    if (m.key == "type") {
      UKIKIT_TRY_ASSIGN(out.type, get_string(x, at));
      if (out.type != "layers")
        return bad(x, at + " must be \"layers\", not " + shown(out.type), errc::unsupported);
      has_type = true;
    } else if (m.key == "diff_ids") {
      UKIKIT_TRY_ASSIGN(auto list, required_list(x, at, r));
      out.diff_ids.reserve(list->size());
      for (std::size_t i = 0; i < list->size(); ++i) {
        UKIKIT_TRY_ASSIGN(auto d, get_digest((*list)[i], at + "[" + std::to_string(i) + "]", r));
        out.diff_ids.push_back(std::move(d));
      }
      has_diff_ids = true;
    } else {
      out.extra.push_back(m);
    }
  }
  if (!has_type) return bad(v, path + " has no type");
  if (!has_diff_ids) return bad(v, path + " has no diff_ids");
  return out;
}

// RFC 3339 section 5.6 date-time: 2015-10-31T22:22:56.015925234Z, with
// 't'/'z' in either case and a numeric offset allowed instead of Z.
inline bool rfc3339(std::string_view s) noexcept {
  const auto digits = [&](std::size_t at, std::size_t n) {
    if (s.size() < at + n) return false;
    for (std::size_t i = at; i < at + n; ++i)
      if (s[i] < '0' || s[i] > '9') return false;
    return true;
  };
  const auto num = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  if (!digits(0, 4) || s.size() < 20 || s[4] != '-' || !digits(5, 2) || s[7] != '-' ||
      !digits(8, 2) || (s[10] != 'T' && s[10] != 't') || !digits(11, 2) || s[13] != ':' ||
      !digits(14, 2) || s[16] != ':' || !digits(17, 2))
    return false;
  if (num(5, 2) < 1 || num(5, 2) > 12 || num(8, 2) < 1 || num(8, 2) > 31 || num(11, 2) > 23 ||
      num(14, 2) > 59 || num(17, 2) > 60)
    return false;
  std::size_t i = 19;
  if (s[i] == '.') {
    const std::size_t start = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return false;
  }
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) return i + 1 == s.size();
  if (i < s.size() && (s[i] == '+' || s[i] == '-'))
    return s.size() == i + 6 && digits(i + 1, 2) && s[i + 3] == ':' && digits(i + 4, 2) &&
           num(i + 1, 2) <= 23 && num(i + 4, 2) <= 59;
  return false;
}

inline result<std::string> opt_timestamp(const json::value& v, const std::string& path,
                                         reading& r) {
  UKIKIT_TRY_ASSIGN(auto s, opt_string(v, path));
  if (!s.empty() && !rfc3339(s))
    r.note(severity::warning, code::bad_timestamp,
           path + " " + shown(s) + " is not an RFC 3339 date-time", v);
  return s;
}

inline result<history_entry> read_history_entry(const json::value& v, const std::string& path,
                                                reading& r) {
  UKIKIT_TRY(expect(v, json::kind::object, path));
  history_entry h;
  for (const auto& m : v.members) {
    const auto& x = m.value;
    const std::string at = member_path(path, m.key);
    if (m.key == "created") {
      UKIKIT_TRY_ASSIGN(h.created, opt_timestamp(x, at, r));
    } else if (m.key == "created_by") {
      UKIKIT_TRY_ASSIGN(h.created_by, opt_string(x, at));
    } else if (m.key == "author") {
      UKIKIT_TRY_ASSIGN(h.author, opt_string(x, at));
    } else if (m.key == "comment") {
      UKIKIT_TRY_ASSIGN(h.comment, opt_string(x, at));
    } else if (m.key == "empty_layer") {
      UKIKIT_TRY_ASSIGN(h.empty_layer, opt_bool(x, at));
    } else {
      h.extra.push_back(m);
    }
  }
  return h;
}

inline result<image_config> read_config(const json::value& root, reading& r) {
  UKIKIT_TRY(expect(root, json::kind::object, "the image config"));
  image_config c;
  bool has_arch = false, has_os = false, has_rootfs = false;
  for (const auto& m : root.members) {
    const auto& x = m.value;
    const std::string& at = m.key;
    if (m.key == "created") {
      UKIKIT_TRY_ASSIGN(c.created, opt_timestamp(x, at, r));
    } else if (m.key == "author") {
      UKIKIT_TRY_ASSIGN(c.author, opt_string(x, at));
    } else if (m.key == "architecture") {
      UKIKIT_TRY_ASSIGN(c.architecture, get_string(x, at));
      has_arch = true;
    } else if (m.key == "os") {
      UKIKIT_TRY_ASSIGN(c.os, get_string(x, at));
      has_os = true;
    } else if (m.key == "os.version") {
      UKIKIT_TRY_ASSIGN(c.os_version, opt_string(x, at));
    } else if (m.key == "os.features") {
      UKIKIT_TRY_ASSIGN(c.os_features, opt_strings(x, at));
    } else if (m.key == "variant") {
      UKIKIT_TRY_ASSIGN(c.variant, opt_string(x, at));
    } else if (m.key == "config") {
      UKIKIT_TRY_ASSIGN(c.config, read_execution_config(x, at, r));
    } else if (m.key == "rootfs") {
      UKIKIT_TRY_ASSIGN(c.rootfs, read_rootfs(x, at, r));
      has_rootfs = true;
    } else if (m.key == "history") {
      if (!x.is(json::kind::null)) {
        UKIKIT_TRY(expect(x, json::kind::array, at));
        c.history.reserve(x.items.size());
        for (std::size_t i = 0; i < x.items.size(); ++i) {
          UKIKIT_TRY_ASSIGN(
              auto h, read_history_entry(x.items[i], "history[" + std::to_string(i) + "]", r));
          c.history.push_back(std::move(h));
        }
      }
    } else {
      c.extra.push_back(m);
    }
  }
  if (!has_arch) return bad(root, "the image config has no architecture");
  if (!has_os) return bad(root, "the image config has no os");
  if (!has_rootfs) return bad(root, "the image config has no rootfs");
  return c;
}

inline result<layout_header> read_layout_header(const json::value& root) {
  UKIKIT_TRY(expect(root, json::kind::object, "oci-layout"));
  layout_header h;
  bool has_version = false;
  for (const auto& m : root.members) {
    if (m.key == "imageLayoutVersion") {
      UKIKIT_TRY_ASSIGN(h.image_layout_version, get_string(m.value, m.key));
      if (h.image_layout_version != "1.0.0")
        return bad(m.value,
                   "imageLayoutVersion " + shown(h.image_layout_version) +
                       " is not supported (1.0.0)",
                   errc::unsupported);
      has_version = true;
    } else {
      h.extra.push_back(m);
    }
  }
  if (!has_version) return bad(root, "oci-layout has no imageLayoutVersion");
  return h;
}

// Size limit, then the descriptor's size and digest, then the digest of the
// bytes, then the JSON.
inline result<json::value> load(byte_span bytes, const parse_options& opt, reading& r,
                                digest& digest_out) {
  if (bytes.size() > opt.limits.max_size)
    return error(errc::limit_exceeded, "json is larger than the limit (" +
                                           std::to_string(bytes.size()) + " > " +
                                           std::to_string(opt.limits.max_size) + " bytes)");
  hash::algorithm alg = hash::algorithm::sha256;
  if (const descriptor* d = opt.described_by) {
    if (static_cast<std::uint64_t>(d->size) != bytes.size())
      return error(errc::checksum_mismatch, "size mismatch: the descriptor says " +
                                                std::to_string(d->size) + " bytes, got " +
                                                std::to_string(bytes.size()));
    if (auto a = d->digest.hash_algorithm()) alg = *a;
  }
  UKIKIT_TRY_ASSIGN(digest_out, digest::compute(bytes, alg));
  if (const descriptor* d = opt.described_by) {
    if (d->digest.verifiable()) {
      if (d->digest != digest_out)
        return error(errc::checksum_mismatch, "digest mismatch: claimed " + d->digest.str() +
                                                  ", computed " + digest_out.str());
    } else {
      r.log.add(severity::warning, code::unverifiable_digest,
                "the descriptor's digest " + shown(d->digest.str()) +
                    " cannot be computed by ukikit: the bytes are not verified");
    }
  }
  return json::parse(bytes, opt.limits);
}

} // namespace detail

inline result<void> verify(const descriptor& d, byte_span content,
                           const std::function<void(byte_span)>& consumed) {
  UKIKIT_TRY(verify_size(d, content));
  UKIKIT_TRY(d.digest.verify(content, consumed));
  return verify_data(d, content);
}

inline result<void> verify_size(const descriptor& d, byte_span content) {
  if (d.size < 0 || static_cast<std::uint64_t>(d.size) != content.size())
    return error(errc::checksum_mismatch, "size mismatch: the descriptor says " +
                                              std::to_string(d.size) + " bytes, got " +
                                              std::to_string(content.size()));
  return success();
}

inline result<void> verify_data(const descriptor& d, byte_span content) {
  if (d.data && !std::equal(d.data->begin(), d.data->end(), content.begin(), content.end()))
    return error(errc::checksum_mismatch, "the descriptor's data differs from the content");
  return success();
}

inline result<parsed<descriptor>> parse_descriptor(byte_span bytes, finding_log& log,
                                                   const parse_options& opt) {
  detail::reading r{log, opt.mode};
  parsed<descriptor> out;
  UKIKIT_TRY_ASSIGN(auto root, detail::load(bytes, opt, r, out.digest));
  UKIKIT_TRY_ASSIGN(out.value, detail::read_descriptor(root, "the descriptor", r));
  out.size = static_cast<std::int64_t>(bytes.size());
  return out;
}

inline result<parsed<manifest_or_index>> parse_manifest_or_index(byte_span bytes, finding_log& log,
                                                                 const parse_options& opt) {
  detail::reading r{log, opt.mode};
  parsed<manifest_or_index> out;
  UKIKIT_TRY_ASSIGN(auto root, detail::load(bytes, opt, r, out.digest));
  UKIKIT_TRY_ASSIGN(auto kind, detail::judge_kind(root, opt.described_by, r));
  if (kind == detail::document_kind::index) {
    UKIKIT_TRY_ASSIGN(auto i, detail::read_index(root, r));
    out.value = std::move(i);
  } else {
    UKIKIT_TRY_ASSIGN(auto m, detail::read_manifest(root, r));
    out.value = std::move(m);
  }
  out.size = static_cast<std::int64_t>(bytes.size());
  return out;
}

inline result<parsed<index>> parse_index(byte_span bytes, finding_log& log,
                                         const parse_options& opt) {
  UKIKIT_TRY_ASSIGN(auto any, parse_manifest_or_index(bytes, log, opt));
  if (auto* i = std::get_if<index>(&any.value))
    return parsed<index>{std::move(*i), std::move(any.digest), any.size};
  return error(errc::malformed, "expected an image index, found an image manifest", 0);
}

inline result<parsed<manifest>> parse_manifest(byte_span bytes, finding_log& log,
                                               const parse_options& opt) {
  UKIKIT_TRY_ASSIGN(auto any, parse_manifest_or_index(bytes, log, opt));
  if (auto* m = std::get_if<manifest>(&any.value))
    return parsed<manifest>{std::move(*m), std::move(any.digest), any.size};
  return error(errc::malformed, "expected an image manifest, found an image index", 0);
}

inline result<parsed<image_config>> parse_config(byte_span bytes, finding_log& log,
                                                 const parse_options& opt) {
  if (opt.described_by && !media_type::is_config(opt.described_by->media_type))
    return error(errc::unsupported, "media type " + detail::shown(opt.described_by->media_type) +
                                        " is not an image config");
  detail::reading r{log, opt.mode};
  parsed<image_config> out;
  UKIKIT_TRY_ASSIGN(auto root, detail::load(bytes, opt, r, out.digest));
  UKIKIT_TRY_ASSIGN(out.value, detail::read_config(root, r));
  out.size = static_cast<std::int64_t>(bytes.size());
  return out;
}

inline result<parsed<layout_header>> parse_layout_header(byte_span bytes, finding_log& log,
                                                         const parse_options& opt) {
  detail::reading r{log, opt.mode};
  parsed<layout_header> out;
  UKIKIT_TRY_ASSIGN(auto root, detail::load(bytes, opt, r, out.digest));
  UKIKIT_TRY_ASSIGN(out.value, detail::read_layout_header(root));
  out.size = static_cast<std::int64_t>(bytes.size());
  return out;
}

} // namespace ukikit::oci
