// The recipe of an installer image build, kept in a file in ukify's config
// format (`ukify --config`, systemd >= 254) so that a release pipeline keeps
// it beside its sources, plus one section per architecture:
//
//   [UKI]                         keys every architecture shares
//   Cmdline=console=ttyS0 talos.platform=metal
//   OSRelease=@os-release
//   SecureBootPrivateKey=db.key
//   SecureBootCertificate=db.crt
//
//   [Arch:amd64]                  one per OCI architecture (installer/layout.hpp)
//   Stub=linuxx64.efi.stub
//   Linux=vmlinuz-amd64
//   Initrd=initramfs-amd64.xz
//   SystemdBoot=systemd-bootx64.efi
//
//   [PCRSignature:talos]          ukify's: one .pcrsig key group
//   PCRPrivateKey=pcr.key
//   Phases=enter-initrd:leave-initrd
//
// The file is read as Python's configparser reads it with ukify's settings
// (comment_prefixes='#', inline_comment_prefixes='#', delimiters='=',
// empty_lines_in_values=False, interpolation=None, strict=False, keys not
// lowercased):
// - lines end at \n, \r\n or \r; a line whose first non-blank is '#' is a
//   comment, and so is the rest of a line from a '#' that follows a blank;
// - `[NAME]` opens a section; names and keys are case-sensitive;
// - `KEY = VALUE` splits at the first '='; blanks around both are dropped;
// - a line indented deeper than its key's line continues the value (joined
//   with '\n'); an empty or comment line ends the value;
// - a section named twice is one section (strict=False).
// ukify's value rules: Initrd (and our JoinProfile) is a whitespace-separated
// list; Cmdline, OSRelease, SBAT and Profile are TEXT or @PATH; Phases and
// PCRBanks are lists split at ',' or whitespace, each phase path words from
// enter-initrd, leave-initrd, sysinit, ready, shutdown and final joined by
// ':'; SecureBootPrivateKey and PCRPrivateKey are paths unless SigningEngine
// or SigningProvider names where the key lives.
//
// Where ukify is lenient and a pipeline would rather stop, the recipe is an
// error (with its line): an unknown section or key (ukify prints "Unknown
// config setting" and goes on), a key twice in one section (configparser
// keeps the last), text after a section's ']' (configparser drops it), and
// keys of ukify's that ukikit cannot honour (Firmware, DeviceTreeAuto,
// HWIDs, pesign's SecureBootCertificateName, SignKernel=yes). ukify ignores
// SBAT= in its config (its default of [] is never "unset"); here it is one
// SBAT text, as --sbat.
//
// Ours: [Arch:NAME] takes every [UKI] key and overrides it for that
// architecture (Initrd= replaces the shared list; Initrd= empty means
// none); SystemdBoot= is the systemd-boot to sign and ship; JoinProfile= is
// ukify's --join-profile; relative paths are relative to the recipe's
// directory, not to the working directory. A ukify config without [Arch:]
// sections builds one architecture, its EFIArch=.
#pragma once

#include "../bytes.hpp"
#include "../diagnostics.hpp"
#include "../file.hpp"
#include "../hash.hpp"
#include "../keys.hpp"
#include "../result.hpp"
#include "../uki/make.hpp"
#include "layout.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::installer {

// Finding codes of the recipe reader (README, "Image build recipe").
namespace code {
inline constexpr std::string_view recipe_key_ignored = "recipe.key-ignored";
} // namespace code

// Limits on a recipe file, which may come from anyone.
inline constexpr std::size_t max_recipe_size = 1 << 20; // 1 MiB; real recipes are a few KiB
inline constexpr std::size_t max_recipe_sections = 256; // distinct sections
inline constexpr std::size_t max_recipe_entries = 4096; // keys in all sections

// systemd's boot phases (systemd-pcrphase), the words of a phase path.
inline constexpr std::array<std::string_view, 6> known_phases = {
    "enter-initrd", "leave-initrd", "sysinit", "ready", "shutdown", "final"};

// A key or certificate as written: a path relative to `base`, or, when
// SigningEngine or SigningProvider (CertificateProvider) is set, their
// designation of it. Which one is known only when the layers are merged.
struct key_value {
  std::string text;
  std::filesystem::path base;
};

// The keys of [UKI] and [Arch:NAME], each optional so that [UKI], then
// [Arch:NAME], then the command line can be laid over each other. Paths are
// resolved against the recipe's directory when read.
struct recipe_settings {
  std::optional<std::filesystem::path> stub;                       // Stub
  std::optional<std::filesystem::path> kernel;                     // Linux
  std::optional<std::filesystem::path> systemd_boot;               // SystemdBoot (ours)
  std::optional<std::vector<std::filesystem::path>> initrds;       // Initrd
  std::optional<std::vector<std::filesystem::path>> join_profiles; // JoinProfile (ours)
  std::optional<uki::text_input> cmdline;                          // Cmdline (TEXT|@PATH)
  std::optional<uki::text_input> os_release;                       // OSRelease (TEXT|@PATH)
  std::optional<uki::text_input> sbat;                             // SBAT (TEXT|@PATH)
  std::optional<uki::text_input> profile;                          // Profile (TEXT|@PATH)
  std::optional<std::string> uname;                                // Uname
  std::optional<std::string> efi_arch;                             // EFIArch
  std::optional<std::filesystem::path> pcrpkey, splash, devicetree, microcode;
  std::optional<std::vector<hash::algorithm>> pcr_banks; // PCRBanks
  std::optional<key_value> signing_key;                  // SecureBootPrivateKey
  std::optional<key_value> signing_cert;                 // SecureBootCertificate
  std::optional<std::string> signing_engine;             // SigningEngine
  std::optional<std::string> signing_provider;           // SigningProvider
  std::optional<std::string> certificate_provider;       // CertificateProvider
};

