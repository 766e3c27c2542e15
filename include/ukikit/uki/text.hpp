// UKI text sections: os-release (.osrel), the kernel command line (.cmdline),
// `uname -r` (.uname), SBAT CSV (.sbat) and profile metadata (.profile).
// Included by ukikit/uki.hpp; include that instead.
//
// Every parser takes the section text (trailing NULs allowed, and reported),
// a strictness and the absolute offset of the text's first byte, and returns
// the parsed value, with its findings (ukikit::finding, one code per rule,
// see uki::code), or an error whose offset points at the offending byte.
// The rules come from the specifications, and each is one of three kinds:
// - the text cannot be read as intended (an os-release value with an
//   unquoted `$`, an SBAT row with four fields): always an error;
// - the specification says "must", but the intended meaning is clear (an
//   unquoted `.` in an os-release value): an error when strict, a finding
//   when permissive;
// - the specification says "should", or it is a fact worth knowing (a key
//   assigned twice, a control character the stub turns into a space): a
//   finding (a note) in both modes.
// No kernel parses these texts: strictness::kernel behaves as permissive.
//
// Sources: os-release(5); systemd-stub's mangle_stub_cmdline and the kernel's
// next_arg (lib/cmdline.c) for the command line; shim's SBAT.md and its
// parse_sbat_section/parse_csv_data for SBAT; UAPI.5 "Multi-Profile UKIs" for
// .profile.
#pragma once

#include "../bytes.hpp"
#include "../diagnostics.hpp"
#include "../pe.hpp"
#include "../result.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::uki {

// strict: a broken "must" is an error; permissive: a finding. No kernel
// reads these texts, so strictness::kernel behaves as permissive.
using strictness = ukikit::strictness;

// Finding codes of the text sections (README, "Finding codes"), one per rule.
// The os-release rules hold for .osrel and for .profile, which has its syntax.
namespace code {
inline constexpr std::string_view osrel_crlf = "uki.osrel-crlf";
inline constexpr std::string_view osrel_leading_whitespace = "uki.osrel-leading-whitespace";
inline constexpr std::string_view osrel_duplicate_key = "uki.osrel-duplicate-key";
inline constexpr std::string_view osrel_concatenation = "uki.osrel-concatenation";
inline constexpr std::string_view osrel_stray_backslash = "uki.osrel-stray-backslash";
inline constexpr std::string_view osrel_unquoted_escape = "uki.osrel-unquoted-escape";
inline constexpr std::string_view osrel_unquoted_special = "uki.osrel-unquoted-special";
inline constexpr std::string_view osrel_trailing_whitespace = "uki.osrel-trailing-whitespace";
inline constexpr std::string_view osrel_trailing_comment = "uki.osrel-trailing-comment";
inline constexpr std::string_view osrel_control_character = "uki.osrel-control-character";
inline constexpr std::string_view osrel_invalid_utf8 = "uki.osrel-invalid-utf8";
inline constexpr std::string_view profile_id_empty = "uki.profile-id-empty";
inline constexpr std::string_view profile_id_not_ascii = "uki.profile-id-not-ascii";
inline constexpr std::string_view profile_unknown_field = "uki.profile-unknown-field";
inline constexpr std::string_view cmdline_after_nul = "uki.cmdline-after-nul";
inline constexpr std::string_view cmdline_leading_whitespace = "uki.cmdline-leading-whitespace";
inline constexpr std::string_view cmdline_control_character = "uki.cmdline-control-character";
inline constexpr std::string_view cmdline_trailing_whitespace = "uki.cmdline-trailing-whitespace";
inline constexpr std::string_view cmdline_invalid_utf8 = "uki.cmdline-invalid-utf8";
inline constexpr std::string_view cmdline_nbsp = "uki.cmdline-nbsp";
inline constexpr std::string_view cmdline_too_long = "uki.cmdline-too-long";
inline constexpr std::string_view cmdline_unbalanced_quote = "uki.cmdline-unbalanced-quote";
inline constexpr std::string_view uname_not_ascii = "uki.uname-not-ascii";
inline constexpr std::string_view uname_not_a_release = "uki.uname-not-a-release";
inline constexpr std::string_view sbat_extra_fields = "uki.sbat-extra-fields";
inline constexpr std::string_view sbat_not_ascii = "uki.sbat-not-ascii";
inline constexpr std::string_view sbat_blank_line = "uki.sbat-blank-line";
inline constexpr std::string_view sbat_cr = "uki.sbat-cr";
inline constexpr std::string_view sbat_bom = "uki.sbat-bom";
inline constexpr std::string_view sbat_duplicate_component = "uki.sbat-duplicate-component";
// The text cannot be read at all: the parser's error, as a report states it.
inline constexpr std::string_view osrel_invalid = "uki.osrel-invalid";
inline constexpr std::string_view profile_invalid = "uki.profile-invalid";
inline constexpr std::string_view cmdline_invalid = "uki.cmdline-invalid";
inline constexpr std::string_view uname_invalid = "uki.uname-invalid";
inline constexpr std::string_view sbat_invalid = "uki.sbat-invalid";
} // namespace code

