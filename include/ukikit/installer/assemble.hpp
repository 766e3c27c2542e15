// Assembling an installer image, as Talos' imager does (reference/
// uki-signing-pcr.md §5.3), reproducibly: for each architecture, the base
// image for that platform, plus one artifacts layer holding the boot
// artifacts at installer/layout.hpp's paths, plus an optional overlay
// layer; all under one index.
//
// - The base: the first manifest for linux/<arch>[/variant] the base
//   reference selects (an index is searched, a single manifest must be for
//   that platform). Its layers are kept as they are (same blobs, same
//   digests) except a top layer that holds nothing but usr/install/
//   artifacts (Talos' legacy two-layer base, or an installer image given as
//   base): that one is dropped, as Talos keeps only the first layer, with a
//   finding (installer.base-artifacts-dropped).
// - The artifacts layer: only the artifact files (no directories, as
//   Talos' filemap writes it), sorted, mode 0644, uid/gid 0, mtime 0.
// - The overlay layer (`--overlay DIR`): the tree under overlay/ (Talos'
//   overlay/artifacts, overlay/installers/default, overlay/extra-options).
// - The config: the base's (entrypoint, env, labels, …) with architecture,
//   os and variant set, `created` from the caller (not the build time, which
//   makes Talos' own images differ on every run), diff_ids and history for
//   the layers kept and added. An OCI manifest and config, whatever the
//   base's media types; Docker layer types become the OCI type of their
//   compression (same bytes).
#pragma once

#include "../compress.hpp"
#include "../diagnostics.hpp"
#include "../image/copy.hpp"
#include "../image/reference.hpp"
#include "../image/source.hpp"
#include "../oci.hpp"
#include "../parallel.hpp"
#include "../report/layer.hpp"
#include "../report/layer_create.hpp"
#include "../result.hpp"
#include "../tar_writer.hpp"
#include "compose.hpp"
#include "layout.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::installer {

namespace code {
// The base's top layer held only usr/install/ artifacts and was left out.
inline constexpr std::string_view base_artifacts_dropped = "installer.base-artifacts-dropped";
} // namespace code

// One architecture's boot artifacts; the spans stay valid until assemble()
// returns.
struct arch_artifacts {
  arch_spec arch;
  byte_span kernel;    // the signed UKI (uki, legacy-signed), the kernel (legacy)
  byte_span boot;      // the signed systemd-boot (uki, legacy-signed)
  byte_span initramfs; // legacy: initramfs.xz
};

struct assemble_options {
  installer::layout layout = installer::layout::uki;
  report::layer_create_options layer; // compression (gzip by default), level, threads
  std::int64_t created = 0;           // the configs' and history's `created`
  std::optional<std::filesystem::path> overlay;
  std::uint64_t max_layer_size = report::default_max_layer_size; // reading the base's top layer
  std::function<void(std::uint64_t)> progress;                   // bytes of layers written so far
  unsigned jobs = 0; // layers made at once (0: one per core); the bytes do not depend on it
};

struct assembled_image {
  arch_spec arch;
  oci::descriptor base_manifest; // what the base gave for this platform
  std::size_t base_layers = 0;   // kept from the base
  oci::descriptor manifest;
  oci::descriptor artifacts; // the artifacts layer
  oci::digest artifacts_diff_id;
  std::optional<oci::descriptor> overlay;
};

struct assemble_result {
  oci::descriptor root;
  std::vector<assembled_image> images;
  finding_log findings;
};