// [PCRSignature:NAME]: one key that signs .pcrsig, for some phase paths.
struct pcr_signature_group {
  std::string name;
  std::optional<key_value> private_key;            // PCRPrivateKey
  std::optional<std::filesystem::path> public_key; // PCRPublicKey
  std::optional<std::vector<std::string>> phases;  // Phases; none: systemd-measure's
  std::size_t line = 0;                            // where the section opens; 0: a flag
};

struct arch_section {
  std::string arch; // OCI architecture (GOARCH)
  recipe_settings settings;
  std::size_t line = 0; // 0: added from the command line
};

struct recipe {
  std::filesystem::path directory; // relative paths were resolved against it
  recipe_settings shared;          // [UKI]
  std::vector<arch_section> arches;
  std::vector<pcr_signature_group> pcr_signatures;
  std::vector<finding> findings; // notes: keys of ukify's that change nothing here
};

// A PCR signing key group, resolved.
struct pcr_signature {
  std::string name;
  keys::source private_key;
  std::optional<std::filesystem::path> public_key;
  std::optional<std::vector<std::string>> phases;
};

// One architecture's build, every layer merged: what installer/build.hpp
// takes.
struct arch_recipe {
  std::string arch;           // OCI architecture
  std::string efi_arch;       // systemd's name for it (installer::efi_arch)
  std::filesystem::path stub; // empty: systemd's stub for efi_arch
  std::filesystem::path kernel;
  std::vector<std::filesystem::path> initrds;
  std::filesystem::path systemd_boot;
  std::optional<uki::text_input> cmdline, os_release, profile, sbat;
  std::optional<std::string> uname; // none: found in the kernel
  std::vector<std::filesystem::path> join_profiles;
  std::optional<std::filesystem::path> pcrpkey, splash, devicetree, microcode;
  std::optional<std::vector<hash::algorithm>> pcr_banks;
  std::optional<keys::source> signing_key, signing_cert; // both or neither
  std::vector<pcr_signature> pcr_signatures;
};

namespace detail {

// ---- the INI layer: configparser's reading of the text --------------------------

// Where a line of the recipe starts: its number (from 1) and byte offset.
struct line_pos {
  std::size_t line = 0; // 0: not from the file
  std::uint64_t offset = error::no_offset;
};

struct ini_entry {
  std::string key;
  std::string value; // continuation lines joined with '\n'
  line_pos pos;
};

struct ini_section {
  std::string name;
  line_pos pos;
  std::vector<ini_entry> entries;
};

// Python's str.isspace() over ASCII (what strip(), split() and \s use).
constexpr bool is_py_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
         (c >= '\x1c' && c <= '\x1f');
}

inline std::string_view py_strip(std::string_view s) noexcept {
  while (!s.empty() && is_py_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_py_space(s.back())) s.remove_suffix(1);
  return s;
}

// str.split(): runs of whitespace separate, none at either end.
inline std::vector<std::string_view> py_split(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_py_space(s[i])) ++i;
    std::size_t j = i;
    while (j < s.size() && !is_py_space(s[j])) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// re.split(r',|\s+', s): ukify's split of Phases= and PCRBanks=. A ',' next
// to a blank gives an empty item, as in Python.
inline std::vector<std::string_view> py_split_commas(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0, i = 0;
  while (i < s.size()) {
    if (s[i] == ',') {
      out.push_back(s.substr(start, i - start));
      start = ++i;
    } else if (is_py_space(s[i])) {
      out.push_back(s.substr(start, i - start));
      while (i < s.size() && is_py_space(s[i])) ++i;
      start = i;
    } else {
      ++i;
    }
  }
  out.push_back(s.substr(start));
  return out;
}

// An error about a line of the recipe: its number in the message, its
// offset as the error's.
inline error at_line(line_pos at, errc code, const std::string& what) {
  if (at.line == 0) return error(code, what);
  return error(code, "line " + std::to_string(at.line) + ": " + what, at.offset);
}

// The text up to an inline comment: a '#' at the start or after a blank;
// all of it is a comment when its first non-blank is '#'.
inline std::string_view without_comment(std::string_view line) {
  if (py_strip(line).starts_with('#')) return {};
  for (std::size_t i = 0; i < line.size(); ++i)
    if (line[i] == '#' && (i == 0 || is_py_space(line[i - 1]))) return line.substr(0, i);
  return line;
}