// The kernel's __NEW_UTS_LEN: `uname -r` is at most 64 bytes.
inline constexpr std::size_t max_uname_length = 64;

// COMMAND_LINE_SIZE on x86_64 and arm64: the kernel truncates longer lines.
inline constexpr std::size_t kernel_command_line_size = 2048;

// The six SBAT columns, in order (shim's SBAT.md).
inline constexpr std::array<std::string_view, 6> sbat_columns{
    "component_name",      "component_generation", "vendor_name",
    "vendor_package_name", "vendor_version",       "vendor_url"};

namespace detail {

// Collects findings and turns "must" violations into errors when strict.
// Messages start with what the text is (".cmdline: …").
class reporter {
public:
  reporter(std::string_view what, finding_log& out, strictness mode, std::uint64_t base)
      : what_(what), out_(out), mode_(mode), base_(base) {}

  std::uint64_t at(std::size_t pos) const noexcept { return base_ + pos; }

  // The specification says "must" and the meaning is still clear: an error
  // when strict, else a warning.
  result<void> violation(std::string_view c, std::string message, std::size_t pos) {
    if (mode_ == strictness::strict) return fail(errc::malformed, std::move(message), pos);
    out_.add(severity::warning, c, std::string(what_) + ": " + std::move(message) + " (tolerated)",
             at(pos));
    return success();
  }

  // "should", or a fact worth reporting.
  void note(std::string_view c, std::string message, std::size_t pos) {
    out_.add(severity::note, c, std::string(what_) + ": " + std::move(message), at(pos));
  }

  error fail(errc code, std::string message, std::size_t pos) const {
    return error(code, std::string(what_) + ": " + std::move(message), at(pos));
  }

private:
  std::string_view what_;
  finding_log& out_;
  strictness mode_;
  std::uint64_t base_;
};

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
constexpr bool is_alnum(char c) noexcept { return is_alpha(c) || is_digit(c); }
constexpr bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }
constexpr bool is_control(char c) noexcept {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}
constexpr bool is_ascii(char c) noexcept { return static_cast<unsigned char>(c) < 0x80; }

// "'x'" for printable ASCII, "0x07" otherwise: how a byte appears in messages.
inline std::string show(char c) {
  if (is_ascii(c) && !is_control(c)) return std::string("'") + c + "'";
  return hex(static_cast<unsigned char>(c));
}

inline std::string line_label(std::size_t line) { return "line " + std::to_string(line); }

// Number of NUL bytes at the end of `text`.
inline std::size_t trailing_nuls(std::string_view text) noexcept {
  std::size_t n = 0;
  while (n < text.size() && text[text.size() - 1 - n] == '\0') ++n;
  return n;
}

// Offset of the first byte that is not part of well-formed UTF-8 (no
// overlong forms, no surrogates, at most U+10FFFF), or nullopt.
inline std::optional<std::size_t> invalid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xe  ? 3
                      : (c >> 3) == 0x1e ? 4
                                         : 0;
    if (len == 0 || i + len > s.size()) return i;
    std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::nullopt;
}

} // namespace detail

// ---- os-release ----------------------------------------------------------------

struct os_release_entry {
  std::string key;
  std::string value;        // after quote removal and unescaping, as sh sees it
  std::size_t line = 0;     // 1-based
  std::uint64_t offset = 0; // absolute offset of the key
};

struct os_release {
  std::vector<os_release_entry> entries; // in file order; a key assigned twice appears twice
  std::size_t trailing_nuls = 0;
  finding_log findings;

  // The value after sourcing the file: the last assignment of `key`.
  std::optional<std::string_view> get(std::string_view key) const noexcept {
    for (auto it = entries.rbegin(); it != entries.rend(); ++it)
      if (it->key == key) return std::string_view(it->value);
    return std::nullopt;
  }
};

namespace detail {

// os-release(5): newline-separated shell-compatible variable assignments;
// comments (#) and blank lines; values unquoted, or in double quotes with
// backslash escapes of $ ` " \, or in single quotes without escapes; no
// variable expansion, no concatenation, no line continuation. Values with
// special characters must be quoted (see unquoted_safe()).
class env_parser {
public:
  env_parser(std::string_view text, reporter& rep) : text_(text), rep_(rep) {}

  result<std::vector<os_release_entry>> run() {
    std::size_t pos = 0;
    while (pos < text_.size()) {
      std::size_t end = text_.find('\n', pos);
      if (end == std::string_view::npos) end = text_.size();
      ++line_;
      UKIKIT_TRY(parse_line(pos, end));
      pos = end + 1;
    }
    return std::move(entries_);
  }

private:
  std::string where() const { return line_label(line_); }

