// installer-base: the image an installer is assembled on. One root tree
// (or one per architecture) squashed into exactly one layer, with a config
// holding entrypoint, env and labels, one manifest per architecture under
// one index (Talos' `installer-base`: reference/uki-signing-pcr.md §5.3).
//
// Reproducible: every member's mtime and the config's `created` are
// `created` (SOURCE_DATE_EPOCH, say; 0 by default), uid and gid are 0, and
// the layer is tar_writer.hpp's deterministic tar, so the same trees give
// the same digests down to the index. Architectures that share a tree share
// its layer blob.
#pragma once

#include "../diagnostics.hpp"
#include "../image/reference.hpp"
#include "../oci.hpp"
#include "../parallel.hpp"
#include "../report/layer_create.hpp"
#include "../result.hpp"
#include "compose.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ukikit::installer {

struct base_options {
  std::vector<arch_spec> archs; // one image each, in this order
  std::filesystem::path rootfs; // the tree of every architecture without its own
  std::map<std::string, std::filesystem::path> rootfs_of; // architecture text -> its tree
  std::vector<std::string> entrypoint;
  std::vector<std::string> env; // NAME=value, in this order
  std::map<std::string, std::string> labels;
  std::int64_t created = 0;                    // seconds since the epoch
  report::layer_create_options layer;          // compression, level; walk.mtime is `created`
  std::function<void(std::uint64_t)> progress; // bytes of layers written so far
  unsigned jobs = 0; // layers made at once (0: one per core); the bytes do not depend on it
};

struct base_image {
  arch_spec arch;
  std::filesystem::path rootfs;
  oci::descriptor manifest;
  oci::descriptor layer;
  oci::digest diff_id;
  std::size_t entries = 0;
};

struct base_result {
  oci::descriptor root; // the index (or, in a docker-archive, the manifest)
  std::vector<base_image> images;
  finding_log findings; // of the tree walks
};

// The config of an installer-base image for `arch`.
inline result<oci::image_config> base_config(const base_options& o, const arch_spec& arch,
                                             const oci::digest& diff_id) {
  oci::image_config c;
  UKIKIT_TRY_ASSIGN(c.created, rfc3339(o.created));
  c.architecture = arch.arch;
  c.os = "linux";
  c.variant = arch.variant;
  c.config.entrypoint = o.entrypoint;
  c.config.env = o.env;
  c.config.labels = o.labels;
  c.rootfs.diff_ids.push_back(diff_id);
  oci::history_entry h;
  h.created = c.created;
  h.created_by = "ukikit image base";
  c.history.push_back(std::move(h));
  return c;
}

inline result<base_result> make_base(const base_options& o, const image::reference& out) {
  if (o.archs.empty()) return error(errc::invalid_argument, "no architecture to make");
  for (const auto& e : o.env)
    if (e.find('=') == std::string::npos || e.front() == '=')
      return error(errc::invalid_argument, "env \"" + escape_controls(e) + "\" is not NAME=value");
  for (const auto& [arch, dir] : o.rootfs_of) {
    bool named = false;
    for (const auto& a : o.archs) named = named || a.text() == arch || a.arch == arch;
    if (!named)
      return error(errc::invalid_argument,
                   "a tree is given for " + arch + ", which is not one of the architectures");
  }
  composer c;
  c.progress = o.progress;
  base_result r;
  // Each architecture's tree; each distinct tree is walked and made once.
  std::vector<std::filesystem::path> trees;
  std::vector<std::size_t> tree_of;
  for (std::size_t i = 0; i < o.archs.size(); ++i) {
    const auto& a = o.archs[i];
    for (std::size_t j = 0; j < i; ++j)
      if (o.archs[j] == a) return error(errc::invalid_argument, a.text() + " is given twice");
    std::filesystem::path tree = o.rootfs;
    if (auto it = o.rootfs_of.find(a.text()); it != o.rootfs_of.end()) tree = it->second;
    else if (auto it2 = o.rootfs_of.find(a.arch); it2 != o.rootfs_of.end()) tree = it2->second;
    if (tree.empty())
      return error(errc::invalid_argument, "no root tree for " + a.text() +
                                               " (give ROOTFS or --rootfs " + a.arch + "=DIR)");
    const auto at = std::find(trees.begin(), trees.end(), tree);
    tree_of.push_back(static_cast<std::size_t>(at - trees.begin()));
    if (at == trees.end()) trees.push_back(tree);
  }
  report::layer_create_options lo = o.layer;
  lo.walk.mtime = o.created;
  lo.walk.uid = lo.walk.gid = 0;
  std::vector<layer_members> sets;
  for (const auto& tree : trees) {
    finding_log walked;
    UKIKIT_TRY_ASSIGN(auto members, tar::walk_tree(tree, lo.walk, walked));
    sets.push_back(layer_members{std::move(members), std::move(walked)});
  }
  const unsigned jobs = effective_jobs(o.jobs);
  UKIKIT_TRY_ASSIGN(auto made, c.add_layers(std::move(sets), lo, jobs));
  for (auto& m : made)
    for (auto f : m.info.findings.take()) r.findings.add(std::move(f));
  std::vector<oci::descriptor> manifests;
  for (std::size_t i = 0; i < o.archs.size(); ++i) {
    const auto& a = o.archs[i];
    const made_layer& layer = made[tree_of[i]];
    UKIKIT_TRY_ASSIGN(auto cfg, base_config(o, a, layer.diff_id));
    UKIKIT_TRY_ASSIGN(auto md, c.add_image(cfg, {layer.descriptor}));
    r.images.push_back(
        base_image{a, trees[tree_of[i]], md, layer.descriptor, layer.diff_id, layer.info.entries});
    manifests.push_back(std::move(md));
  }
  UKIKIT_TRY_ASSIGN(r.root, write_images(c, std::move(manifests), out, o.created));
  return r;
}

// {"root": descriptor, "images": [{"platform", "manifest", "layer",
//  "diff_id", "entries", "rootfs"}], "findings", "findings_dropped"}
inline nlohmann::ordered_json to_json(const base_result& r) {
  nlohmann::ordered_json j;
  j["root"] = descriptor_json(r.root);
  j["images"] = nlohmann::ordered_json::array();
  for (const auto& i : r.images) {
    nlohmann::ordered_json e;
    e["platform"] = "linux/" + i.arch.text();
    e["manifest"] = descriptor_json(i.manifest);
    e["layer"] = descriptor_json(i.layer);
    e["diff_id"] = i.diff_id.str();
    e["entries"] = i.entries;
    e["rootfs"] = i.rootfs.string();
    j["images"].push_back(std::move(e));
  }
  j["findings"] = ukikit::to_json(r.findings.kept());
  j["findings_dropped"] = r.findings.dropped();
  return j;
}

} // namespace ukikit::installer
