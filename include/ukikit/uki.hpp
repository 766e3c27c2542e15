// UKI: a Unified Kernel Image seen through a parsed PE image: every section
// classified by its role, the profiles a multi-profile UKI defines, and, per
// profile, the sections systemd-stub would use, with every duplicate it
// would silently skip reported. The text sections' parsers are in
// uki/text.hpp and the kernel facts in uki/kernel.hpp; this header includes
// both.
//
// Zero copy: the view holds pointers to the image's sections, whose data are
// spans into the file. The image (and its bytes) must outlive the view and
// everything resolve() returns.
//
// Sources: UAPI.5 (specs/unified_kernel_image.md), systemd's
// src/fundamental/uki.h (the section enum, in measurement order) and the
// stub's section lookup (first match wins within a range; the selected
// profile's sections override the base's), reference/uki-signing-pcr.md §1.
#pragma once

#include "diagnostics.hpp"
#include "pe.hpp"
#include "result.hpp"
#include "uki/kernel.hpp"
#include "uki/text.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::uki {

// Finding codes of the UKI checks (README, "Finding codes"), one per rule.
namespace code {
inline constexpr std::string_view duplicate_section = "uki.duplicate-section";
inline constexpr std::string_view not_efi_application = "uki.not-efi-application";
inline constexpr std::string_view no_osrel = "uki.no-osrel";
inline constexpr std::string_view too_many_profiles = "uki.too-many-profiles";
inline constexpr std::string_view empty_section = "uki.empty-section";
} // namespace code

// ---- section roles -------------------------------------------------------------

// The UKI sections in systemd's enum order, which is the PCR 11 measurement
// order ("PLEASE DO NOT REORDER"). UAPI.5's prose lists .dtbauto, .hwids and
// .efifw earlier; the code, which measures, wins.
enum class section_kind : std::uint8_t {
  linux_,  // .linux   kernel (`linux` is a predefined macro with GNU extensions)
  osrel,   // .osrel   os-release
  cmdline, // .cmdline kernel command line
  initrd,  // .initrd  cpio archive(s)
  ucode,   // .ucode   microcode cpio, handed over before the initrds
  splash,  // .splash  BMP
  dtb,     // .dtb     devicetree
  uname,   // .uname   `uname -r`
  sbat,    // .sbat    SBAT CSV
  pcrsig,  // .pcrsig  PCR 11 signatures (JSON); never measured
  pcrpkey, // .pcrpkey public key for .pcrsig (PEM)
  profile, // .profile profile separator and metadata
  dtbauto, // .dtbauto devicetree candidates; the stub picks one by hardware ID
  hwids,   // .hwids   CHID table
  efifw,   // .efifw   firmware blobs
};

inline constexpr std::size_t section_kind_count = 15;

struct section_role {
  section_kind kind;
  std::string_view name;
  bool measured; // into PCR 11 by systemd-stub (for .dtbauto: the selected one)
  bool text;     // ukify inspect shows it as text
  bool multiple; // several per profile are allowed
};

// Indexed by section_kind.
inline constexpr std::array<section_role, section_kind_count> section_roles{{
    {section_kind::linux_, ".linux", true, false, false},
    {section_kind::osrel, ".osrel", true, true, false},
    {section_kind::cmdline, ".cmdline", true, true, false},
    {section_kind::initrd, ".initrd", true, false, false},
    {section_kind::ucode, ".ucode", true, false, false},
    {section_kind::splash, ".splash", true, false, false},
    {section_kind::dtb, ".dtb", true, false, false},
    {section_kind::uname, ".uname", true, true, false},
    {section_kind::sbat, ".sbat", true, true, false},
    {section_kind::pcrsig, ".pcrsig", false, true, false},
    {section_kind::pcrpkey, ".pcrpkey", true, true, false},
    {section_kind::profile, ".profile", true, true, false},
    {section_kind::dtbauto, ".dtbauto", true, false, true},
    {section_kind::hwids, ".hwids", true, false, false},
    // ukify marks .efifw measure=False; systemd-stub measures it (reference §1.1).
    {section_kind::efifw, ".efifw", true, false, true},
}};

