// `ukiverify` and `ukikit verify`: the CI gate. One PASS or FAIL line per
// file; exit 0 when every file passes, 1 when a check failed, 2 when an
// input could not be read or parsed.
#pragma once

#include "cli.hpp"

#include <ukikit/authenticode.hpp>
#include <ukikit/file.hpp>
#include <ukikit/measure.hpp>
#include <ukikit/report.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

namespace ukikit::cli {

struct verify_options {
  std::vector<std::string> certs;
  std::vector<std::string> dbx;
  std::vector<std::string> required_sections;
  std::vector<std::string> files;
  std::optional<std::string> pcrpkey, sbat_policy;
  std::vector<std::string> phases;
  std::string pcrsig_mode = "systemd";
  std::optional<unsigned> stub_release;
  bool allow_sha1 = false;
  bool strict_sections = false;
  bool json = false;
  bool list = false; // sbverify --list: the signatures, no trust needed
};

// `--list`: each file's signatures as the image carries them (signer,
// issuer, digest algorithm, whether the digest matches the image and the
// signature is valid), trusting nothing; exit 0 unless a file is unreadable.
inline int run_list(const verify_options& o, std::string_view tool) {
  int rc = exit_ok;
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const auto& path : o.files) {
    auto f = file::mapped_file::open(path);
    if (!f) {
      rc = report(tool, f.error());
      continue;
    }
    auto img = pe::parse(f->bytes(), pe::strictness::permissive);
    if (!img) {
      rc = report(tool, img.error().prefixed(path));
      continue;
    }
    authenticode::verify_options vopt;
    vopt.strict = false;
    vopt.allow_sha1 = true; // listed, not judged
    const auto rep = authenticode::verify(*img, authenticode::signature_database{}, nullptr, vopt);
    nlohmann::ordered_json sigs = nlohmann::ordered_json::array();
    if (!o.json)
      std::cout << escape_controls(path) << ": " << rep.signatures.size()
                << (rep.signatures.size() == 1 ? " signature" : " signatures") << '\n';
    for (std::size_t i = 0; i < rep.signatures.size(); ++i) {
      const auto& s = rep.signatures[i];
      if (o.json) {
        sigs.push_back({{"subject", s.subject},
                        {"issuer", s.issuer},
                        {"digest_algorithm", s.digest_algorithm},
                        {"digest_matches", s.digest_matches},
                        {"signature_valid", s.signature_valid},
                        {"nested_signatures", s.nested_signatures}});
        continue;
      }
      std::cout << "  signature " << i + 1 << ": " << escape_controls(s.subject) << " (issuer "
                << escape_controls(s.issuer) << "), " << escape_controls(s.digest_algorithm)
                << (s.digest_matches ? ", digest matches" : ", DIGEST MISMATCH")
                << (s.signature_valid ? ", signature valid" : ", SIGNATURE INVALID");
      if (s.nested_signatures != 0) std::cout << ", " << s.nested_signatures << " nested";
      std::cout << '\n';
    }
    if (o.json) files.push_back({{"file", path}, {"signatures", std::move(sigs)}});
  }
  if (o.json) std::cout << json_text(nlohmann::ordered_json{{"files", files}}) << '\n';
  return rc;
}

