// The release gate for an installer image (`ukikit image verify`): every
// manifest the reference selects, with
// - everything `image inspect` checks (report::inspect_image: each blob's
//   size and digest, media types against content, the index's platform
//   against the config's), and each layer's diff_id; a layer blob is read
//   once: its digest is computed from what the decoder consumed in the
//   pass that computes the diff_id and builds the final tree
//   (image/lookup.hpp), and a blob that is not the one named has no tree;
// - a platform per manifest (the index entry's; the config's when the
//   image is the store's only one), one manifest per platform, and an
//   architecture that has UEFI (layout.hpp pe_machine);
// - the installer layout found in usr/install/<arch> of the final tree
//   (uki, legacy-signed, legacy; none: no artifacts layer);
// - the UKI and systemd-boot: PE machine equal to the platform's, and
//   report::verify_uki's verdict on each (a signature chained to the db
//   certificates, none revoked by dbx, nothing unhashed; the UKI's .pcrsig
//   against --pcrpkey or its own .pcrpkey, per profile);
// - the UKI's predicted PCR 11 (sha256 bank, per profile and boot phase).
//
// The UKI and systemd-boot are read as their layer streams past
// (uki/stream.hpp): headers, small sections and signatures kept, the
// Authenticode digest (sha256, and dbx's algorithms) and the large
// sections' digests (sha256, the bank PCR 11 is predicted in) computed on
// the way, so memory does not grow with them. A check that needs a digest
// not computed (a signature in sha384, a .pcrsig that signs the sha1 bank)
// streams the artifact again with every digest in every algorithm;
// artifacts that cannot be streamed are decoded whole, within
// lookup.max_file_size. Architectures are checked in parallel (jobs).
//
// Findings carry a subject naming where the problem is:
// `manifests[1].layers[2].digest`, `manifests[0].platform`,
// `manifests[0].layers[1]:usr/install/amd64/vmlinuz.efi`.
#pragma once

#include "../authenticode.hpp"
#include "../diagnostics.hpp"
#include "../hash.hpp"
#include "../image/lookup.hpp"
#include "../image/source.hpp"
#include "../measure.hpp"
#include "../parallel.hpp"
#include "../pe.hpp"
#include "../report/image.hpp"
#include "../report/verify.hpp"
#include "../uki.hpp"
#include "../uki/pcr.hpp"
#include "../uki/stream.hpp"
#include "layout.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::installer {

// Finding codes of the installer gate (README, "Installer images"). Blob,
// diff_id and platform problems keep inspect's image.* codes.
namespace code {
// The reference selects no image manifest.
inline constexpr std::string_view no_images = "installer.no-images";
// A manifest of a multi-image index has no platform in the index.
inline constexpr std::string_view no_platform = "installer.no-platform";
// Two manifests for the same platform.
inline constexpr std::string_view duplicate_platform = "installer.duplicate-platform";
// A platform architecture without UEFI (no PE machine for it).
inline constexpr std::string_view unsupported_architecture = "installer.unsupported-architecture";
// usr/install/<arch> has no kernel of any layout: the artifacts layer is missing.
inline constexpr std::string_view no_artifacts = "installer.no-artifacts";
// The layout's systemd-boot or initramfs is missing.
inline constexpr std::string_view missing_artifact = "installer.missing-artifact";
// An artifact that cannot be read: not a regular file, over the size limit,
// no PE image, a symlink loop.
inline constexpr std::string_view unreadable_artifact = "installer.unreadable-artifact";
// The legacy layout (kernel and initramfs): nothing signed to verify.
inline constexpr std::string_view legacy_layout = "installer.legacy-layout";
// An artifact's PE machine is not the platform's (claimed: the platform's).
inline constexpr std::string_view machine_mismatch = "installer.machine-mismatch";
// An artifact's Authenticode check fails (not signed, untrusted, revoked,
// digest mismatch, unhashed data): the reasons are in the message.
inline constexpr std::string_view signature = "installer.signature";
// The UKI's .pcrsig does not verify for its predicted PCR 11.
inline constexpr std::string_view pcrsig = "installer.pcrsig";
// The SBAT policy (--sbat-policy) revokes the artifact, or it has no .sbat.
inline constexpr std::string_view sbat_revoked = "installer.sbat-revoked";
} // namespace code

