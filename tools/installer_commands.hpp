// `ukikit image base` (an installer-base image from a root tree) and
// `ukikit image assemble` (an installer image: a base plus, per
// architecture, the artifacts layer with the UKI and systemd-boot).
#pragma once

#include "cli.hpp"

#include <ukikit/compress.hpp>
#include <ukikit/file.hpp>
#include <ukikit/image/reference.hpp>
#include <ukikit/image/source.hpp>
#include <ukikit/installer/assemble.hpp>
#include <ukikit/installer/base.hpp>
#include <ukikit/installer/build.hpp>
#include <ukikit/installer/layout.hpp>
#include <ukikit/installer/recipe.hpp>
#include <ukikit/json.hpp>

#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ukikit::cli {

// SOURCE_DATE_EPOCH, else 0: the `created` of configs and history.
inline result<std::int64_t> image_created() {
  UKIKIT_TRY_ASSIGN(std::uint64_t v,
                    source_date_epoch(static_cast<std::uint64_t>(installer::max_created)));
  return static_cast<std::int64_t>(v);
}

inline result<compress::format> layer_compression(const std::string& name) {
  auto f = compress::from_name(name);
  if (!f || !report::layer_media_type(*f))
    return error(errc::invalid_argument,
                 "layers are compressed as gzip, zstd or none, not " + name);
  return *f;
}

inline void print_images(const oci::descriptor& root, const std::string& out,
                         const std::vector<std::pair<std::string, oci::digest>>& images) {
  std::cout << root.digest.str() << ' ' << escape_controls(out) << '\n';
  for (const auto& [platform, digest] : images)
    std::cout << "  " << platform << ' ' << digest.str() << '\n';
}

// ---- image base -------------------------------------------------------------------

struct image_base_args {
  std::string rootfs, output, compression = "gzip";
  std::vector<std::string> archs, rootfs_of, env, labels;
  std::string entrypoint;
  unsigned threads = 1;
  bool json = false;
};

// --entrypoint: a JSON array (exec form, as a Dockerfile's ENTRYPOINT) or
// words separated by blanks.
inline result<std::vector<std::string>> parse_entrypoint(const std::string& s) {
  std::vector<std::string> out;
  if (!s.empty() && s.front() == '[') {
    UKIKIT_TRY_ASSIGN(auto v, json::parse(std::string_view(s)));
    if (!v.is(json::kind::array))
      return error(errc::invalid_argument, "--entrypoint is not a JSON array of strings");
    for (const auto& w : v.items) {
      if (!w.is(json::kind::string))
        return error(errc::invalid_argument, "--entrypoint is not a JSON array of strings");
      out.push_back(w.text);
    }
    return out;
  }
  std::string word;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

// K=V arguments as a map; a key given twice is an error.
inline result<std::map<std::string, std::string>> key_values(const std::vector<std::string>& args,
                                                             std::string_view what) {
  std::map<std::string, std::string> out;
  for (const auto& a : args) {
    const auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      return error(errc::invalid_argument,
                   std::string(what) + " \"" + escape_controls(a) + "\" is not KEY=VALUE");
    if (!out.emplace(a.substr(0, eq), a.substr(eq + 1)).second)
      return error(errc::invalid_argument,
                   std::string(what) + " " + escape_controls(a.substr(0, eq)) + " is given twice");
  }
  return out;
}

inline std::string host_oci_arch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#else
  return "amd64";
#endif
}

inline int run_image_base(const image_base_args& a) {
  constexpr std::string_view tool = "ukikit image base";
  installer::base_options o;
  auto out = image::parse_reference(a.output);
  if (!out) return report(tool, out.error());
  for (const auto& s : a.archs.empty() ? std::vector<std::string>{host_oci_arch()} : a.archs) {
    auto arch = installer::arch_spec::parse(s);
    if (!arch) return report(tool, arch.error());
    o.archs.push_back(*arch);
  }
  o.rootfs = a.rootfs;
  auto trees = key_values(a.rootfs_of, "--rootfs");
  if (!trees) return report(tool, trees.error());
  for (auto& [k, v] : *trees) o.rootfs_of.emplace(k, v);
  auto ep = parse_entrypoint(a.entrypoint);
  if (!ep) return report(tool, ep.error());
  o.entrypoint = *ep;
  o.env = a.env;
  auto labels = key_values(a.labels, "--label");
  if (!labels) return report(tool, labels.error());
  o.labels = *labels;
  auto created = image_created();
  if (!created) return report(tool, created.error());
  o.created = *created;
  auto comp = layer_compression(a.compression);
  if (!comp) return report(tool, comp.error());
  o.layer.compression = *comp;
  o.layer.threads = a.threads;
  progress bar("writing layers", 0);
  o.progress = [&bar](std::uint64_t n) { bar.update(n); };
  auto r = installer::make_base(o, *out);
  if (!r) return report(tool, r.error());
  if (a.json) {
    std::cout << json_text(installer::to_json(*r)) << '\n';
  } else {
    std::vector<std::pair<std::string, oci::digest>> images;
    for (const auto& i : r->images)
      images.emplace_back("linux/" + i.arch.text(), i.manifest.digest);
    print_images(r->root, out->text(), images);
  }
  print_findings(tool, r->findings);
  return exit_ok;
}

