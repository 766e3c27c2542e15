// `ukiverify` and `ukikit verify`: the CI gate. One PASS or FAIL line per
// file; exit 0 when every file passes, 1 when a check failed, 2 when an
// input could not be read or parsed.
#pragma once

#include "cli.hpp"

#include <ukikit/authenticode.hpp>
#include <ukikit/file.hpp>
#include <ukikit/pe.hpp>
#include <ukikit/uki.hpp>
#include <ukikit/uki/pcr.hpp>

#include <nlohmann/json.hpp>

#include <iostream>
#include <string>
#include <vector>

namespace ukikit::cli {

struct verify_options {
  std::vector<std::string> certs;
  std::vector<std::string> dbx;
  std::vector<std::string> required_sections;
  std::vector<std::string> files;
  std::optional<std::string> pcrpkey;
  std::vector<std::string> phases;
  std::string pcrsig_mode = "systemd";
  std::optional<unsigned> stub_release;
  bool allow_sha1 = false;
  bool strict_sections = false;
  bool json = false;
};

// Load every --cert (PEM, DER or EFI signature list) into one database.
inline result<authenticode::signature_database>
load_databases(const std::vector<std::string>& paths) {
  authenticode::signature_database all;
  for (const auto& p : paths) {
    UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(p));
    auto db = authenticode::load_trust(f.bytes(), p);
    if (!db) return std::move(db).error();
    all.merge(std::move(*db));
  }
  return all;
}

inline nlohmann::ordered_json signature_json(const authenticode::signature_result& s) {
  return {{"subject", s.subject},
          {"issuer", s.issuer},
          {"digest_algorithm", s.digest_algorithm},
          {"digest_matches", s.digest_matches},
          {"signed_digest", s.claimed},
          {"computed_digest", s.computed},
          {"signature_valid", s.signature_valid},
          {"trusted", s.trusted},
          {"revoked", s.revoked},
          {"nested_signatures", s.nested_signatures},
          {"passed", s.passed()},
          {"problems", s.problems},
          {"notes", s.notes}};
}

// With a PCR public key (given, or the UKI's own .pcrpkey), every profile's
// .pcrsig must verify for the PCR 11 values predicted from the sections.
inline void check_pcrsig(const pe::image& img, byte_span pcrpkey, const verify_options& o,
                         measure::signature_mode mode, std::vector<std::string>& problems,
                         nlohmann::ordered_json& entry) {
  uki::view v(img);
  if (!v.is_uki() && !v.is_addon()) return;
  const bool embedded_key =
      std::any_of(v.sections().begin(), v.sections().end(),
                  [](const uki::section_entry& e) { return e.kind == uki::section_kind::pcrpkey; });
  if (pcrpkey.empty() && !embedded_key) return;
  nlohmann::ordered_json reports = nlohmann::ordered_json::array();
  const std::size_t profiles = std::max<std::size_t>(v.profile_count(), 1);
  for (std::size_t n = 0; n < profiles; ++n) {
    auto rep = uki::verify_pcrsig(v, n, pcrpkey, o.phases, mode,
                                  o.stub_release.value_or(uki::stub_release(img)));
    const std::string where = v.profile_count() ? "profile @" + std::to_string(n) + ": " : "";
    for (const auto& p : rep.problems) problems.push_back(where + p);
    reports.push_back({{"profile", n},
                       {"present", rep.present},
                       {"passed", rep.problems.empty()},
                       {"problems", rep.problems}});
  }
  entry["pcrsig"] = reports;
}

