// What `ukikit image inspect` (and `ukiinspect REF`) report of an OCI
// image: the store's root index, every manifest under the selected entries
// (through nested indexes), each manifest's config and its layers with
// media types, sizes, digests, diff_ids and entry counts. As data, as JSON
// and as text.
//
// Everything handed out is checked on the way: each blob's size and digest
// against its descriptor, each manifest's and index's mediaType against the
// descriptor that points at it, each layer's uncompressed digest against
// the config's rootfs.diff_ids, their number against the layers'. A problem
// in one blob is a finding (severity error, with claimed and computed
// values) and the walk goes on to the next; only an unreadable store is an
// error.
#pragma once

#include "../compress.hpp"
#include "../diagnostics.hpp"
#include "../image/source.hpp"
#include "../oci.hpp"
#include "../parallel.hpp"
#include "layer.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::report {

namespace code {
// A blob (manifest, index, config or layer) that cannot be read or parsed.
inline constexpr std::string_view image_bad_blob = "image.bad-blob";
// A layer's uncompressed digest is not the config's diff_id for it.
inline constexpr std::string_view image_diff_id_mismatch = "image.diff-id-mismatch";
// The config lists a different number of diff_ids than the manifest layers.
inline constexpr std::string_view image_diff_id_count = "image.diff-id-count";
// An index entry's platform disagrees with the config it leads to.
inline constexpr std::string_view image_platform_mismatch = "image.platform-mismatch";
// Indexes nest deeper than max_index_depth.
inline constexpr std::string_view image_too_deep = "image.too-deep";
} // namespace code

// Nested indexes followed, at most (an installer image has one level).
inline constexpr int max_index_depth = 8;

struct image_options {
  // List every layer (decompress it, count entries, compute its diff_id).
  bool layers = true;
  layer_options layer{};
  // Threads that check (and list) layer blobs, several at once; 0: one per
  // core. The report is the same for any number.
  unsigned jobs = 1;
  // Hash each layer blob for its digest. false: only its size and embedded
  // data are checked here, and a digest ukikit cannot compute; the caller
  // checks the digest as it decodes the layer (installer/verify.hpp), and
  // `read` means no more than that until it has.
  bool layer_digests = true;
};

struct image_layer {
  oci::descriptor descriptor;
  bool read = false;                          // the blob was there and matched its descriptor
  std::optional<oci::digest> diff_id_claimed; // the config's rootfs.diff_ids entry
  std::optional<oci::digest> diff_id;         // computed, when listed
  compress::format compression = compress::format::none;
  std::uint64_t tar_size = 0;
  std::uint64_t entries = 0;
  bool listed = false;
};

struct image_manifest {
  oci::descriptor descriptor;       // as the index that lists it says
  std::vector<oci::digest> parents; // the nested indexes it was reached through
  std::optional<oci::manifest> manifest;
  std::optional<oci::image_config> config;
  std::vector<image_layer> layers;
};

struct image_report {
  image::reference ref;
  oci::digest root_digest; // of index.json (empty for a docker-archive)
  std::string root_media_type;
  std::size_t root_entries = 0;
  std::vector<image_manifest> manifests;
  finding_log findings;

  bool passed() const noexcept { return !findings.has_errors(); }
};

