// `ukiinspect REF` on an installer image: after the image report, each
// platform's UKI (the artifacts layer's vmlinuz.efi, or vmlinuz.efi.signed
// in the legacy-signed layout) inspected as a UKI file is, found in the
// platform's final tree as a runtime sees it (image/lookup.hpp).
//
// Inspecting reports and does not judge: a platform without artifacts is
// left out (an installer-base, any other image), and a UKI that cannot be
// read is reported as that platform's problem. `ukikit image verify` is
// the gate.
#pragma once

#include "../image/lookup.hpp"
#include "../image/source.hpp"
#include "../report/image.hpp"
#include "../report/json.hpp"
#include "../report/uki.hpp"
#include "layout.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace ukikit::installer {

struct platform_uki {
  std::size_t manifest = 0; // in the image report's manifests
  std::string platform;     // os/architecture[/variant]
  layout found = layout::uki;
  std::string path;                      // "/usr/install/<arch>/vmlinuz.efi"
  std::optional<image::file_data> bytes; // what `uki` views (it must outlive the report)
  std::optional<report::uki_report> uki;
  std::optional<error> problem; // the tree or the UKI could not be read
};

namespace detail {

inline std::string platform_text(const report::image_manifest& m) {
  std::string os, arch, variant;
  if (m.descriptor.platform) {
    os = m.descriptor.platform->os;
    arch = m.descriptor.platform->architecture;
    variant = m.descriptor.platform->variant;
  } else if (m.config) {
    os = m.config->os;
    arch = m.config->architecture;
    variant = m.config->variant;
  }
  return os + "/" + arch + (variant.empty() ? "" : "/" + variant);
}

inline std::string architecture_of(const report::image_manifest& m) {
  if (m.descriptor.platform) return m.descriptor.platform->architecture;
  return m.config ? m.config->architecture : std::string();
}

} // namespace detail

// The UKI of every platform of `rep` (inspect_image's report on `src`) that
// has one. `o.name` is ignored: each report is named PLATFORM:PATH.
inline std::vector<platform_uki> inspect_ukis(const image::source& src,
                                              const report::image_report& rep,
                                              const report::inspect_options& o = {},
                                              const image::lookup_options& lo = {}) {
  std::vector<platform_uki> out;
  for (std::size_t i = 0; i < rep.manifests.size(); ++i) {
    const report::image_manifest& m = rep.manifests[i];
    const std::string arch = detail::architecture_of(m);
    if (!m.manifest || arch.empty()) continue;
    std::vector<byte_span> blobs;
    bool readable = true;
    for (const auto& l : m.manifest->layers) {
      auto bytes = src.find_blob(l.digest);
      if (!bytes || !*bytes) {
        readable = false; // inspect_image says why
        break;
      }
      blobs.push_back(**bytes);
    }
    if (!readable) continue;
    const std::string dir = install_dir(arch);
    std::vector<std::string> wanted;
    for (auto l : {layout::uki, layout::legacy_signed})
      wanted.push_back(dir + "/" + std::string(names(l).kernel));
    platform_uki p;
    p.manifest = i;
    p.platform = detail::platform_text(m);
    auto tree = image::layer_tree::build(std::move(blobs), lo, wanted);
    if (!tree) {
      p.problem = tree.error();
      out.push_back(std::move(p));
      continue;
    }
    for (std::size_t w = 0; w < wanted.size() && p.path.empty(); ++w) {
      auto st = tree->stat(wanted[w]);
      if (!st || !*st) continue;
      p.found = w == 0 ? layout::uki : layout::legacy_signed;
      p.path = "/" + wanted[w];
      auto r = tree->read(wanted[w]); // an error for a directory, a loop, a bad layer
      if (!r) p.problem = r.error();
      else p.bytes = std::move(*r);
    }
    if (p.path.empty()) continue; // no artifacts for this platform
    if (!p.problem && !p.bytes)
      p.problem = error(errc::malformed, p.path + " vanished from the tree");
    if (p.bytes) {
      report::inspect_options uo = o;
      uo.name = p.platform + ":" + p.path;
      uo.consumed = nullptr;
      auto r = report::inspect_uki(p.bytes->bytes(), uo);
      if (r) p.uki = std::move(*r);
      else p.problem = r.error();
    }
    out.push_back(std::move(p));
  }
  return out;
}

// [{"manifest", "platform", "layout", "path", "uki": {…} | "error": "…"}]
inline nlohmann::ordered_json to_json(const std::vector<platform_uki>& ukis) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& p : ukis) {
    nlohmann::ordered_json j;
    j["manifest"] = p.manifest;
    j["platform"] = p.platform;
    j["layout"] = std::string(name(p.found));
    j["path"] = p.path;
    if (p.uki) j["uki"] = report::to_json(*p.uki);
    if (p.problem) j["error"] = p.problem->message();
    out.push_back(std::move(j));
  }
  return out;
}

} // namespace ukikit::installer