struct verify_options {
  const authenticode::signature_database* trust = nullptr; // db
  const authenticode::signature_database* dbx = nullptr;
  byte_span pcrpkey;                            // PEM; empty: each UKI's own .pcrpkey
  const uki::sbat_level* sbat_policy = nullptr; // shim's SbatLevel, for the UKI and systemd-boot
  image::lookup_options lookup{};               // layer and file size limits
  // Read the UKI and systemd-boot as their layer streams past, keeping
  // their headers and small sections and computing the digests the checks
  // need on the way (uki/stream.hpp): memory does not grow with the UKI.
  // false: decode each artifact whole (the same verdicts, in memory).
  bool stream = true;
  // Threads: layer blobs are checked, and architectures verified, this many
  // at a time; 0: one per core. The report is the same for any number.
  unsigned jobs = 0;
};

struct artifact_check {
  std::string role; // "uki", "systemd-boot", "kernel", "initramfs"
  std::string path; // in the image, no leading "/"
  bool found = false;
  std::size_t layer = 0; // the layer holding its bytes
  std::uint64_t size = 0;
  std::string sha256;
  std::optional<std::uint16_t> machine;
  std::optional<report::verdict> verdict;
};

struct pcr11_value {
  std::size_t profile = 0;
  std::string phase;
  std::string sha256;
};

struct architecture_check {
  std::size_t manifest = 0; // index into image.manifests
  std::string digest;       // of the manifest
  std::string os, architecture, variant;
  std::optional<layout> found;
  std::vector<artifact_check> artifacts;
  std::optional<std::size_t> pcrsig_profiles; // profiles whose .pcrsig was checked
  std::vector<pcr11_value> pcr11;             // the UKI's, sha256
  std::vector<std::string> problems;          // the error findings about it, as text

  bool passed() const noexcept { return problems.empty(); }
  std::string platform() const {
    return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
  }
};

struct verify_report {
  report::image_report image; // its findings are moved into `findings`
  std::vector<architecture_check> architectures;
  finding_log findings;

  bool passed() const noexcept { return !findings.has_errors() && !architectures.empty(); }
  // Each error, as the FAIL line lists them.
  std::vector<std::string> problems() const {
    std::vector<std::string> out;
    for (const auto& f : findings)
      if (f.is_error()) out.push_back(f.subject.empty() ? f.text() : f.subject + ": " + f.text());
    if (findings.dropped() != 0)
      out.push_back(std::to_string(findings.dropped()) + " more findings not kept");
    return out;
  }
};

namespace detail {

inline std::string machine_text(std::uint16_t m) {
  return hex(m) + " (" + std::string(pe::machine_name(m)) + ")";
}

// Where a blob of the inspect report is: "manifests[i]", ".config",
// ".layers[j]", and the manifest it belongs to.
struct blob_place {
  std::string digest, path;
  std::size_t manifest;
};

inline std::vector<blob_place> blob_places(const report::image_report& rep) {
  std::vector<blob_place> out;
  for (std::size_t i = 0; i < rep.manifests.size(); ++i) {
    const auto& m = rep.manifests[i];
    const std::string at = "manifests[" + std::to_string(i) + "]";
    out.push_back({m.descriptor.digest.str(), at, i});
    if (!m.manifest) continue;
    out.push_back({m.manifest->config.digest.str(), at + ".config", i});
    for (std::size_t j = 0; j < m.manifest->layers.size(); ++j)
      out.push_back(
          {m.manifest->layers[j].digest.str(), at + ".layers[" + std::to_string(j) + "]", i});
  }
  return out;
}

// An artifact streamed out of its layer (image::layer_tree's file_stream).
struct pe_stream : image::file_stream {
  uki::streamed_image image;
  std::optional<bool> finished;

  explicit pe_stream(uki::streamed_image i) : image(std::move(i)) {}
  void write(byte_span piece) override { image.write(piece); }
  // Every byte arrived and the digests are final.
  bool finish() {
    if (!finished) finished = image.finish().ok();
    return *finished;
  }
};

// What checking one PE artifact found, before it is added to the report.
struct pe_check {
  std::vector<finding> findings;
  std::optional<std::uint16_t> machine;
  std::optional<report::verdict> verdict;
  std::optional<std::size_t> pcrsig_profiles;
  std::vector<pcr11_value> pcr11;
};

// An artifact's bytes: streamed, or decoded whole.
struct artifact_bytes {
  std::shared_ptr<pe_stream> stream;
  std::optional<image::file_data> data;
};

class gate {
public:
  gate(const image::source& src, const verify_options& o) : src_(src), o_(o) {}