namespace detail {

// The findings of parsing one blob, each naming the blob.
inline void add_about(image_report& rep, finding_log&& log, const oci::digest& about) {
  for (auto f : log.take()) {
    f.subject = f.subject.empty() ? about.str() : about.str() + ": " + f.subject;
    rep.findings.add(std::move(f));
  }
  rep.findings.append(std::move(log)); // the count of those the log dropped
}

// The finding of a blob that cannot be read or is not what `d` says.
inline finding blob_finding(const oci::descriptor& d, std::string_view what, const error& e) {
  finding f(severity::error,
            e.code() == errc::checksum_mismatch ? image::code::blob_mismatch : code::image_bad_blob,
            std::string(what) + ": " + e.context(), e.offset());
  f.subject = d.digest.str();
  return f;
}

inline void blob_problem(image_report& rep, const oci::descriptor& d, std::string_view what,
                         const error& e) {
  rep.findings.add(blob_finding(d, what, e));
}

// A blob read and checked against its descriptor: its bytes, or the
// finding that says why not (subject: the blob's digest).
struct checked {
  std::optional<byte_span> bytes;
  std::optional<finding> problem;
};

inline checked check_blob(const image::source& src, const oci::descriptor& d, std::string_view what,
                          bool digest = true) {
  checked out;
  auto problem = [&](const error& e) {
    out.problem = blob_finding(d, what, e);
    return out;
  };
  auto got = src.find_blob(d.digest);
  if (!got) return problem(got.error());
  if (!*got) {
    finding f(severity::error, image::code::missing_blob,
              std::string(what) + " (" + d.media_type + ") is not in the store");
    f.subject = d.digest.str();
    out.problem = std::move(f);
    return out;
  }
  if (digest) {
    // A store's blobs are mapped: each piece hashed is dropped from memory.
    if (auto ok = oci::verify(d, **got, [&src](byte_span p) { src.release(p); }); !ok)
      return problem(ok.error());
  } else {
    if (auto ok = oci::verify_size(d, **got); !ok) return problem(ok.error());
    if (auto a = d.digest.verifiable_algorithm(); !a) return problem(a.error());
    if (auto ok = oci::verify_data(d, **got); !ok) return problem(ok.error());
  }
  out.bytes = **got;
  return out;
}

inline std::optional<byte_span> checked_blob(const image::source& src, image_report& rep,
                                             const oci::descriptor& d, std::string_view what) {
  auto c = check_blob(src, d, what);
  if (c.problem) rep.findings.add(std::move(*c.problem));
  return c.bytes;
}

// A manifest's layers, named; read and checked once the walk is done
// (read_layers), so that layers of several manifests are checked at once.
inline void inspect_layers(image_report& rep, image_manifest& m) {
  const std::vector<oci::digest>* diff_ids = m.config ? &m.config->rootfs.diff_ids : nullptr;
  if (diff_ids && diff_ids->size() != m.manifest->layers.size()) {
    finding f(severity::error, code::image_diff_id_count,
              "config lists " + std::to_string(diff_ids->size()) + " diff_ids for " +
                  std::to_string(m.manifest->layers.size()) + " layers");
    f.subject = m.descriptor.digest.str();
    f.claimed = std::to_string(diff_ids->size());
    f.computed = std::to_string(m.manifest->layers.size());
    rep.findings.add(std::move(f));
  }
  for (std::size_t i = 0; i < m.manifest->layers.size(); ++i) {
    image_layer l;
    l.descriptor = m.manifest->layers[i];
    if (diff_ids && i < diff_ids->size()) l.diff_id_claimed = (*diff_ids)[i];
    m.layers.push_back(std::move(l));
  }
}

// One layer's blob checked and, when asked, listed; its findings in order.
struct layer_outcome {
  std::optional<byte_span> bytes;
  std::optional<result<layer_report>> listing;
  std::vector<finding> findings;
};

inline layer_outcome read_layer(const image::source& src, const image_layer& l,
                                const image_options& opts) {
  layer_outcome out;
  auto c = check_blob(src, l.descriptor, "layer", opts.layer_digests);
  if (c.problem) out.findings.push_back(std::move(*c.problem));
  out.bytes = c.bytes;
  if (out.bytes && opts.layers) {
    layer_options lo = opts.layer;
    lo.diff_id = true;
    out.listing.emplace(list_layer(*out.bytes, lo));
  }
  return out;
}

// Every manifest's layers, opts.jobs at a time; findings in manifest and
// layer order whatever the number of threads.
inline void read_layers(const image::source& src, image_report& rep, const image_options& opts) {
  std::vector<image_layer*> all;
  for (auto& m : rep.manifests)
    for (auto& l : m.layers) all.push_back(&l);
  std::vector<layer_outcome> done(all.size());
  for_each_index(all.size(), opts.jobs,
                 [&](std::size_t k) { done[k] = read_layer(src, *all[k], opts); });
  std::size_t k = 0;
  for (auto& m : rep.manifests)
    for (std::size_t i = 0; i < m.layers.size(); ++i, ++k) {
      image_layer& l = m.layers[i];
      layer_outcome& o = done[k];
      for (auto& f : o.findings) rep.findings.add(std::move(f));
      l.read = o.bytes.has_value();
      if (o.bytes) l.compression = compress::detect(*o.bytes);
      if (!o.listing) continue;
      auto& listing = *o.listing;
      if (!listing) {
        blob_problem(rep, l.descriptor, "layer", listing.error());
        continue;
      }
      l.listed = true;
      l.tar_size = listing->tar_size;
      l.entries = listing->entries.size();
      if (listing->diff_id) l.diff_id = oci::digest::of(*listing->diff_id);
      for (auto f : listing->findings) {
        f.subject = l.descriptor.digest.str() + ":" + f.subject;
        rep.findings.add(std::move(f));
      }
      if (l.diff_id && l.diff_id_claimed && l.diff_id_claimed->verifiable() &&
          l.diff_id_claimed->algorithm() == l.diff_id->algorithm() &&
          *l.diff_id != *l.diff_id_claimed) {
        finding f(severity::error, code::image_diff_id_mismatch,
                  "layer " + std::to_string(i) + " is not the layer the config lists");
        f.subject = l.descriptor.digest.str();
        f.claimed = l.diff_id_claimed->str();
        f.computed = l.diff_id->str();
        rep.findings.add(std::move(f));
      }
    }
}

inline void inspect_manifest(const image::source& src, image_report& rep, image_manifest m,
                             byte_span bytes) {
  oci::parse_options po;
  po.limits = src.options().limits;
  po.mode = src.options().mode;
  po.described_by = &m.descriptor;
  finding_log log;
  auto parsed = oci::parse_manifest(bytes, log, po);
  add_about(rep, std::move(log), m.descriptor.digest);
  if (!parsed) {
    blob_problem(rep, m.descriptor, "manifest", parsed.error());
    rep.manifests.push_back(std::move(m));
    return;
  }
  m.manifest = std::move(parsed->value);
  if (auto cb = checked_blob(src, rep, m.manifest->config, "config")) {
    oci::parse_options co;
    co.limits = src.options().limits;
    co.mode = src.options().mode;
    co.described_by = &m.manifest->config;
    if (oci::media_type::is_config(m.manifest->config.media_type)) {
      finding_log clog;
      auto cfg = oci::parse_config(*cb, clog, co);
      add_about(rep, std::move(clog), m.manifest->config.digest);
      if (!cfg) blob_problem(rep, m.manifest->config, "config", cfg.error());
      else m.config = std::move(cfg->value);
    }
  }
  if (m.config && m.descriptor.platform) {
    const auto& p = *m.descriptor.platform;
    if (p.architecture != m.config->architecture || p.os != m.config->os ||
        (!p.variant.empty() && !m.config->variant.empty() && p.variant != m.config->variant)) {
      finding f(severity::error, code::image_platform_mismatch,
                "the index says " + p.os + "/" + p.architecture +
                    (p.variant.empty() ? "" : "/" + p.variant) + ", the config " + m.config->os +
                    "/" + m.config->architecture +
                    (m.config->variant.empty() ? "" : "/" + m.config->variant));
      f.subject = m.descriptor.digest.str();
      rep.findings.add(std::move(f));
    }
  }
  inspect_layers(rep, m);
  rep.manifests.push_back(std::move(m));
}

inline void inspect_entry(const image::source& src, image_report& rep, const oci::descriptor& d,
                          std::vector<oci::digest> parents) {
  auto bytes = checked_blob(src, rep, d, "manifest");
  image_manifest m;
  m.descriptor = d;
  m.parents = parents;
  if (!bytes) {
    rep.manifests.push_back(std::move(m));
    return;
  }
  oci::parse_options po;
  po.limits = src.options().limits;
  po.mode = src.options().mode;
  po.described_by = &d;
  if (oci::media_type::is_index(d.media_type)) {
    if (static_cast<int>(parents.size()) >= max_index_depth) {
      finding f(severity::error, code::image_too_deep,
                "indexes nest deeper than " + std::to_string(max_index_depth));
      f.subject = d.digest.str();
      rep.findings.add(std::move(f));
      return;
    }
    finding_log log;
    auto idx = oci::parse_index(*bytes, log, po);
    add_about(rep, std::move(log), d.digest);
    if (!idx) {
      blob_problem(rep, d, "index", idx.error());
      return;
    }
    parents.push_back(d.digest);
    for (const auto& child : idx->value.manifests) inspect_entry(src, rep, child, parents);
    return;
  }
  if (!oci::media_type::is_manifest(d.media_type)) {
    // An artifact or something newer: listed with its descriptor only.
    rep.manifests.push_back(std::move(m));
    return;
  }
  inspect_manifest(src, rep, std::move(m), *bytes);
}

} // namespace detail

