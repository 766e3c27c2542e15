// Findings: what a parser or checker has to say about an input besides a
// hard error. A finding has a severity, a stable code from the documented
// list (README, "Finding codes"), the absolute offset and length of the bytes
// it is about, and a short message. Callers decide by code and severity,
// never by message text.
#pragma once

#include "result.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit {

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

  bool is_error() const noexcept { return level == severity::error; }

  // "message at offset 0x… (N bytes)".
  std::string text() const {
    std::string s = message;
    if (offset != error::no_offset) s += " at offset " + hex(offset);
    if (length != 0) s += " (" + std::to_string(length) + " bytes)";
    return s;
  }
};

inline bool has_errors(const std::vector<finding>& findings) noexcept {
  return std::any_of(findings.begin(), findings.end(),
                     [](const finding& f) { return f.is_error(); });
}

// {"code", "severity", "offset", "length", "message"}; offset is null when
// the finding has none.
inline nlohmann::ordered_json to_json(const finding& f) {
  nlohmann::ordered_json j{{"code", std::string(f.code)},
                           {"severity", std::string(severity_name(f.level))},
                           {"offset", nullptr},
                           {"length", f.length},
                           {"message", f.message}};
  if (f.offset != error::no_offset) j["offset"] = f.offset;
  return j;
}

inline nlohmann::ordered_json to_json(const std::vector<finding>& findings) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const auto& f : findings) a.push_back(to_json(f));
  return a;
}

} // namespace ukikit