  verify_report run() {
    report::image_options io;
    io.layers = false;        // decoded once below, with the tree
    io.layer_digests = false; // computed as they are decoded
    io.jobs = o_.jobs;
    rep_.image = report::inspect_image(src_, io);
    for (std::size_t i = 0; i < rep_.image.manifests.size(); ++i)
      if (rep_.image.manifests[i].manifest) {
        architecture_check a;
        a.manifest = i;
        a.digest = rep_.image.manifests[i].descriptor.digest.str();
        rep_.architectures.push_back(std::move(a));
      }
    adopt_image_findings();
    if (rep_.architectures.empty())
      add(finding(severity::error, code::no_images,
                  "the reference selects no image manifest (" +
                      std::to_string(rep_.image.manifests.size()) + " entries)"),
          nullptr);
    // Each architecture's layers and artifacts on a thread of its own; the
    // findings about each wait in held_ and join the report in architecture
    // order.
    held_.resize(rep_.architectures.size());
    std::vector<bool> trees(rep_.architectures.size());
    for (std::size_t k = 0; k < trees.size(); ++k) trees[k] = check_platform(rep_.architectures[k]);
    for_each_index(trees.size(), o_.jobs, [&](std::size_t k) {
      if (trees[k]) check_tree(rep_.architectures[k]);
      else check_digests(rep_.architectures[k]);
    });
    for (auto& h : held_)
      for (auto& f : h) rep_.findings.add(std::move(f));
    held_.clear();
    return std::move(rep_);
  }

private:
  void add(finding f, architecture_check* a) {
    if (a && f.is_error()) a->problems.push_back(f.subject + ": " + f.text());
    if (a && !held_.empty()) {
      held_[static_cast<std::size_t>(a - rep_.architectures.data())].push_back(std::move(f));
      return;
    }
    rep_.findings.add(std::move(f));
  }

  architecture_check* arch_of(std::size_t manifest) {
    for (auto& a : rep_.architectures)
      if (a.manifest == manifest) return &a;
    return nullptr;
  }

  // Inspect's findings name blobs by digest; here by their place. A blob
  // several manifests share (a base layer) has a finding per use: each goes
  // to the next place of that digest that has none with its code yet.
  void adopt_image_findings() {
    const auto places = blob_places(rep_.image);
    std::vector<std::pair<std::string_view, const blob_place*>> used;
    for (auto f : rep_.image.findings.take()) {
      const blob_place* at = nullptr;
      for (const auto& p : places)
        if (f.subject.compare(0, p.digest.size(), p.digest) == 0) {
          if (!at) at = &p;
          if (std::find(used.begin(), used.end(), std::make_pair(f.code, &p)) == used.end()) {
            at = &p;
            break;
          }
        }
      if (at) used.emplace_back(f.code, at);
      if (!at) {
        add(std::move(f), nullptr);
        continue;
      }
      std::string rest = f.subject.substr(at->digest.size());
      std::string field;
      if (f.code == image::code::blob_mismatch || f.code == image::code::missing_blob)
        field = ".digest";
      else if (f.code == report::code::image_platform_mismatch) field = ".platform";
      else if (f.code == report::code::image_diff_id_count) field = ".config.diff_ids";
      f.subject = at->path + field + rest;
      add(std::move(f), arch_of(at->manifest));
    }
    rep_.findings.append(std::move(rep_.image.findings)); // the count of those dropped
  }

  finding about(severity s, std::string_view c, std::string message, std::string subject) {
    finding f(s, c, std::move(message));
    f.subject = std::move(subject);
    return f;
  }

  // The manifest's platform: the architecture to verify. false: no tree to
  // check (no platform at all).
  bool check_platform(architecture_check& a) {
    const report::image_manifest& m = rep_.image.manifests[a.manifest];
    const std::string at = "manifests[" + std::to_string(a.manifest) + "]";
    if (m.descriptor.platform) {
      a.os = m.descriptor.platform->os;
      a.architecture = m.descriptor.platform->architecture;
      a.variant = m.descriptor.platform->variant;
    } else if (m.config) {
      a.os = m.config->os;
      a.architecture = m.config->architecture;
      a.variant = m.config->variant;
      if (src_.selected().size() > 1 || src_.root().manifests.size() > 1)
        add(about(severity::error, code::no_platform,
                  "the index gives no platform for this manifest, so no runtime selects it",
                  at + ".platform"),
            &a);
    } else {
      add(about(severity::error, code::no_platform, "no platform: no index entry, no config",
                at + ".platform"),
          &a);
      return false;
    }
    for (const auto& other : rep_.architectures) {
      if (&other == &a) break;
      if (other.os == a.os && other.architecture == a.architecture && other.variant == a.variant) {
        add(about(severity::error, code::duplicate_platform,
                  a.platform() + " is also manifests[" + std::to_string(other.manifest) + "]",
                  at + ".platform"),
            &a);
        break;
      }
    }
    if (!pe_machine(a.architecture))
      add(about(severity::error, code::unsupported_architecture,
                "architecture " + a.architecture + " has no UEFI PE machine", at + ".platform"),
          &a);
    return true;
  }