// Inspects the images `src` selects. Errors only when nothing can be read.
inline image_report inspect_image(const image::source& src, const image_options& opts = {}) {
  image_report rep;
  rep.ref = src.ref();
  rep.root_digest = src.root_digest();
  rep.root_media_type = src.root().media_type;
  rep.root_entries = src.root().manifests.size();
  for (const auto& f : src.findings()) rep.findings.add(f);
  for (const auto& d : src.selected()) detail::inspect_entry(src, rep, d, {});
  detail::read_layers(src, rep, opts);
  return rep;
}

// ---- JSON ---------------------------------------------------------------------

namespace detail {

inline nlohmann::ordered_json descriptor_json(const oci::descriptor& d) {
  nlohmann::ordered_json j;
  j["media_type"] = d.media_type;
  j["digest"] = d.digest.str();
  j["size"] = d.size;
  if (!d.artifact_type.empty()) j["artifact_type"] = d.artifact_type;
  return j;
}

inline nlohmann::ordered_json platform_json(std::string_view os, std::string_view arch,
                                            std::string_view variant, std::string_view os_version) {
  nlohmann::ordered_json j;
  j["os"] = os;
  j["architecture"] = arch;
  if (!variant.empty()) j["variant"] = variant;
  if (!os_version.empty()) j["os_version"] = os_version;
  return j;
}

} // namespace detail

