// PCR 11 prediction exactly as systemd-measure computes it: the UKI sections
// systemd-stub measures, in its order, then the boot-phase words that
// systemd-pcrphase extends, per bank and per phase path. An event-by-event
// explanation of the same computation, for diagnostics.
//
// Rules: reference/uki-signing-pcr.md §1.1 (measurement order) and §3.1
// (algorithm), §3.2 (JSON shape). tests/measure_test.cpp checks every bank
// and phase against systemd-measure calculate.
#pragma once

#include "../bytes.hpp"
#include "../hash.hpp"
#include "../result.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::measure {

// The PCR systemd-stub extends with the UKI sections, and systemd-pcrphase
// with the boot phases.
inline constexpr unsigned pcr_index = 11;

// The sections systemd-stub measures, in measurement order: the section
// enum of systemd's src/fundamental/uki.h ("PLEASE DO NOT REORDER"), less
// .pcrsig, which is never measured.
inline constexpr std::array<std::string_view, 14> measured_sections{
    ".linux",   //  0 kernel
    ".osrel",   //  1 os-release
    ".cmdline", //  2 kernel command line
    ".initrd",  //  3 initrd cpio(s)
    ".ucode",   //  4 microcode cpio
    ".splash",  //  5 BMP
    ".dtb",     //  6 devicetree
    ".uname",   //  7 uname -r
    ".sbat",    //  8 SBAT CSV
                //  9 .pcrsig: never measured
    ".pcrpkey", // 10 PEM public key for .pcrsig
    ".profile", // 11 profile separator (ID=, TITLE=)
    ".dtbauto", // 12 the devicetree candidate the stub selected
    ".hwids",   // 13 CHID table
    ".efifw",   // 14 firmware blob
};

inline constexpr std::string_view pcrsig_section = ".pcrsig";

// The first systemd release whose stub measures each of measured_sections
// (0: every stub that measures PCR 11). A stub measures only the sections
// it knows and ignores the others: systemd-stub 252 (Debian 12) measures
// .linux .osrel .cmdline .initrd .splash .dtb .pcrpkey, as its
// systemd-measure's options show; .uname and .sbat came with 254 (NEWS),
// .ucode with 256, .profile .dtbauto .hwids with 257, .efifw with 258.
// Distributions backport: RHEL 9's 252 measures .uname and .sbat, so the
// release is a default a caller may override, not a fact read off the stub.
inline constexpr std::array<unsigned, measured_sections.size()> measured_since{
    0, 0, 0, 0, 256, 0, 0, 254, 254, 252, 257, 257, 257, 258,
};

// Stubs before systemd 252 measure nothing into PCR 11 (PR #24146 gave the
// stub its own PCR).
inline constexpr unsigned first_measuring_release = 252;

// Position of a section in the measurement order, or nullopt when
// systemd-stub does not measure it (.pcrsig, .text, .reloc, ...).
constexpr std::optional<std::size_t> measurement_position(std::string_view name) noexcept {
  for (std::size_t i = 0; i < measured_sections.size(); ++i)
    if (measured_sections[i] == name) return i;
  return std::nullopt;
}

// Whether the stub of systemd `release` measures section `name`; release 0
// stands for the current stub, which measures every section in the list.
constexpr bool measured_by(std::string_view name, unsigned release) noexcept {
  const auto pos = measurement_position(name);
  return pos &&
         (release == 0 || (release >= first_measuring_release && measured_since[*pos] <= release));
}

// systemd-measure's default phase paths: inside the initrd, after it, after
// sysinit.target, after basic.target.
inline constexpr std::array<std::string_view, 4> default_phases{
    "enter-initrd",
    "enter-initrd:leave-initrd",
    "enter-initrd:leave-initrd:sysinit",
    "enter-initrd:leave-initrd:sysinit:ready",
};

// One UKI section: its name (".linux") and its bytes, exactly VirtualSize of
// them, as the stub measures them from memory. The bytes are only viewed.
struct section {
  std::string_view name;
  byte_span data;
};

// H(data) in one bank when it is already known, or nullopt.
using digest_lookup = std::function<std::optional<hash::digest>(byte_span data, hash::algorithm)>;