inline void add_image_base_command(CLI::App& image, int& rc) {
  auto a = std::make_shared<image_base_args>();
  auto* cmd = image.add_subcommand(
      "base", "Make an installer-base image: a root tree squashed into one reproducible layer, "
              "one manifest per architecture under one index");
  cmd->add_option("ROOTFS", a->rootfs, "Root tree of every architecture without its own --rootfs");
  cmd->add_option("-o,--output", a->output,
                  "Where to write: DIR[:TAG] (OCI layout), oci-archive:FILE[:TAG], "
                  "docker-archive:FILE[:NAME:TAG] (one architecture)")
      ->required();
  cmd->add_option("--arch", a->archs,
                  "Architecture, OCI spelling, ARCH[/VARIANT] (repeatable; default: this "
                  "machine's)");
  cmd->add_option("--rootfs", a->rootfs_of, "ARCH=DIR: that architecture's own tree (repeatable)");
  cmd->add_option("--entrypoint", a->entrypoint,
                  "Entrypoint: a JSON array [\"/bin/installer\"] or words");
  cmd->add_option("--env", a->env, "NAME=value in the config's Env (repeatable, in order)");
  cmd->add_option("--label", a->labels, "KEY=VALUE in the config's Labels (repeatable)");
  cmd->add_option("--layer-compression", a->compression, "gzip (default), zstd or none")
      ->check(CLI::IsMember({"gzip", "zstd", "none"}));
  cmd->add_option("--threads", a->threads,
                  "zstd workers per layer (the bytes depend on it); layers are made one per core");
  add_json_flag(*cmd, a->json,
                "One JSON object: root, images (platform, manifest, layer, diff_id), findings");
  cmd->callback([a, &rc] { rc = run_image_base(*a); });
}

// ---- image assemble -----------------------------------------------------------------

// The tail of image assemble and image build: `o` completed from the
// command line (layer compression, zstd threads, created, progress), the
// image assembled on `base` and written to `out`, its digests or --json
// printed, and `notes` with assemble's findings on stderr. A base blob
// that is not what its descriptor says is a failed check (exit 1).
inline int assemble_and_print(std::string_view tool, const image::source& base,
                              const std::vector<installer::arch_artifacts>& arts,
                              installer::assemble_options o, const std::string& compression,
                              unsigned threads, const image::reference& out, bool json,
                              finding_log notes) {
  auto comp = layer_compression(compression);
  if (!comp) return report(tool, comp.error());
  o.layer.compression = *comp;
  o.layer.threads = threads;
  auto created = image_created();
  if (!created) return report(tool, created.error());
  o.created = *created;
  progress bar("writing layers", 0);
  o.progress = [&bar](std::uint64_t n) { bar.update(n); };
  auto r = installer::assemble(base, arts, o, out);
  if (!r)
    return report(tool, r.error(),
                  r.error().code() == errc::checksum_mismatch ? exit_failed : exit_usage);
  for (auto f : r->findings.take()) notes.add(std::move(f));
  if (json) {
    r->findings = std::move(notes);
    std::cout << json_text(installer::to_json(*r, o.layout)) << '\n';
    notes = std::move(r->findings);
  } else {
    std::vector<std::pair<std::string, oci::digest>> images;
    for (const auto& i : r->images)
      images.emplace_back("linux/" + i.arch.text(), i.manifest.digest);
    print_images(r->root, out.text(), images);
  }
  print_findings(tool, notes);
  return exit_ok;
}

struct image_assemble_args {
  std::string base, output, compression = "gzip", layout = "uki", overlay;
  std::vector<std::string> archs, ukis, boots, kernels, initramfs;
  unsigned threads = 1;
  bool json = false;
};

