// The verify verdict on a PE image or UKI: whether `ukiverify` says PASS,
// why not (each reason a finding with its code, claimed and computed where
// there are two values), and its JSON, which is exactly the per-file object
// of `ukiverify --json`.
// Included by ukikit/report.hpp; include that instead.
//
// An image passes only when a signature chains to a trust anchor and its
// digest equals the image digest, nothing unhashed hides data, dbx refuses
// nothing (authenticode::verify, strict), every required section exists,
// each profile's .pcrsig verifies for the predicted PCR 11 (with a given
// public key, or the UKI's own .pcrpkey) and, with strict_sections, no
// profile range has a section twice.
#pragma once

#include "../authenticode.hpp"
#include "../diagnostics.hpp"
#include "../file.hpp"
#include "../measure.hpp"
#include "../pe.hpp"
#include "../result.hpp"
#include "../uki.hpp"
#include "../uki/pcr.hpp"
#include "json.hpp"
#include "uki.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::report {

// Finding codes the verdict adds (README, "Finding codes").
namespace code {
// The bytes are no PE image (the parser's error), or could not be read.
inline constexpr std::string_view unreadable = "verify.unreadable";
// A signature that does not pass: the message lists why.
inline constexpr std::string_view signature_rejected = "verify.signature-rejected";
// A section the caller requires is not in the image.
inline constexpr std::string_view required_section_missing = "verify.required-section-missing";
// The SBAT policy (--sbat-policy) revokes a generation the image's .sbat
// lists, or the image has no .sbat shim could check.
inline constexpr std::string_view sbat_revoked = "verify.sbat-revoked";
} // namespace code

// Every trust anchor (certificate in PEM or DER, or an EFI signature list)
// of the files at `paths`, in one database.
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

// An SbatLevel policy file (--sbat-policy), parsed; `level` views `file`.
struct sbat_policy {
  file::mapped_file file;
  uki::sbat_level level;
};

inline result<sbat_policy> load_sbat_policy(const std::string& path) {
  UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(path));
  auto level = uki::parse_sbat_level(as_chars(f.bytes()));
  if (!level) return level.error().prefixed(path);
  return sbat_policy{std::move(f), std::move(*level)};
}

// What a verifying command is given on its command line, loaded: db (the
// trust anchors), dbx (when any), a PCR public key and an SBAT policy (when
// given).
struct trust_files {
  authenticode::signature_database db;
  std::optional<authenticode::signature_database> dbx;
  std::optional<file::mapped_file> pcrpkey;
  std::optional<sbat_policy> sbat;

  byte_span pcrpkey_bytes() const noexcept { return pcrpkey ? pcrpkey->bytes() : byte_span(); }
  const uki::sbat_level* sbat_level() const noexcept { return sbat ? &sbat->level : nullptr; }
};

inline result<trust_files> load_trust_files(const std::vector<std::string>& certs,
                                            const std::vector<std::string>& dbx,
                                            const std::optional<std::string>& pcrpkey,
                                            const std::optional<std::string>& sbat = {}) {
  trust_files t;
  if (sbat) {
    UKIKIT_TRY_ASSIGN(auto p, load_sbat_policy(*sbat));
    t.sbat.emplace(std::move(p));
  }
  UKIKIT_TRY_ASSIGN(t.db, load_databases(certs));
  if (!dbx.empty()) {
    UKIKIT_TRY_ASSIGN(auto d, load_databases(dbx));
    t.dbx = std::move(d);
  }
  if (pcrpkey) {
    UKIKIT_TRY_ASSIGN(auto k, file::mapped_file::open(*pcrpkey));
    t.pcrpkey.emplace(std::move(k));
  }
  return t;
}

struct verify_options {
  std::string name; // the "file" key: the path as the user gave it
  const authenticode::signature_database* trust = nullptr; // db; none: nothing is trusted
  const authenticode::signature_database* dbx = nullptr;   // forbidden signatures, if any
  std::vector<std::string> required_sections;
  // The public key (PEM) every profile's .pcrsig must verify with; empty:
  // the UKI's own .pcrpkey, when it has one.
  byte_span pcrpkey;
  std::vector<std::string> phases; // the .pcrsig must cover; empty: systemd-measure's
  measure::signature_mode pcrsig_mode = measure::signature_mode::systemd;
  std::optional<unsigned> stub_release; // default: the UKI's own stub
  bool allow_sha1 = false;
  bool strict_sections = false;       // a section twice in one range fails the image
  authenticode::consumed_fn consumed; // told about each piece hashed for the digest
  // shim's SbatLevel: the image's .sbat must list no revoked generation.
  const uki::sbat_level* sbat_policy = nullptr;
  // Digests already computed while the file streamed past (uki/stream.hpp):
  // the image digest per algorithm, and sections' digests for PCR 11.
  std::function<std::optional<hash::digest>(hash::algorithm)> known_image_digest;
  measure::digest_lookup known_section_digest;
};