  // The digests of the layer blobs of a manifest whose tree is not checked.
  void check_digests(architecture_check& a) {
    report::image_manifest& m = rep_.image.manifests[a.manifest];
    for (std::size_t j = 0; j < m.layers.size(); ++j) {
      auto& l = m.layers[j];
      if (!l.read) continue;
      auto bytes = src_.find_blob(l.descriptor.digest);
      if (!bytes || !*bytes) continue; // inspect found it; a store does not change
      auto same = l.descriptor.digest.verify(**bytes, [this](byte_span p) { src_.release(p); });
      if (same) continue;
      finding f = report::detail::blob_finding(l.descriptor, "layer", same.error());
      f.subject =
          "manifests[" + std::to_string(a.manifest) + "].layers[" + std::to_string(j) + "].digest";
      add(std::move(f), &a);
      l.read = false;
    }
  }

  // The manifest's layers (diff_ids) and the artifacts in their final tree.
  void check_tree(architecture_check& a) {
    report::image_manifest& m = rep_.image.manifests[a.manifest];
    const std::string at = "manifests[" + std::to_string(a.manifest) + "]";
    const auto machine = pe_machine(a.architecture);
    std::vector<byte_span> blobs;
    for (std::size_t j = 0; j < m.layers.size(); ++j) {
      const auto& l = m.layers[j];
      auto bytes = l.read ? src_.find_blob(l.descriptor.digest)
                          : result<std::optional<byte_span>>(std::optional<byte_span>());
      if (bytes && *bytes) {
        blobs.push_back(**bytes);
        continue;
      }
      // Inspect said why; no tree from a layer that is not the one named,
      // and an architecture whose artifacts are not checked does not pass.
      if (a.problems.empty())
        add(about(severity::error, report::code::image_bad_blob,
                  "layer " + std::to_string(j) + " was not read: no tree to check",
                  at + ".layers[" + std::to_string(j) + "]"),
            &a);
      return;
    }
    std::vector<std::string> wanted;
    const std::string dir = install_dir(a.architecture);
    for (auto l : all_layouts) {
      const auto n = names(l);
      for (std::string_view f : {n.kernel, n.boot, n.initramfs})
        if (!f.empty()) wanted.push_back(dir + "/" + std::string(f));
    }
    // Each blob's digest is computed from the pieces the decoder has
    // consumed (in order, from the start), and then from what it left: the
    // blob is read once. A blob that is not the one named has no tree.
    std::vector<blob_hash> hashes;
    for (std::size_t j = 0; j < blobs.size(); ++j) {
      auto alg = m.layers[j].descriptor.digest.verifiable_algorithm();
      auto h = alg ? hash::hasher::create(*alg) : result<hash::hasher>(alg.error());
      if (!h) {
        add(about(severity::error, report::code::image_bad_blob, h.error().message(),
                  at + ".layers[" + std::to_string(j) + "].digest"),
            &a);
        return;
      }
      hashes.push_back(blob_hash{blobs[j], std::move(*h)});
    }
    bool hashing = true;
    image::lookup_options lo = o_.lookup;
    const auto release = lo.consumed ? lo.consumed : [this](byte_span p) { src_.release(p); };
    lo.consumed = [&hashes, &hashing, release](byte_span p) {
      if (hashing)
        for (auto& b : hashes)
          if (p.data() == b.blob.data() + b.done && p.size() <= b.blob.size() - b.done) {
            b.hasher.update(p);
            b.done += p.size();
            break;
          }
      release(p);
    };
    auto tree = image::layer_tree::build(blobs, lo, wanted,
                                         o_.stream ? stream_factory() : image::stream_factory());
    hashing = false;
    bool named = true;
    for (std::size_t j = 0; j < hashes.size(); ++j) {
      auto& b = hashes[j];
      for (std::size_t off = b.done; off < b.blob.size(); off += report::release_piece) {
        const byte_span p =
            b.blob.subspan(off, std::min(report::release_piece, b.blob.size() - off));
        b.hasher.update(p);
        release(p);
      }
      auto digest = b.hasher.finish();
      auto same = digest ? m.layers[j].descriptor.digest.check(*digest)
                         : result<void>(std::move(digest).error());
      if (same) continue;
      finding f = report::detail::blob_finding(m.layers[j].descriptor, "layer", same.error());
      f.subject = at + ".layers[" + std::to_string(j) + "].digest";
      add(std::move(f), &a);
      m.layers[j].read = false;
      named = false;
    }
    if (!named) return;
    if (!tree) {
      add(about(severity::error, report::code::image_bad_blob, tree.error().message(), at), &a);
      return;
    }
    check_layers(a, m, *tree, at);
    check_artifacts(a, *tree, machine, at);
  }

