// `ukikit image verify` (the release gate for an installer image: one line
// per architecture, then PASS or FAIL for the reference) and `ukikit image
// extract` (one file of one platform's final tree).
#pragma once

#include "cli.hpp"

#include <ukikit/image/lookup.hpp>
#include <ukikit/image/reference.hpp>
#include <ukikit/image/source.hpp>
#include <ukikit/installer/verify.hpp>
#include <ukikit/report/verify.hpp>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace ukikit::cli {

struct image_verify_options {
  std::vector<std::string> certs, dbx;
  std::optional<std::string> pcrpkey, sbat_policy;
  std::string ref, max_size = "64G", max_file_size = "1G";
  unsigned jobs = 0;
  bool json = false;
};

struct image_extract_options {
  std::string ref, arch, path, output, max_size = "64G", max_file_size = "1G";
};

namespace detail {

// A bare archive file is recognized by what it holds; anything else is
// parsed as a reference (DIR[:TAG], oci-archive:FILE, ...).
inline result<image::reference> verify_reference(const std::string& text) {
  if (auto found = image::detect_store(text)) return *found;
  return image::parse_reference(text);
}

// The store `text` names, and the layer and file limits.
struct opened_image {
  image::reference ref;
  image::source src;
  image::lookup_options limits;
};

inline result<opened_image> open_image(const std::string& text, const std::string& max_layer,
                                       const std::string& max_file) {
  image::lookup_options lo;
  UKIKIT_TRY_ASSIGN(lo.max_layer_size, parse_size(max_layer));
  UKIKIT_TRY_ASSIGN(lo.max_file_size, parse_size(max_file));
  UKIKIT_TRY_ASSIGN(auto ref, verify_reference(text));
  UKIKIT_TRY_ASSIGN(auto src, image::source::open(ref));
  return opened_image{std::move(ref), std::move(src), lo};
}

} // namespace detail

inline int run_image_verify(const image_verify_options& o) {
  constexpr std::string_view tool = "ukikit image verify";
  auto trust = report::load_trust_files(o.certs, o.dbx, o.pcrpkey, o.sbat_policy);
  if (!trust) return report(tool, trust.error());
  auto img = detail::open_image(o.ref, o.max_size, o.max_file_size);
  if (!img) return report(tool, img.error());
  installer::verify_options vo;
  vo.trust = &trust->db;
  vo.dbx = trust->dbx ? &*trust->dbx : nullptr;
  vo.pcrpkey = trust->pcrpkey_bytes();
  vo.sbat_policy = trust->sbat_level();
  vo.lookup = img->limits;
  vo.jobs = o.jobs;
  const auto rep = installer::verify(img->src, vo);
  if (o.json) {
    std::cout << json_text(installer::to_json(rep)) << '\n';
  } else {
    std::cout << installer::verify_text(rep);
    const auto problems = rep.problems();
    if (rep.passed()) {
      std::cout << "PASS " << escape_controls(o.ref) << '\n';
    } else {
      std::cout << "FAIL " << escape_controls(o.ref) << ":";
      for (std::size_t i = 0; i < problems.size(); ++i)
        std::cout << (i ? "; " : " ") << escape_controls(problems[i]);
      std::cout << '\n';
    }
    print_findings(tool, rep.findings);
  }
  return rep.passed() ? exit_ok : exit_failed;
}

inline int run_image_extract(const image_extract_options& o) {
  constexpr std::string_view tool = "ukikit image extract";
  auto opened = detail::open_image(o.ref, o.max_size, o.max_file_size);
  if (!opened) return report(tool, opened.error());
  const image::reference& ref = opened->ref;
  const std::vector<std::string> wanted{o.path};
  auto img = image::platform_tree(opened->src, o.arch, opened->limits, wanted);
  if (!img) // a blob or layer that is not what its descriptor says is a failed check
    return report(tool, img.error(),
                  img.error().code() == errc::checksum_mismatch ? exit_failed : exit_usage);
  if (!*img)
    return report(tool, error(errc::invalid_argument,
                              "no image for architecture " + o.arch + " in " + ref.text()));
  auto found = (*img)->tree.read(o.path);
  if (!found) return report(tool, found.error());
  if (!*found)
    return report(tool, error(errc::invalid_argument,
                              "no " + o.path + " in the " + o.arch + " image of " + ref.text()));
  auto out = output::open(o.output);
  if (!out) return report(tool, out.error());
  if (auto w = out->write((*found)->bytes()); !w) return report(tool, w.error());
  if (auto c = out->commit(); !c) return report(tool, c.error());
  return exit_ok;
}

inline void add_image_verify_commands(CLI::App& image, image_verify_options& verify,
                                      image_extract_options& extract, int& rc) {
  auto* v = image.add_subcommand(
      "verify", "The release gate for an installer image: every manifest's blobs, diff_ids and "
                "platform, the installer layout, and per architecture the UKI's and "
                "systemd-boot's machine, Authenticode signatures and .pcrsig (exit 1 when one "
                "fails)");
  v->add_option("--cert", verify.certs,
                "db: a certificate (PEM or DER) or an EFI signature list every artifact's "
                "signature must chain to; repeatable")
      ->required()
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile);
  v->add_option("--dbx", verify.dbx,
                "Forbidden signatures: an EFI signature list (dbx) or certificates; repeatable")
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile);
  v->add_option("--pcrpkey", verify.pcrpkey,
                "Public key (PEM) each UKI's .pcrsig must verify with (default: its own .pcrpkey)")
      ->check(CLI::ExistingFile);
  add_sbat_policy_option(*v, verify.sbat_policy);
  v->add_option("--jobs", verify.jobs,
                "Threads: architectures, and layer blobs, checked this many at a time (default "
                "0: one per core; the report is the same for any number)");
  v->add_option("--max-size", verify.max_size,
                "Largest decompressed layer (bomb limit; default 64G; suffixes K, M, G, T)");
  v->add_option("--max-file-size", verify.max_file_size,
                "Largest artifact held in memory: decoded whole from a compressed layer, or "
                "the parts of a streamed UKI kept (default 1G)");
  add_json_flag(*v, verify.json,
                "One JSON document: architectures (layout, artifacts, verify, pcr11), image, "
                "findings, passed");
  v->add_option("REF", verify.ref,
                "DIR[:TAG] or oci:DIR[:TAG] (OCI layout), oci-archive:FILE[:TAG], "
                "docker-archive:FILE[:NAME:TAG|:@N]")
      ->required();
  v->callback([&verify, &rc] { rc = run_image_verify(verify); });

  auto* x = image.add_subcommand(
      "extract", "Write one file of a platform's final tree (layers applied, whiteouts and "
                 "symlinks resolved inside the image); exit 2 when it is not there");
  x->add_option("--arch", extract.arch,
                "The platform's architecture (image-spec platform.architecture: amd64, arm64)")
      ->required();
  x->add_option("-o,--output", extract.output, "Where to write it (atomically); - for stdout")
      ->required();
  x->add_option("--max-size", extract.max_size,
                "Largest decompressed layer (bomb limit; default 64G; suffixes K, M, G, T)");
  x->add_option("--max-file-size", extract.max_file_size,
                "Largest file read from a compressed layer (default 1G)");
  x->add_option("REF", extract.ref, "The image: DIR[:TAG], oci-archive:FILE[:TAG], ...")
      ->required();
  x->add_option("PATH", extract.path, "The file in the image, e.g. /usr/install/amd64/vmlinuz.efi")
      ->required();
  x->callback([&extract, &rc] { rc = run_image_extract(extract); });
}

} // namespace ukikit::cli