struct verdict {
  std::string name;
  bool readable = true; // false: no PE image (ukiverify exits 2)
  bool passed = false;
  // Why the image does not pass: error findings, each with its code.
  std::vector<finding> reasons;
  // What is worth saying even when it passes (a section twice in a range).
  std::vector<finding> warnings;
  // The reasons as ukiverify prints them (`FAIL FILE: a; b`) and its JSON's
  // "problems".
  std::vector<std::string> problems;
  // What the checks found: the Authenticode report, per profile the .pcrsig
  // check (when one was made) and the findings of the JSON.
  authenticode::verify_report authenticode;
  std::optional<std::vector<uki::pcrsig_report>> pcrsig;
  std::vector<finding> findings;
};

// The verdict on bytes that are no PE image, or on a file that could not be
// read: not passed, with the error as its reason.
inline verdict unreadable(std::string name, const error& e) {
  verdict v;
  v.name = std::move(name);
  v.readable = false;
  v.reasons.emplace_back(severity::error, code::unreadable, e.context(), e.offset());
  v.problems.push_back(e.message());
  return v;
}

namespace detail {

// With a PCR public key (given, or the UKI's own .pcrpkey), every profile's
// .pcrsig must verify for the PCR 11 values predicted from the sections.
inline void check_pcrsig(const pe::image& img, const verify_options& o, verdict& out) {
  uki::view v(img);
  if (!v.is_uki() && !v.is_addon()) return;
  const bool embedded_key =
      std::any_of(v.sections().begin(), v.sections().end(),
                  [](const uki::section_entry& e) { return e.kind == uki::section_kind::pcrpkey; });
  if (o.pcrpkey.empty() && !embedded_key) return;
  out.pcrsig.emplace();
  const std::size_t profiles = std::max<std::size_t>(v.profile_count(), 1);
  for (std::size_t n = 0; n < profiles; ++n) {
    auto rep =
        uki::verify_pcrsig(v, n, o.pcrpkey, o.phases, o.pcrsig_mode,
                           o.stub_release.value_or(uki::stub_release(img)), o.known_section_digest);
    const std::string where = v.profile_count() ? "profile @" + std::to_string(n) + ": " : "";
    for (const auto& f : rep.findings) {
      out.problems.push_back(where + f.message);
      finding reason = f;
      reason.message = where + f.message;
      out.reasons.push_back(std::move(reason));
    }
    out.pcrsig->push_back(std::move(rep));
  }
}

// Against an SbatLevel policy, as shim checks what it loads: the base .sbat
// (profiles are the stub's business), each revoked row a reason.
inline void check_sbat(const pe::image& img, const verify_options& o, verdict& out) {
  if (!o.sbat_policy) return;
  auto refuse = [&out](std::string message, std::uint64_t at) {
    out.problems.push_back(message);
    out.reasons.emplace_back(severity::error, code::sbat_revoked, std::move(message), at);
  };
  const pe::section* s = img.find(".sbat");
  if (!s) { // shim: mandatory for what it loads whenever the variable exists
    refuse("no .sbat section: shim refuses an image without one under an SBAT policy", 0);
    return;
  }
  auto parsed = uki::parse_sbat(*s);
  if (!parsed) {
    refuse(".sbat cannot be checked against the SBAT policy: " + parsed.error().message(),
           s->pointer_to_raw_data);
    return;
  }
  for (const auto& r : uki::sbat_revoked(*parsed, *o.sbat_policy)) {
    std::string message = ".sbat " + std::string(r.image_row->component_name) + " generation " +
                          std::to_string(r.image_row->component_generation) +
                          " is revoked by the SBAT policy (generation " +
                          std::to_string(r.policy_row->component_generation) + ")";
    refuse(std::move(message), r.image_row->offset);
    finding& f = out.reasons.back();
    f.claimed = std::to_string(r.image_row->component_generation);
    f.computed = std::to_string(r.policy_row->component_generation);
  }
}

// The reasons of authenticode::verify's report: its error findings and,
// when no signature passed, why each did not.
// A signature's problems are strings in authenticode::signature_result; they
// become verify.signature-rejected reasons here (digest ones: digest-mismatch).
inline void authenticode_reasons(const authenticode::verify_report& rep, verdict& out) {
  for (const auto& f : rep.findings)
    if (f.is_error()) out.reasons.push_back(f);
  if (rep.any_signature_passed()) return;
  for (std::size_t i = 0; i < rep.signatures.size(); ++i) {
    const auto& s = rep.signatures[i];
    const std::string label = "signature " + std::to_string(i + 1);
    if (!s.digest_matches && !s.computed.empty()) {
      finding f(severity::error, code::digest_mismatch, label + " digest mismatch", s.entry_offset);
      f.claimed = s.claimed;
      f.computed = s.computed;
      out.reasons.push_back(std::move(f));
    }
    std::string why;
    for (const auto& p : s.problems) why += (why.empty() ? "" : "; ") + p;
    out.reasons.emplace_back(severity::error, code::signature_rejected,
                             label + " does not pass" + (why.empty() ? "" : ": " + why),
                             s.entry_offset);
  }
}

} // namespace detail

