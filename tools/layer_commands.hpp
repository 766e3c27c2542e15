// `ukikit layer list`: a tar layer (any compression) listed as `tar -t`,
// `tar --numeric-owner --utc -tv` or JSON, with what the reader found.
#pragma once

#include "cli.hpp"

#include <ukikit/file.hpp>
#include <ukikit/report/layer.hpp>

#include <iostream>
#include <string>

namespace ukikit::cli {

struct layer_options {
  std::string file, max_size = "64G";
  bool json = false, verbose = false, strict = false;
};

inline int run_layer_list(const layer_options& o) {
  constexpr std::string_view tool = "ukikit layer list";
  report::layer_options lo;
  lo.mode = o.strict ? strictness::strict : strictness::permissive;
  auto limit = parse_size(o.max_size);
  if (!limit) return report(tool, limit.error());
  lo.max_size = *limit;
  std::optional<file::mapped_file> in;
  if (!is_empty_regular_file(o.file)) {
    auto f = file::mapped_file::open(o.file);
    if (!f) return report(tool, f.error());
    in = std::move(*f);
    in->advise_sequential();
  }
  auto rep = report::list_layer(in ? in->bytes() : byte_span{}, lo);
  if (!rep) {
    error e = rep.error().code() == errc::limit_exceeded
                  ? rep.error().prefixed(o.file + " (raise the limit with --max-size)")
                  : rep.error().prefixed(o.file);
    return report(tool, e);
  }
  if (o.json) {
    std::cout << json_text(report::to_json(*rep)) << '\n';
  } else {
    std::cout << (o.verbose ? report::tar_tv(rep->entries) : report::tar_t(rep->entries));
    for (const auto& f : rep->findings.kept())
      std::cerr << tool << ": " << severity_name(f.level) << ": "
                << escape_controls(f.subject.empty() ? f.text() : f.subject + ": " + f.text())
                << " [" << f.code << "]\n";
    if (rep->findings.dropped() != 0)
      std::cerr << tool << ": " << rep->findings.dropped() << " more findings not shown\n";
  }
  return exit_ok;
}

inline void add_layer_command(CLI::App& app, layer_options& o, int& rc) {
  auto* layer = app.add_subcommand("layer", "tar layers of OCI images");
  layer->require_subcommand(1);
  auto* list = layer->add_subcommand(
      "list", "List a tar layer, raw or gzip/zstd/xz compressed, as tar -t (-v: as "
              "tar --numeric-owner --utc -tv); what the reader tolerated goes to stderr");
  list->add_flag("--json", o.json, "One JSON document: entries and findings");
  list->add_flag("-v,--verbose", o.verbose, "Mode, owner, size, time, name and link target");
  list->add_flag("--strict", o.strict,
                 "Refuse (exit 2) what readers disagree on: pax and ustar sizes that differ, a "
                 "size on a link or directory, a lone zero block, data after the end, a missing "
                 "end");
  list->add_option("--max-size", o.max_size,
                   "Largest decompressed layer (bomb limit; default 64G; suffixes K, M, G, T)");
  list->add_option("FILE", o.file, "Layer file (tar, tar+gzip, tar+zstd, tar+xz)")
      ->required()
      ->check(CLI::ExistingFile);
  list->callback([&o, &rc] { rc = run_layer_list(o); });
}

} // namespace ukikit::cli
