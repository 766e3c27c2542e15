// The inspect report of a PE image or UKI: what `ukiinspect` says about it,
// as data (inspect_uki) and as its JSON (to_json), which is exactly the
// object `ukiinspect --json FILE` prints. Nothing is trusted here: the
// Authenticode part says what each signature claims and whether its digest
// matches, not whether anyone should accept it (that is report/verify.hpp).
// Included by ukikit/report.hpp; include that instead.
//
// The report keeps spans into the bytes it was made from (the image's
// sections, the texts): the bytes must outlive it.
#pragma once

#include "../authenticode.hpp"
#include "../diagnostics.hpp"
#include "../hash.hpp"
#include "../initrd.hpp"
#include "../measure.hpp"
#include "../pe.hpp"
#include "../result.hpp"
#include "../uki.hpp"
#include "../uki/pcr.hpp"
#include "initrd.hpp"
#include "json.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::report {

// Finding codes the inspect report adds (README, "Finding codes").
namespace code {
// A signature's digest is not the image's (claimed and computed are set).
inline constexpr std::string_view digest_mismatch = "authenticode.digest-mismatch";
// Something worth knowing about a signature (nested signatures firmware ignores).
inline constexpr std::string_view signature_note = "authenticode.signature-note";
// The .initrd section cannot be walked as the kernel reads it.
inline constexpr std::string_view initrd_invalid = "uki.initrd-invalid";
} // namespace code

struct inspect_options {
  std::string name;                     // the "file" key: the path as the user gave it
  bool hashes = true;                   // false (--no-hash): nothing that reads section data
  std::optional<unsigned> stub_release; // PCR 11 for this stub; default: the UKI's own
  authenticode::consumed_fn consumed;   // told about each piece hashed for the digest
  // Threads the digests are computed on (sections in every bank, the
  // Authenticode digest, the CheckSum), 0: one per core. The report is the
  // same for any number.
  unsigned jobs = 0;
};

struct section_info {
  std::size_t index = 0;              // in the image's section table
  std::optional<std::size_t> profile; // nullopt: the base; N: profile @N
  std::optional<std::string> sha256;  // with hashes ("" when it cannot be computed)
};

struct profile_info {
  std::size_t index = 0;
  std::optional<uki::profile_metadata> metadata; // nullopt when its text cannot be read
  std::optional<measure::prediction> pcr11;      // with hashes
};

struct uki_report {
  std::string name;
  bool hashes = true;
  pe::image image;
  std::optional<std::uint32_t> computed_checksum; // with hashes
  std::vector<section_info> sections;             // in table order
  bool uki = false, addon = false;
  std::optional<uki::stub_identity> stub;
  unsigned stub_release = 0; // the release PCR 11 is predicted for (0: current)
  // The text sections the stub uses without a profile selector, as parsed.
  std::optional<uki::cmdline> cmdline;
  std::optional<uki::os_release> os_release;
  std::optional<uki::uname> uname;
  std::optional<uki::sbat> sbat;
  std::optional<uki::kernel_info> kernel;
  std::vector<profile_info> profiles; // one per .profile; JSON only for a UKI or addon
  // The base has an .initrd; its walk (with hashes, when it could be made).
  bool has_initrd = false;
  std::optional<initrd::report> initrd;
  std::optional<measure::prediction> pcr11; // profile @0, with hashes
  // The digest and what each signature claims. Without hashes only subject,
  // issuer and digest_algorithm are filled in, and there are no findings.
  authenticode::verify_report authenticode;
  // Everything above worth a reader's attention, in report order.
  finding_log findings;

  // Whether the warnings list leaves `f` out: an unsigned image is no
  // warning, and a multi-profile UKI repeats section names by design (the
  // UKI view reports the duplicates that matter, within one range).
  bool quiet(const finding& f) const noexcept {
    return f.code == authenticode::code::not_signed ||
           (!profiles.empty() && f.code == pe::code::duplicate_section);
  }
  // The report's "warnings": each finding's text, but the quiet ones, and
  // how many the log dropped.
  std::vector<std::string> warnings() const {
    std::vector<std::string> out;
    for (const auto& f : findings.kept())
      if (!quiet(f)) out.push_back(f.text());
    if (findings.dropped() != 0)
      out.push_back(std::to_string(findings.dropped()) + " more findings");
    return out;
  }
};