  void check_layers(architecture_check& a, report::image_manifest& m, const image::layer_tree& tree,
                    const std::string& at) {
    for (std::size_t j = 0; j < tree.layers().size(); ++j) {
      const image::layer_pass& pass = tree.layers()[j];
      report::image_layer& l = m.layers[j];
      const std::string lat = at + ".layers[" + std::to_string(j) + "]";
      for (auto f : pass.findings) {
        f.subject = lat + ":" + f.subject;
        add(std::move(f), &a);
      }
      if (pass.problem) {
        add(about(severity::error, report::code::image_bad_blob,
                  "layer: " + pass.problem->message(), lat),
            &a);
        continue;
      }
      l.listed = true;
      l.tar_size = pass.tar_size;
      l.entries = pass.entries;
      if (!pass.diff_id) continue;
      l.diff_id = oci::digest::of(*pass.diff_id);
      if (l.diff_id_claimed && l.diff_id_claimed->verifiable() &&
          l.diff_id_claimed->algorithm() == l.diff_id->algorithm() &&
          *l.diff_id != *l.diff_id_claimed) {
        finding f = about(severity::error, report::code::image_diff_id_mismatch,
                          "layer " + std::to_string(j) + " is not the layer the config lists",
                          lat + ".diff_id");
        f.claimed = l.diff_id_claimed->str();
        f.computed = l.diff_id->str();
        add(std::move(f), &a);
      }
    }
  }

  // The artifact at `name` in the arch's directory; its bytes when found:
  // as they streamed past (PE headers, small sections and digests), or,
  // when they could not be streamed, decoded whole.
  std::optional<artifact_bytes> read_artifact(architecture_check& a, const image::layer_tree& tree,
                                              std::string role, std::string_view name,
                                              const std::string& at) {
    artifact_check c;
    c.role = std::move(role);
    c.path = install_dir(a.architecture) + "/" + std::string(name);
    std::optional<artifact_bytes> out;
    if (auto s = tree.streamed(c.path); s && *s) {
      auto* stream = static_cast<pe_stream*>((*s)->stream.get());
      if (stream->finish() && stream->image.file_digest()) {
        c.found = true;
        c.layer = (*s)->data_layer;
        c.size = stream->image.size();
        c.sha256 = stream->image.file_digest()->hex();
        out.emplace();
        out->stream = std::static_pointer_cast<pe_stream>((*s)->stream);
        a.artifacts.push_back(std::move(c));
        return out;
      }
    }
    auto got = tree.read(c.path);
    if (!got) {
      add(about(severity::error, code::unreadable_artifact, got.error().message(),
                at + ":" + c.path),
          &a);
    } else if (!*got) {
      add(about(severity::error, code::missing_artifact, "no " + c.role + " in the final tree",
                at + ":" + c.path),
          &a);
    } else {
      c.found = true;
      c.layer = (*got)->data_layer;
      c.size = (*got)->bytes().size();
      if (auto h = hash::compute(hash::algorithm::sha256, (*got)->bytes())) c.sha256 = h->hex();
      out.emplace();
      out->data = std::move(**got);
    }
    a.artifacts.push_back(std::move(c));
    return out;
  }

  void check_artifacts(architecture_check& a, const image::layer_tree& tree,
                       std::optional<std::uint16_t> machine, const std::string& at) {
    const std::string dir = install_dir(a.architecture);
    for (auto l : all_layouts) {
      auto st = tree.stat(dir + "/" + std::string(names(l).kernel));
      if (st && *st) {
        a.found = l;
        break;
      }
    }
    if (!a.found) {
      std::string tried;
      for (auto l : all_layouts)
        tried += (tried.empty() ? "" : ", ") + std::string(names(l).kernel);
      add(about(severity::error, code::no_artifacts,
                "no artifacts layer: /" + dir + " has no kernel (" + tried + ")", at + ".layers"),
          &a);
      return;
    }
    const auto n = names(*a.found);
    if (*a.found == layout::legacy) {
      add(about(severity::error, code::legacy_layout,
                "legacy layout (vmlinuz, initramfs.xz): no signed UKI or systemd-boot to verify",
                at + ":" + dir),
          &a);
      read_artifact(a, tree, "kernel", n.kernel, at);
      read_artifact(a, tree, "initramfs", n.initramfs, at);
      return;
    }
    if (auto uki_bytes = read_artifact(a, tree, "uki", n.kernel, at))
      check_pe(a, a.artifacts.back(), *uki_bytes, tree, machine, at, true);
    if (auto boot = read_artifact(a, tree, "systemd-boot", n.boot, at))
      check_pe(a, a.artifacts.back(), *boot, tree, machine, at, false);
  }