namespace detail {

// The base image for a platform: its manifest descriptor, manifest and config.
struct base_entry {
  oci::descriptor descriptor;
  oci::manifest manifest;
  oci::image_config config;
};

inline result<base_entry> base_for(const image::source& base, const arch_spec& a) {
  image::platform_filter want{"linux", a.arch, a.variant};
  for (const auto& root : base.selected()) {
    UKIKIT_TRY_ASSIGN(auto found, image::detail::narrow(base, root, want, 0));
    if (!found) continue;
    base_entry e;
    e.descriptor = *found;
    finding_log ignored;
    oci::parse_options po;
    po.limits = base.options().limits;
    po.described_by = &e.descriptor;
    UKIKIT_TRY_ASSIGN(byte_span mbytes, base.blob(e.descriptor));
    UKIKIT_TRY_ASSIGN(auto m, oci::parse_manifest(mbytes, ignored, po));
    e.manifest = std::move(m.value);
    if (!oci::media_type::is_config(e.manifest.config.media_type))
      return error(errc::malformed, "the base's manifest for " + a.text() + " has a " +
                                        e.manifest.config.media_type + " config, not an image's");
    UKIKIT_TRY_ASSIGN(byte_span cbytes, base.blob(e.manifest.config));
    oci::parse_options co;
    co.limits = base.options().limits;
    co.described_by = &e.manifest.config;
    UKIKIT_TRY_ASSIGN(auto cfg, oci::parse_config(cbytes, ignored, co));
    e.config = std::move(cfg.value);
    if (e.config.rootfs.diff_ids.size() != e.manifest.layers.size())
      return error(errc::malformed, "the base's config for " + a.text() + " lists " +
                                        std::to_string(e.config.rootfs.diff_ids.size()) +
                                        " diff_ids for " +
                                        std::to_string(e.manifest.layers.size()) + " layers");
    return e;
  }
  return error(errc::invalid_argument,
               "the base " + base.ref().text() + " has no image for linux/" + a.text());
}

// Whether a layer holds nothing but usr/install/… (and its parents).
inline result<bool> only_artifacts(byte_span layer, std::uint64_t max_size) {
  report::layer_options lo;
  lo.max_size = max_size;
  UKIKIT_TRY_ASSIGN(auto listing, report::list_layer(layer, lo));
  bool any = false;
  for (const auto& e : listing.entries) {
    std::string_view n = e.path;
    while (n.substr(0, 2) == "./") n.remove_prefix(2);
    while (!n.empty() && n.front() == '/') n.remove_prefix(1);
    while (!n.empty() && n.back() == '/') n.remove_suffix(1);
    if (n.empty() || n == "usr" || n == "usr/install") continue;
    if (n.substr(0, 12) != "usr/install/") return false;
    any = true;
  }
  return any;
}

// The OCI media type of a base layer: its own when OCI's, else the OCI type
// of its compression.
inline result<std::string> oci_layer_type(const oci::descriptor& d, byte_span bytes) {
  if (d.media_type.rfind("application/vnd.oci.", 0) == 0) return d.media_type;
  auto t = report::layer_media_type(compress::detect(bytes));
  if (!t)
    return error(errc::unsupported, "base layer " + d.digest.str() + " (" + d.media_type +
                                        ") is compressed in a way OCI has no layer type for");
  return std::string(*t);
}

inline tar::member artifact(std::string path, byte_span data) {
  tar::member m;
  m.path = std::move(path);
  m.type = tar::entry_type::file;
  m.mode = 0644;
  m.size = data.size();
  m.data = data;
  return m;
}

inline result<std::vector<tar::member>> artifact_members(const arch_artifacts& a, layout l) {
  const auto n = names(l);
  const std::string dir = install_dir(a.arch.arch) + "/";
  std::vector<tar::member> out;
  auto need = [&](byte_span data, std::string_view file) -> result<void> {
    if (data.empty())
      return error(errc::invalid_argument, "no " + std::string(file) + " for " + a.arch.text() +
                                               " (layout " + std::string(name(l)) + ")");
    out.push_back(artifact(dir + std::string(file), data));
    return success();
  };
  UKIKIT_TRY(need(a.kernel, n.kernel));
  if (!n.boot.empty()) UKIKIT_TRY(need(a.boot, n.boot));
  else if (!a.boot.empty())
    return error(errc::invalid_argument, "layout " + std::string(name(l)) + " has no boot loader");
  if (!n.initramfs.empty()) UKIKIT_TRY(need(a.initramfs, n.initramfs));
  else if (!a.initramfs.empty())
    return error(errc::invalid_argument,
                 "layout " + std::string(name(l)) + " has no separate initramfs");
  return out;
}

inline result<std::vector<tar::member>> overlay_members(const std::filesystem::path& dir,
                                                        finding_log& log) {
  tar::walk_options wo; // mtime 0, uid/gid 0
  UKIKIT_TRY_ASSIGN(auto members, tar::walk_tree(dir, wo, log));
  std::vector<tar::member> out;
  tar::member top;
  top.path = "overlay";
  top.type = tar::entry_type::directory;
  top.mode = 0755;
  out.push_back(std::move(top));
  for (auto& m : members) {
    m.path = "overlay/" + m.path;
    if (m.type == tar::entry_type::hardlink) m.link = "overlay/" + m.link;
    out.push_back(std::move(m));
  }
  return out;
}

} // namespace detail