namespace detail {

inline void add_all(finding_log& log, const std::vector<finding>& findings) {
  for (const auto& f : findings) log.add(f);
}

// An error of a text parser as the report states it.
inline finding unreadable(std::string_view c, const error& e, std::string prefix = {}) {
  return finding(severity::error, c, std::move(prefix) + e.context(), e.offset());
}

// The text sections of a resolution (profile @0), parsed permissively.
inline void inspect_texts(uki_report& r, const uki::resolution& res) {
  auto text_of = [&](uki::section_kind k) -> const pe::section* {
    const auto* e = res.find(k);
    return e ? e->section : nullptr;
  };
  if (const auto* s = text_of(uki::section_kind::cmdline)) {
    auto c = uki::parse_cmdline(*s);
    if (c) {
      r.findings.append(finding_log(c->findings));
      r.cmdline = std::move(*c);
    } else {
      r.findings.add(unreadable(uki::code::cmdline_invalid, c.error()));
    }
  }
  if (const auto* s = text_of(uki::section_kind::osrel)) {
    auto o = uki::parse_os_release(*s);
    if (o) {
      r.findings.append(finding_log(o->findings));
      r.os_release = std::move(*o);
    } else {
      r.findings.add(unreadable(uki::code::osrel_invalid, o.error()));
    }
  }
  if (const auto* s = text_of(uki::section_kind::uname)) {
    auto u = uki::parse_uname(*s);
    if (u) r.uname = std::move(*u);
    else r.findings.add(unreadable(uki::code::uname_invalid, u.error()));
  }
  if (const auto* s = text_of(uki::section_kind::sbat)) {
    auto b = uki::parse_sbat(*s);
    if (b) {
      r.findings.append(finding_log(b->findings));
      r.sbat = std::move(*b);
    } else {
      r.findings.add(unreadable(uki::code::sbat_invalid, b.error()));
    }
  }
  if (const auto* e = res.find(uki::section_kind::linux_))
    if (auto k = uki::kernel_facts(e->section->data())) r.kernel = std::move(*k);
}

// The .initrd of the base, walked as the kernel reads it. Offsets in the
// walk's findings are within the section; the report's are in the file.
inline void inspect_initrd(uki_report& r, const pe::section& s) {
  r.has_initrd = true;
  if (!r.hashes) return; // walking decompresses it
  auto rep = initrd::examine(s.data());
  if (!rep) {
    r.findings.add(
        unreadable(code::initrd_invalid, rep.error().rebased(s.pointer_to_raw_data), ".initrd: "));
    return;
  }
  // The walk's warnings with their own codes (initrd.*, cpio.*), at offsets
  // in the file.
  for (const auto& w : rep->warnings) {
    finding f = w;
    f.message = ".initrd: " + w.message;
    if (f.offset != error::no_offset) f.offset += s.pointer_to_raw_data;
    r.findings.add(std::move(f));
  }
  if (rep->failure)
    r.findings.add(unreadable(code::initrd_invalid, rep->failure->rebased(s.pointer_to_raw_data),
                              ".initrd: "));
  r.initrd = std::move(*rep);
}

// Profiles, the .initrd, PCR 11 and the .pcrsig checks of a UKI or addon.
// `release_given`: the stub release was chosen, not read from the stub.
inline void inspect_uki_sections(uki_report& r, const uki::view& v, const measure::options& pcr,
                                 bool release_given) {
  if (auto res = v.resolve(0)) inspect_texts(r, *res);
  if (pcr.stub_release) {
    const std::string who =
        "systemd-stub " +
        (release_given || !r.stub ? std::to_string(pcr.stub_release) : r.stub->version);
    add_all(r.findings, uki::stub_release_findings(v, pcr.stub_release, who));
    add_all(r.findings, uki::legacy_lookup_findings(r.image, pcr.stub_release, who));
  }
  for (std::size_t n = 0; n < v.profile_count(); ++n) {
    profile_info p;
    p.index = n;
    auto range = v.profile(n);
    if (range && !range->empty()) {
      auto meta = uki::parse_profile(*range->front().section);
      if (meta) p.metadata = std::move(*meta);
      else
        r.findings.add(unreadable(uki::code::profile_invalid, meta.error(),
                                  "profile @" + std::to_string(n) + ": "));
    }
    if (r.hashes)
      if (auto pred = uki::predict_pcr11(v, n, pcr)) p.pcr11 = std::move(*pred);
    r.profiles.push_back(std::move(p));
  }
  auto base = v.resolve(0);
  if (const auto* e = base ? base->find(uki::section_kind::initrd) : nullptr)
    inspect_initrd(r, *e->section);
  if (!r.hashes) return;
  auto pred = uki::predict_pcr11(v, 0, pcr);
  if (pred) r.pcr11 = std::move(*pred);
  else r.findings.add(unreadable(uki::code::pcr11_unpredictable, pred.error(), "PCR 11: "));
  // .pcrsig against the embedded .pcrpkey, per profile.
  const std::size_t count = std::max<std::size_t>(v.profile_count(), 1);
  for (std::size_t n = 0; n < count; ++n) {
    auto res = v.resolve(n);
    if (!res || !res->find(uki::section_kind::pcrsig) || !res->find(uki::section_kind::pcrpkey))
      continue;
    auto check =
        uki::verify_pcrsig(v, n, {}, {}, measure::signature_mode::systemd, pcr.stub_release);
    const std::string where = v.profile_count() ? "profile @" + std::to_string(n) + ": " : "";
    for (const auto& f : check.findings)
      r.findings.add(severity::warning, f.code,
                     where + ".pcrsig does not match the predicted PCR 11: " + f.message, f.offset);
  }
}

// Authenticode: the digest and what each signature claims (no trust here).
inline void inspect_authenticode(uki_report& r, const inspect_options& o,
                                 const std::vector<hash::digest>& known = {}) {
  if (!r.hashes) {
    for (const auto& e : authenticode::walk_certificate_table(r.image).entries) {
      auto s = authenticode::parse_signature(e);
      if (!s) continue;
      authenticode::signature_result sr;
      sr.entry_offset = s->entry_offset;
      sr.subject = s->subject;
      sr.issuer = s->issuer;
      sr.digest_algorithm = s->indirect.algorithm ? std::string(hash::name(*s->indirect.algorithm))
                                                  : s->indirect.digest_oid;
      r.authenticode.signatures.push_back(std::move(sr));
    }
    return;
  }
  authenticode::signature_database none;
  authenticode::verify_options vopt;
  vopt.strict = false; // what the gate would refuse, as warnings
  vopt.consumed = o.consumed;
  vopt.known_digest = [&known](hash::algorithm a) -> std::optional<hash::digest> {
    for (const auto& d : known)
      if (d.alg() == a) return d;
    return std::nullopt;
  };
  r.authenticode = authenticode::verify(r.image, none, nullptr, vopt);
  for (const auto& s : r.authenticode.signatures) {
    // A signature's problems are strings in authenticode::signature_result:
    // coded here from its fields (notes, digest).
    for (const auto& n : s.notes) r.findings.add(severity::note, code::signature_note, n);
    if (!s.digest_matches && !s.computed.empty()) {
      finding f(severity::warning, code::digest_mismatch, "signature digest mismatch",
                s.entry_offset);
      f.claimed = s.claimed;
      f.computed = s.computed;
      r.findings.add(std::move(f));
    }
  }
  add_all(r.findings, r.authenticode.findings);
}

} // namespace detail