  // Checks an artifact's bytes: streamed ones with the digests computed on
  // the way, and again decoded whole when a check needed a digest that was
  // not (uki::streamed_image::missed).
  void check_pe(architecture_check& a, artifact_check& c, const artifact_bytes& got,
                const image::layer_tree& tree, std::optional<std::uint16_t> machine,
                const std::string& at, bool is_uki) {
    if (got.stream) {
      const uki::streamed_image& s = got.stream->image;
      pe_check r = check_pe_bytes(a, c, s.bytes(), machine, at, is_uki, &s);
      if (!s.missed()) {
        commit(a, c, std::move(r));
        return;
      }
      // Decoded again for the digests missed (a .pcrsig that signs sha1,
      // sha384 and sha512 too, a signature in sha384), computed on the way.
      if (auto again = make_stream(c.size, &s)) {
        if (tree.restream(c.path, *again) && again->finish() &&
            got.stream->image.adopt_digests(again->image)) {
          pe_check r2 = check_pe_bytes(a, c, s.bytes(), machine, at, is_uki, &s);
          if (!s.missed()) {
            commit(a, c, std::move(r2));
            return;
          }
        }
      }
      auto whole = tree.read(c.path);
      if (!whole || !*whole) {
        add(about(severity::error, code::unreadable_artifact,
                  whole ? "no longer in the final tree" : whole.error().message(),
                  at + ":" + c.path),
            &a);
        return;
      }
      commit(a, c, check_pe_bytes(a, c, (*whole)->bytes(), machine, at, is_uki, nullptr));
      return;
    }
    commit(a, c, check_pe_bytes(a, c, got.data->bytes(), machine, at, is_uki, nullptr));
  }

  void commit(architecture_check& a, artifact_check& c, pe_check r) {
    for (auto& f : r.findings) add(std::move(f), &a);
    c.machine = r.machine;
    if (r.pcrsig_profiles) a.pcrsig_profiles = r.pcrsig_profiles;
    for (auto& v : r.pcr11) a.pcr11.push_back(std::move(v));
    if (r.verdict) c.verdict = std::move(r.verdict);
  }

  // `streamed`: the bytes are its sparse copy, its digests stand in for
  // the bytes it left out.
  pe_check check_pe_bytes(const architecture_check& a, const artifact_check& c, byte_span bytes,
                          std::optional<std::uint16_t> machine, const std::string& at, bool is_uki,
                          const uki::streamed_image* streamed) {
    pe_check out;
    const std::string subject = at + ".layers[" + std::to_string(c.layer) + "]:" + c.path;
    auto img = pe::parse(bytes, strictness::permissive);
    if (!img) {
      out.findings.push_back(about(severity::error, code::unreadable_artifact,
                                   "no PE image: " + img.error().message(), subject));
      return out;
    }
    out.machine = img->machine;
    if (machine && img->machine != *machine) {
      finding f = about(severity::error, code::machine_mismatch,
                        "built for another machine than the platform " + a.platform(), subject);
      f.claimed = machine_text(*machine);
      f.computed = machine_text(img->machine);
      out.findings.push_back(std::move(f));
    }
    report::verify_options vo;
    vo.name = "/" + c.path;
    vo.trust = o_.trust;
    vo.dbx = o_.dbx;
    vo.sbat_policy = o_.sbat_policy;
    if (is_uki) vo.pcrpkey = o_.pcrpkey;
    measure::digest_lookup known_section;
    if (streamed) {
      vo.known_image_digest = [streamed](hash::algorithm alg) {
        return streamed->image_digest(alg);
      };
      known_section = [streamed](byte_span data, hash::algorithm alg) {
        return streamed->section_digest(data, alg);
      };
      vo.known_section_digest = known_section;
    }
    report::verdict v = report::verify_uki(bytes, vo);
    signature_findings(out, v, subject);
    if (is_uki) {
      if (v.pcrsig) out.pcrsig_profiles = v.pcrsig->size();
      predict(out, *img, subject, known_section);
    }
    out.verdict = std::move(v);
    return out;
  }

