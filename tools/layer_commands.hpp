// `ukikit layer list`: a tar layer (any compression) listed as `tar -t`,
// `tar --numeric-owner --utc -tv` or JSON, with what the reader found.
// `ukikit layer create`: a reproducible layer of a directory tree.
#pragma once

#include "cli.hpp"

#include <ukikit/file.hpp>
#include <ukikit/image/source.hpp>
#include <ukikit/report/layer.hpp>
#include <ukikit/report/layer_create.hpp>
#include <ukikit/report/layer_extract.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
  std::optional<file::read_file> raw; // tar -t/-tv of a file: read, not mapped
  std::optional<image::source> store; // FILE may be REF@DIGEST: a layer in an image store
  byte_span bytes;
  std::error_code ec;
  auto blob =
      std::filesystem::exists(o.file, ec) ? std::nullopt : image::parse_blob_reference(o.file);
  if (blob) {
    if (!*blob) return report(tool, blob->error());
    auto src = image::source::open((*blob)->ref);
    if (!src) return report(tool, src.error());
    store = std::move(*src);
    auto b = store->blob((*blob)->digest);
    if (!b)
      return report(tool, b.error(),
                    b.error().code() == errc::checksum_mismatch ? exit_failed : exit_usage);
    bytes = *b;
  } else if (!is_empty_regular_file(o.file) && !o.json) {
    auto f = file::read_file::open(o.file);
    if (!f) return report(tool, f.error());
    raw = std::move(*f);
  } else if (!is_empty_regular_file(o.file)) {
    auto f = file::mapped_file::open(o.file);
    if (!f) return report(tool, f.error());
    in = std::move(*f);
    in->advise_sequential();
    bytes = in->bytes();
  }
  auto failed = [&](const error& err) {
    error e = err.code() == errc::limit_exceeded
                  ? err.prefixed(o.file + " (raise the limit with --max-size)")
                  : err.prefixed(o.file);
    return report(tool, e);
  };
  if (o.json) {
    auto rep = report::list_layer(bytes, lo);
    if (!rep) return failed(rep.error());
    std::cout << json_text(report::to_json(*rep)) << '\n';
    return exit_ok;
  }
  // The lines are made as the layer streams and printed once it is read
  // whole: an error prints none.
  std::string text;
  const auto format = o.verbose ? report::listing_format::verbose : report::listing_format::names;
  auto rep = raw ? report::list_layer_text(*raw, lo, format, text)
                 : report::list_layer_text(bytes, lo, format, text);
  if (!rep) return failed(rep.error());
  std::cout << text;
  for (const auto& f : rep->findings.kept())
    std::cerr << tool << ": " << severity_name(f.level) << ": "
              << escape_controls(f.subject.empty() ? f.text() : f.subject + ": " + f.text()) << " ["
              << f.code << "]\n";
  if (rep->findings.dropped() != 0)
    std::cerr << tool << ": " << rep->findings.dropped() << " more findings not shown\n";
  return exit_ok;
}

// ---- layer create ---------------------------------------------------------------

struct layer_create_args {
  std::string directory, output, compression = "gzip";
  std::optional<int> level;
  std::optional<std::int64_t> mtime;
  unsigned threads = 1;
  bool json = false;
};

// --mtime, else SOURCE_DATE_EPOCH (decimal seconds), else 0.
inline result<std::int64_t> layer_mtime(const layer_create_args& o) {
  if (o.mtime) return *o.mtime;
  UKIKIT_TRY_ASSIGN(std::uint64_t v, source_date_epoch(static_cast<std::uint64_t>(INT64_MAX)));
  return static_cast<std::int64_t>(v);
}