inline int run_verify(const verify_options& o, std::string_view tool) {
  if (o.list) return run_list(o, tool);
  if (o.certs.empty())
    return report(tool, error(errc::invalid_argument,
                              "--cert is required: the trust anchors to verify against (--list "
                              "shows the signatures without them)"));
  auto trust = report::load_trust_files(o.certs, o.dbx, o.pcrpkey, o.sbat_policy);
  if (!trust) return report(tool, trust.error());
  auto mode = measure::parse_signature_mode(o.pcrsig_mode);
  if (!mode) return report(tool, mode.error());
  report::verify_options vo;
  vo.trust = &trust->db;
  vo.dbx = trust->dbx ? &*trust->dbx : nullptr;
  vo.required_sections = o.required_sections;
  vo.pcrpkey = trust->pcrpkey_bytes();
  vo.phases = o.phases;
  vo.pcrsig_mode = *mode;
  vo.stub_release = o.stub_release;
  vo.allow_sha1 = o.allow_sha1;
  vo.strict_sections = o.strict_sections;
  vo.sbat_policy = trust->sbat_level();

  int rc = exit_ok;
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const auto& path : o.files) {
    vo.name = path;
    auto f = file::mapped_file::open(path);
    report::verdict v;
    if (f) {
      f->advise_sequential();
      // Hashed pages are dropped as the hashing passes: memory stays flat.
      vo.consumed = [&f](byte_span piece) { f->release(piece); };
      v = report::verify_uki(f->bytes(), vo);
      vo.consumed = nullptr; // it refers to this file
    } else {
      v = report::unreadable(path, f.error());
    }
    if (!v.readable) rc = exit_usage;
    else if (!v.passed && rc == exit_ok) rc = exit_failed;
    if (!o.json)
      for (const auto& w : v.warnings)
        std::cerr << tool << ": warning: " << escape_controls(path) << ": "
                  << escape_controls(w.text()) << '\n';
    if (o.json) {
      files.push_back(report::to_json(v));
    } else if (v.passed) {
      std::cout << "PASS " << escape_controls(path) << '\n';
    } else {
      // Reasons quote subjects and names from the input: no raw control bytes.
      std::cout << "FAIL " << escape_controls(path) << ":";
      for (std::size_t i = 0; i < v.problems.size(); ++i)
        std::cout << (i ? "; " : " ") << escape_controls(v.problems[i]);
      std::cout << '\n';
      const auto& sigs = v.authenticode.signatures;
      if (std::any_of(sigs.begin(), sigs.end(), [](const auto& s) { return s.sha1_refused; }))
        std::cerr << tool << ": " << escape_controls(path)
                  << ": sha1 digests are refused; allow them with --allow-sha1\n";
    }
  }
  if (o.json) std::cout << json_text(nlohmann::ordered_json{{"files", files}}) << '\n';
  return rc;
}

inline void add_verify_options(CLI::App& cmd, verify_options& o) {
  cmd.add_option(
         "--cert", o.certs,
         "Trust anchor: a certificate (PEM or DER) or an EFI signature list (db); repeatable")
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile);
  cmd.add_option(
         "--dbx", o.dbx,
         "Forbidden signatures: an EFI signature list (dbx: certificates, image digests, "
         "certificate hashes) or certificates; as EDK2 does, the image fails when ANY of its "
         "signatures verifies with a listed certificate or has a listed signer hash, or its "
         "digest is listed")
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile);
  cmd.add_option("--require", o.required_sections,
                 "Fail unless the image has this section (e.g. .linux); repeatable")
      ->allow_extra_args(false);
  cmd.add_option(
         "--pcrpkey", o.pcrpkey,
         "Public key (PEM) the .pcrsig of each profile must verify with, for the PCR 11 values "
         "predicted from the sections (without it, a UKI's own .pcrpkey is used when it has one)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--phases", o.phases,
                 "Phase paths the .pcrsig must cover (default: systemd-measure's four)")
      ->allow_extra_args(false);
  cmd.add_option(
      "--pcrsig-mode", o.pcrsig_mode,
      "How .pcrsig entries were signed: systemd (SHA-256 for every bank), bank-hash (systemd "
      "252-257), talos");
  add_sbat_policy_option(cmd, o.sbat_policy);
  cmd.add_flag("--strict-sections", o.strict_sections,
               "Fail when a UKI has the same section twice in one profile range (e.g. two "
               ".cmdline): which one a stub uses depends on its release");
  cmd.add_flag("--allow-sha1", o.allow_sha1,
               "Accept signatures over a sha1 image digest (refused by default)");
  add_json_flag(cmd, o.json,
                "Print one JSON document: {\"files\": [{\"file\", \"passed\", \"problems\", "
                "\"authenticode\"}]}");
  add_stub_release_option(cmd, o.stub_release);
  cmd.add_flag("--list", o.list,
               "List each file's signatures (signer, issuer, digest algorithm, digest and "
               "signature checks) without verifying trust, as sbverify --list does");
  cmd.add_option("FILE", o.files, "PE images (UKIs, kernels, boot loaders) to verify")->required();
}

} // namespace ukikit::cli