  // verify_uki's reasons: .pcrsig ones (uki.pcr*) as one installer.pcrsig
  // finding, SBAT ones as one installer.sbat-revoked, the rest as one
  // installer.signature finding.
  void signature_findings(pe_check& out, const report::verdict& v, const std::string& subject) {
    std::optional<finding> sig, pcr, sbat;
    for (const auto& r : v.reasons) {
      const bool is_pcr = r.code.substr(0, 7) == "uki.pcr";
      const bool is_sbat = r.code == report::code::sbat_revoked;
      auto& slot = is_pcr ? pcr : is_sbat ? sbat : sig;
      if (!slot) {
        slot = about(severity::error,
                     is_pcr    ? code::pcrsig
                     : is_sbat ? code::sbat_revoked
                               : code::signature,
                     is_pcr    ? ".pcrsig: "
                     : is_sbat ? "SBAT: "
                               : "Authenticode: ",
                     subject);
        slot->claimed = r.claimed;
        slot->computed = r.computed;
      } else {
        slot->message += "; ";
      }
      slot->message += r.message + " [" + std::string(r.code) + "]";
    }
    if (sig) out.findings.push_back(std::move(*sig));
    if (pcr) out.findings.push_back(std::move(*pcr));
    if (sbat) out.findings.push_back(std::move(*sbat));
  }

  void predict(pe_check& out, const pe::image& img, const std::string& subject,
               const measure::digest_lookup& known) {
    uki::view v(img);
    if (!v.is_uki()) return;
    measure::options mo;
    mo.banks = {hash::algorithm::sha256};
    mo.stub_release = uki::stub_release(img);
    mo.known_digest = known;
    const std::size_t profiles = std::max<std::size_t>(v.profile_count(), 1);
    for (std::size_t n = 0; n < profiles; ++n) {
      auto p = uki::predict_pcr11(v, n, mo);
      if (!p) {
        out.findings.push_back(
            about(severity::warning, uki::code::pcr11_unpredictable,
                  "PCR 11 of profile @" + std::to_string(n) + ": " + p.error().message(), subject));
        continue;
      }
      if (const auto* bank = p->find(hash::algorithm::sha256))
        for (const auto& value : bank->values)
          out.pcr11.push_back({n, value.phase, value.value.hex()});
    }
  }

  // A stream for an artifact (uki/stream.hpp) of `size` bytes: its image
  // digests are sha256 and dbx's algorithms, its large sections' digests
  // sha256 (the bank PCR 11 is predicted in, and the one a .pcrsig most
  // often signs alone). For the stream of an artifact `again`, only the
  // digests that one missed. nullptr when it cannot be made.
  std::shared_ptr<pe_stream> make_stream(std::uint64_t size,
                                         const uki::streamed_image* again = nullptr) const {
    uki::stream_options so;
    so.max_kept = std::min(so.max_kept, o_.lookup.max_file_size);
    if (again) {
      // A check may stop at its first miss (the .pcrsig's sha1 bank, say):
      // every algorithm of a kind that missed one, but those computed.
      auto rest = [](bool missed, auto&& computed) {
        std::vector<hash::algorithm> out;
        if (missed)
          for (auto alg : hash::all_algorithms)
            if (!computed(alg)) out.push_back(alg);
        return out;
      };
      so.image_digests = rest(!again->missed_image_digests().empty(), [again](hash::algorithm alg) {
        return again->has_image_digest(alg);
      });
      so.section_digests =
          rest(!again->missed_section_digests().empty(),
               [again](hash::algorithm alg) { return again->has_section_digests(alg); });
      so.file_digest = false;
    } else if (o_.dbx) {
      for (const auto& d : o_.dbx->image_digests)
        if (std::find(so.image_digests.begin(), so.image_digests.end(), d.alg()) ==
            so.image_digests.end())
          so.image_digests.push_back(d.alg());
    }
    auto s = uki::streamed_image::create(size, so);
    if (!s) return nullptr;
    return std::make_shared<pe_stream>(std::move(*s));
  }

  // Streams each wanted artifact as its layer is decoded.
  image::stream_factory stream_factory() const {
    return [this](const std::string&, std::uint64_t size) -> std::shared_ptr<image::file_stream> {
      return make_stream(size);
    };
  }

  const image::source& src_;
  const verify_options& o_;
  verify_report rep_;
  // While architectures are checked in parallel: each one's findings.
  std::vector<std::vector<finding>> held_;