  result<void> parse_line(std::size_t pos, std::size_t end) {
    if (end > pos && text_[end - 1] == '\r') {
      UKIKIT_TRY(rep_.violation(code::osrel_crlf,
                                where() + " ends with CR (DOS line ending); CR ignored", end - 1));
      --end;
    }
    std::size_t p = pos;
    while (p < end && is_blank(text_[p])) ++p;
    if (p == end || text_[p] == '#') return success(); // blank line or comment
    if (p > pos)
      rep_.note(code::osrel_leading_whitespace, where() + ": whitespace before the key", pos);
    UKIKIT_TRY_ASSIGN(std::size_t eq, parse_key(p, end));
    os_release_entry e;
    e.key = std::string(text_.substr(p, eq - p));
    e.line = line_;
    e.offset = rep_.at(p);
    UKIKIT_TRY_ASSIGN(std::size_t after, parse_value(eq + 1, end, e.value));
    UKIKIT_TRY(after_value(after, end));
    check_value(e.value, eq + 1);
    for (const auto& prev : entries_)
      if (prev.key == e.key) {
        rep_.note(code::osrel_duplicate_key,
                  where() + ": " + e.key + " assigned again (first on " + line_label(prev.line) +
                      "); the last assignment wins",
                  p);
        break;
      }
    entries_.push_back(std::move(e));
    return success();
  }

  // Returns the position of '='.
  result<std::size_t> parse_key(std::size_t p, std::size_t end) {
    if (!is_alpha(text_[p]) && text_[p] != '_')
      return rep_.fail(errc::malformed,
                       where() + ": key must start with a letter or '_', not " + show(text_[p]), p);
    std::size_t k = p + 1;
    while (k < end && (is_alnum(text_[k]) || text_[k] == '_')) ++k;
    if (k == end)
      return rep_.fail(errc::malformed,
                       where() + ": no '=' after " + std::string(text_.substr(p, k - p)), k);
    if (text_[k] != '=') {
      std::string why = is_blank(text_[k]) ? "whitespace before '=' (sh would run a command)"
                                           : "invalid character " + show(text_[k]) + " in key";
      return rep_.fail(errc::malformed, where() + ": " + why, k);
    }
    return k;
  }

  // Parses the value from `p` into `out`; returns where it ended (a blank or
  // the end of the line).
  result<std::size_t> parse_value(std::size_t p, std::size_t end, std::string& out) {
    bool concatenation_reported = false;
    std::size_t segments = 0;
    while (p < end && !is_blank(text_[p])) {
      if (segments++ > 0 && !concatenation_reported) {
        UKIKIT_TRY(
            rep_.violation(code::osrel_concatenation,
                           where() + ": concatenated strings are not supported by os-release", p));
        concatenation_reported = true;
      }
      if (text_[p] == '"') {
        UKIKIT_TRY_ASSIGN(p, double_quoted(p, end, out));
      } else if (text_[p] == '\'') {
        UKIKIT_TRY_ASSIGN(p, single_quoted(p, end, out));
      } else {
        UKIKIT_TRY_ASSIGN(p, unquoted(p, end, out));
      }
    }
    return p;
  }

  result<std::size_t> double_quoted(std::size_t open, std::size_t end, std::string& out) {
    for (std::size_t p = open + 1; p < end; ++p) {
      char c = text_[p];
      if (c == '"') return p + 1;
      if (c == '$' || c == '`') return expansion(c, p);
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p + 1 == end) { // a backslash at the end of the line
        if (end < text_.size()) return continuation(p);
        break;
      }
      char next = text_[p + 1];
      if (next == '$' || next == '`' || next == '"' || next == '\\') {
        out += next;
        ++p;
      } else {
        UKIKIT_TRY(rep_.violation(code::osrel_stray_backslash,
                                  where() + ": backslash before " + show(next) +
                                      " must itself be escaped; kept as a backslash, as sh does",
                                  p));
        out += '\\';
      }
    }
    return rep_.fail(errc::malformed, where() + ": unterminated double quote", open);
  }

  result<std::size_t> single_quoted(std::size_t open, std::size_t end, std::string& out) {
    std::size_t close = text_.find('\'', open + 1);
    if (close == std::string_view::npos || close >= end)
      return rep_.fail(errc::malformed, where() + ": unterminated single quote", open);
    out += text_.substr(open + 1, close - open - 1);
    return close + 1;
  }

  result<std::size_t> unquoted(std::size_t p, std::size_t end, std::string& out) {
    bool reported = false;
    for (; p < end; ++p) {
      char c = text_[p];
      if (is_blank(c) || c == '"' || c == '\'') break;
      if (c == '$' || c == '`') return expansion(c, p);
      if (c == ';' || c == '&' || c == '|' || c == '<' || c == '>' || c == '(' || c == ')' ||
          c == '~')
        return rep_.fail(
            errc::malformed,
            where() + ": unquoted " + show(c) + " means something else to sh; quote the value", p);
      if (c == '\\') {
        if (p + 1 == end) {
          if (end < text_.size()) return continuation(p);
          return rep_.fail(errc::malformed, where() + ": backslash at end of file", p);
        }
        UKIKIT_TRY(rep_.violation(code::osrel_unquoted_escape,
                                  where() + ": backslash escape outside quotes; quote the value",
                                  p));
        out += text_[++p];
        continue;
      }
      if (!unquoted_safe(c) && !reported) {
        UKIKIT_TRY(rep_.violation(code::osrel_unquoted_special,
                                  where() + ": value with " + show(c) + " must be quoted", p));
        reported = true;
      }
      out += c;
    }
    return p;
  }