inline result<void> run_layer_create(const layer_create_args& o) {
  report::layer_create_options co;
  UKIKIT_TRY_ASSIGN(co.walk.mtime, layer_mtime(o));
  co.level = o.level;
  co.threads = o.threads;
  auto f = compress::from_name(o.compression);
  if (!f)
    return error(errc::invalid_argument,
                 "cannot compress as " + o.compression + " (use gzip, zstd or none)");
  co.compression = *f;
  UKIKIT_TRY_ASSIGN(auto out, output::open(o.output));
  progress bar("writing " + o.output, 0);
  std::uint64_t done = 0;
  auto sink = [&](byte_span b) {
    done += b.size();
    bar.update(done);
    return out.write(b);
  };
  UKIKIT_TRY_ASSIGN(auto layer, report::create_layer(o.directory, co, sink));
  UKIKIT_TRY(out.commit());
  std::ostream& data = o.output == "-" ? std::cerr : std::cout; // stdout may hold the layer
  if (o.json) {
    data << json_text(report::to_json(layer)) << '\n';
  } else {
    data << "digest: " << layer.digest.str() << "\ndiff_id: " << layer.diff_id.str()
         << "\nsize: " << layer.size << "\nmedia_type: " << layer.media_type << '\n';
  }
  for (const auto& w : layer.findings.kept())
    std::cerr << "ukikit layer create: " << severity_name(w.level) << ": "
              << escape_controls(w.subject.empty() ? w.text() : w.subject + ": " + w.text()) << " ["
              << w.code << "]\n";
  if (layer.findings.dropped() != 0)
    std::cerr << "ukikit layer create: " << layer.findings.dropped() << " more findings\n";
  return success();
}

inline void add_layer_create_command(CLI::App& layer, int& rc) {
  auto o = std::make_shared<layer_create_args>(); // lives as long as the callback
  auto* create = layer.add_subcommand(
      "create", "Create a reproducible OCI layer (tar, sorted, owners 0:0, fixed mtime) of a "
                "directory tree; prints digest, diff_id, size and media_type");
  create->add_option("DIR", o->directory, "Directory tree (its contents, not itself)")
      ->required()
      ->check(CLI::ExistingDirectory);
  create->add_option("-o,--output", o->output, "Layer file (written atomically), or - for stdout")
      ->required();
  create->add_option("--compress", o->compression, "gzip (default), zstd or none")
      ->check(CLI::IsMember({"gzip", "zstd", "none"}));
  create->add_option("--level", o->level, "Compression level (gzip default 6, zstd default 3)");
  create->add_option("--threads", o->threads, "zstd worker threads (the bytes depend on it)");
  create->add_option("--mtime", o->mtime,
                     "mtime of every entry, in seconds (default: SOURCE_DATE_EPOCH, else 0)");
  add_json_flag(*create, o->json,
                "One JSON object: digest, diff_id, size, media_type, tar_size, entries, "
                "findings");
  create->callback([o, &rc] {
    auto r = run_layer_create(*o);
    rc = r ? exit_ok : report("ukikit layer create", r.error());
  });
}

// `ukikit layer extract FILE... DIR`: layers applied in order to DIR as
// umoci unpack applies them. Refused entries are warnings on stderr (and
// under "refused" in --json) and make the exit status 1; a layer that is
// unreadable, truncated or malformed is 2, after what came before it was
// applied.
struct layer_extract_args {
  std::vector<std::string> paths; // FILE... DIR
  std::string max_size = "64G";
  bool json = false, strict = false, owner = false, devices = false;
};