inline int run_verify(const verify_options& o, std::string_view tool) {
  auto trust = load_databases(o.certs);
  if (!trust) return report(tool, trust.error());
  std::optional<authenticode::signature_database> dbx;
  if (!o.dbx.empty()) {
    auto d = load_databases(o.dbx);
    if (!d) return report(tool, d.error());
    dbx = std::move(*d);
  }
  authenticode::verify_options vopt;
  vopt.allow_sha1 = o.allow_sha1;
  std::optional<file::mapped_file> pcrpkey;
  if (o.pcrpkey) {
    auto k = file::mapped_file::open(*o.pcrpkey);
    if (!k) return report(tool, k.error());
    pcrpkey.emplace(std::move(*k));
  }
  auto mode = measure::parse_signature_mode(o.pcrsig_mode);
  if (!mode) return report(tool, mode.error());

  int rc = exit_ok;
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const auto& path : o.files) {
    nlohmann::ordered_json entry{{"file", path}};
    std::vector<std::string> reasons;
    auto f = file::mapped_file::open(path);
    std::optional<pe::image> img;
    if (f) {
      f->advise_sequential();
      auto parsed = pe::parse(f->bytes(), pe::strictness::strict);
      if (parsed) img = std::move(*parsed);
      else reasons.push_back(parsed.error().message());
    } else {
      reasons.push_back(f.error().message());
    }
    if (!img) {
      rc = exit_usage;
    } else {
      // Hashed pages are dropped as the hashing passes: memory stays flat.
      vopt.consumed = [&f](byte_span piece) { f->release(piece); };
      auto rep = authenticode::verify(*img, *trust, dbx ? &*dbx : nullptr, vopt);
      reasons = rep.reasons();
      for (const auto& name : o.required_sections)
        if (!img->find(name)) reasons.push_back("required section " + name + " is missing");
      check_pcrsig(*img, pcrpkey ? pcrpkey->bytes() : byte_span(), o, *mode, reasons, entry);
      nlohmann::ordered_json sigs = nlohmann::ordered_json::array();
      for (const auto& s : rep.signatures) sigs.push_back(signature_json(s));
      entry["authenticode"] = {{"sha256", rep.sha256 ? rep.sha256->hex() : ""},
                               {"signatures", sigs}};
      // The same section twice in a range: a warning, an error with --strict-sections.
      auto dups = uki::duplicate_section_findings(
          uki::view(*img), o.strict_sections ? severity::error : severity::warning);
      for (const auto& d : dups) {
        if (d.is_error()) reasons.push_back(d.text());
        else if (!o.json)
          std::cerr << tool << ": warning: " << escape_controls(path) << ": "
                    << escape_controls(d.text()) << '\n';
        rep.findings.push_back(d);
      }
      entry["findings"] = to_json(rep.findings);
      if (!reasons.empty() && rc == exit_ok) rc = exit_failed;
    }
    bool passed = reasons.empty();
    entry["passed"] = passed;
    entry["problems"] = reasons;
    if (o.json) {
      files.push_back(entry);
    } else if (passed) {
      std::cout << "PASS " << escape_controls(path) << '\n';
    } else {
      // Reasons quote subjects and names from the input: no raw control bytes.
      std::cout << "FAIL " << escape_controls(path) << ":";
      for (std::size_t i = 0; i < reasons.size(); ++i)
        std::cout << (i ? "; " : " ") << escape_controls(reasons[i]);
      std::cout << '\n';
    }
  }
  if (o.json) std::cout << json_text(nlohmann::ordered_json{{"files", files}}) << '\n';
  return rc;
}

inline void add_verify_options(CLI::App& cmd, verify_options& o) {
  cmd.add_option(
         "--cert", o.certs,
         "Trust anchor: a certificate (PEM or DER) or an EFI signature list (db); repeatable")
      ->required()
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
  cmd.add_flag("--strict-sections", o.strict_sections,
               "Fail when a UKI has the same section twice in one profile range (e.g. two "
               ".cmdline): which one a stub uses depends on its release");
  cmd.add_flag("--allow-sha1", o.allow_sha1,
               "Accept signatures over a sha1 image digest (refused by default)");
  cmd.add_flag("--json", o.json,
               "Print one JSON document: {\"files\": [{\"file\", \"passed\", \"problems\", "
               "\"authenticode\"}]}");
  add_stub_release_option(cmd, o.stub_release);
  cmd.add_option("FILE", o.files, "PE images (UKIs, kernels, boot loaders) to verify")->required();
}

} // namespace ukikit::cli
