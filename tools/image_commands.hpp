// `ukikit image inspect`: an OCI image in a layout directory, an oci-archive
// or a docker-archive, from its index down to each layer, checked on the way.
#pragma once

#include "cli.hpp"

#include <ukikit/image/copy.hpp>
#include <ukikit/image/reference.hpp>
#include <ukikit/image/source.hpp>
#include <ukikit/report/image.hpp>

#include <iostream>
#include <string>

namespace ukikit::cli {

struct image_inspect_options {
  std::string ref, max_size = "64G";
  bool json = false, no_layers = false;
};

inline int run_image_inspect(const image_inspect_options& o, std::string_view tool) {
  auto ref = image::resolve_reference(o.ref);
  if (!ref) return report(tool, ref.error());
  report::image_options io;
  io.layers = !o.no_layers;
  io.jobs = 0; // layers listed at once, one per core (the report is the same)
  auto limit = parse_size(o.max_size);
  if (!limit) return report(tool, limit.error());
  io.layer.max_size = *limit;
  auto src = image::source::open(*ref);
  if (!src) return report(tool, src.error());
  const auto rep = report::inspect_image(*src, io);
  if (o.json) {
    std::cout << json_text(report::to_json(rep)) << '\n';
  } else {
    std::cout << report::image_text(rep);
    print_findings(tool, rep.findings);
  }
  return rep.passed() ? exit_ok : exit_failed;
}

inline void add_image_inspect_options(CLI::App& cmd, image_inspect_options& o) {
  add_json_flag(cmd, o.json, "One JSON document: index, manifests, configs, layers, findings");
  cmd.add_flag("--no-layers", o.no_layers,
               "Do not read the layers (no entry counts, diff_ids not recomputed)");
  cmd.add_option("--max-size", o.max_size,
                 "Largest decompressed layer (bomb limit; default 64G; suffixes K, M, G, T)");
  cmd.add_option("REF", o.ref,
                 "DIR[:TAG] or oci:DIR[:TAG] (OCI layout), oci-archive:FILE[:TAG], "
                 "docker-archive:FILE[:NAME:TAG|:@N]")
      ->required();
}

struct image_copy_options {
  std::string src, dst, platform;
};

inline int run_image_copy(const image_copy_options& o) {
  constexpr std::string_view tool = "ukikit image copy";
  auto src_ref = image::resolve_reference(o.src);
  if (!src_ref) return report(tool, src_ref.error());
  auto dst = image::parse_reference(o.dst);
  if (!dst) return report(tool, dst.error());
  image::copy_options co;
  if (!o.platform.empty()) {
    auto p = image::platform_filter::parse(o.platform);
    if (!p) return report(tool, p.error());
    co.platform = *p;
  }
  auto mtime = source_date_epoch(std::uint64_t{1} << 33);
  if (!mtime) return report(tool, mtime.error());
  co.write.mtime = static_cast<std::int64_t>(*mtime);
  auto src = image::source::open(*src_ref);
  if (!src) return report(tool, src.error());
  auto done = image::copy(*src, *dst, co);
  if (!done) // a blob that is not what its descriptor says is a failed check
    return report(tool, done.error(),
                  done.error().code() == errc::checksum_mismatch ? exit_failed : exit_usage);
  for (const auto& r : done->roots)
    std::cout << r.digest.str() << ' ' << escape_controls(dst->text()) << '\n';
  return exit_ok;
}

// The `image` command with inspect and copy; other image commands are added
// to what it returns.
inline CLI::App* add_image_command(CLI::App& app, image_inspect_options& inspect,
                                   image_copy_options& copy, int& rc) {
  auto* image = app.add_subcommand("image", "OCI images: layouts, oci-archives, docker-archives");
  image->require_subcommand(1);
  auto* cmd = image->add_subcommand(
      "inspect", "The image's index, manifests, configs and layers, each blob checked against "
                 "its digest and each layer against its diff_id (exit 1 when one is wrong)");
  add_image_inspect_options(*cmd, inspect);
  cmd->callback([&inspect, &rc] { rc = run_image_inspect(inspect, "ukikit image inspect"); });
  auto* cp = image->add_subcommand(
      "copy", "Copy an image between stores as skopeo copy does (every blob checked, written "
              "unchanged); prints each copied root's digest");
  cp->add_option("--platform", copy.platform,
                 "Copy only this platform's manifest out of an index: OS/ARCH[/VARIANT]");
  cp->add_option("SRC", copy.src,
                 "Source: DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF]")
      ->required();
  cp->add_option("DST", copy.dst,
                 "Destination: DIR[:TAG] (a new or existing layout), oci-archive:FILE[:TAG], "
                 "docker-archive:FILE[:NAME:TAG]")
      ->required();
  cp->callback([&copy, &rc] { rc = run_image_copy(copy); });
  return image;
}

} // namespace ukikit::cli