  result<void> after_value(std::size_t p, std::size_t end) {
    std::size_t q = p;
    while (q < end && is_blank(text_[q])) ++q;
    if (q == end) {
      if (q > p) rep_.note(code::osrel_trailing_whitespace, where() + ": trailing whitespace", p);
      return success();
    }
    if (text_[q] == '#') {
      rep_.note(code::osrel_trailing_comment, where() + ": comment after the value", q);
      return success();
    }
    return rep_.fail(errc::malformed,
                     where() + ": unquoted whitespace in value (sh would run the rest as a "
                               "command); quote the value",
                     p);
  }

  void check_value(const std::string& value, std::size_t pos) {
    for (char c : value)
      if (is_control(c)) {
        rep_.note(code::osrel_control_character,
                  where() + ": value has the non-printable character " + show(c), pos);
        break;
      }
    if (invalid_utf8(value))
      rep_.note(code::osrel_invalid_utf8, where() + ": value is not valid UTF-8", pos);
  }

  // os-release(5) asks for quotes around "spaces, semicolons or other
  // special characters outside of A-Z, a-z, 0-9". Read as shell-special
  // characters: the punctuation below is literal to sh anywhere in an
  // assignment, and stands unquoted in real files (Alpine's VERSION_ID=3.18.4)
  // and in UAPI.5's own example (ID=factory-reset).
  static constexpr bool unquoted_safe(char c) noexcept {
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == ':' || c == '/' || c == '+' ||
           c == ',' || c == '@' || c == '%' || c == '=';
  }

  error expansion(char c, std::size_t p) const {
    return rep_.fail(errc::malformed,
                     where() + ": unescaped " + show(c) + " (" +
                         (c == '$' ? "variable expansion" : "command substitution") +
                         " is not supported); write \\" + c,
                     p);
  }

  error continuation(std::size_t p) const {
    return rep_.fail(errc::malformed, where() + ": line continuation is not allowed", p);
  }

  std::string_view text_;
  reporter& rep_;
  std::size_t line_ = 0;
  std::vector<os_release_entry> entries_;
};

// Splits off trailing NULs and rejects a NUL inside the text.
inline result<std::string_view> without_trailing_nuls(std::string_view text, std::size_t& nuls,
                                                      const reporter& rep) {
  nuls = trailing_nuls(text);
  std::string_view body = text.substr(0, text.size() - nuls);
  if (auto nul = body.find('\0'); nul != std::string_view::npos)
    return rep.fail(errc::malformed, "NUL byte inside the text", nul);
  return body;
}

inline result<os_release> parse_env_block(std::string_view what, std::string_view text,
                                          strictness mode, std::uint64_t base) {
  os_release out;
  reporter rep(what, out.findings, mode, base);
  UKIKIT_TRY_ASSIGN(std::string_view body, without_trailing_nuls(text, out.trailing_nuls, rep));
  env_parser parser(body, rep);
  UKIKIT_TRY_ASSIGN(out.entries, parser.run());
  return out;
}

} // namespace detail

// Parses os-release text: KEY=VALUE assignments in file order, values as sh
// sees them after sourcing. A trailing NUL (or several) is accepted.
inline result<os_release> parse_os_release(std::string_view text,
                                           strictness mode = strictness::permissive,
                                           std::uint64_t base = 0) {
  return detail::parse_env_block("os-release", text, mode, base);
}

// ---- .profile ------------------------------------------------------------------

// A profile's metadata (UAPI.5): an os-release-like block with ID= (a brief
// 7-bit ASCII identifier) and TITLE= (a human-readable name).
struct profile_metadata {
  std::optional<std::string> id;
  std::optional<std::string> title;
  os_release fields; // every assignment, and the findings
};

inline result<profile_metadata> parse_profile(std::string_view text,
                                              strictness mode = strictness::permissive,
                                              std::uint64_t base = 0) {
  UKIKIT_TRY_ASSIGN(os_release fields, detail::parse_env_block(".profile", text, mode, base));
  profile_metadata out;
  detail::reporter rep(".profile", fields.findings, mode, base);
  for (const auto& e : fields.entries) {
    const std::size_t pos = static_cast<std::size_t>(e.offset - base);
    if (e.key == "ID") {
      if (e.value.empty()) UKIKIT_TRY(rep.violation(code::profile_id_empty, "ID is empty", pos));
      for (char c : e.value) {
        if (!detail::is_ascii(c) || detail::is_control(c) || c == ' ') {
          UKIKIT_TRY(rep.violation(
              code::profile_id_not_ascii,
              "ID has " + detail::show(c) + "; UAPI.5 wants a brief 7-bit ASCII identifier", pos));
          break;
        }
      }
      out.id = e.value;
    } else if (e.key == "TITLE") {
      out.title = e.value;
    } else {
      rep.note(code::profile_unknown_field,
               e.key + " is not a .profile field (UAPI.5 defines ID= and TITLE=)", pos);
    }
  }
  out.fields = std::move(fields);
  return out;
}

