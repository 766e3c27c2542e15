// Applying tar layers (raw or gzip/zstd/xz, streamed through feed_layer, the
// decoder path of `ukikit layer list`) to one root directory, base layer
// first, as `umoci unpack` does; the report as data and JSON. `ukikit layer
// extract` prints these; an embedder gets the same.
//
// A layer that is truncated or malformed stops the run after what came
// before it was applied (its directory attributes too); later layers are not
// applied.
#pragma once

#include "../extract.hpp"
#include "layer.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ukikit::report {

struct layer_extract_options {
  layer_options read;     // strictness and the decompression limit, per layer
  extract::options write; // owners, modes, times, devices
};

struct layer_input {
  std::string name; // for the report (a file name)
  byte_span bytes;
};

struct layer_applied {
  std::string name;
  layer_report stream;       // compression, sizes, reader findings (entries unused)
  extract::report extracted; // what was made, removed and refused
};

struct layer_extract_report {
  std::vector<layer_applied> layers; // those applied, in order
  std::optional<error> stopped;      // why the run stopped (the layer is the last listed)

  std::uint64_t refused() const noexcept {
    std::uint64_t n = 0;
    for (const auto& l : layers) n += l.extracted.findings.total();
    return n;
  }
};

// Applies `layers` in order to `root`. An error only when the target cannot
// be used at all; a bad layer is `stopped`.
inline result<layer_extract_report> extract_layers(const std::vector<layer_input>& layers,
                                                   const extract::target& root,
                                                   const layer_extract_options& opts = {}) {
  layer_extract_report rep;
  for (const layer_input& in : layers) {
    UKIKIT_TRY_ASSIGN(extract::target t, root.duplicate());
    extract::layer_extractor x(std::move(t), opts.write);
    layer_applied& done = rep.layers.emplace_back();
    done.name = in.name;
    auto fed = feed_layer(in.bytes, opts.read, x, done.stream);
    auto finished = x.finish();
    if (finished) done.extracted = std::move(*finished);
    if (!fed) {
      rep.stopped = std::move(fed).error().prefixed(in.name);
      break;
    }
    if (!finished) {
      rep.stopped = std::move(finished).error().prefixed(in.name);
      break;
    }
  }
  return rep;
}

// {"directory", "layers": [{"file", "compression", "size", "tar_size",
//  "directories", "files", "symlinks", "hardlinks", "nodes", "whiteouts",
//  "refused": [{"name", "offset", "reason", "code"}], "refused_dropped",
//  "findings": [...]}], "refused_total", "error"}
inline nlohmann::ordered_json to_json(const layer_extract_report& r, const std::string& directory) {
  nlohmann::ordered_json j;
  j["directory"] = directory;
  j["layers"] = nlohmann::ordered_json::array();
  for (const auto& l : r.layers) {
    const extract::report& x = l.extracted;
    nlohmann::ordered_json o{{"file", l.name},
                             {"compression", std::string(compress::name(l.stream.compression))},
                             {"size", l.stream.size},
                             {"tar_size", l.stream.tar_size},
                             {"directories", x.directories},
                             {"files", x.files},
                             {"symlinks", x.symlinks},
                             {"hardlinks", x.hardlinks},
                             {"nodes", x.nodes},
                             {"whiteouts", x.whiteouts},
                             {"refused", nlohmann::ordered_json::array()}};
    for (const auto& f : x.findings)
      o["refused"].push_back({{"name", f.subject},
                              {"offset", f.offset},
                              {"reason", f.message},
                              {"code", std::string(f.code)}});
    o["refused_dropped"] = x.findings.dropped();
    o["findings"] = to_json(l.stream.findings.kept());
    j["layers"].push_back(std::move(o));
  }
  j["refused_total"] = r.refused();
  j["error"] = r.stopped ? nlohmann::ordered_json(r.stopped->message()) : nullptr;
  return j;
}

} // namespace ukikit::report