// The verdict on a PE image or UKI, parsed strictly.
inline verdict verify_uki(byte_span bytes, const verify_options& o) {
  auto parsed = pe::parse(bytes, strictness::strict);
  if (!parsed) return unreadable(o.name, parsed.error());
  const pe::image& img = *parsed;
  verdict out;
  out.name = o.name;
  authenticode::verify_options vopt;
  vopt.allow_sha1 = o.allow_sha1;
  vopt.consumed = o.consumed;
  vopt.known_digest = o.known_image_digest;
  static const authenticode::signature_database no_anchors;
  out.authenticode = authenticode::verify(img, o.trust ? *o.trust : no_anchors, o.dbx, vopt);
  out.problems = out.authenticode.reasons();
  detail::authenticode_reasons(out.authenticode, out);
  for (const auto& name : o.required_sections)
    if (!img.find(name)) {
      out.problems.push_back("required section " + name + " is missing");
      out.reasons.emplace_back(severity::error, code::required_section_missing,
                               out.problems.back());
    }
  detail::check_pcrsig(img, o, out);
  detail::check_sbat(img, o, out);
  out.findings = out.authenticode.findings;
  // The same section twice in a range: a warning, an error with strict_sections.
  for (auto& d : uki::duplicate_section_findings(
           uki::view(img), o.strict_sections ? severity::error : severity::warning)) {
    if (d.is_error()) {
      out.problems.push_back(d.text());
      out.reasons.push_back(d);
    } else {
      out.warnings.push_back(d);
    }
    out.findings.push_back(std::move(d));
  }
  out.passed = out.problems.empty();
  if (!out.passed && out.reasons.empty()) // cannot happen; a FAIL always says why
    out.reasons.emplace_back(severity::error, code::signature_rejected, out.problems.front());
  return out;
}

namespace detail {

inline ojson signature_json(const authenticode::signature_result& s) {
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

} // namespace detail

// The per-file object of `ukiverify --json`: file, pcrsig (per profile, when
// checked), authenticode (sha256, signatures), findings, passed, problems.
// For an unreadable file: file, passed, problems.
inline ojson to_json(const verdict& v) {
  ojson entry{{"file", v.name}};
  if (v.readable) {
    if (v.pcrsig) {
      ojson reports = ojson::array();
      for (const auto& rep : *v.pcrsig) {
        ojson problems = ojson::array();
        for (const auto& f : rep.findings) problems.push_back(f.message);
        reports.push_back({{"profile", rep.profile},
                           {"present", rep.present},
                           {"passed", rep.passed()},
                           {"problems", problems}});
      }
      entry["pcrsig"] = reports;
    }
    ojson sigs = ojson::array();
    for (const auto& s : v.authenticode.signatures) sigs.push_back(detail::signature_json(s));
    entry["authenticode"] = {{"sha256", v.authenticode.sha256 ? v.authenticode.sha256->hex() : ""},
                             {"signatures", sigs}};
    entry["findings"] = to_json(v.findings);
  }
  entry["passed"] = v.passed;
  entry["problems"] = v.problems;
  return entry;
}

} // namespace ukikit::report