// Everything about a PE image or UKI, parsed permissively. Fails only when
// the bytes are no PE image (pe::parse's error); every other problem is a
// finding of the report.
inline result<uki_report> inspect_uki(byte_span bytes, const inspect_options& o = {}) {
  UKIKIT_TRY_ASSIGN(pe::image parsed, pe::parse(bytes, strictness::permissive));
  uki_report r;
  r.name = o.name;
  r.hashes = o.hashes;
  r.image = std::move(parsed);
  const pe::image& img = r.image;
  r.findings.append(finding_log(img.findings));
  uki::view v(img);
  // Every digest below at once, on o.jobs threads: each section in each
  // bank PCR 11 is predicted in (sha256 alone for a plain PE image), the
  // Authenticode digest in each signature's algorithm, and the CheckSum.
  std::optional<measure::precomputed> known;
  std::vector<hash::digest> image_digests;
  if (r.hashes) {
    std::vector<byte_span> spans;
    for (const auto& s : img.sections) spans.push_back(s.data());
    std::vector<hash::algorithm> banks{hash::algorithm::sha256};
    if (v.is_uki() || v.is_addon()) banks = measure::options().banks;
    std::vector<hash::algorithm> algs{hash::algorithm::sha256};
    for (const auto& e : authenticode::walk_certificate_table(img).entries)
      if (auto sig = authenticode::parse_signature(e);
          sig && sig->indirect.algorithm &&
          std::find(algs.begin(), algs.end(), *sig->indirect.algorithm) == algs.end())
        algs.push_back(*sig->indirect.algorithm);
    std::vector<std::optional<hash::digest>> digests(algs.size());
    std::vector<std::function<void()>> other;
    const auto ranges = authenticode::compute_ranges(img);
    if (ranges)
      for (std::size_t i = 0; i < algs.size(); ++i)
        other.push_back([&, i] {
          if (auto d = authenticode::image_digest(*ranges, algs[i], o.consumed)) digests[i] = *d;
        });
    other.push_back([&] { r.computed_checksum = pe::compute_checksum(img); });
    known = measure::precomputed::compute(spans, banks, o.jobs, std::move(other));
    for (auto& d : digests)
      if (d) image_digests.push_back(*d);
    if (img.checksum != 0 && *r.computed_checksum != img.checksum) {
      finding f(severity::warning, pe::code::checksum_mismatch, "CheckSum is wrong",
                img.checksum_offset());
      f.claimed = hex(img.checksum);
      f.computed = hex(*r.computed_checksum);
      r.findings.add(std::move(f));
    }
  }
  for (const auto& e : v.sections()) {
    section_info s{e.index, e.profile, std::nullopt};
    if (r.hashes) {
      auto d = known->find(e.section->data(), hash::algorithm::sha256);
      if (!d)
        if (auto c = hash::compute(hash::algorithm::sha256, e.section->data())) d = *c;
      s.sha256 = d ? d->hex() : std::string();
    }
    r.sections.push_back(std::move(s));
  }
  r.uki = v.is_uki();
  r.addon = v.is_addon();
  detail::add_all(r.findings, v.findings());

  // The stub inside, which decides what PCR 11 measures (without hashes,
  // from .sdmagic only).
  r.stub = uki::identify_stub(img, !r.hashes);
  measure::options pcr;
  pcr.stub_release = o.stub_release.value_or(r.stub ? r.stub->release : 0);
  if (known) pcr.known_digest = known->lookup();
  r.stub_release = pcr.stub_release;
  if (r.uki || r.addon) detail::inspect_uki_sections(r, v, pcr, o.stub_release.has_value());
  detail::inspect_authenticode(r, o, image_digests);
  return r;
}

