// Making the blobs of an image: layers from tar members, configs, manifests
// with their platform, and the index above them; shared by installer-base
// and assemble. Everything made here is deterministic: the same inputs give
// the same bytes and digests (compact JSON in oci_writer.hpp's stable
// order, layers from tar_writer.hpp, `created` from the caller).
#pragma once

#include "../diagnostics.hpp"
#include "../image/write.hpp"
#include "../oci.hpp"
#include "../oci_writer.hpp"
#include "../parallel.hpp"
#include "../report/layer_create.hpp"
#include "../result.hpp"
#include "../tar_writer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <ctime>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::installer {

// The latest `created` time written (9999-12-31T23:59:59Z): RFC 3339 has
// four-digit years.
inline constexpr std::int64_t max_created = 253402300799;

// Seconds since the epoch as an RFC 3339 UTC date-time, "1970-01-01T00:00:00Z".
inline result<std::string> rfc3339(std::int64_t t) {
  if (t < 0 || t > max_created)
    return error(errc::invalid_argument,
                 "time " + std::to_string(t) + " is outside 1970-01-01 … 9999-12-31 (RFC 3339)");
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (::gmtime_r(&tt, &tm) == nullptr)
    return error(errc::invalid_argument, "time " + std::to_string(t) + " cannot be converted");
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

// A platform as `--arch` names it: an OCI architecture with an optional
// variant ("amd64", "arm64", "arm64/v8"); the os is always linux.
struct arch_spec {
  std::string arch, variant;

  static result<arch_spec> parse(std::string_view s) {
    arch_spec a;
    const auto slash = s.find('/');
    a.arch = std::string(s.substr(0, slash));
    if (slash != std::string_view::npos) a.variant = std::string(s.substr(slash + 1));
    auto usable = [](std::string_view w) {
      if (w.empty()) return false;
      for (char c : w)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
          return false;
      return true;
    };
    if (!usable(a.arch) || (slash != std::string_view::npos && !usable(a.variant)))
      return error(errc::invalid_argument,
                   "architecture must be ARCH[/VARIANT] in OCI's spelling (amd64, arm64, "
                   "arm64/v8), not \"" +
                       escape_controls(s) + "\"");
    return a;
  }

  std::string text() const { return variant.empty() ? arch : arch + "/" + variant; }

  oci::platform platform() const {
    oci::platform p;
    p.architecture = arch;
    p.os = "linux";
    p.variant = variant;
    return p;
  }

  friend bool operator==(const arch_spec&, const arch_spec&) = default;
};

struct made_layer {
  oci::descriptor descriptor;
  oci::digest diff_id;
  report::created_layer info;
};

// A layer made in memory, not yet among the blobs to write.
struct built_layer {
  made_layer layer;
  std::string bytes;
};

// Makes a layer of these members in memory; `written` is told the size of
// each piece written (it may be called from any thread).
inline result<built_layer> build_layer(std::vector<tar::member> members,
                                       const report::layer_create_options& o, finding_log findings,
                                       const std::function<void(std::uint64_t)>& written) {
  std::string bytes;
  auto sink = [&](byte_span b) -> result<void> {
    bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
    if (written) written(b.size());
    return success();
  };
  UKIKIT_TRY_ASSIGN(auto info,
                    report::create_layer(std::move(members), o, sink, std::move(findings)));
  oci::descriptor d;
  d.media_type = info.media_type;
  d.size = static_cast<std::int64_t>(info.size);
  d.digest = oci::digest::of(info.digest);
  oci::digest diff_id = oci::digest::of(info.diff_id);
  return built_layer{made_layer{std::move(d), std::move(diff_id), std::move(info)},
                     std::move(bytes)};
}

// One set of members for each layer to make, with the findings of making
// the set (a tree walk's).
struct layer_members {
  std::vector<tar::member> members;
  finding_log findings;
};

// The blobs of the images being made, and the root entries to write.
class composer {
public:
  // Told the bytes of layers written so far (for progress on a terminal);
  // called from one thread at a time.
  std::function<void(std::uint64_t)> progress;

  // A layer of these members, kept in memory.
  result<made_layer> add_layer(std::vector<tar::member> members,
                               const report::layer_create_options& o,
                               finding_log findings = finding_log()) {
    std::vector<layer_members> one;
    one.push_back(layer_members{std::move(members), std::move(findings)});
    UKIKIT_TRY_ASSIGN(auto made, add_layers(std::move(one), o, 1));
    return std::move(made.front());
  }

  // Layers of these member sets, made up to `jobs` at a time (each on one
  // core; the bytes do not depend on `jobs`), in the order given.
  result<std::vector<made_layer>> add_layers(std::vector<layer_members> sets,
                                             const report::layer_create_options& o, unsigned jobs) {
    const std::size_t n = sets.size();
    std::vector<std::optional<result<built_layer>>> built(n);
    std::mutex told;
    auto written = [&](std::uint64_t k) {
      const std::uint64_t total = written_.fetch_add(k) + k;
      if (!progress) return;
      std::lock_guard<std::mutex> lock(told);
      progress(total);
    };
    for_each_index(n, jobs == 0 ? 1 : jobs, [&](std::size_t i) {
      built[i].emplace(
          build_layer(std::move(sets[i].members), o, std::move(sets[i].findings), written));
    });
    std::vector<made_layer> out;
    out.reserve(n);
    for (auto& b : built) {
      if (!*b) return std::move(*b).error();
      contents_.add_digested((*b)->layer.descriptor.digest, std::move((*b)->bytes));
      out.push_back(std::move((*b)->layer));
    }
    return out;
  }

  // A blob from another store, as it is.
  void add_blob(const oci::digest& d, byte_span bytes) { contents_.add(d, bytes); }

  // The config and the manifest of one image; the manifest's descriptor
  // carries the config's platform.
  result<oci::descriptor> add_image(const oci::image_config& config,
                                    std::vector<oci::descriptor> layers) {
    UKIKIT_TRY_ASSIGN(
        auto cd, contents_.add_made(std::string(oci::media_type::config), oci::serialize(config)));
    oci::manifest m;
    m.media_type = std::string(oci::media_type::manifest);
    m.config = std::move(cd);
    m.layers = std::move(layers);
    UKIKIT_TRY_ASSIGN(auto md, contents_.add_made(m.media_type, oci::serialize(m)));
    oci::platform p;
    p.architecture = config.architecture;
    p.os = config.os;
    p.variant = config.variant;
    md.platform = std::move(p);
    return md;
  }

  // An index of these manifests, in this order.
  result<oci::descriptor> add_index(std::vector<oci::descriptor> manifests) {
    oci::index idx;
    idx.media_type = std::string(oci::media_type::index);
    idx.manifests = std::move(manifests);
    return contents_.add_made(idx.media_type, oci::serialize(idx));
  }

  // The root entry, tagged `tag` (org.opencontainers.image.ref.name) when
  // there is one.
  void add_root(oci::descriptor d, std::string_view tag) {
    d.platform.reset();
    if (!tag.empty()) d.annotations[std::string(image::ref_name_annotation)] = std::string(tag);
    contents_.add_root(std::move(d));
  }

  const image::contents& contents() const noexcept { return contents_; }

private:
  image::contents contents_;
  std::atomic<std::uint64_t> written_{0};
};

// {"mediaType", "digest", "size"} (and "platform" when it has one).
inline nlohmann::ordered_json descriptor_json(const oci::descriptor& d) {
  nlohmann::ordered_json j;
  j["mediaType"] = d.media_type;
  j["digest"] = d.digest.str();
  j["size"] = d.size;
  if (d.platform) {
    j["platform"]["architecture"] = d.platform->architecture;
    j["platform"]["os"] = d.platform->os;
    if (!d.platform->variant.empty()) j["platform"]["variant"] = d.platform->variant;
  }
  return j;
}

// Writes what `c` made to `ref`: under one index for a layout or an
// oci-archive, as the single manifest a docker-archive holds.
inline result<oci::descriptor> write_images(composer& c, std::vector<oci::descriptor> manifests,
                                            const image::reference& ref, std::int64_t mtime) {
  oci::descriptor root;
  if (ref.transport == image::transport::docker_archive) {
    if (manifests.size() != 1)
      return error(errc::invalid_argument,
                   "a docker-archive holds one platform's image, not " +
                       std::to_string(manifests.size()) +
                       ": give one architecture, or write an OCI layout or oci-archive");
    root = manifests.front();
    c.add_root(root, {});
  } else {
    UKIKIT_TRY_ASSIGN(root, c.add_index(std::move(manifests)));
    c.add_root(root, ref.tag);
  }
  image::write_options wo;
  wo.mtime = mtime;
  UKIKIT_TRY(image::write_store(c.contents(), ref, wo));
  return root;
}

} // namespace ukikit::installer