class ini_reader {
public:
  result<std::vector<ini_section>> read(std::string_view text) {
    if (text.size() > max_recipe_size)
      return error(errc::limit_exceeded, "recipe is too large (" + std::to_string(text.size()) +
                                             " > " + std::to_string(max_recipe_size) + " bytes)");
    std::size_t pos = 0, line_no = 0;
    while (pos < text.size()) {
      std::size_t end = pos;
      while (end < text.size() && text[end] != '\n' && text[end] != '\r') ++end;
      std::string_view line = text.substr(pos, end - pos);
      const line_pos at{++line_no, pos};
      if (end < text.size())
        end += (text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n') ? 2 : 1;
      pos = end;
      UKIKIT_TRY(take(line, at));
    }
    for (auto& s : sections_)
      for (auto& e : s.entries) e.value = std::string(trim_right(e.value));
    return std::move(sections_);
  }

private:
  static std::string_view trim_right(std::string_view s) noexcept {
    while (!s.empty() && is_py_space(s.back())) s.remove_suffix(1);
    return s;
  }

  result<void> take(std::string_view line, line_pos no) {
    if (line.find('\0') != std::string_view::npos)
      return at_line(no, errc::malformed, "NUL byte in the recipe");
    const std::string_view value = py_strip(without_comment(line));
    if (value.empty()) {
      continuing_ = false; // an empty or comment line ends a value
      return {};
    }
    std::size_t indent = 0;
    while (indent < line.size() && is_py_space(line[indent])) ++indent;
    if (continuing_ && indent > indent_) {
      ini_entry& e = sections_[section_].entries[entry_];
      e.value += '\n';
      e.value += value;
      return {};
    }
    indent_ = indent;
    continuing_ = false;
    if (value.front() == '[') return header(value, no);
    if (!in_section_)
      return at_line(no, errc::malformed,
                     "'" + std::string(value) + "' before any [section] (start with [UKI])");
    return option(value, no);
  }

  // configparser's \[(?P<header>.+)\] from the start: the name runs to the
  // last ']'.
  result<void> header(std::string_view value, line_pos no) {
    const auto close = value.rfind(']');
    if (close == std::string_view::npos || close < 2)
      return at_line(no, errc::malformed, "bad section header '" + std::string(value) + "'");
    if (close + 1 != value.size())
      return at_line(no, errc::malformed,
                     "text after the section header: '" + std::string(value.substr(close + 1)) +
                         "'");
    const std::string name(value.substr(1, close - 1));
    for (std::size_t i = 0; i < sections_.size(); ++i)
      if (sections_[i].name == name) { // strict=False: the same section again
        section_ = i;
        in_section_ = true;
        return {};
      }
    if (sections_.size() >= max_recipe_sections)
      return at_line(no, errc::limit_exceeded,
                     "too many sections (limit " + std::to_string(max_recipe_sections) + ")");
    sections_.push_back({name, no, {}});
    section_ = sections_.size() - 1;
    in_section_ = true;
    return {};
  }

  result<void> option(std::string_view value, line_pos no) {
    const auto eq = value.find('=');
    if (eq == std::string_view::npos)
      return at_line(no, errc::malformed,
                     "'" + std::string(value) + "' is not KEY=VALUE (and continues no value)");
    const std::string key(trim_right(value.substr(0, eq)));
    if (key.empty()) return at_line(no, errc::malformed, "a key is missing before '='");
    auto& s = sections_[section_];
    for (const auto& e : s.entries)
      if (e.key == key)
        return at_line(no, errc::invalid_argument,
                       "[" + s.name + "] " + key + "= is given twice (first on line " +
                           std::to_string(e.pos.line) + "; ukify would keep only the last)");
    if (++entries_ > max_recipe_entries)
      return at_line(no, errc::limit_exceeded,
                     "too many keys (limit " + std::to_string(max_recipe_entries) + ")");
    s.entries.push_back({key, std::string(py_strip(value.substr(eq + 1))), no});
    entry_ = s.entries.size() - 1;
    continuing_ = true;
    return {};
  }

  std::vector<ini_section> sections_;
  std::size_t section_ = 0, entry_ = 0, entries_ = 0, indent_ = 0;
  bool in_section_ = false, continuing_ = false;
};

// ---- ukify's keys ---------------------------------------------------------------

enum class key_kind : std::uint8_t {
  path,         // one path
  path_list,    // whitespace-separated paths
  text_or_file, // TEXT or @PATH
  text,         // as is
  banks,        // PCRBanks
  phases,       // Phases
  key,          // a key or certificate: a path, or an engine's/provider's designation
  name,         // an engine or provider name
  efi_arch,     // EFIArch
  signtool,     // SecureBootSigningTool
  sign_kernel,  // SignKernel (boolean)
  ignored,      // changes nothing here (a note)
  unsupported,  // ukify's, but not something ukikit can do
};

enum class section_kind : std::uint8_t { uki, arch, pcr_signature };

struct key_spec {
  std::string_view name;
  key_kind kind;
  section_kind section; // uki: [UKI] and [Arch:NAME]
  std::string_view why; // for ignored and unsupported keys
};

inline constexpr key_spec key_specs[] = {
    {"Linux", key_kind::path, section_kind::uki, {}},
    {"Initrd", key_kind::path_list, section_kind::uki, {}},
    {"OSRelease", key_kind::text_or_file, section_kind::uki, {}},
    {"Cmdline", key_kind::text_or_file, section_kind::uki, {}},
    {"Microcode", key_kind::path, section_kind::uki, {}},
    {"Splash", key_kind::path, section_kind::uki, {}},
    {"DeviceTree", key_kind::path, section_kind::uki, {}},
    {"Uname", key_kind::text, section_kind::uki, {}},
    {"SBAT", key_kind::text_or_file, section_kind::uki, {}},
    {"PCRPKey", key_kind::path, section_kind::uki, {}},
    {"Profile", key_kind::text_or_file, section_kind::uki, {}},
    {"EFIArch", key_kind::efi_arch, section_kind::uki, {}},
    {"Stub", key_kind::path, section_kind::uki, {}},
    {"PCRBanks", key_kind::banks, section_kind::uki, {}},
    {"SigningEngine", key_kind::name, section_kind::uki, {}},
    {"SigningProvider", key_kind::name, section_kind::uki, {}},
    {"CertificateProvider", key_kind::name, section_kind::uki, {}},
    {"SecureBootSigningTool", key_kind::signtool, section_kind::uki, {}},
    {"SecureBootPrivateKey", key_kind::key, section_kind::uki, {}},
    {"SecureBootCertificate", key_kind::key, section_kind::uki, {}},
    {"SecureBootCertificateDir", key_kind::ignored, section_kind::uki,
     "pesign's certificate database; ukikit signs with SecureBootPrivateKey"},
    {"SecureBootCertificateValidity", key_kind::ignored, section_kind::uki,
     "used by `ukify genkey` only"},
    {"SecureBootCertificateName", key_kind::unsupported, section_kind::uki,
     "pesign's NSS nickname; give SecureBootPrivateKey and SecureBootCertificate"},
    {"SignKernel", key_kind::sign_kernel, section_kind::uki, {}},
    {"Firmware", key_kind::unsupported, section_kind::uki, ".efifw sections are not built yet"},
    {"DeviceTreeAuto", key_kind::unsupported, section_kind::uki,
     ".dtbauto sections are not built yet"},
    {"HWIDs", key_kind::unsupported, section_kind::uki, ".hwids sections are not built yet"},
    {"SystemdBoot", key_kind::path, section_kind::uki, {}},
    {"JoinProfile", key_kind::path_list, section_kind::uki, {}},
    {"PCRPrivateKey", key_kind::key, section_kind::pcr_signature, {}},
    {"PCRPublicKey", key_kind::path, section_kind::pcr_signature, {}},
    {"Phases", key_kind::phases, section_kind::pcr_signature, {}},
};

inline const key_spec* find_key(std::string_view name, section_kind section) noexcept {
  for (const auto& k : key_specs)
    if (k.name == name && k.section == section) return &k;
  return nullptr;
}

constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

inline bool same_ignoring_case(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

inline std::string section_label(section_kind k, std::string_view group) {
  switch (k) {
  case section_kind::uki: return group.empty() ? "[UKI]" : "[Arch:" + std::string(group) + "]";
  case section_kind::arch: return "[Arch:" + std::string(group) + "]";
  case section_kind::pcr_signature: return "[PCRSignature:" + std::string(group) + "]";
  }
  return "[?]";
}

inline error unknown_key(const ini_entry& e, section_kind section, std::string_view label) {
  std::string msg = "unknown key " + e.key + "= in " + std::string(label);
  for (const auto& k : key_specs)
    if (same_ignoring_case(k.name, e.key) && k.section == section)
      return at_line(e.pos, errc::invalid_argument,
                     msg + " (did you mean " + std::string(k.name) + "=? keys are case-sensitive)");
  for (const auto& k : key_specs)
    if (k.name == e.key)
      return at_line(e.pos, errc::invalid_argument,
                     msg + " (" + std::string(k.name) + "= belongs in " +
                         (k.section == section_kind::pcr_signature ? "[PCRSignature:NAME]"
                                                                   : "[UKI] or [Arch:NAME]") +
                         ")");
  return at_line(e.pos, errc::invalid_argument, msg);
}

// A relative path is relative to the recipe's directory.
inline std::filesystem::path resolve_path(const std::filesystem::path& dir, std::string_view p) {
  std::filesystem::path path{std::string(p)};
  return path.is_absolute() || dir.empty() ? path : dir / path;
}

inline result<std::filesystem::path> path_value(const ini_entry& e, std::string_view text,
                                                const std::filesystem::path& dir) {
  if (text.empty()) return at_line(e.pos, errc::invalid_argument, e.key + "= needs a path");
  if (text.find('\n') != std::string_view::npos)
    return at_line(e.pos, errc::invalid_argument,
                   e.key + "= is one path, not several lines (is the next line indented by "
                           "mistake?)");
  return resolve_path(dir, text);
}

inline result<uki::text_input> text_or_file(const ini_entry& e, const std::filesystem::path& dir) {
  if (!e.value.starts_with('@')) return uki::text_input::of(e.value);
  UKIKIT_TRY_ASSIGN(auto p, path_value(e, std::string_view(e.value).substr(1), dir));
  return uki::text_input::read_from(std::move(p));
}

inline result<std::vector<std::string>> phase_paths(const ini_entry& e) {
  std::vector<std::string> out;
  for (std::string_view path : py_split_commas(e.value)) {
    std::string_view rest = path;
    while (true) {
      const auto colon = rest.find(':');
      const std::string_view word = rest.substr(0, colon);
      if (std::find(known_phases.begin(), known_phases.end(), word) == known_phases.end())
        return at_line(e.pos, errc::invalid_argument,
                       "unknown boot phase '" + std::string(word) + "' in phase path '" +
                           std::string(path) +
                           "' (phases: enter-initrd, leave-initrd, sysinit, ready, shutdown, "
                           "final; paths are separated by ',' or blanks, not both)");
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
    out.emplace_back(path);
  }
  return out;
}

inline result<std::vector<hash::algorithm>> banks(const ini_entry& e) {
  std::vector<hash::algorithm> out;
  for (std::string_view b : py_split_commas(e.value)) {
    auto a = hash::parse_algorithm(b);
    if (!a)
      return at_line(e.pos, errc::invalid_argument,
                     "unknown PCR bank '" + std::string(b) +
                         "' (banks: sha1, sha256, sha384, sha512, separated by ',' or blanks)");
    if (std::find(out.begin(), out.end(), *a) == out.end()) out.push_back(*a);
  }
  return out;
}

// ukify's parse_boolean.
inline std::optional<bool> py_boolean(std::string_view s) {
  std::string l;
  for (char c : s) l += ascii_lower(c);
  for (std::string_view t : {"1", "true", "yes", "y", "t", "on"})
    if (l == t) return true;
  for (std::string_view f : {"0", "false", "no", "n", "f", "off"})
    if (l == f) return false;
  return std::nullopt;
}

inline bool is_efi_arch(std::string_view s) noexcept {
  return std::find(std::begin(uki::efi_architectures), std::end(uki::efi_architectures), s) !=
         std::end(uki::efi_architectures);
}

// The OCI architecture systemd's EFI name stands for.
inline std::optional<std::string_view> oci_arch_of_efi(std::string_view efi) noexcept {
  for (std::string_view oci : {"amd64", "arm64", "386", "arm", "riscv64", "loong64"})
    if (installer::efi_arch(oci) == efi) return oci;
  return std::nullopt;
}

inline result<void> apply_uki_key(const key_spec& spec, const ini_entry& e, recipe_settings& s,
                                  const std::filesystem::path& dir, std::vector<finding>& notes,
                                  std::string_view label) {
  const std::string& v = e.value;
  const auto one_line = [&]() -> result<std::string> {
    if (v.empty()) return at_line(e.pos, errc::invalid_argument, e.key + "= needs a value");
    if (v.find('\n') != std::string::npos)
      return at_line(e.pos, errc::invalid_argument, e.key + "= takes one line");
    return v;
  };
  switch (spec.kind) {
  case key_kind::path: {
    UKIKIT_TRY_ASSIGN(auto p, path_value(e, v, dir));
    if (e.key == "Linux") s.kernel = p;
    else if (e.key == "Stub") s.stub = p;
    else if (e.key == "SystemdBoot") s.systemd_boot = p;
    else if (e.key == "PCRPKey") s.pcrpkey = p;
    else if (e.key == "Splash") s.splash = p;
    else if (e.key == "DeviceTree") s.devicetree = p;
    else if (e.key == "Microcode") s.microcode = p;
    return {};
  }
  case key_kind::path_list: {
    std::vector<std::filesystem::path> paths;
    for (auto p : py_split(v)) paths.push_back(resolve_path(dir, p));
    (e.key == "Initrd" ? s.initrds : s.join_profiles) = std::move(paths);
    return {};
  }
  case key_kind::text_or_file: {
    UKIKIT_TRY_ASSIGN(auto t, text_or_file(e, dir));
    if (e.key == "Cmdline") s.cmdline = std::move(t);
    else if (e.key == "OSRelease") s.os_release = std::move(t);
    else if (e.key == "SBAT") s.sbat = std::move(t);
    else s.profile = std::move(t);
    return {};
  }
  case key_kind::text:
    s.uname = v; // Uname
    return {};
  case key_kind::banks: {
    UKIKIT_TRY_ASSIGN(s.pcr_banks, banks(e));
    return {};
  }
  case key_kind::key:
    if (v.empty()) return at_line(e.pos, errc::invalid_argument, e.key + "= needs a value");
    (e.key == "SecureBootPrivateKey" ? s.signing_key : s.signing_cert) = key_value{v, dir};
    return {};
  case key_kind::name: {
    UKIKIT_TRY_ASSIGN(auto n, one_line());
    (e.key == "SigningEngine"     ? s.signing_engine
     : e.key == "SigningProvider" ? s.signing_provider
                                  : s.certificate_provider) = std::move(n);
    return {};
  }
  case key_kind::efi_arch:
    if (!is_efi_arch(v))
      return at_line(e.pos, errc::invalid_argument,
                     "EFIArch=" + v +
                         " is not one of ia32, x64, arm, aa64, riscv32, riscv64, loongarch32, "
                         "loongarch64");
    s.efi_arch = v;
    return {};
  case key_kind::signtool:
    if (v == "sbsign" || v == "systemd-sbsign") {
      notes.push_back({severity::note, code::recipe_key_ignored,
                       "line " + std::to_string(e.pos.line) + ": " + std::string(label) + " " +
                           e.key + "=" + v + " is ignored: ukikit signs as sbsign does",
                       e.pos.offset});
      return {};
    }
    if (v == "pesign")
      return at_line(e.pos, errc::unsupported,
                     "SecureBootSigningTool=pesign is not supported: give "
                     "SecureBootPrivateKey= and SecureBootCertificate=");
    return at_line(e.pos, errc::invalid_argument,
                   "SecureBootSigningTool=" + v + " is not one of sbsign, pesign, systemd-sbsign");
  case key_kind::sign_kernel: {
    auto b = py_boolean(v);
    if (!b) return at_line(e.pos, errc::invalid_argument, "SignKernel=" + v + " is not a boolean");
    if (*b)
      return at_line(e.pos, errc::unsupported,
                     "SignKernel=yes is not supported: ukikit leaves the kernel as it is");
    return {};
  }
  case key_kind::ignored:
    notes.push_back({severity::note, code::recipe_key_ignored,
                     "line " + std::to_string(e.pos.line) + ": " + std::string(label) + " " +
                         e.key + "= is ignored: " + std::string(spec.why),
                     e.pos.offset});
    return {};
  case key_kind::unsupported:
    return at_line(e.pos, errc::unsupported,
                   e.key + "= is not supported: " + std::string(spec.why));
  case key_kind::phases: break; // [PCRSignature:NAME] only
  }
  return {};
}

inline result<void> apply_pcr_key(const ini_entry& e, pcr_signature_group& g,
                                  const std::filesystem::path& dir) {
  if (e.key == "PCRPrivateKey") {
    if (e.value.empty())
      return at_line(e.pos, errc::invalid_argument, "PCRPrivateKey= needs a value");
    g.private_key = key_value{e.value, dir};
  } else if (e.key == "PCRPublicKey") {
    UKIKIT_TRY_ASSIGN(g.public_key, path_value(e, e.value, dir));
  } else {
    UKIKIT_TRY_ASSIGN(g.phases, phase_paths(e));
  }
  return {};
}

// An OCI architecture name for an [Arch:NAME] section, with a hint for the
// names people write instead.
inline result<void> check_arch(std::string_view arch, line_pos line) {
  if (pe_machine(arch)) return {};
  std::string hint;
  if (auto oci = oci_arch_of_efi(arch))
    hint = " (systemd's " + std::string(arch) + " is " + std::string(*oci) + ")";
  else if (arch == "x86_64") hint = " (use amd64)";
  else if (arch == "aarch64") hint = " (use arm64)";
  return at_line(line, errc::invalid_argument,
                 "[Arch:" + std::string(arch) + "]: not an OCI architecture with UEFI" + hint +
                     "; use amd64, arm64, 386, arm, riscv64 or loong64");
}

} // namespace detail

// A recipe from its text. `directory` is where relative paths start (the
// recipe file's directory). Never throws; errors name the line.
inline result<recipe> parse_recipe(std::string_view text, const std::filesystem::path& directory) {
  detail::ini_reader reader;
  UKIKIT_TRY_ASSIGN(auto sections, reader.read(text));
  recipe out;
  out.directory = directory;
  for (const auto& sec : sections) {
    // ukify splits at the first ':' and keeps it with the section's kind.
    const auto colon = sec.name.find(':');
    const std::string kind = sec.name.substr(0, colon == std::string::npos ? colon : colon + 1);
    const std::string group = colon == std::string::npos ? "" : sec.name.substr(colon + 1);
    if (colon != std::string::npos && group.empty())
      return detail::at_line(sec.pos, errc::invalid_argument,
                             "[" + sec.name + "]: the name after ':' is missing");
    if (group.find(':') != std::string::npos)
      return detail::at_line(sec.pos, errc::invalid_argument,
                             "[" + sec.name + "]: a section name has at most one ':'");
    if (kind == "UKI") {
      for (const auto& e : sec.entries) {
        const auto* spec = detail::find_key(e.key, detail::section_kind::uki);
        if (!spec) return detail::unknown_key(e, detail::section_kind::uki, "[UKI]");
        UKIKIT_TRY(detail::apply_uki_key(*spec, e, out.shared, directory, out.findings, "[UKI]"));
      }
    } else if (kind == "Arch:") {
      UKIKIT_TRY(detail::check_arch(group, sec.pos));
      arch_section a{group, {}, sec.pos.line};
      const std::string label = "[Arch:" + group + "]";
      for (const auto& e : sec.entries) {
        const auto* spec = detail::find_key(e.key, detail::section_kind::uki);
        if (!spec) return detail::unknown_key(e, detail::section_kind::uki, label);
        UKIKIT_TRY(detail::apply_uki_key(*spec, e, a.settings, directory, out.findings, label));
      }
      out.arches.push_back(std::move(a));
    } else if (kind == "PCRSignature:") {
      pcr_signature_group g{group, {}, {}, {}, sec.pos.line};
      for (const auto& e : sec.entries) {
        if (!detail::find_key(e.key, detail::section_kind::pcr_signature))
          return detail::unknown_key(e, detail::section_kind::pcr_signature, "[" + sec.name + "]");
        UKIKIT_TRY(detail::apply_pcr_key(e, g, directory));
      }
      out.pcr_signatures.push_back(std::move(g));
    } else {
      std::string hint;
      for (std::string_view known : {"UKI", "Arch:", "PCRSignature:"})
        if (detail::same_ignoring_case(kind, known))
          hint = " (section names are case-sensitive: " + std::string(known) + ")";
      if (kind == "DEFAULT") hint = " (configparser's [DEFAULT] is not supported)";
      return detail::at_line(sec.pos, errc::invalid_argument,
                             "unknown section [" + sec.name + "]" + hint +
                                 "; sections are [UKI], [Arch:NAME] and [PCRSignature:NAME]");
    }
  }
  return out;
}

// A recipe file: mapped, parsed, relative paths resolved against its directory.
inline result<recipe> read_recipe(const std::filesystem::path& file) {
  UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(file));
  auto r = parse_recipe(as_chars(f.bytes()), file.parent_path());
  if (!r) return r.error().prefixed(file.string());
  return r;
}

// ---- the command line over a recipe -----------------------------------------------

// Values given on the command line. `shared` goes over every architecture
// ([UKI] and [Arch:NAME] alike), `per_arch` over one (adding it when the
// recipe has none of that name). Flags win, except as ukify merges: initrds
// given as flags follow the recipe's (ukify puts --initrd after Initrd=),
// and PCR key groups given as flags come before the recipe's.
struct recipe_overrides {
  recipe_settings shared;
  std::vector<arch_section> per_arch;
  std::vector<pcr_signature_group> pcr_signatures;
};

namespace detail {

// Every value `over` has replaces `base`'s; initrds are appended when
// `append_initrds`.
inline void overlay(recipe_settings& base, const recipe_settings& over, bool append_initrds) {
  const auto set = [](auto& dst, const auto& src) {
    if (src) dst = src;
  };
  set(base.stub, over.stub);
  set(base.kernel, over.kernel);
  set(base.systemd_boot, over.systemd_boot);
  if (over.initrds) {
    if (append_initrds && base.initrds)
      base.initrds->insert(base.initrds->end(), over.initrds->begin(), over.initrds->end());
    else base.initrds = over.initrds;
  }
  set(base.join_profiles, over.join_profiles);
  set(base.cmdline, over.cmdline);
  set(base.os_release, over.os_release);
  set(base.sbat, over.sbat);
  set(base.profile, over.profile);
  set(base.uname, over.uname);
  set(base.efi_arch, over.efi_arch);
  set(base.pcrpkey, over.pcrpkey);
  set(base.splash, over.splash);
  set(base.devicetree, over.devicetree);
  set(base.microcode, over.microcode);
  set(base.pcr_banks, over.pcr_banks);
  set(base.signing_key, over.signing_key);
  set(base.signing_cert, over.signing_cert);
  set(base.signing_engine, over.signing_engine);
  set(base.signing_provider, over.signing_provider);
  set(base.certificate_provider, over.certificate_provider);
}

inline arch_section& arch_named(recipe& r, std::string_view arch) {
  for (auto& a : r.arches)
    if (a.arch == arch) return a;
  r.arches.push_back({std::string(arch), {}, 0});
  return r.arches.back();
}

} // namespace detail

// Lay command-line values over a recipe.
inline result<void> apply_overrides(recipe& r, const recipe_overrides& flags) {
  // Shared flags: over [UKI], and over each [Arch:NAME] that sets the same
  // key (an architecture's own initrds get the flags' appended).
  detail::overlay(r.shared, flags.shared, true);
  for (auto& a : r.arches) {
    recipe_settings over = flags.shared;
    if (!a.settings.initrds) over.initrds.reset(); // inherits [UKI]'s, appended above
    detail::overlay(a.settings, over, true);
  }
  for (const auto& p : flags.per_arch) {
    UKIKIT_TRY(detail::check_arch(p.arch, {}));
    auto& a = detail::arch_named(r, p.arch);
    recipe_settings over = p.settings;
    if (over.initrds && !a.settings.initrds) {
      // Initrds given for one architecture follow the ones it inherits.
      a.settings.initrds = r.shared.initrds.value_or(std::vector<std::filesystem::path>{});
    }
    detail::overlay(a.settings, over, true);
  }
  std::vector<pcr_signature_group> groups = flags.pcr_signatures;
  groups.insert(groups.end(), r.pcr_signatures.begin(), r.pcr_signatures.end());
  r.pcr_signatures = std::move(groups);
  return {};
}

namespace detail {

// A key as written, now that the engine or provider is known.
inline keys::source key_source(const key_value& k, const std::optional<std::string>& engine,
                               const std::optional<std::string>& provider) {
  if (engine) return {keys::source::kind::engine, k.text, *engine};
  if (provider) return {keys::source::kind::provider, k.text, *provider};
  return keys::source::from_file(resolve_path(k.base, k.text));
}

inline result<arch_recipe> resolve_arch(const recipe& r, const arch_section& a) {
  recipe_settings s = r.shared;
  overlay(s, a.settings, false);
  const std::string where = a.line ? "[Arch:" + a.arch + "] (line " + std::to_string(a.line) + ")"
                                   : "architecture " + a.arch;
  const auto missing = [&](std::string_view key, std::string_view what) {
    return error(errc::invalid_argument, where + ": no " + std::string(key) + "= (" +
                                             std::string(what) + ") in it or in [UKI]");
  };
  arch_recipe out;
  out.arch = a.arch;
  out.efi_arch = std::string(efi_arch(a.arch).value_or(""));
  if (s.efi_arch && *s.efi_arch != out.efi_arch)
    return error(errc::invalid_argument, where + ": EFIArch=" + *s.efi_arch + " is not " + a.arch +
                                             "'s (" + out.efi_arch + ")");
  if (!s.kernel) return missing("Linux", "the kernel");
  if (!s.systemd_boot) return missing("SystemdBoot", "the systemd-boot to sign and ship");
  if (s.signing_engine && s.signing_provider)
    return error(errc::invalid_argument,
                 where + ": only one of SigningEngine= and SigningProvider= may be given");
  if (s.signing_key.has_value() != s.signing_cert.has_value())
    return error(errc::invalid_argument, where + ": SecureBootPrivateKey= and "
                                                 "SecureBootCertificate= must be given together");
  out.stub = s.stub.value_or(std::filesystem::path{});
  out.kernel = *s.kernel;
  out.initrds = s.initrds.value_or(std::vector<std::filesystem::path>{});
  out.systemd_boot = *s.systemd_boot;
  // ukify: empty text is no section (and the default os-release, uname).
  const auto text = [](const std::optional<uki::text_input>& t) {
    return t && (t->from_file() || !t->text.empty()) ? t : std::nullopt;
  };
  out.cmdline = text(s.cmdline);
  out.os_release = text(s.os_release);
  out.profile = text(s.profile);
  out.sbat = text(s.sbat);
  if (s.uname && !s.uname->empty()) out.uname = s.uname;
  out.join_profiles = s.join_profiles.value_or(std::vector<std::filesystem::path>{});
  out.pcrpkey = s.pcrpkey;
  out.splash = s.splash;
  out.devicetree = s.devicetree;
  out.microcode = s.microcode;
  out.pcr_banks = s.pcr_banks;
  if (s.signing_key) {
    out.signing_key = key_source(*s.signing_key, s.signing_engine, s.signing_provider);
    out.signing_cert = key_source(*s.signing_cert, std::nullopt, s.certificate_provider);
  }
  for (const auto& g : r.pcr_signatures) {
    const std::string label =
        "[PCRSignature:" + g.name + "]" +
        (g.line ? " (line " + std::to_string(g.line) + ")" : std::string(" (command line)"));
    if (!g.private_key) return error(errc::invalid_argument, label + ": no PCRPrivateKey=");
    out.pcr_signatures.push_back({g.name,
                                  key_source(*g.private_key, s.signing_engine, s.signing_provider),
                                  g.public_key, g.phases});
  }
  return out;
}

} // namespace detail

// Each architecture's build, in the recipe's order: [UKI] under [Arch:NAME]
// (the command line already laid over both, apply_overrides). A recipe
// without [Arch:NAME] sections is a plain ukify config: one architecture,
// its EFIArch=.
inline result<std::vector<arch_recipe>> resolve(const recipe& r) {
  std::vector<arch_section> arches = r.arches;
  if (arches.empty()) {
    if (!r.shared.efi_arch)
      return error(errc::invalid_argument,
                   "the recipe names no architecture: add an [Arch:NAME] section (NAME: amd64, "
                   "arm64, ...) or EFIArch= to [UKI]");
    auto oci = detail::oci_arch_of_efi(*r.shared.efi_arch);
    if (!oci)
      return error(errc::unsupported, "EFIArch=" + *r.shared.efi_arch +
                                          " has no OCI architecture; use an [Arch:NAME] section");
    arches.push_back({std::string(*oci), {}, 0});
  }
  std::vector<arch_recipe> out;
  for (const auto& a : arches) {
    UKIKIT_TRY_ASSIGN(auto one, detail::resolve_arch(r, a));
    out.push_back(std::move(one));
  }
  return out;
}

} // namespace ukikit::installer