// ---- kernel command line -------------------------------------------------------

struct cmdline_word {
  std::string_view raw;             // the word in the input, quotes included
  std::string param;                // as the kernel's parser sees it
  std::optional<std::string> value; // after the first '=', or nullopt without one
  std::uint64_t offset = 0;         // absolute offset of `raw`
};

struct cmdline {
  std::string_view raw;          // the text up to its first NUL, as stored
  std::size_t trailing_nuls = 0; // NULs at the end of the section
  bool trailing_newline = false; // raw ends in '\n' (ukify --cmdline @FILE keeps it)
  std::string text;              // what systemd-stub hands to the kernel
  std::vector<cmdline_word> words;
  // Index of the first word after "--": the kernel passes those to init.
  std::optional<std::size_t> init_args;
  finding_log findings;
};

namespace detail {

// systemd-stub's shall_be_whitespace(): control characters, space and DEL.
constexpr bool stub_whitespace(char c) noexcept {
  auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

// The kernel's isspace() (lib/ctype.c): \t \n \v \f \r, space, and 0xa0.
constexpr bool kernel_space(char c) noexcept {
  auto u = static_cast<unsigned char>(c);
  return u == ' ' || (u >= 0x09 && u <= 0x0d) || u == 0xa0;
}

// mangle_stub_cmdline(): drop leading and trailing whitespace, turn inner
// control characters into spaces. Returns the result and how many bytes were
// dropped at the front.
inline std::pair<std::string, std::size_t> stub_mangle(std::string_view raw) {
  std::size_t lead = 0;
  while (lead < raw.size() && stub_whitespace(raw[lead])) ++lead;
  std::string out;
  out.reserve(raw.size() - lead);
  std::size_t keep = 0;
  for (std::size_t i = lead; i < raw.size(); ++i) {
    out += stub_whitespace(raw[i]) ? ' ' : raw[i];
    if (!stub_whitespace(raw[i])) keep = out.size();
  }
  out.resize(keep);
  return {std::move(out), lead};
}

// One step of the kernel's next_arg(): the word starting at `start` (not a
// space), its end, and param/value after its quote handling.
struct kernel_arg {
  std::size_t end; // one past the word
  std::string param;
  std::optional<std::string> value;
};

inline kernel_arg next_arg(std::string_view s, std::size_t start) {
  bool in_quote = false, quoted = false;
  std::size_t args = start;
  if (s[args] == '"') {
    ++args;
    in_quote = quoted = true;
  }
  std::size_t i = 0, equals = 0; // relative to args; equals 0 means "none", as in the kernel
  for (; args + i < s.size(); ++i) {
    char c = s[args + i];
    if (kernel_space(c) && !in_quote) break;
    if (equals == 0 && c == '=') equals = i;
    if (c == '"') in_quote = !in_quote;
  }
  // The kernel cuts strings by writing NULs; track the cuts as end positions.
  std::size_t param_end = equals ? equals : i;
  std::size_t val_begin = equals + 1, val_end = i;
  auto cut = [&](std::size_t at) {
    if (at < param_end) param_end = at;
    if (equals && at >= val_begin && at < val_end) val_end = at;
  };
  if (equals && val_begin < i && s[args + val_begin] == '"') { // no quotes around the value
    ++val_begin;
    if (s[args + i - 1] == '"') cut(i - 1);
  }
  if (quoted && i > 0 && s[args + i - 1] == '"') cut(i - 1);
  kernel_arg out{args + i, std::string(s.substr(args, param_end)), std::nullopt};
  if (equals)
    out.value = val_end > val_begin ? std::string(s.substr(args + val_begin, val_end - val_begin))
                                    : std::string();
  return out;
}

inline void cmdline_findings(const cmdline& c, std::size_t lead, reporter& rep) {
  if (lead > 0)
    rep.note(code::cmdline_leading_whitespace, "leading whitespace is dropped by systemd-stub", 0);
  std::string_view body = c.raw;
  if (c.trailing_newline) body.remove_suffix(1);
  for (std::size_t i = lead; i < body.size(); ++i) {
    if (body[i] != ' ' && stub_whitespace(body[i])) {
      rep.note(code::cmdline_control_character,
               "control character " + show(body[i]) + " becomes a space in systemd-stub", i);
      break;
    }
  }
  if (!body.empty() && stub_whitespace(body.back()))
    rep.note(code::cmdline_trailing_whitespace, "trailing whitespace is dropped by systemd-stub",
             body.size() - 1);
  if (auto bad = invalid_utf8(c.raw)) rep.note(code::cmdline_invalid_utf8, "not valid UTF-8", *bad);
  if (auto nbsp = c.text.find('\xa0'); nbsp != std::string::npos)
    rep.note(code::cmdline_nbsp,
             "byte 0xa0 (U+00A0, or part of a UTF-8 character) is whitespace to the kernel",
             lead + nbsp);
  if (c.text.size() >= kernel_command_line_size)
    rep.note(code::cmdline_too_long,
             "longer than the kernel's COMMAND_LINE_SIZE (" + std::to_string(c.text.size()) +
                 " >= " + std::to_string(kernel_command_line_size) + "); the kernel truncates it",
             0);
}

} // namespace detail

// Parses a .cmdline section: what systemd-stub hands over (it stops at the
// first NUL, drops leading and trailing whitespace, and turns control
// characters into spaces), and the kernel's split of that into words
// (lib/cmdline.c next_arg: double quotes group, and are removed around a
// whole word or value).
inline result<cmdline> parse_cmdline(std::string_view text,
                                     strictness mode = strictness::permissive,
                                     std::uint64_t base = 0) {
  cmdline out;
  detail::reporter rep(".cmdline", out.findings, mode, base);
  std::size_t nul = text.find('\0');
  out.raw = text.substr(0, nul);
  if (nul != std::string_view::npos) {
    out.trailing_nuls = detail::trailing_nuls(text);
    if (nul + out.trailing_nuls != text.size())
      UKIKIT_TRY(rep.violation(
          code::cmdline_after_nul,
          "bytes after the NUL at " + hex(base + nul) + " are ignored by systemd-stub", nul));
  }
  out.trailing_newline = !out.raw.empty() && out.raw.back() == '\n';
  auto [mangled, lead] = detail::stub_mangle(out.raw);
  out.text = std::move(mangled);
  detail::cmdline_findings(out, lead, rep);

  const std::string_view s = out.text;
  std::size_t pos = 0;
  while (pos < s.size() && detail::kernel_space(s[pos])) ++pos;
  while (pos < s.size()) {
    detail::kernel_arg arg = detail::next_arg(s, pos);
    if (std::count(s.begin() + static_cast<std::ptrdiff_t>(pos),
                   s.begin() + static_cast<std::ptrdiff_t>(arg.end), '"') %
            2 !=
        0)
      rep.note(code::cmdline_unbalanced_quote,
               "unbalanced double quote: the kernel reads to the end of the line as one word",
               lead + pos);
    if (!out.init_args && !arg.value && arg.param == "--") out.init_args = out.words.size() + 1;
    out.words.push_back({out.raw.substr(lead + pos, arg.end - pos), std::move(arg.param),
                         std::move(arg.value), base + lead + pos});
    pos = arg.end;
    while (pos < s.size() && detail::kernel_space(s[pos])) ++pos;
  }
  return out;
}

// ---- uname -r ------------------------------------------------------------------

struct uname {
  std::string_view release;      // e.g. "6.1.0-56-amd64"
  bool trailing_newline = false; // one '\n' after it (as `uname -r > file` leaves)
  std::size_t trailing_nuls = 0;
  finding_log findings;
};

// Parses a .uname section: one line of at most 64 printable ASCII bytes
// without whitespace, optionally ending in a newline and NULs.
inline result<uname> parse_uname(std::string_view text, strictness mode = strictness::permissive,
                                 std::uint64_t base = 0) {
  uname out;
  detail::reporter rep(".uname", out.findings, mode, base);
  UKIKIT_TRY_ASSIGN(std::string_view body,
                    detail::without_trailing_nuls(text, out.trailing_nuls, rep));
  if (!body.empty() && body.back() == '\n') {
    out.trailing_newline = true;
    body.remove_suffix(1);
  }
  if (body.empty()) return rep.fail(errc::malformed, "empty", 0);
  if (auto nl = body.find('\n'); nl != std::string_view::npos)
    return rep.fail(errc::malformed, "more than one line", nl);
  if (body.size() > max_uname_length)
    return rep.fail(errc::limit_exceeded,
                    "longer than the kernel's limit (" + std::to_string(body.size()) + " > " +
                        std::to_string(max_uname_length) + " bytes)",
                    max_uname_length);
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (detail::is_control(c) || c == ' ')
      return rep.fail(errc::malformed, "has the whitespace or control character " + detail::show(c),
                      i);
    if (!detail::is_ascii(c)) {
      UKIKIT_TRY(
          rep.violation(code::uname_not_ascii, "has the non-ASCII byte " + detail::show(c), i));
      break;
    }
  }
  if (!detail::is_digit(body.front()))
    rep.note(code::uname_not_a_release, "does not start with a digit, as kernel releases do", 0);
  out.release = body;
  return out;
}