inline result<assemble_result> assemble(const image::source& base,
                                        const std::vector<arch_artifacts>& archs,
                                        const assemble_options& o, const image::reference& out) {
  if (archs.empty()) return error(errc::invalid_argument, "no architecture to assemble");
  UKIKIT_TRY_ASSIGN(const std::string created, rfc3339(o.created));
  composer c;
  c.progress = o.progress;
  assemble_result r;

  // Each architecture's base image, what is kept of it, and its config so far.
  struct pending {
    assembled_image img;
    oci::image_config cfg;
    std::vector<oci::descriptor> layers;
  };
  std::vector<pending> todo;
  std::vector<layer_members> sets; // the artifacts layers, then the overlay
  for (std::size_t i = 0; i < archs.size(); ++i) {
    const auto& a = archs[i];
    for (std::size_t j = 0; j < i; ++j)
      if (archs[j].arch == a.arch)
        return error(errc::invalid_argument, a.arch.text() + " is given twice");
    UKIKIT_TRY_ASSIGN(auto b, detail::base_for(base, a.arch));
    pending p;
    p.img.arch = a.arch;
    p.img.base_manifest = b.descriptor;

    // The base's layers, without a top layer of installer artifacts.
    std::size_t keep = b.manifest.layers.size();
    if (keep > 0) {
      UKIKIT_TRY_ASSIGN(byte_span top, base.blob(b.manifest.layers.back()));
      UKIKIT_TRY_ASSIGN(bool artifacts_only, detail::only_artifacts(top, o.max_layer_size));
      if (artifacts_only) {
        --keep;
        finding f(severity::note, code::base_artifacts_dropped,
                  "the base's top layer holds only usr/install/ artifacts; it is left out");
        f.subject = b.manifest.layers.back().digest.str();
        r.findings.add(std::move(f));
      }
    }
    p.cfg = std::move(b.config);
    p.cfg.rootfs.diff_ids.resize(keep);
    for (std::size_t k = 0; k < keep; ++k) {
      oci::descriptor d = b.manifest.layers[k];
      UKIKIT_TRY_ASSIGN(byte_span bytes, base.blob(d));
      UKIKIT_TRY_ASSIGN(d.media_type, detail::oci_layer_type(d, bytes));
      c.add_blob(d.digest, bytes);
      p.layers.push_back(std::move(d));
    }
    p.img.base_layers = keep;

    // History: the base's entries up to its last kept layer.
    std::vector<oci::history_entry> history;
    std::size_t layered = 0;
    for (auto& h : p.cfg.history) {
      if (!h.empty_layer && layered == keep) break;
      if (!h.empty_layer) ++layered;
      history.push_back(std::move(h));
    }
    p.cfg.history = std::move(history);

    UKIKIT_TRY_ASSIGN(auto members, detail::artifact_members(a, o.layout));
    sets.push_back(layer_members{std::move(members), finding_log()});
    todo.push_back(std::move(p));
  }
  if (o.overlay) {
    finding_log walked;
    UKIKIT_TRY_ASSIGN(auto members, detail::overlay_members(*o.overlay, walked));
    sets.push_back(layer_members{std::move(members), std::move(walked)});
  }

  // The new layers, each compressed on a core of its own.
  const unsigned jobs = effective_jobs(o.jobs);
  UKIKIT_TRY_ASSIGN(auto made, c.add_layers(std::move(sets), o.layer, jobs));
  std::optional<made_layer> overlay;
  if (o.overlay) {
    overlay = std::move(made.back());
    for (auto f : overlay->info.findings.take()) r.findings.add(std::move(f));
  }

  std::vector<oci::descriptor> manifests;
  for (std::size_t i = 0; i < todo.size(); ++i) {
    auto& [img, cfg, layers] = todo[i];
    const made_layer& artifacts = made[i];
    layers.push_back(artifacts.descriptor);
    cfg.rootfs.diff_ids.push_back(artifacts.diff_id);
    oci::history_entry h;
    h.created = created;
    h.created_by = "ukikit image assemble: " + install_dir(img.arch.arch) + " (" +
                   std::string(name(o.layout)) + ")";
    cfg.history.push_back(std::move(h));
    img.artifacts = artifacts.descriptor;
    img.artifacts_diff_id = artifacts.diff_id;
    if (overlay) {
      layers.push_back(overlay->descriptor);
      cfg.rootfs.diff_ids.push_back(overlay->diff_id);
      oci::history_entry oh;
      oh.created = created;
      oh.created_by = "ukikit image assemble: overlay";
      cfg.history.push_back(std::move(oh));
      img.overlay = overlay->descriptor;
    }
    cfg.created = created;
    cfg.architecture = img.arch.arch;
    cfg.os = "linux";
    cfg.variant = img.arch.variant;
    UKIKIT_TRY_ASSIGN(img.manifest, c.add_image(cfg, std::move(layers)));
    manifests.push_back(img.manifest);
    r.images.push_back(std::move(img));
  }
  UKIKIT_TRY_ASSIGN(r.root, write_images(c, std::move(manifests), out, o.created));
  return r;
}

// {"root": descriptor, "layout", "images": [{"platform", "base_manifest",
//  "base_layers", "manifest", "artifacts", "artifacts_diff_id", "overlay"}],
//  "findings", "findings_dropped"}
inline nlohmann::ordered_json to_json(const assemble_result& r, layout l) {
  nlohmann::ordered_json j;
  j["root"] = descriptor_json(r.root);
  j["layout"] = name(l);
  j["images"] = nlohmann::ordered_json::array();
  for (const auto& i : r.images) {
    nlohmann::ordered_json e;
    e["platform"] = "linux/" + i.arch.text();
    e["base_manifest"] = i.base_manifest.digest.str();
    e["base_layers"] = i.base_layers;
    e["manifest"] = descriptor_json(i.manifest);
    e["artifacts"] = descriptor_json(i.artifacts);
    e["artifacts_diff_id"] = i.artifacts_diff_id.str();
    if (i.overlay) e["overlay"] = descriptor_json(*i.overlay);
    j["images"].push_back(std::move(e));
  }
  j["findings"] = ukikit::to_json(r.findings.kept());
  j["findings_dropped"] = r.findings.dropped();
  return j;
}

} // namespace ukikit::installer