inline int run_image_assemble(const image_assemble_args& a) {
  constexpr std::string_view tool = "ukikit image assemble";
  auto lay = installer::parse_layout(a.layout);
  if (!lay) return report(tool, error(errc::invalid_argument, "no layout " + a.layout));
  const bool legacy = *lay == installer::layout::legacy;
  auto count = [&](const std::vector<std::string>& v, std::string_view flag) -> result<void> {
    if (v.size() != a.archs.size())
      return error(errc::invalid_argument, "give one " + std::string(flag) + " per --arch (" +
                                               std::to_string(a.archs.size()) + " --arch, " +
                                               std::to_string(v.size()) + " " + std::string(flag) +
                                               ")");
    return success();
  };
  auto counted = legacy ? count(a.kernels, "--kernel") : count(a.ukis, "--uki");
  if (counted) counted = legacy ? count(a.initramfs, "--initramfs") : count(a.boots, "--boot");
  if (counted && legacy && !(a.ukis.empty() && a.boots.empty()))
    counted = error(errc::invalid_argument, "--layout legacy takes --kernel and --initramfs");
  if (counted && !legacy && !(a.kernels.empty() && a.initramfs.empty()))
    counted = error(errc::invalid_argument,
                    "--kernel and --initramfs are for --layout legacy; give --uki and --boot");
  if (a.archs.empty()) counted = error(errc::invalid_argument, "give at least one --arch");
  if (!counted) return report(tool, counted.error());

  auto out = image::parse_reference(a.output);
  if (!out) return report(tool, out.error());
  auto base_ref = image::resolve_reference(a.base);
  if (!base_ref) return report(tool, base_ref.error());
  auto base = image::source::open(*base_ref);
  if (!base) return report(tool, base.error().prefixed("base"));

  std::vector<file::mapped_file> maps; // keep the inputs mapped while assembling
  maps.reserve(2 * a.archs.size());
  auto input = [&](const std::string& path) -> result<byte_span> {
    UKIKIT_TRY_ASSIGN(auto m, file::mapped_file::open(path));
    maps.push_back(std::move(m));
    return maps.back().bytes();
  };
  std::vector<installer::arch_artifacts> arts;
  for (std::size_t i = 0; i < a.archs.size(); ++i) {
    installer::arch_artifacts art;
    auto arch = installer::arch_spec::parse(a.archs[i]);
    if (!arch) return report(tool, arch.error());
    art.arch = *arch;
    auto kernel = input(legacy ? a.kernels[i] : a.ukis[i]);
    if (!kernel) return report(tool, kernel.error());
    art.kernel = *kernel;
    auto second = input(legacy ? a.initramfs[i] : a.boots[i]);
    if (!second) return report(tool, second.error());
    (legacy ? art.initramfs : art.boot) = *second;
    arts.push_back(art);
  }
  installer::assemble_options o;
  o.layout = *lay;
  if (!a.overlay.empty()) o.overlay = a.overlay;
  return assemble_and_print(tool, *base, arts, std::move(o), a.compression, a.threads, *out, a.json,
                            finding_log());
}

inline void add_image_assemble_command(CLI::App& image, int& rc) {
  auto a = std::make_shared<image_assemble_args>();
  auto* cmd = image.add_subcommand(
      "assemble", "Assemble an installer image: per architecture, the base image plus one layer "
                  "with usr/install/<arch>/vmlinuz.efi and systemd-boot.efi, under one index");
  cmd->add_option("--base", a->base,
                  "The installer-base image: DIR[:TAG], oci-archive:FILE[:TAG], "
                  "docker-archive:FILE")
      ->required();
  cmd->add_option("-o,--output", a->output,
                  "Where to write: DIR[:TAG], oci-archive:FILE[:TAG], "
                  "docker-archive:FILE[:NAME:TAG] (one architecture)")
      ->required();
  cmd->add_option("--arch", a->archs,
                  "Architecture, ARCH[/VARIANT]; each --arch takes the next --uki and --boot "
                  "(or --kernel and --initramfs)");
  cmd->add_option("--uki", a->ukis, "The signed UKI of the matching --arch");
  cmd->add_option("--boot", a->boots, "The signed systemd-boot of the matching --arch");
  cmd->add_option("--kernel", a->kernels, "--layout legacy: the kernel (vmlinuz)");
  cmd->add_option("--initramfs", a->initramfs, "--layout legacy: the initramfs (initramfs.xz)");
  cmd->add_option("--layout", a->layout,
                  "uki (vmlinuz.efi, default), legacy-signed (vmlinuz.efi.signed, "
                  "systemd-boot.efi.signed) or legacy (vmlinuz, initramfs.xz)")
      ->check(CLI::IsMember({"uki", "legacy-signed", "legacy"}));
  cmd->add_option("--overlay", a->overlay,
                  "A tree to add as one more layer under overlay/ (Talos' overlay: artifacts, "
                  "installers/default, extra-options)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--layer-compression", a->compression, "gzip (default), zstd or none")
      ->check(CLI::IsMember({"gzip", "zstd", "none"}));
  cmd->add_option("--threads", a->threads,
                  "zstd workers per layer (the bytes depend on it); layers are made one per core");
  add_json_flag(*cmd, a->json,
                "One JSON object: root, layout, images (platform, manifest, artifacts), "
                "findings");
  cmd->callback([a, &rc] { rc = run_image_assemble(*a); });
}