// ---- JSON ------------------------------------------------------------------------

namespace detail {

inline ojson section_json(const uki_report& r, const section_info& i) {
  const pe::section& s = r.image.sections[i.index];
  ojson j{{"name", s.name},
          {"virtual_address", s.virtual_address},
          {"virtual_size", s.virtual_size},
          {"file_offset", s.pointer_to_raw_data},
          {"size", s.size_of_raw_data}};
  if (i.sha256) j["sha256"] = *i.sha256;
  j["profile"] = i.profile ? ojson(*i.profile) : ojson(nullptr);
  return j;
}

inline void texts_json(const uki_report& r, ojson& out) {
  if (r.cmdline) out["cmdline"] = r.cmdline->text;
  if (r.os_release) {
    ojson obj = ojson::object();
    for (const auto& e : r.os_release->entries) obj[e.key] = e.value;
    out["os_release"] = obj;
  }
  if (r.uname) out["uname"] = r.uname->release;
  if (r.sbat) {
    ojson rows = ojson::array();
    for (const auto& e : r.sbat->entries)
      rows.push_back({{"component_name", std::string(e.component_name)},
                      {"component_generation", e.component_generation},
                      {"vendor_name", std::string(e.vendor_name)},
                      {"vendor_package_name", std::string(e.vendor_package_name)},
                      {"vendor_version", std::string(e.vendor_version)},
                      {"vendor_url", std::string(e.vendor_url)}});
    out["sbat"] = rows;
  }
  if (r.kernel && !r.kernel->versions.empty())
    out["kernel"] = {{"format", uki::format_name(r.kernel->format)},
                     {"version", r.kernel->version()},
                     {"uname", r.kernel->uname()}};
}

inline ojson profiles_json(const uki_report& r) {
  ojson profiles = ojson::array();
  for (const auto& p : r.profiles) {
    ojson j{{"index", p.index}};
    if (p.metadata) {
      j["id"] = p.metadata->id ? ojson(*p.metadata->id) : ojson(nullptr);
      j["title"] = p.metadata->title ? ojson(*p.metadata->title) : ojson(nullptr);
    }
    if (p.pcr11) j["pcr11"] = measure::to_json(*p.pcr11);
    profiles.push_back(j);
  }
  return profiles;
}

inline ojson authenticode_json(const uki_report& r) {
  const auto& a = r.authenticode;
  ojson ac{{"sha256", a.sha256 ? ojson(a.sha256->hex()) : ojson(nullptr)},
           {"signatures", ojson::array()}};
  for (const auto& s : a.signatures) {
    ojson j{{"subject", s.subject}, {"issuer", s.issuer}, {"digest_algorithm", s.digest_algorithm}};
    if (r.hashes) {
      j["digest_matches"] = s.digest_matches;
      j["signature_valid"] = s.signature_valid;
      j["nested_signatures"] = s.nested_signatures;
    }
    ac["signatures"].push_back(std::move(j));
  }
  if (r.hashes) ac["findings"] = to_json(a.findings);
  return ac;
}

} // namespace detail