constexpr std::size_t index_of(section_kind k) noexcept { return static_cast<std::size_t>(k); }
constexpr const section_role& role(section_kind k) noexcept { return section_roles[index_of(k)]; }
constexpr std::string_view name(section_kind k) noexcept { return role(k).name; }
constexpr bool measured(section_kind k) noexcept { return role(k).measured; }
constexpr bool is_text(section_kind k) noexcept { return role(k).text; }
constexpr bool multiple_allowed(section_kind k) noexcept { return role(k).multiple; }

// The kind of a section name (as pe::section::name holds it: at most 8
// bytes, NULs trimmed), compared exactly as the stub does.
constexpr std::optional<section_kind> kind_of(std::string_view section_name) noexcept {
  for (const auto& r : section_roles)
    if (r.name == section_name) return r.kind;
  return std::nullopt;
}

static_assert(
    [] {
      for (std::size_t i = 0; i < section_roles.size(); ++i)
        if (index_of(section_roles[i].kind) != i) return false;
      return true;
    }(),
    "section_roles must be indexed by section_kind");

// systemd-stub's UNIFIED_PROFILES_MAX: profiles @0 … @255 can be selected.
inline constexpr std::size_t max_profiles = 256;

// Sections whose presence, without .linux, makes a PE an addon (UAPI.5).
inline constexpr std::array<section_kind, 4> addon_kinds{section_kind::cmdline, section_kind::dtb,
                                                         section_kind::ucode, section_kind::initrd};

// ---- the view ------------------------------------------------------------------

// A section of the image with its role and the profile range it belongs to.
struct section_entry {
  const pe::section* section = nullptr;
  std::size_t index = 0;              // in the section table
  std::optional<section_kind> kind;   // nullopt: not a UKI section (.text, .reloc, …)
  std::optional<std::size_t> profile; // nullopt: the base; N: profile @N
};

// The same kind twice in one range: the stub takes `used` and never looks at
// `ignored`; ukify refuses such an image and systemd's uki_hash() fails.
struct duplicate {
  section_kind kind;
  section_entry used;
  section_entry ignored;
};

// The sections systemd-stub uses for one profile selection.
struct resolution {
  // The selected profile, or nullopt for a UKI without .profile sections
  // (the stub implies @0 and uses the base alone).
  std::optional<std::size_t> profile;
  // Per kind (indexed by section_kind): the section the stub uses, from the
  // profile when it has one, else from the base. Kinds that allow several
  // (.dtbauto, .efifw) list every candidate of the range that supplies them.
  std::array<std::vector<section_entry>, section_kind_count> sections;
  // Duplicates in the base and in the selected profile.
  std::vector<duplicate> duplicates;

  // The section the stub uses for `k`, or nullptr.
  const section_entry* find(section_kind k) const noexcept {
    const auto& v = sections[index_of(k)];
    return v.empty() ? nullptr : &v.front();
  }
  std::span<const section_entry> all(section_kind k) const noexcept {
    return sections[index_of(k)];
  }
};

class view {
public:
  explicit view(const pe::image& img) : img_(&img) {
    entries_.reserve(img.sections.size());
    std::optional<std::size_t> profile;
    for (std::size_t i = 0; i < img.sections.size(); ++i) {
      const pe::section& s = img.sections[i];
      section_entry e{&s, i, kind_of(s.name), profile};
      if (e.kind == section_kind::profile) {
        profile = profile_starts_.size();
        profile_starts_.push_back(i);
        e.profile = profile;
      }
      entries_.push_back(e);
    }
  }

  const pe::image& image() const noexcept { return *img_; }
  std::span<const section_entry> sections() const noexcept { return entries_; }

  // Number of .profile sections; 0 for a single-profile UKI.
  std::size_t profile_count() const noexcept { return profile_starts_.size(); }

  // The sections before the first .profile.
  std::span<const section_entry> base() const noexcept {
    return std::span<const section_entry>(entries_).first(
        profile_starts_.empty() ? entries_.size() : profile_starts_.front());
  }