// ---- image build -----------------------------------------------------------------------

struct image_build_args {
  std::string config, base, output, compression = "gzip", layout = "uki";
  std::vector<std::string> archs, stubs, linuxes, initrds, boots, phases;
  std::optional<std::string> cmdline, os_release, signing_key, signing_cert, pcr_private_key,
      pcr_public_key;
  unsigned threads = 1;
  bool json = false;
};

// ARCH=FILE arguments into each architecture's settings.
inline result<void> per_arch_files(const std::vector<std::string>& args, std::string_view flag,
                                   installer::recipe_overrides& o,
                                   void (*set)(installer::recipe_settings&,
                                               std::filesystem::path)) {
  for (const auto& a : args) {
    const auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == a.size())
      return error(errc::invalid_argument,
                   std::string(flag) + " \"" + escape_controls(a) + "\" is not ARCH=FILE");
    const std::string arch = a.substr(0, eq);
    installer::arch_section* sec = nullptr;
    for (auto& p : o.per_arch)
      if (p.arch == arch) sec = &p;
    if (!sec) sec = &o.per_arch.emplace_back(installer::arch_section{arch, {}, 0});
    set(sec->settings, std::filesystem::absolute(a.substr(eq + 1)));
  }
  return success();
}

// The recipe (the config file, or none) with the flags laid over it, and
// the architectures --arch chose (in their order), else all of it.
inline result<std::vector<installer::arch_recipe>> build_recipe(const image_build_args& a) {
  installer::recipe r;
  if (!a.config.empty()) {
    UKIKIT_TRY_ASSIGN(r, installer::read_recipe(a.config));
  } else {
    r.directory = std::filesystem::current_path();
  }
  installer::recipe_overrides o;
  auto& s = o.shared;
  if (a.cmdline) s.cmdline = uki::text_input::argument(*a.cmdline);
  if (a.os_release) s.os_release = uki::text_input::argument(*a.os_release);
  const auto here = std::filesystem::current_path();
  if (a.signing_key) s.signing_key = installer::key_value{*a.signing_key, here};
  if (a.signing_cert) s.signing_cert = installer::key_value{*a.signing_cert, here};
  if (a.pcr_private_key || a.pcr_public_key || !a.phases.empty()) {
    installer::pcr_signature_group g;
    if (a.pcr_private_key) g.private_key = installer::key_value{*a.pcr_private_key, here};
    if (a.pcr_public_key) g.public_key = std::filesystem::absolute(*a.pcr_public_key);
    if (!a.phases.empty()) g.phases = split_list(a.phases);
    o.pcr_signatures.push_back(std::move(g));
  }
  for (const auto& arch : a.archs) {
    bool known = false;
    for (const auto& p : o.per_arch) known = known || p.arch == arch;
    if (!known) o.per_arch.push_back(installer::arch_section{arch, {}, 0});
  }
  UKIKIT_TRY(per_arch_files(
      a.stubs, "--stub", o,
      [](installer::recipe_settings& x, std::filesystem::path p) { x.stub = std::move(p); }));
  UKIKIT_TRY(per_arch_files(
      a.linuxes, "--linux", o,
      [](installer::recipe_settings& x, std::filesystem::path p) { x.kernel = std::move(p); }));
  UKIKIT_TRY(per_arch_files(a.initrds, "--initrd", o,
                            [](installer::recipe_settings& x, std::filesystem::path p) {
                              if (!x.initrds) x.initrds.emplace();
                              x.initrds->push_back(std::move(p));
                            }));
  UKIKIT_TRY(per_arch_files(a.boots, "--systemd-boot", o,
                            [](installer::recipe_settings& x, std::filesystem::path p) {
                              x.systemd_boot = std::move(p);
                            }));
  UKIKIT_TRY(installer::apply_overrides(r, o));
  UKIKIT_TRY_ASSIGN(auto all, installer::resolve(r));
  if (a.archs.empty()) return all;
  std::vector<installer::arch_recipe> chosen;
  for (const auto& arch : a.archs)
    for (auto& one : all)
      if (one.arch == arch) chosen.push_back(one);
  return chosen;
}

