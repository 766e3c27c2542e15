// Findings: what a parser or checker has to say about an input besides a
// hard error. A finding has a severity, a stable code from the documented
// list (README, "Finding codes"), the absolute offset and length of the bytes
// it is about, and a short message. Callers decide by code and severity,
// never by message text. Parsers collect them in one bounded finding_log,
// which counts what it did not keep.
#pragma once

#include "result.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit {

// How a parser treats input that breaks a "must" of its specification but
// still has one clear meaning.
//   strict:     an error.
//   permissive: a finding, and the clear meaning is used.
//   kernel:     read exactly as the Linux kernel reads it (cpio's
//               init/initramfs.c), reporting each quirk it tolerates as a
//               finding. Formats the kernel does not read treat it as
//               permissive.
enum class strictness : std::uint8_t { strict, permissive, kernel };

enum class severity : std::uint8_t { note, warning, error };

constexpr std::string_view severity_name(severity s) noexcept {
  switch (s) {
  case severity::note: return "note";
  case severity::warning: return "warning";
  case severity::error: return "error";
  }
  return "unknown";
}

struct finding {
  severity level = severity::warning;
  std::string_view code; // a string literal from the documented list
  std::string message;
  std::uint64_t offset = error::no_offset;
  std::uint64_t length = 0; // bytes the finding is about; 0 when it is not a range
  // Optional: the name of what the finding is about (an archive entry, a
  // section), raw as in the input; and, for a mismatch, the value the input
  // claims and the one computed from it.
  std::string subject;
  std::string claimed;
  std::string computed;

  finding() = default;
  finding(severity lvl, std::string_view c, std::string msg, std::uint64_t off = error::no_offset,
          std::uint64_t len = 0)
      : level(lvl), code(c), message(std::move(msg)), offset(off), length(len) {}

  bool is_error() const noexcept { return level == severity::error; }

  // "message at offset 0x… (N bytes)"; with a mismatch also
  // ": claimed …, computed …".
  std::string text() const {
    std::string s = message;
    if (offset != error::no_offset) s += " at offset " + hex(offset);
    if (length != 0) s += " (" + std::to_string(length) + " bytes)";
    if (!claimed.empty() || !computed.empty())
      s += ": claimed " + claimed + ", computed " + computed;
    return s;
  }
};

inline bool has_errors(const std::vector<finding>& findings) noexcept {
  return std::any_of(findings.begin(), findings.end(),
                     [](const finding& f) { return f.is_error(); });
}

// The findings of one parse or check: the first `limit` are kept, all are
// counted, so that hostile input cannot make a report of gigabytes and a
// reader still learns how many there were.
class finding_log {
public:
  static constexpr std::size_t default_limit = 1000;

  explicit finding_log(std::size_t limit = default_limit) noexcept : limit_(limit) {}

  void add(finding f) {
    if (kept_.size() < limit_) {
      kept_.push_back(std::move(f));
    } else {
      ++dropped_;
      if (f.is_error()) ++dropped_errors_;
    }
  }
  void add(severity level, std::string_view code, std::string message,
           std::uint64_t offset = error::no_offset, std::uint64_t length = 0) {
    add(finding(level, code, std::move(message), offset, length));
  }
  // Every finding of `other`: the kept ones in order (as far as this log has
  // room), the dropped ones counted. `other` is left empty.
  void append(finding_log&& other) {
    for (auto& f : other.kept_) add(std::move(f));
    dropped_ += other.dropped_;
    dropped_errors_ += other.dropped_errors_;
    other.kept_.clear();
    other.dropped_ = other.dropped_errors_ = 0;
  }

  const std::vector<finding>& kept() const noexcept { return kept_; }
  // Iteration goes over the kept findings.
  std::vector<finding>::const_iterator begin() const noexcept { return kept_.begin(); }
  std::vector<finding>::const_iterator end() const noexcept { return kept_.end(); }
  std::uint64_t dropped() const noexcept { return dropped_; }
  std::uint64_t total() const noexcept { return kept_.size() + dropped_; }
  bool empty() const noexcept { return total() == 0; }
  // True when any finding, kept or dropped, is an error.
  bool has_errors() const noexcept { return dropped_errors_ != 0 || ukikit::has_errors(kept_); }
  std::size_t limit() const noexcept { return limit_; }

  // Moves the kept findings out; afterwards the log holds only the count of
  // those it dropped.
  std::vector<finding> take() noexcept { return std::exchange(kept_, {}); }

private:
  std::size_t limit_;
  std::vector<finding> kept_;
  std::uint64_t dropped_ = 0;
  std::uint64_t dropped_errors_ = 0;
};

// {"code", "severity", "offset", "length", "message"}; offset is null when
// the finding has none. "subject", "claimed" and "computed" are added when
// the finding has them.
inline nlohmann::ordered_json to_json(const finding& f) {
  nlohmann::ordered_json j{{"code", std::string(f.code)},
                           {"severity", std::string(severity_name(f.level))},
                           {"offset", nullptr},
                           {"length", f.length},
                           {"message", f.message}};
  if (f.offset != error::no_offset) j["offset"] = f.offset;
  if (!f.subject.empty()) j["subject"] = f.subject;
  if (!f.claimed.empty() || !f.computed.empty()) {
    j["claimed"] = f.claimed;
    j["computed"] = f.computed;
  }
  return j;
}

inline nlohmann::ordered_json to_json(const std::vector<finding>& findings) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const auto& f : findings) a.push_back(to_json(f));
  return a;
}

} // namespace ukikit