  // Profile @n: its .profile section and what follows up to the next one.
  result<std::span<const section_entry>> profile(std::size_t n) const {
    if (n >= profile_starts_.size())
      return error(errc::invalid_argument, "no profile @" + std::to_string(n) + " (the image has " +
                                               std::to_string(profile_starts_.size()) +
                                               " .profile sections)");
    std::size_t begin = profile_starts_[n];
    std::size_t end = n + 1 < profile_starts_.size() ? profile_starts_[n + 1] : entries_.size();
    return std::span<const section_entry>(entries_).subspan(begin, end - begin);
  }

  // UAPI.5: a UKI has a .linux section; an addon has none, and has at least
  // one of .cmdline .dtb .ucode .initrd.
  bool is_uki() const noexcept { return has(section_kind::linux_); }
  bool is_addon() const noexcept {
    if (has(section_kind::linux_)) return false;
    for (section_kind k : addon_kinds)
      if (has(k)) return true;
    return false;
  }

  // The sections systemd-stub uses when booted with profile @n (or with no
  // selector, which means @0): the base's, overridden kind by kind by the
  // profile's; within each range the first section of a kind wins, and the
  // others are reported as duplicates.
  result<resolution> resolve(std::size_t n = 0) const {
    resolution out;
    const auto base_range = base();
    std::span<const section_entry> profile_range;
    if (!profile_starts_.empty() || n != 0) {
      UKIKIT_TRY_ASSIGN(profile_range, profile(n));
      out.profile = n;
    }
    std::array<std::vector<section_entry>, section_kind_count> from_profile;
    pick(base_range, out.sections, out.duplicates);
    pick(profile_range, from_profile, out.duplicates);
    for (std::size_t k = 0; k < section_kind_count; ++k)
      if (!from_profile[k].empty()) out.sections[k] = std::move(from_profile[k]);
    return out;
  }

  // Every duplicate in every range, for inspection.
  std::vector<duplicate> duplicates() const {
    std::vector<duplicate> out;
    std::array<std::vector<section_entry>, section_kind_count> scratch;
    pick(base(), scratch, out);
    for (std::size_t n = 0; n < profile_starts_.size(); ++n) {
      scratch = {};
      pick(*profile(n), scratch, out);
    }
    return out;
  }

  // What a reader should know about the image as a UKI: what makes bootctl
  // and kernel-install say "not a UKI", profiles the stub cannot select,
  // duplicates, UKI sections with no data. All warnings.
  std::vector<finding> findings() const {
    std::vector<finding> out;
    auto add = [&out](std::string_view c, std::string message, std::uint64_t offset) {
      out.emplace_back(severity::warning, c, std::move(message), offset);
    };
    const pe::image& img = *img_;
    if (is_uki() || is_addon()) {
      if (img.subsystem != pe::subsystem_efi_application)
        add(code::not_efi_application,
            "Subsystem is " + std::to_string(img.subsystem) + ", not " +
                std::to_string(pe::subsystem_efi_application) + " (EFI application) as UAPI.5 asks",
            img.optional_header_offset + pe::opt_subsystem_offset);
      if (is_uki() && !has(section_kind::osrel))
        add(code::no_osrel,
            "no .osrel section: bootctl and kernel-install do not treat the image as a UKI "
            "without one",
            error::no_offset);
    }
    if (profile_starts_.size() > max_profiles)
      add(code::too_many_profiles,
          std::to_string(profile_starts_.size()) +
              " profiles; systemd-stub can select only @0 to @" + std::to_string(max_profiles - 1),
          entries_[profile_starts_[max_profiles]].section->header_offset);
    for (const duplicate& d : duplicates())
      add(code::duplicate_section,
          "duplicate " + std::string(name(d.kind)) + " in " + range_name(d.used) +
              " (section table index " + std::to_string(d.ignored.index) +
              "); systemd-stub uses the first, at index " + std::to_string(d.used.index),
          d.ignored.section->header_offset);
    for (const section_entry& e : entries_)
      if (e.kind && e.kind != section_kind::profile && e.section->data().empty())
        add(code::empty_section,
            std::string(name(*e.kind)) + " (section table index " + std::to_string(e.index) +
                ") has no data",
            e.section->header_offset);
    return out;
  }