struct options {
  // Banks to predict. Sorted and made unique, as systemd-measure does.
  std::vector<hash::algorithm> banks{std::begin(hash::all_algorithms),
                                     std::end(hash::all_algorithms)};
  // Phase paths: words separated by ':'. Each is normalised (empty words
  // dropped), then the list is sorted and made unique, as systemd-measure
  // does. The empty path "" predicts the sections alone.
  std::vector<std::string> phases{default_phases.begin(), default_phases.end()};
  // The systemd release of the stub that will measure (its major version,
  // as in "systemd-stub 252.39-1~deb12u2"): sections it does not know are
  // left out. 0: the current stub, which measures every known section.
  unsigned stub_release = 0;
  // H(data) of a section's bytes in one bank when it is already known
  // (computed while the file streamed past: uki/stream.hpp); nullopt: hash
  // the bytes.
  digest_lookup known_digest;
};

// "enter-initrd::leave-initrd:" -> "enter-initrd:leave-initrd"; "::" -> "".
inline std::string normalize_phase(std::string_view path) {
  std::string out;
  while (!path.empty()) {
    const auto colon = path.find(':');
    const std::string_view word = path.substr(0, colon);
    if (!word.empty()) {
      if (!out.empty()) out += ':';
      out += word;
    }
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return out;
}

// Every path normalised, sorted (the empty path first) and made unique.
inline std::vector<std::string> normalize_phases(std::span<const std::string> paths) {
  std::vector<std::string> out;
  out.reserve(paths.size());
  for (const auto& p : paths) out.push_back(normalize_phase(p));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

inline std::vector<hash::algorithm> normalize_banks(std::span<const hash::algorithm> banks) {
  std::vector<hash::algorithm> out(banks.begin(), banks.end());
  std::sort(out.begin(), out.end()); // the enum order is the name order
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// ---- prediction -----------------------------------------------------------------

struct pcr_value {
  std::string phase; // normalised path; "" for the sections alone
  hash::digest value;
};

struct bank_prediction {
  hash::algorithm bank;
  std::vector<pcr_value> values; // one per phase path, in path order
};

struct prediction {
  std::vector<bank_prediction> banks; // in bank order

  const bank_prediction* find(hash::algorithm a) const noexcept {
    for (const auto& b : banks)
      if (b.bank == a) return &b;
    return nullptr;
  }
};

// ---- explanation ------------------------------------------------------------------

enum class event_kind : std::uint8_t {
  section_name, // the section name with its NUL (".linux\0")
  section_data, // the section bytes
  phase_word,   // a boot-phase word, without NUL ("enter-initrd")
};

constexpr std::string_view event_kind_name(event_kind k) noexcept {
  switch (k) {
  case event_kind::section_name: return "section-name";
  case event_kind::section_data: return "section-data";
  case event_kind::phase_word: return "phase-word";
  }
  return "unknown";
}

// One PCR extend: pcr = H(pcr_before || measured).
struct event {
  event_kind kind;
  std::string label;     // section name or phase word
  std::uint64_t size;    // bytes that were hashed into `measured`
  hash::digest measured; // H(those bytes): what was extended
  hash::digest pcr;      // PCR 11 after this extend
};

namespace detail {

// Bytes each bank hashes before the next one takes the same bytes, so that
// a section is read from memory once for every bank (it stays in cache).
inline constexpr std::size_t stream_chunk = 256 * 1024;

// The sections the stub of `release` measures, in measurement order, empty
// ones left out (the stub skips them). A section given twice is an error:
// the stub measures the first one it finds, and which one that is is the
// caller's to say.
inline result<std::vector<section>> measured_in_order(std::span<const section> sections,
                                                      unsigned release) {
  std::array<const section*, measured_sections.size()> slot{};
  for (const auto& s : sections) {
    const auto pos = measurement_position(s.name);
    if (!pos || !measured_by(s.name, release)) continue;
    if (slot[*pos]) {
      return error(errc::invalid_argument,
                   "section " + std::string(s.name) +
                       " given twice (systemd-stub measures the first it finds: pass that one)");
    }
    slot[*pos] = &s;
  }
  std::vector<section> out;
  for (const section* s : slot)
    if (s && !s->data.empty()) out.push_back(*s);
  return out;
}

// TPM2_PCR_Extend: H(pcr || measured).
inline result<hash::digest> extend(hash::hasher& h, const hash::digest& pcr,
                                   const hash::digest& measured) {
  return h.update(pcr.bytes()).update(measured.bytes()).finish();
}

using event_sink = std::function<void(std::size_t bank_index, event&&)>;

// The PCR state of one bank while measuring.
struct bank_state {
  hash::hasher hasher;
  hash::digest pcr;
};

inline result<std::vector<bank_state>> start(std::span<const hash::algorithm> banks) {
  static constexpr std::array<std::byte, hash::max_digest_size> zeros{};
  std::vector<bank_state> out;
  out.reserve(banks.size());
  for (auto a : banks) {
    UKIKIT_TRY_ASSIGN(auto h, hash::hasher::create(a));
    UKIKIT_TRY_ASSIGN(auto zero,
                      hash::digest::from_bytes(a, byte_span(zeros).first(hash::digest_size(a))));
    out.push_back({std::move(h), zero});
  }
  return out;
}

// Extend every bank with the digests of `parts`, and report the events.
// `known` gives a bank's digest of a single part when it is already known:
// every bank must know it, or the part is hashed.
inline result<void> measure_parts(std::vector<bank_state>& state, event_kind kind,
                                  std::string_view label, std::span<const byte_span> parts,
                                  const event_sink& sink, const options* known = nullptr) {
  std::uint64_t size = 0;
  for (byte_span p : parts) size += p.size();
  std::vector<hash::digest> given;
  if (known && known->known_digest && parts.size() == 1)
    for (auto& b : state) {
      auto d = known->known_digest(parts[0], b.pcr.alg());
      if (!d || d->alg() != b.pcr.alg()) break;
      given.push_back(*d);
    }
  if (given.size() != state.size()) {
    given.clear();
    for (byte_span p : parts) {
      for (std::size_t at = 0; at < p.size(); at += stream_chunk) {
        const byte_span chunk = p.subspan(at, std::min(stream_chunk, p.size() - at));
        for (auto& b : state) b.hasher.update(chunk);
      }
    }
  }
  for (std::size_t i = 0; i < state.size(); ++i) {
    std::optional<hash::digest> known_measured;
    if (!given.empty()) known_measured = given[i];
    UKIKIT_TRY_ASSIGN(auto measured, known_measured ? result<hash::digest>(*known_measured)
                                                    : state[i].hasher.finish());
    UKIKIT_TRY_ASSIGN(auto pcr, extend(state[i].hasher, state[i].pcr, measured));
    state[i].pcr = pcr;
    if (sink) sink(i, event{kind, std::string(label), size, measured, pcr});
  }
  return {};
}

// The sections, in order: name with NUL, then bytes.
inline result<void> measure_sections(std::vector<bank_state>& state,
                                     std::span<const section> ordered, const event_sink& sink,
                                     const options* known = nullptr) {
  static constexpr std::byte nul[1] = {std::byte{0}};
  for (const auto& s : ordered) {
    const byte_span name_parts[] = {as_bytes(s.name), byte_span(nul)};
    UKIKIT_TRY(measure_parts(state, event_kind::section_name, s.name, name_parts, sink));
    const byte_span data_parts[] = {s.data};
    UKIKIT_TRY(measure_parts(state, event_kind::section_data, s.name, data_parts, sink, known));
  }
  return {};
}

// The words of one (normalised) phase path, in order, without NUL.
inline result<void> measure_phase(std::vector<bank_state>& state, std::string_view path,
                                  const event_sink& sink) {
  while (!path.empty()) {
    const auto colon = path.find(':');
    const std::string_view word = path.substr(0, colon);
    if (!word.empty()) {
      const byte_span parts[] = {as_bytes(word)};
      UKIKIT_TRY(measure_parts(state, event_kind::phase_word, word, parts, sink));
    }
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return {};
}

} // namespace detail

// PCR 11 for every bank and phase path of `opts`. The sections may come in
// any order and may include sections the stub does not measure (ignored);
// each measured section is hashed once per bank, streaming over its span.
inline result<prediction> predict(std::span<const section> sections, const options& opts = {}) {
  UKIKIT_TRY_ASSIGN(auto ordered, detail::measured_in_order(sections, opts.stub_release));
  const auto banks = normalize_banks(opts.banks);
  const auto phases = normalize_phases(opts.phases);
  if (banks.empty()) return error(errc::invalid_argument, "no bank to predict");
  if (phases.empty()) return error(errc::invalid_argument, "no phase path to predict");

  UKIKIT_TRY_ASSIGN(auto state, detail::start(banks));
  UKIKIT_TRY(detail::measure_sections(state, ordered, nullptr, &opts));

  // Each phase path starts again from the state after the sections.
  std::vector<hash::digest> after_sections;
  for (const auto& b : state) after_sections.push_back(b.pcr);
  prediction out;
  for (auto a : banks) out.banks.push_back({a, {}});
  for (const auto& phase : phases) {
    for (std::size_t i = 0; i < banks.size(); ++i) state[i].pcr = after_sections[i];
    UKIKIT_TRY(detail::measure_phase(state, phase, nullptr));
    for (std::size_t i = 0; i < banks.size(); ++i)
      out.banks[i].values.push_back({phase, state[i].pcr});
  }
  return out;
}

inline result<prediction> predict(std::initializer_list<section> sections,
                                  const options& opts = {}) {
  return predict(std::span<const section>(sections.begin(), sections.size()), opts);
}

// Every extend, in order, that leads to PCR 11 of one bank and phase path
// for the stub of `stub_release` (0: current): the last event's pcr is what
// predict() gives for them (with no event at all, PCR 11 stays zero).
inline result<std::vector<event>> explain(std::span<const section> sections, hash::algorithm bank,
                                          std::string_view phase, unsigned stub_release = 0) {
  UKIKIT_TRY_ASSIGN(auto ordered, detail::measured_in_order(sections, stub_release));
  const hash::algorithm banks[] = {bank};
  UKIKIT_TRY_ASSIGN(auto state, detail::start(banks));
  std::vector<event> out;
  const detail::event_sink sink = [&out](std::size_t, event&& e) { out.push_back(std::move(e)); };
  UKIKIT_TRY(detail::measure_sections(state, ordered, sink));
  UKIKIT_TRY(detail::measure_phase(state, normalize_phase(phase), sink));
  return out;
}

// The sections given that the current stub measures but the stub of
// `release` does not know, in the order given: what a build or a
// prediction for that stub leaves out.
inline std::vector<std::string_view> not_measured_by(std::span<const section> sections,
                                                     unsigned release) {
  std::vector<std::string_view> out;
  for (const auto& s : sections)
    if (measured_by(s.name, 0) && !measured_by(s.name, release) && !s.data.empty())
      out.push_back(s.name);
  return out;
}

// ---- output ---------------------------------------------------------------------------

// systemd-measure calculate --json=short:
//   {"sha1":[{"phase":"enter-initrd","pcr":11,"hash":"<hex>"},...],"sha256":[...],...}
// with no "phase" key for the empty path.
inline nlohmann::ordered_json to_json(const prediction& p) {
  auto out = nlohmann::ordered_json::object();
  for (const auto& b : p.banks) {
    auto values = nlohmann::ordered_json::array();
    for (const auto& v : b.values) {
      auto entry = nlohmann::ordered_json::object();
      if (!v.phase.empty()) entry["phase"] = v.phase;
      entry["pcr"] = pcr_index;
      entry["hash"] = v.value.hex();
      values.push_back(std::move(entry));
    }
    out[std::string(hash::name(b.bank))] = std::move(values);
  }
  return out;
}

// [{"kind":"section-name","label":".linux","size":7,"measured":"<hex>","pcr":"<hex>"},...]
inline nlohmann::ordered_json to_json(std::span<const event> events) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& e : events) {
    nlohmann::ordered_json j;
    j["kind"] = event_kind_name(e.kind);
    j["label"] = e.label;
    j["size"] = e.size;
    j["measured"] = e.measured.hex();
    j["pcr"] = e.pcr.hex();
    out.push_back(std::move(j));
  }
  return out;
}

// One line: `.linux name (7 bytes): sha256 3a…  ->  PCR 11 = 9f…`
inline std::string describe(const event& e) {
  std::string what;
  switch (e.kind) {
  case event_kind::section_name: what = e.label + " name"; break;
  case event_kind::section_data: what = e.label + " data"; break;
  case event_kind::phase_word: what = "phase " + e.label; break;
  }
  return what + " (" + std::to_string(e.size) + " bytes): " + std::string(hash::name(e.pcr.alg())) +
         " " + e.measured.hex() + " -> PCR " + std::to_string(pcr_index) + " = " + e.pcr.hex();
}

} // namespace ukikit::measure