inline int run_layer_extract(const layer_extract_args& o) {
  constexpr std::string_view tool = "ukikit layer extract";
  if (o.paths.size() < 2) return report(tool, error(errc::invalid_argument, "need FILE... DIR"));
  report::layer_extract_options eo;
  eo.read.mode = o.strict ? strictness::strict : strictness::permissive;
  auto limit = parse_size(o.max_size);
  if (!limit) return report(tool, limit.error());
  eo.read.max_size = *limit;
  eo.write.keep_owner = o.owner;
  eo.write.create_devices = o.devices;
  eo.write.keep_special_bits = true; // as umoci and tar -p
  const std::string& directory = o.paths.back();
  std::vector<file::mapped_file> maps;
  std::vector<report::layer_input> inputs;
  for (std::size_t i = 0; i + 1 < o.paths.size(); ++i) {
    report::layer_input in{o.paths[i], {}};
    if (!is_empty_regular_file(o.paths[i])) {
      auto f = file::mapped_file::open(o.paths[i]);
      if (!f) return report(tool, f.error());
      f->advise_sequential();
      in.bytes = f->bytes();
      maps.push_back(std::move(*f));
    }
    inputs.push_back(std::move(in));
  }
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return report(tool, error(errc::io, "cannot create " + directory + ": " + ec.message()));
  auto target = extract::target::open(directory);
  if (!target) return report(tool, target.error());
  auto rep = report::extract_layers(inputs, *target, eo);
  if (!rep) return report(tool, rep.error());
  for (const auto& l : rep->layers) {
    for (const auto& f : l.stream.findings.kept())
      std::cerr << tool << ": " << l.name << ": " << severity_name(f.level) << ": "
                << escape_controls(f.subject.empty() ? f.text() : f.subject + ": " + f.text())
                << " [" << f.code << "]\n";
    for (const auto& f : l.extracted.findings)
      std::cerr << tool << ": " << l.name << ": refused \"" << escape_controls(f.subject)
                << "\" at offset " << hex(f.offset) << ": " << escape_controls(f.message) << " ["
                << f.code << "]\n";
    if (l.extracted.findings.dropped() != 0)
      std::cerr << tool << ": " << l.name << ": " << l.extracted.findings.dropped()
                << " more refusals not shown\n";
  }
  if (o.json) std::cout << json_text(report::to_json(*rep, directory)) << '\n';
  if (rep->stopped) {
    error e = rep->stopped->code() == errc::limit_exceeded
                  ? rep->stopped->prefixed("(raise the limit with --max-size)")
                  : *rep->stopped;
    return report(tool, e);
  }
  return rep->refused() == 0 ? exit_ok : exit_failed;
}

inline void add_layer_extract(CLI::App& layer, int& rc) {
  auto o = std::make_shared<layer_extract_args>(); // lives as long as the callback
  auto* x = layer.add_subcommand(
      "extract", "Apply tar layers (raw or gzip/zstd/xz), base first, to DIR as umoci unpack "
                 "does: whiteouts and opaque directories remove what lower layers made; absolute "
                 "names, \"..\", writes through symlinks and links outside are refused (exit 1)");
  add_json_flag(*x, o->json, "One JSON document: per layer what was made, whited out, refused");
  x->add_flag("--strict", o->strict, "Refuse (exit 2) what tar readers disagree on");
  x->add_flag("--owner", o->owner, "Owners from the layers (only as root)");
  x->add_flag("--devices", o->devices, "Create device nodes (only as root)");
  x->add_option("--max-size", o->max_size,
                "Largest decompressed layer (bomb limit; default 64G; suffixes K, M, G, T)");
  x->add_option("FILE... DIR", o->paths,
                "Layer files in order (base first), then the root "
                "directory (created when missing)")
      ->required()
      ->expected(2, 1 << 20);
  x->callback([o, &rc] { rc = run_layer_extract(*o); });
}

inline void add_layer_command(CLI::App& app, layer_options& o, int& rc) {
  auto* layer = app.add_subcommand("layer", "tar layers of OCI images");
  layer->require_subcommand(1);
  auto* list = layer->add_subcommand(
      "list", "List a tar layer, raw or gzip/zstd/xz compressed, as tar -t (-v: as "
              "tar --numeric-owner --utc -tv); what the reader tolerated goes to stderr");
  add_json_flag(*list, o.json, "One JSON document: entries and findings");
  list->add_flag("-v,--verbose", o.verbose, "Mode, owner, size, time, name and link target");
  list->add_flag("--strict", o.strict,
                 "Refuse (exit 2) what readers disagree on: pax and ustar sizes that differ, a "
                 "size on a link or directory, a lone zero block, data after the end, a missing "
                 "end");
  list->add_option("--max-size", o.max_size,
                   "Largest decompressed layer (bomb limit; default 64G; suffixes K, M, G, T)");
  list->add_option("FILE", o.file,
                   "Layer file (tar, tar+gzip, tar+zstd, tar+xz), or a layer of an image as "
                   "REF@DIGEST (oci-archive:img.tar@sha256:...)")
      ->required();
  list->callback([&o, &rc] { rc = run_layer_list(o); });
  add_layer_create_command(*layer, rc);
  add_layer_extract(*layer, rc);
}

} // namespace ukikit::cli
