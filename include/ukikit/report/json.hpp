// How the reports' JSON is written out: the text `ukiinspect --json` and
// `ukiverify --json` print, so that an embedder gets the same bytes.
// Included by ukikit/report.hpp; include that instead.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace ukikit::report {

using ojson = nlohmann::ordered_json;

// Two-space indentation, keys in report order. Names from inputs need not be
// UTF-8: invalid bytes become U+FFFD instead of aborting, so the text is
// always one valid JSON document.
inline std::string json_text(const ojson& j) {
  return j.dump(2, ' ', false, ojson::error_handler_t::replace);
}

} // namespace ukikit::report