// {"reference", "index": {"digest", "media_type", "manifests"},
//  "manifests": [{"digest", "media_type", "size", "tag", "platform",
//                 "parents", "config": {...}, "layers": [...]}],
//  "findings": [...], "findings_dropped"}
inline nlohmann::ordered_json to_json(const image_report& r) {
  using oj = nlohmann::ordered_json;
  oj j;
  j["reference"] = r.ref.text();
  oj idx;
  idx["digest"] = r.root_digest.empty() ? oj(nullptr) : oj(r.root_digest.str());
  idx["media_type"] = r.root_media_type;
  idx["manifests"] = r.root_entries;
  j["index"] = idx;
  j["manifests"] = oj::array();
  for (const auto& m : r.manifests) {
    oj mj = detail::descriptor_json(m.descriptor);
    auto tag = m.descriptor.annotations.find(std::string(image::ref_name_annotation));
    if (tag != m.descriptor.annotations.end()) mj["tag"] = tag->second;
    if (m.descriptor.platform) {
      const auto& p = *m.descriptor.platform;
      mj["platform"] = detail::platform_json(p.os, p.architecture, p.variant, p.os_version);
    } else if (m.config) {
      mj["platform"] = detail::platform_json(m.config->os, m.config->architecture,
                                             m.config->variant, m.config->os_version);
    }
    if (!m.parents.empty()) {
      mj["parents"] = oj::array();
      for (const auto& p : m.parents) mj["parents"].push_back(p.str());
    }
    if (m.manifest) {
      oj cj = detail::descriptor_json(m.manifest->config);
      if (m.config) {
        const auto& c = *m.config;
        cj["platform"] = detail::platform_json(c.os, c.architecture, c.variant, c.os_version);
        if (!c.created.empty()) cj["created"] = c.created;
        if (!c.config.entrypoint.empty()) cj["entrypoint"] = c.config.entrypoint;
        if (!c.config.cmd.empty()) cj["cmd"] = c.config.cmd;
        if (!c.config.env.empty()) cj["env"] = c.config.env;
        if (!c.config.labels.empty()) cj["labels"] = c.config.labels;
        cj["diff_ids"] = oj::array();
        for (const auto& d : c.rootfs.diff_ids) cj["diff_ids"].push_back(d.str());
        cj["history"] = c.history.size();
      }
      mj["config"] = cj;
      mj["layers"] = oj::array();
      for (const auto& l : m.layers) {
        oj lj = detail::descriptor_json(l.descriptor);
        lj["compression"] = l.read ? oj(std::string(compress::name(l.compression))) : oj(nullptr);
        lj["diff_id"] = l.diff_id           ? oj(l.diff_id->str())
                        : l.diff_id_claimed ? oj(l.diff_id_claimed->str())
                                            : oj(nullptr);
        lj["tar_size"] = l.listed ? oj(l.tar_size) : oj(nullptr);
        lj["entries"] = l.listed ? oj(l.entries) : oj(nullptr);
        mj["layers"].push_back(lj);
      }
    }
    j["manifests"].push_back(mj);
  }
  j["findings"] = to_json(r.findings.kept());
  j["findings_dropped"] = r.findings.dropped();
  return j;
}