// ---- SBAT ----------------------------------------------------------------------

struct sbat_entry {
  std::string_view component_name;
  std::uint32_t component_generation = 0;
  std::string_view vendor_name;
  std::string_view vendor_package_name;
  std::string_view vendor_version;
  std::string_view vendor_url;
  std::size_t line = 0;     // 1-based
  std::uint64_t offset = 0; // absolute offset of the row
};

struct sbat {
  std::vector<sbat_entry> entries;
  std::size_t trailing_nuls = 0;
  finding_log findings;
};

namespace detail {

// component_generation: a decimal number > 0 that fits 32 bits.
inline std::optional<std::uint32_t> sbat_generation(std::string_view s) noexcept {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > UINT32_MAX) return std::nullopt;
  }
  if (v == 0) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

inline result<sbat_entry> sbat_row(std::string_view row, std::size_t pos, std::size_t line,
                                   reporter& rep) {
  std::array<std::string_view, sbat_columns.size()> f{};
  std::array<std::size_t, sbat_columns.size()> at{};
  std::size_t n = 0, start = 0;
  for (;;) {
    std::size_t comma = row.find(',', start);
    std::string_view field =
        row.substr(start, comma == std::string_view::npos ? row.npos : comma - start);
    if (n < f.size()) {
      f[n] = field;
      at[n] = pos + start;
    }
    ++n;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  const std::string where = line_label(line);
  if (n < f.size())
    return rep.fail(errc::malformed,
                    where + ": " + std::to_string(n) + " fields, SBAT rows have 6 (" +
                        std::string(sbat_columns[0]) + ",…," + std::string(sbat_columns[5]) + ")",
                    pos);
  if (n > f.size())
    UKIKIT_TRY(rep.violation(code::sbat_extra_fields,
                             where + ": " + std::to_string(n) +
                                 " fields; shim ignores everything after the sixth",
                             at[5] + f[5].size()));
  for (std::size_t i = 0; i < f.size(); ++i)
    if (f[i].empty())
      return rep.fail(errc::malformed, where + ": " + std::string(sbat_columns[i]) + " is empty",
                      at[i]);
  auto generation = sbat_generation(f[1]);
  if (!generation)
    return rep.fail(errc::malformed,
                    where + ": component_generation '" + std::string(f[1]) +
                        "' is not a decimal number from 1 to 4294967295",
                    at[1]);
  for (char c : row)
    if (!is_ascii(c) || is_control(c)) {
      rep.note(code::sbat_not_ascii,
               where + ": has the byte " + show(c) + " (SBAT text is printable ASCII)", pos);
      break;
    }
  return sbat_entry{f[0], *generation, f[2], f[3], f[4], f[5], line, rep.at(pos)};
}

// The rows of `body` from `pos`. A row ends at LF or CR, as in shim's
// parse_csv_data; empty rows are skipped. Lines are counted by LF.
inline result<void> sbat_rows(std::string_view body, std::size_t pos, reporter& rep,
                              std::vector<sbat_entry>& entries) {
  std::size_t line = 1;
  bool cr_reported = false;
  while (pos < body.size()) {
    std::size_t end = body.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view row = body.substr(pos, end - pos);
    if (!row.empty()) {
      UKIKIT_TRY_ASSIGN(sbat_entry e, sbat_row(row, pos, line, rep));
      entries.push_back(e);
    } else if (pos == 0 || body[pos - 1] == '\n') {
      rep.note(code::sbat_blank_line, line_label(line) + " is blank (shim skips it)", pos);
    }
    if (end < body.size() && body[end] == '\r' && !cr_reported) {
      rep.note(code::sbat_cr, line_label(line) + " ends with CR (shim ends rows at CR and at LF)",
               end);
      cr_reported = true;
    }
    if (end < body.size() && body[end] == '\n') ++line;
    pos = end + 1;
  }
  return success();
}

} // namespace detail