inline int run_image_build(const image_build_args& a) {
  constexpr std::string_view tool = "ukikit image build";
  auto lay = installer::parse_layout(a.layout);
  if (!lay || *lay == installer::layout::legacy)
    return report(tool, error(errc::invalid_argument,
                              "image build makes UKIs: --layout uki or legacy-signed"));
  auto out = image::parse_reference(a.output);
  if (!out) return report(tool, out.error());
  auto recipes = build_recipe(a);
  if (!recipes) return report(tool, recipes.error());
  auto base_ref = image::resolve_reference(a.base);
  if (!base_ref) return report(tool, base_ref.error());
  auto base = image::source::open(*base_ref);
  if (!base) return report(tool, base.error().prefixed("base"));
  auto built = installer::build_arches(*recipes);
  if (!built) return report(tool, built.error());
  std::vector<installer::arch_artifacts> arts;
  finding_log notes;
  for (const auto& b : *built) {
    installer::arch_artifacts art;
    auto arch = installer::arch_spec::parse(b.arch);
    if (!arch) return report(tool, arch.error());
    art.arch = *arch;
    art.kernel = byte_span(b.uki);
    art.boot = byte_span(b.boot);
    arts.push_back(art);
    for (const auto& f : b.findings) notes.add(f);
  }
  installer::assemble_options o;
  o.layout = *lay;
  return assemble_and_print(tool, *base, arts, std::move(o), a.compression, a.threads, *out, a.json,
                            std::move(notes));
}

inline void add_image_build_command(CLI::App& image, int& rc) {
  auto a = std::make_shared<image_build_args>();
  auto* cmd = image.add_subcommand(
      "build", "The imager in one command: per architecture build the UKI, sign it and "
               "systemd-boot, and assemble the installer image on a base");
  cmd->add_option("--config", a->config,
                  "Recipe in ukify's config format ([UKI], [PCRSignature:NAME]) with one "
                  "[Arch:NAME] section per architecture")
      ->check(CLI::ExistingFile);
  cmd->add_option("--base", a->base, "The installer-base image")->required();
  cmd->add_option("-o,--output", a->output,
                  "Where to write: DIR[:TAG], oci-archive:FILE[:TAG], "
                  "docker-archive:FILE[:NAME:TAG] (one architecture)")
      ->required();
  cmd->add_option("--arch", a->archs,
                  "Build these architectures, in this order (default: every one the recipe has)");
  cmd->add_option("--stub", a->stubs, "ARCH=FILE: that architecture's systemd-stub");
  cmd->add_option("--linux", a->linuxes, "ARCH=FILE: that architecture's kernel");
  cmd->add_option("--initrd", a->initrds, "ARCH=FILE: an initrd of that architecture (repeatable)");
  cmd->add_option("--systemd-boot", a->boots, "ARCH=FILE: that architecture's systemd-boot");
  cmd->add_option("--cmdline", a->cmdline, "Kernel command line: TEXT or @FILE");
  cmd->add_option("--os-release", a->os_release, "os-release: TEXT or @FILE");
  cmd->add_option("--signing-key", a->signing_key, "Secure Boot signing key (PEM)");
  cmd->add_option("--signing-cert", a->signing_cert, "Secure Boot certificate (PEM)");
  cmd->add_option("--pcr-private-key", a->pcr_private_key, "Key that signs .pcrsig");
  cmd->add_option("--pcr-public-key", a->pcr_public_key, "Its public key (.pcrpkey)");
  cmd->add_option("--phases", a->phases, "Phase paths .pcrsig covers (default systemd-measure's)");
  cmd->add_option("--layout", a->layout,
                  "uki (vmlinuz.efi, default) or legacy-signed (vmlinuz.efi.signed)")
      ->check(CLI::IsMember({"uki", "legacy-signed"}));
  cmd->add_option("--layer-compression", a->compression, "gzip (default), zstd or none")
      ->check(CLI::IsMember({"gzip", "zstd", "none"}));
  cmd->add_option("--threads", a->threads, "zstd workers per layer (the bytes depend on it)");
  add_json_flag(*cmd, a->json,
                "One JSON object: root, layout, images (platform, manifest, artifacts), "
                "findings");
  cmd->callback([a, &rc] { rc = run_image_build(*a); });
}

} // namespace ukikit::cli