// The object `ukiinspect --json FILE` prints for a PE image or UKI: the
// contract's keys (sections, machine, cmdline, os_release, uname, sbat,
// profiles, authenticode, pcr11, initrd), the PE header facts, `warnings`
// (the text of each finding a reader should see) and `findings` (every
// finding: code, severity, offset, length, message).
inline ojson to_json(const uki_report& r) {
  const pe::image& img = r.image;
  ojson out{{"file", r.name},
            {"format", img.pe32plus ? "PE32+" : "PE32"},
            {"machine", pe::machine_name(img.machine)},
            {"subsystem", img.subsystem},
            {"image_base", img.image_base},
            {"section_alignment", img.section_alignment},
            {"file_alignment", img.file_alignment},
            {"size_of_image", img.size_of_image},
            {"size_of_headers", img.size_of_headers},
            {"time_date_stamp", img.time_date_stamp},
            {"nx_compat", (img.dll_characteristics & pe::dll_characteristics_nx_compat) != 0}};
  ojson checksum{{"stored", img.checksum}};
  if (r.computed_checksum) {
    checksum["computed"] = *r.computed_checksum;
    checksum["valid"] = *r.computed_checksum == img.checksum;
  }
  out["checksum"] = checksum;
  ojson sections = ojson::array();
  for (const auto& s : r.sections) sections.push_back(detail::section_json(r, s));
  out["sections"] = sections;
  out["uki"] = r.uki;
  out["addon"] = r.addon;
  out["stub"] =
      r.stub ? ojson{{"version", r.stub->version}, {"release", r.stub->release}} : ojson(nullptr);
  if (r.uki || r.addon) {
    detail::texts_json(r, out);
    out["profiles"] = detail::profiles_json(r);
    if (r.has_initrd && !r.hashes) out["initrd"] = nullptr;
    else if (r.initrd) out["initrd"] = report::to_json(*r.initrd);
    if (r.pcr11) out["pcr11"] = measure::to_json(*r.pcr11);
  }
  out["authenticode"] = detail::authenticode_json(r);
  out["warnings"] = r.warnings();
  out["findings"] = to_json(r.findings.kept());
  return out;
}

} // namespace ukikit::report
