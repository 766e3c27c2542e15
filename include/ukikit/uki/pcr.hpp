// PCR 11 of a UKI: the sections systemd-stub measures for a profile, their
// predicted values, and the check of the UKI's own .pcrsig against them.
#pragma once

#include "../diagnostics.hpp"
#include "../measure.hpp"
#include "../result.hpp"
#include "../uki.hpp"

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::uki {

// Finding codes of PCR 11 prediction and .pcrsig checks (README, "Finding
// codes"), one per rule.
namespace code {
inline constexpr std::string_view stub_measures_nothing = "uki.stub-measures-nothing";
inline constexpr std::string_view stub_skips_section = "uki.stub-skips-section";
inline constexpr std::string_view legacy_last_section = "uki.legacy-last-section";
inline constexpr std::string_view legacy_prefix_match = "uki.legacy-prefix-match";
inline constexpr std::string_view pcr11_unpredictable = "uki.pcr11-unpredictable";
inline constexpr std::string_view pcrsig_missing = "uki.pcrsig-missing";
inline constexpr std::string_view pcrpkey_missing = "uki.pcrpkey-missing";
inline constexpr std::string_view pcrsig_invalid = "uki.pcrsig-invalid";
inline constexpr std::string_view pcrsig_mismatch = "uki.pcrsig-mismatch";
} // namespace code

// The measured sections of a resolution, as the stub hands them to the TPM
// (VirtualSize-limited bytes from the file). .dtbauto is left out: the stub
// measures the candidate it selects on the machine, which is not known here.
inline std::vector<measure::section> measured_sections(const resolution& r) {
  std::vector<measure::section> out;
  for (const auto& role : section_roles) {
    if (!role.measured || role.kind == section_kind::dtbauto) continue;
    if (const section_entry* e = r.find(role.kind)) out.push_back({role.name, e->section->data()});
  }
  return out;
}

// The systemd release of the UKI's own stub (its .sdmagic), which decides
// the sections measured; 0 (the current stub) when it does not say.
inline unsigned stub_release(const pe::image& img) {
  const auto stub = identify_stub(img);
  return stub ? stub->release : 0;
}

// What the stub of `release` (0: current) makes of the UKI sections of
// `kinds` that only a later stub measures, one warning each: `who` names
// the stub ("systemd-stub 252.39-1~deb12u2"). The stub finds sections by
// the names it knows; it measures, and uses, no other.
inline std::vector<finding> stub_release_findings(std::span<const section_kind> kinds,
                                                  unsigned release, std::string_view who) {
  std::vector<finding> out;
  if (release != 0 && release < measure::first_measuring_release) {
    out.emplace_back(severity::warning, code::stub_measures_nothing,
                     std::string(who) + " measures nothing into PCR 11 (systemd-stub does since " +
                         std::to_string(measure::first_measuring_release) +
                         "): PCR 11 is predicted from the boot phases alone");
    return out;
  }
  std::array<bool, section_kind_count> seen{};
  for (const section_kind k : kinds) {
    const auto n = name(k);
    if (seen[index_of(k)] || !measure::measured_by(n, 0) || measure::measured_by(n, release))
      continue;
    seen[index_of(k)] = true;
    const unsigned since = measure::measured_since[*measure::measurement_position(n)];
    std::string line = std::string(who) + " does not measure " + std::string(n) +
                       " (systemd-stub does since " + std::to_string(since) +
                       "): PCR 11 is predicted without it";
    if (k == section_kind::profile) line += ", and the stub cannot select a profile";
    else if (since >= 256) line += ", and the stub ignores it";
    finding f(severity::warning, code::stub_skips_section, std::move(line));
    f.subject = std::string(n);
    out.push_back(std::move(f));
  }
  return out;
}

// The same for every section of a UKI.
inline std::vector<finding> stub_release_findings(const view& v, unsigned release,
                                                  std::string_view who) {
  std::vector<section_kind> kinds;
  for (const auto& e : v.sections())
    if (e.kind && !e.section->data().empty()) kinds.push_back(*e.kind);
  return stub_release_findings(kinds, release, who);
}

// Stubs before 257 find sections as pe.c's locate_sections did: a section
// counts for every name it knows that its name starts with (".dtbauto" is
// a ".dtb"), the last such section in the table wins, and there are no
// profiles. 257 brought profiles, exact names and the first match.
inline constexpr unsigned first_exact_release = 257;

constexpr bool legacy_lookup(unsigned release) noexcept {
  return release != 0 && release < first_exact_release;
}

// A legacy stub's pick: per name it knows and measures, the last section
// whose name starts with it; `matches` counts them. The measured name is
// the stub's own (".dtb"), the bytes the section's.
struct legacy_pick {
  std::string_view name;
  const pe::section* section = nullptr;
  std::size_t matches = 0;
};

inline std::vector<legacy_pick> legacy_picks(const pe::image& img, unsigned release) {
  std::vector<legacy_pick> out;
  for (std::string_view known : measure::measured_sections) {
    if (!measure::measured_by(known, release)) continue;
    legacy_pick p{known};
    for (const auto& s : img.sections)
      if (std::string_view(s.name).starts_with(known)) {
        p.section = &s;
        ++p.matches;
      }
    if (p.section) out.push_back(p);
  }
  return out;
}

// The sections the stub of `release` measures for profile @n: the
// resolution's, or for a stub before 257 its legacy pick (profile @0 only).
inline result<std::vector<measure::section>> sections_for(const view& v, std::size_t profile,
                                                          unsigned release) {
  if (legacy_lookup(release)) {
    if (profile != 0)
      return error(errc::invalid_argument, "systemd-stub " + std::to_string(release) +
                                               " has no profiles (they came with " +
                                               std::to_string(first_exact_release) + ")");
    std::vector<measure::section> out;
    for (const auto& p : legacy_picks(v.image(), release))
      out.push_back({p.name, p.section->data()});
    return out;
  }
  UKIKIT_TRY_ASSIGN(resolution r, v.resolve(profile));
  return measured_sections(r);
}

// What a stub before 257 does differently with this image's sections: the
// last of repeated names, a longer name taken for a shorter one. Warnings.
inline std::vector<finding> legacy_lookup_findings(const pe::image& img, unsigned release,
                                                   std::string_view who) {
  std::vector<finding> out;
  if (!legacy_lookup(release)) return out;
  for (const auto& p : legacy_picks(img, release)) {
    if (p.matches > 1)
      out.emplace_back(severity::warning, code::legacy_last_section,
                       std::string(who) + " uses the last of " + std::to_string(p.matches) +
                           " sections named " + std::string(p.name) + "… (section table index " +
                           std::to_string(p.section - img.sections.data()) +
                           "); PCR 11 is predicted with it");
    if (p.section->name != p.name)
      out.emplace_back(severity::warning, code::legacy_prefix_match,
                       std::string(who) + " takes section " + p.section->name + " for " +
                           std::string(p.name) + " (it compares name prefixes)");
  }
  return out;
}

// PCR 11 for profile @n (or the only one), for the stub release in `opts`
// (pass stub_release(v.image()) for the UKI's own stub).
inline result<measure::prediction> predict_pcr11(const view& v, std::size_t profile = 0,
                                                 const measure::options& opts = {}) {
  UKIKIT_TRY_ASSIGN(auto sections, sections_for(v, profile, opts.stub_release));
  return measure::predict(sections, opts);
}

struct pcrsig_report {
  std::size_t profile = 0;
  bool present = false; // the range has a .pcrsig
  std::optional<measure::verification> verification;
  // Why it does not verify (errors, each with its code); empty when it does.
  std::vector<finding> findings;

  bool passed() const noexcept { return findings.empty(); }
  void fail(std::string_view c, std::string message) {
    findings.emplace_back(severity::error, c, std::move(message));
  }
};

// Verify the .pcrsig of profile @n against the predicted PCR 11 values of
// that profile for the given phase paths (default: systemd-measure's), with
// `pcrpkey` (PEM) or, when empty, the UKI's own .pcrpkey, as the stub of
// `release` measures them (0: the current stub). `known_digest` gives the
// sections' digests already computed (measure::options::known_digest).
inline pcrsig_report verify_pcrsig(const view& v, std::size_t profile, byte_span pcrpkey,
                                   const std::vector<std::string>& phases = {},
                                   measure::signature_mode mode = measure::signature_mode::systemd,
                                   unsigned release = 0,
                                   const measure::digest_lookup& known_digest = {}) {
  pcrsig_report rep;
  rep.profile = profile;
  auto r = v.resolve(profile);
  if (!r) {
    rep.fail(code::pcr11_unpredictable, r.error().message());
    return rep;
  }
  const section_entry* sig = r->find(section_kind::pcrsig);
  if (!sig) {
    rep.fail(code::pcrsig_missing, "no .pcrsig section");
    return rep;
  }
  rep.present = true;
  if (pcrpkey.empty()) {
    const section_entry* key = r->find(section_kind::pcrpkey);
    if (!key) {
      rep.fail(code::pcrpkey_missing, "no .pcrpkey section and no public key given");
      return rep;
    }
    pcrpkey = key->section->data();
  }
  auto parsed = measure::parse_pcrsig(sig->section->data());
  if (!parsed) {
    rep.fail(code::pcrsig_invalid, ".pcrsig: " + parsed.error().message());
    return rep;
  }
  // Predict the banks the signature has, for the phase paths asked for.
  measure::options opts;
  opts.stub_release = release;
  opts.known_digest = known_digest;
  if (!phases.empty()) opts.phases = phases;
  opts.banks.clear();
  for (const auto& b : parsed->banks) opts.banks.push_back(b.bank);
  auto sections = sections_for(v, profile, release);
  if (!sections) {
    rep.fail(code::pcr11_unpredictable, sections.error().message());
    return rep;
  }
  auto prediction = measure::predict(*sections, opts);
  if (!prediction) {
    rep.fail(code::pcr11_unpredictable, prediction.error().message());
    return rep;
  }
  auto checked = measure::verify(*parsed, *prediction, pcrpkey, mode);
  if (!checked) {
    rep.fail(code::pcrsig_invalid, checked.error().message());
    return rep;
  }
  // measure::verification reports strings; each is a pcrsig mismatch here
  // (the message says which check).
  for (const auto& f : checked->findings) rep.fail(code::pcrsig_mismatch, f);
  if (!checked->ok() && rep.findings.empty())
    rep.fail(code::pcrsig_mismatch, ".pcrsig does not match the predicted PCR 11");
  rep.verification = std::move(*checked);
  return rep;
}

} // namespace ukikit::uki