// ---- text ---------------------------------------------------------------------

inline std::string image_text(const image_report& r) {
  // Everything from the input is escaped: names and types may hold control bytes.
  const auto e = [](std::string_view t) { return escape_controls(t); };
  const auto platform_of = [&](const std::string& os, const std::string& arch,
                               const std::string& variant) {
    return e(os) + "/" + e(arch) + (variant.empty() ? "" : "/" + e(variant));
  };
  std::string out = e(r.ref.text()) + "\n";
  out += "index " +
         (r.root_digest.empty() ? std::string("(made from manifest.json)") : r.root_digest.str()) +
         (r.root_media_type.empty() ? std::string() : " " + e(r.root_media_type)) + ", " +
         std::to_string(r.root_entries) + (r.root_entries == 1 ? " entry\n" : " entries\n");
  for (const auto& m : r.manifests) {
    std::string platform;
    if (const auto& p = m.descriptor.platform)
      platform = platform_of(p->os, p->architecture, p->variant);
    else if (m.config)
      platform = platform_of(m.config->os, m.config->architecture, m.config->variant);
    out += "manifest " + m.descriptor.digest.str() + " " + e(m.descriptor.media_type) + " " +
           std::to_string(m.descriptor.size) + " bytes";
    if (!platform.empty()) out += " " + platform;
    auto tag = m.descriptor.annotations.find(std::string(image::ref_name_annotation));
    if (tag != m.descriptor.annotations.end()) out += " tag " + e(tag->second);
    out += "\n";
    if (!m.manifest) continue;
    const auto& c = m.manifest->config;
    out += "  config " + c.digest.str() + " " + e(c.media_type) + " " + std::to_string(c.size) +
           " bytes";
    if (m.config && !m.config->created.empty()) out += ", created " + e(m.config->created);
    out += "\n";
    if (m.config && !m.config->config.entrypoint.empty()) {
      out += "  entrypoint";
      for (const auto& a : m.config->config.entrypoint) out += " " + e(a);
      out += "\n";
    }
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
      const auto& l = m.layers[i];
      out += "  layer " + std::to_string(i) + " " + l.descriptor.digest.str() + " " +
             e(l.descriptor.media_type) + " " + std::to_string(l.descriptor.size) + " bytes";
      if (l.listed)
        out += ", " + std::to_string(l.entries) + " entries, " + std::to_string(l.tar_size) +
               " bytes uncompressed";
      out += "\n";
      if (l.diff_id || l.diff_id_claimed)
        out += "    diff_id " + (l.diff_id ? l.diff_id->str() : l.diff_id_claimed->str()) + "\n";
    }
  }
  return out;
}

} // namespace ukikit::report