// Parses SBAT CSV: rows of six comma-separated fields (no quoting), the first
// being `sbat,1,…` (the format version). Rows end in LF or CR (CR LF and
// blank lines are tolerated, as shim does); trailing NULs are accepted.
inline result<sbat> parse_sbat(std::string_view text, strictness mode = strictness::permissive,
                               std::uint64_t base = 0) {
  sbat out;
  detail::reporter rep(".sbat", out.findings, mode, base);
  UKIKIT_TRY_ASSIGN(std::string_view body,
                    detail::without_trailing_nuls(text, out.trailing_nuls, rep));
  std::size_t pos = 0;
  if (body.starts_with("\xef\xbb\xbf")) {
    rep.note(code::sbat_bom, "UTF-8 byte order mark (shim skips it)", 0);
    pos = 3;
  }
  UKIKIT_TRY(detail::sbat_rows(body, pos, rep, out.entries));
  if (out.entries.empty()) return rep.fail(errc::malformed, "no SBAT rows", 0);
  const sbat_entry& first = out.entries.front();
  if (first.component_name != "sbat")
    return rep.fail(errc::malformed,
                    "the first row must be the SBAT version row sbat,1,… (found '" +
                        std::string(first.component_name) + "')",
                    static_cast<std::size_t>(first.offset - base));
  if (first.component_generation != 1)
    return rep.fail(errc::unsupported,
                    "SBAT format version " + std::to_string(first.component_generation) +
                        " is not supported (only sbat,1)",
                    static_cast<std::size_t>(first.offset - base));
  for (std::size_t i = 1; i < out.entries.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (out.entries[j].component_name == out.entries[i].component_name) {
        rep.note(code::sbat_duplicate_component,
                 detail::line_label(out.entries[i].line) + ": component " +
                     std::string(out.entries[i].component_name) + " listed again (first on " +
                     detail::line_label(out.entries[j].line) + ")",
                 static_cast<std::size_t>(out.entries[i].offset - base));
        break;
      }
  return out;
}

// ---- SbatLevel ---------------------------------------------------------------------

// A revocation policy as shim reads its SbatLevel variable (SBAT.md; shim's
// sbat.c): a first row `sbat,1,DATESTAMP`, then rows `component,generation`
// (a third field, a date, may follow and is ignored). An image is revoked
// when a component it lists has a generation below the policy's for that
// component name; an image with no .sbat at all is refused by shim under
// any policy. The file may be the efivarfs file itself
// (SbatLevelRT-605dab50-…): its 4-byte attribute prefix is skipped.
struct sbat_level_entry {
  std::string_view component_name;
  std::uint32_t component_generation = 0;
  std::size_t line = 0; // 1-based
};

struct sbat_level {
  std::string_view datestamp;            // of the first row; may be empty
  std::vector<sbat_level_entry> entries; // the first row (sbat,1) included
  finding_log findings;
};

inline result<sbat_level> parse_sbat_level(std::string_view text,
                                           strictness mode = strictness::permissive) {
  sbat_level out;
  detail::reporter rep("SbatLevel", out.findings, mode, 0);
  std::size_t pos = 0;
  if (text.size() > 4 && text.substr(0, 5) != "sbat," && text.substr(4, 5) == "sbat,")
    pos = 4; // efivarfs: the variable's attributes first
  std::size_t nuls = 0;
  UKIKIT_TRY_ASSIGN(std::string_view body,
                    detail::without_trailing_nuls(text.substr(pos), nuls, rep));
  body = text.substr(0, pos + body.size());
  if (body.substr(pos).starts_with("\xef\xbb\xbf")) pos += 3;
  std::size_t line = 1;
  while (pos < body.size()) {
    std::size_t end = body.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view row = body.substr(pos, end - pos);
    if (!row.empty()) {
      const std::string where = detail::line_label(line);
      const std::size_t comma = row.find(',');
      if (comma == std::string_view::npos || comma == 0)
        return rep.fail(errc::malformed, where + " is not component,generation", pos);
      std::string_view gen = row.substr(comma + 1);
      std::string_view rest;
      if (auto c2 = gen.find(','); c2 != std::string_view::npos) {
        rest = gen.substr(c2 + 1);
        gen = gen.substr(0, c2);
      }
      auto g = detail::sbat_generation(gen);
      if (!g)
        return rep.fail(errc::malformed,
                        where + ": the generation is not a decimal number from 1 to 4294967295",
                        pos + comma + 1);
      if (out.entries.empty()) {
        if (row.substr(0, comma) != "sbat" || *g != 1)
          return rep.fail(errc::malformed, where + ": the first row must be sbat,1,DATESTAMP", pos);
        out.datestamp = rest;
      }
      out.entries.push_back({row.substr(0, comma), *g, line});
    }
    if (end < body.size() && body[end] == '\n') ++line;
    pos = end + 1;
  }
  if (out.entries.empty()) return rep.fail(errc::malformed, "no rows (sbat,1,DATESTAMP first)", 0);
  return out;
}

// The rows of `image` that `policy` revokes: each with the policy row that
// revokes it.
struct sbat_revocation {
  const sbat_entry* image_row;
  const sbat_level_entry* policy_row;
};

inline std::vector<sbat_revocation> sbat_revoked(const sbat& image, const sbat_level& policy) {
  std::vector<sbat_revocation> out;
  for (const auto& p : policy.entries)
    for (const auto& e : image.entries)
      if (e.component_name == p.component_name && e.component_generation < p.component_generation)
        out.push_back({&e, &p});
  return out;
}

// ---- sections ------------------------------------------------------------------

// The text of a section as systemd-stub reads it: min(VirtualSize,
// SizeOfRawData) bytes.
inline std::string_view section_text(const pe::section& s) noexcept { return as_chars(s.data()); }

// The parsers above over a section, with offsets in the file.
inline result<os_release> parse_os_release(const pe::section& s,
                                           strictness mode = strictness::permissive) {
  return parse_os_release(section_text(s), mode, s.pointer_to_raw_data);
}
inline result<profile_metadata> parse_profile(const pe::section& s,
                                              strictness mode = strictness::permissive) {
  return parse_profile(section_text(s), mode, s.pointer_to_raw_data);
}
inline result<cmdline> parse_cmdline(const pe::section& s,
                                     strictness mode = strictness::permissive) {
  return parse_cmdline(section_text(s), mode, s.pointer_to_raw_data);
}
inline result<uname> parse_uname(const pe::section& s, strictness mode = strictness::permissive) {
  return parse_uname(section_text(s), mode, s.pointer_to_raw_data);
}
inline result<sbat> parse_sbat(const pe::section& s, strictness mode = strictness::permissive) {
  return parse_sbat(section_text(s), mode, s.pointer_to_raw_data);
}

} // namespace ukikit::uki