  // "the base" or "profile @N".
  static std::string range_name(const section_entry& e) {
    return e.profile ? "profile @" + std::to_string(*e.profile) : "the base";
  }

private:
  bool has(section_kind k) const noexcept {
    for (const auto& e : entries_)
      if (e.kind == k) return true;
    return false;
  }

  // First match wins per kind, except for kinds that allow several.
  static void pick(std::span<const section_entry> range,
                   std::array<std::vector<section_entry>, section_kind_count>& chosen,
                   std::vector<duplicate>& dups) {
    for (const section_entry& e : range) {
      if (!e.kind) continue;
      auto& slot = chosen[index_of(*e.kind)];
      if (!slot.empty() && !multiple_allowed(*e.kind)) {
        dups.push_back({*e.kind, slot.front(), e});
        continue;
      }
      slot.push_back(e);
    }
  }

  const pe::image* img_;
  std::vector<section_entry> entries_;
  std::vector<std::size_t> profile_starts_; // section table index of each .profile
};

// ---- the stub ------------------------------------------------------------------

// What a systemd-stub says it is, in its .sdmagic section:
// "#### LoaderInfo: systemd-stub 252.39-1~deb12u2 ####". A UKI keeps the
// stub's sections, so this also identifies the stub inside a UKI. Stubs
// made without a PE linker carry the text elsewhere (Debian 12's arm64
// stub has only .text and .data, and the text after them): without
// .sdmagic, and unless `sdmagic_only`, the sections that are not UKI
// sections are searched, then the image's unmapped tail (not a COFF symbol
// table, which pe::editor drops, nor the certificate table, which no
// signature covers).
struct stub_identity {
  std::string version;  // "252.39-1~deb12u2"
  unsigned release = 0; // 252; 0 when the version does not start with one
};

inline std::optional<stub_identity> identify_stub(const pe::image& img, bool sdmagic_only = false) {
  static constexpr std::string_view marker = "#### LoaderInfo: systemd-stub ";
  static constexpr std::size_t max_version = 64;
  std::string_view rest;
  auto search = [&](byte_span bytes) {
    const auto data = as_chars(bytes);
    const auto at = data.find(marker);
    if (at != std::string_view::npos) rest = data.substr(at + marker.size());
    return at != std::string_view::npos;
  };
  if (const pe::section* magic = img.find(".sdmagic")) {
    if (!search(magic->data())) return std::nullopt;
  } else if (sdmagic_only) {
    return std::nullopt;
  } else {
    bool found = false;
    for (const auto& s : img.sections)
      if (!kind_of(s.name) && (found = search(s.data()))) break;
    if (!found && !search(img.unmapped_tail())) return std::nullopt;
  }
  std::size_t n = 0;
  while (n < rest.size() && n < max_version && rest[n] > ' ' && rest[n] <= '~') ++n;
  if (n == 0) return std::nullopt;
  stub_identity out;
  out.version = std::string(rest.substr(0, n));
  // A release is a few digits; a longer run is not one.
  std::size_t digits = 0;
  while (digits < out.version.size() && out.version[digits] >= '0' && out.version[digits] <= '9')
    ++digits;
  if (digits <= 6)
    for (std::size_t i = 0; i < digits; ++i)
      out.release = out.release * 10 + static_cast<unsigned>(out.version[i] - '0');
  return out;
}

// ---- the verify gate's section checks ------------------------------------------

// The same section kind twice in one profile range (base or a profile):
// which one a stub uses depends on its release (257 and later take the
// first; older stubs' locate_sections overwrote, so the last one won), and
// a signer reviewing one may ship the other. `level` is the gate's choice:
// error with ukiverify --strict-sections, warning otherwise.
inline std::vector<finding> duplicate_section_findings(const view& v, severity level) {
  std::vector<finding> out;
  for (const duplicate& d : v.duplicates())
    out.push_back({level, code::duplicate_section,
                   "duplicate " + std::string(name(d.kind)) + " in " + view::range_name(d.used) +
                       " (section table indexes " + std::to_string(d.used.index) + " and " +
                       std::to_string(d.ignored.index) +
                       "): systemd-stub 257 and later use the first, older stubs the last",
                   d.ignored.section->header_offset});
  return out;
}

} // namespace ukikit::uki