  // A layer blob hashed as it is decoded: `done` bytes so far.
  struct blob_hash {
    byte_span blob;
    hash::hasher hasher;
    std::size_t done = 0;
  };
};

} // namespace detail

// The gate's report on the images `src` selects.
inline verify_report verify(const image::source& src, const verify_options& o = {}) {
  return detail::gate(src, o).run();
}

// ---- JSON and text ------------------------------------------------------------

// {"reference", "passed", "architectures": [{"manifest", "digest",
//  "platform", "layout", "artifacts": [{"role", "path", "found", "layer",
//  "size", "sha256", "machine", "verify"}], "pcr11": {"sha256": [{"profile",
//  "phase", "pcr", "hash"}]}, "passed", "problems"}], "image": (inspect's
//  JSON, without its findings), "findings", "findings_dropped", "problems"}
inline nlohmann::ordered_json to_json(const verify_report& r) {
  using oj = nlohmann::ordered_json;
  oj j;
  j["reference"] = r.image.ref.text();
  j["passed"] = r.passed();
  j["architectures"] = oj::array();
  for (const auto& a : r.architectures) {
    oj aj;
    aj["manifest"] = a.manifest;
    aj["digest"] = a.digest;
    aj["platform"] = {{"os", a.os}, {"architecture", a.architecture}};
    if (!a.variant.empty()) aj["platform"]["variant"] = a.variant;
    aj["layout"] = a.found ? oj(std::string(name(*a.found))) : oj(nullptr);
    aj["artifacts"] = oj::array();
    for (const auto& c : a.artifacts) {
      oj cj{{"role", c.role}, {"path", c.path}, {"found", c.found}};
      if (c.found) {
        cj["layer"] = c.layer;
        cj["size"] = c.size;
        cj["sha256"] = c.sha256;
      }
      if (c.machine) cj["machine"] = std::string(pe::machine_name(*c.machine));
      if (c.verdict) cj["verify"] = report::to_json(*c.verdict);
      aj["artifacts"].push_back(std::move(cj));
    }
    oj values = oj::array();
    for (const auto& v : a.pcr11) {
      oj vj{{"profile", v.profile}};
      if (!v.phase.empty()) vj["phase"] = v.phase;
      vj["pcr"] = measure::pcr_index;
      vj["hash"] = v.sha256;
      values.push_back(std::move(vj));
    }
    aj["pcr11"] = {{"sha256", values}};
    aj["passed"] = a.passed();
    aj["problems"] = a.problems;
    j["architectures"].push_back(std::move(aj));
  }
  oj image = report::to_json(r.image);
  image.erase("findings");
  image.erase("findings_dropped");
  j["image"] = std::move(image);
  j["findings"] = to_json(r.findings.kept());
  j["findings_dropped"] = r.findings.dropped();
  j["problems"] = r.problems();
  return j;
}

// One line per architecture: "PASS linux/amd64 uki: vmlinuz.efi x86_64
// signed by CN=db; …" or "FAIL linux/arm64: reason; reason".
inline std::string verify_text(const verify_report& r) {
  const auto e = [](std::string_view t) { return escape_controls(t); };
  std::string out;
  for (const auto& a : r.architectures) {
    std::string line = (a.passed() ? "PASS " : "FAIL ") + e(a.platform());
    if (a.found) line += " " + std::string(name(*a.found));
    if (!a.passed()) {
      line += ":";
      for (std::size_t i = 0; i < a.problems.size(); ++i)
        line += (i ? "; " : " ") + e(a.problems[i]);
      out += line + "\n";
      continue;
    }
    std::string parts;
    for (const auto& c : a.artifacts) {
      std::string part = c.path.substr(c.path.rfind('/') + 1);
      if (c.machine) part += " " + std::string(pe::machine_name(*c.machine));
      if (c.verdict)
        for (const auto& s : c.verdict->authenticode.signatures)
          if (s.passed()) {
            part += " signed by " + e(s.subject);
            break;
          }
      parts += (parts.empty() ? ": " : "; ") + part;
    }
    if (a.pcrsig_profiles)
      parts += "; .pcrsig verified (" + std::to_string(*a.pcrsig_profiles) +
               (*a.pcrsig_profiles == 1 ? " profile)" : " profiles)");
    for (const auto& v : a.pcr11)
      if (v.profile == 0 && v.phase == "enter-initrd")
        parts += "; PCR 11 sha256 enter-initrd " + v.sha256;
    out += line + parts + "\n";
  }
  return out;
}

} // namespace ukikit::installer
