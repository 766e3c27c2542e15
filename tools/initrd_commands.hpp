// `ukikit initrd create|list|info|extract`: initramfs archives, compressed
// or not, read as the kernel reads them. list, info and extract also take a
// UKI and use its .initrd section.
#pragma once

#include "cli.hpp"

#include <ukikit/cpio.hpp>
#include <ukikit/extract.hpp>
#include <ukikit/file.hpp>
#include <ukikit/initrd.hpp>
#include <ukikit/initrd/create.hpp>
#include <ukikit/initrd/tree.hpp>
#include <ukikit/report/detect.hpp>
#include <ukikit/report/initrd.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace ukikit::cli {

struct initrd_options {
  // create
  std::vector<std::string> inputs;
  std::string output, compression = "zstd", early, format = "newc";
  std::optional<int> level;
  unsigned threads = 1;
  std::optional<std::uint64_t> mtime;
  std::uint32_t uid = 0, gid = 0;
  std::uint64_t align = 0;
  // list, info, extract
  std::string file, directory, max_size = "16G";
  unsigned decode_threads = 0; // xz decoder threads, 0 = one per core
  bool json = false, verbose = false, tree = false, keep_owner = false, devices = false;
};

namespace initrd_detail {

using ojson = nlohmann::ordered_json;

inline result<initrd::walk_options> walk_options_of(const initrd_options& o) {
  initrd::walk_options w;
  UKIKIT_TRY_ASSIGN(w.max_output, parse_size(o.max_size));
  w.threads = o.decode_threads;
  return w;
}

// --mtime, else SOURCE_DATE_EPOCH (decimal seconds that fit the 32-bit newc
// field), else 0.
inline result<std::uint64_t> mtime_of(const initrd_options& o) {
  if (o.mtime) return *o.mtime;
  return source_date_epoch(cpio::max_field);
}

inline result<void> run_create(const initrd_options& o) {
  initrd::create_options co;
  UKIKIT_TRY_ASSIGN(co.mtime, mtime_of(o));
  co.uid = o.uid;
  co.gid = o.gid;
  co.data_align = o.align;
  co.level = o.level;
  co.threads = o.threads;
  co.fmt = o.format == "crc" ? cpio::format::crc : cpio::format::newc;
  if (o.compression == "none") {
    co.compression = compress::format::none;
  } else {
    auto f = compress::from_name(o.compression);
    if (!f || !compress::encodable(*f))
      return error(errc::invalid_argument,
                   "cannot compress as " + o.compression + " (use zstd, xz, gzip or none)");
    co.compression = *f;
  }
  std::vector<initrd::planned> main, early;
  for (const auto& in : o.inputs) {
    std::vector<initrd::planned> part;
    std::error_code ec;
    if (std::filesystem::is_directory(in, ec)) {
      UKIKIT_TRY_ASSIGN(part, initrd::plan_tree(in, co));
    } else {
      UKIKIT_TRY_ASSIGN(auto list, file::mapped_file::open(in));
      UKIKIT_TRY_ASSIGN(part, initrd::plan_list(as_chars(list.bytes()), ".", co));
    }
    // One archive: inode numbers must stay distinct across the inputs, or the
    // kernel would take files of different inputs for hard links.
    std::uint64_t last = 0;
    for (const auto& e : main) last = std::max(last, e.fields.ino);
    for (auto& e : part) e.fields.ino += last;
    main.insert(main.end(), part.begin(), part.end());
  }
  if (!o.early.empty()) {
    UKIKIT_TRY_ASSIGN(early, initrd::plan_tree(o.early, co));
    if (early.empty()) return error(errc::invalid_argument, "early directory is empty: " + o.early);
  }
  UKIKIT_TRY_ASSIGN(auto out, output::open(o.output));
  progress bar("writing " + o.output, 0);
  std::uint64_t written = 0;
  auto sink = [&](byte_span b) {
    written += b.size();
    bar.update(written);
    return out.write(b);
  };
  UKIKIT_TRY(initrd::write_initrd(early, main, co, sink));
  return out.commit();
}

// Prints entries as they come, like `cpio -t` (or `cpio -tv` with -v), with
// control bytes in names escaped (escape_controls); JSON collects them. An
// entry the kernel skips without reading its name shows the name's start
// and, in JSON, its namesize.
struct list_handler {
  const initrd_options& o;
  ojson entries = ojson::array();
  result<void> begin(const cpio::entry&) { return success(); }
  result<void> data(const cpio::entry&, byte_span) { return success(); }
  result<bool> end(const cpio::entry& e) {
    if (e.is_trailer()) return true;
    if (o.json) {
      entries.push_back(ukikit::report::to_json(e));
      return true;
    }
    if (!e.kernel_skip.empty()) {
      std::cerr << "ukikit initrd list: entry " << cpio::quoted_name(e) << " at offset "
                << hex(e.offset) << " skipped by the kernel: " << e.kernel_skip << '\n';
      return true;
    }
    const std::string name = escape_controls(e.name);
    if (!o.verbose) {
      std::fwrite(name.data(), 1, name.size(), stdout);
      std::fputc('\n', stdout);
      return true;
    }
    std::string size = std::to_string(e.filesize);
    if (e.type() == cpio::file_type::character || e.type() == cpio::file_type::block)
      size = std::to_string(e.rdev_major) + ", " + std::to_string(e.rdev_minor);
    std::printf("%s %3llu %-8llu %-8llu %10s %s %s", ukikit::report::mode_string(e.mode).c_str(),
                static_cast<unsigned long long>(e.nlink), static_cast<unsigned long long>(e.uid),
                static_cast<unsigned long long>(e.gid), size.c_str(),
                ukikit::report::utc(e.mtime).c_str(), name.c_str());
    if (e.type() == cpio::file_type::symlink)
      std::printf(" -> %s", escape_controls(e.link_target).c_str());
    std::fputc('\n', stdout);
    return true;
  }
};

// `list --tree`: the tree the kernel leaves, in path order.
inline void print_tree(const initrd::tree& t, const initrd_options& o, ojson& entries) {
  for (const auto& [path, n] : t.nodes()) {
    if (o.json) {
      entries.push_back(ukikit::report::to_json(path, n));
    } else if (o.verbose) {
      std::printf("%s %-8llu %-8llu %10llu %s %s%s%s\n",
                  ukikit::report::mode_string(n.mode).c_str(),
                  static_cast<unsigned long long>(n.uid), static_cast<unsigned long long>(n.gid),
                  static_cast<unsigned long long>(n.size), ukikit::report::utc(n.mtime).c_str(),
                  escape_controls(path).c_str(), n.type == cpio::file_type::symlink ? " -> " : "",
                  escape_controls(n.link_target).c_str());
    } else {
      std::printf("%s\n", escape_controls(path).c_str());
    }
  }
}

// The warnings of a walk on stderr, "TOOL: warning: …", and how many more
// there were.
inline void print_warnings(const initrd::report& rep, std::string_view tool) {
  for (const auto& w : rep.warnings)
    std::cerr << tool << ": warning: " << escape_controls(w.text()) << '\n';
  if (rep.warnings.dropped() > 0)
    std::cerr << tool << ": warning: " << rep.warnings.dropped() << " more warnings\n";
}

// The initramfs of the file `o.file` names: the .initrd section of a UKI,
// else the whole file; the mapping stays open in `f`.
inline result<byte_span> open_initramfs(const initrd_options& o,
                                        std::optional<file::mapped_file>& f) {
  UKIKIT_TRY_ASSIGN(auto mapped, file::mapped_file::open(o.file));
  f.emplace(std::move(mapped));
  f->advise_sequential();
  auto bytes = ukikit::report::initrd_bytes(f->bytes());
  if (!bytes) return bytes.error().prefixed(o.file);
  return *bytes;
}

// list and info: walk, print, and fail (exit 2) where the kernel would, and
// where a raw archive is cut short (the kernel keeps what came before; GNU
// cpio, like us, calls that an error).
inline int run_walk(const initrd_options& o, bool listing, std::string_view tool) {
  std::optional<file::mapped_file> f;
  auto bytes = open_initramfs(o, f);
  if (!bytes) return report(tool, bytes.error());
  auto wo = walk_options_of(o);
  if (!wo) return report(tool, wo.error());
  std::optional<error> stopped;
  if (listing && !o.tree) { // entries as they come
    list_handler lh{o};
    auto rep = initrd::walk(*bytes, *wo, lh);
    if (!rep) return report(tool, rep.error());
    if (o.json) {
      const auto& s = rep->stopped();
      ojson j{{"file", o.file},
              {"entries", std::move(lh.entries)},
              {"error", s ? ojson(s->message()) : ojson(nullptr)}};
      std::cout << json_text(j) << '\n';
    } else {
      print_warnings(*rep, tool);
    }
    stopped = rep->stopped();
  } else { // the tree the kernel leaves
    auto info = ukikit::report::walk_tree(o.file, *bytes, *wo);
    if (!info) return report(tool, info.error());
    if (!listing) {
      if (o.json) std::cout << json_text(ukikit::report::to_json(*info)) << '\n';
      else std::cout << info->render_text();
    } else {
      ojson entries = ojson::array();
      print_tree(info->tree, o, entries);
      if (o.json) {
        const auto& s = info->walk.stopped();
        ojson j{{"file", o.file},
                {"entries", std::move(entries)},
                {"error", s ? ojson(s->message()) : ojson(nullptr)}};
        std::cout << json_text(j) << '\n';
      } else {
        print_warnings(info->walk, tool);
      }
    }
    stopped = info->walk.stopped();
  }
  std::fflush(stdout);
  if (stopped) return report(tool, stopped->prefixed(o.file));
  return exit_ok;
}

// A refused or skipped entry: "\"NAME\" at offset 0x…: reason".
inline std::string refusal_text(const finding& f) {
  return "\"" + cpio::printable(f.subject) + "\" at offset " + hex(f.offset) + ": " + f.message;
}

// extract: walk into a cpio_extractor; refusals are listed on stderr and
// make the exit status 1; a malformed or truncated input is 2, after what
// came before it was extracted.
inline int run_extract(const initrd_options& o, std::string_view tool) {
  std::optional<file::mapped_file> f;
  auto bytes = open_initramfs(o, f);
  if (!bytes) return report(tool, bytes.error());
  auto wo = walk_options_of(o);
  if (!wo) return report(tool, wo.error());
  std::error_code ec;
  std::filesystem::create_directories(o.directory, ec);
  if (ec)
    return report(tool, error(errc::io, "cannot create " + o.directory + ": " + ec.message()));
  auto target = extract::target::open(o.directory);
  if (!target) return report(tool, target.error());
  extract::options eo;
  eo.keep_owner = o.keep_owner;
  eo.create_devices = o.devices;
  extract::cpio_extractor x(std::move(*target), eo);
  auto rep = initrd::walk(*bytes, *wo, x);
  auto done = x.finish();
  if (!rep) return report(tool, rep.error());
  if (!done) return report(tool, done.error());
  for (const auto& w : rep->warnings)
    std::cerr << tool << ": warning: " << escape_controls(w.text()) << '\n';
  for (const auto& fnd : done->findings)
    std::cerr << tool << ": " << escape_controls(refusal_text(fnd)) << '\n';
  if (done->findings.dropped() > 0)
    std::cerr << tool << ": " << done->findings.dropped() << " more findings not shown\n";
  if (o.json) {
    ojson j{
        {"file", o.file},       {"directory", o.directory},   {"directories", done->directories},
        {"files", done->files}, {"symlinks", done->symlinks}, {"hardlinks", done->hardlinks},
        {"nodes", done->nodes}, {"refused", ojson::array()},  {"error", nullptr}};
    if (const auto& stopped = rep->stopped()) j["error"] = stopped->message();
    for (const auto& fnd : done->findings)
      j["refused"].push_back({{"name", fnd.subject},
                              {"offset", fnd.offset},
                              {"reason", fnd.message},
                              {"code", std::string(fnd.code)}});
    std::cout << json_text(j) << '\n';
  }
  if (const auto& stopped = rep->stopped()) return report(tool, stopped->prefixed(o.file));
  return done->findings.empty() ? exit_ok : exit_failed;
}

} // namespace initrd_detail

inline void add_initrd_command(CLI::App& app, initrd_options& o, int& rc) {
  auto* initrd =
      app.add_subcommand("initrd", "Create, list, examine and extract initramfs archives");
  initrd->require_subcommand(1);

  auto* create = initrd->add_subcommand(
      "create", "Create a reproducible initramfs from directories or gen_init_cpio lists");
  create
      ->add_option(
          "INPUT", o.inputs,
          "Directory tree or gen_init_cpio list file (several are concatenated in one archive)")
      ->required()
      ->check(CLI::ExistingPath);
  create->add_option("-o,--output", o.output, "Output file, or - for stdout")->required();
  create->add_option("--compress", o.compression, "zstd (default), xz (crc32 check), gzip or none")
      ->check(CLI::IsMember({"zstd", "xz", "gzip", "none"}));
  create->add_option("--level", o.level, "Compression level (zstd default 3, xz and gzip 6)");
  create
      ->add_option("--threads", o.threads, "Compression threads (default 1; output depends on it)")
      ->check(CLI::Range(1u, compress::max_threads));
  create
      ->add_option("--early", o.early,
                   "Directory put first as an uncompressed archive (early microcode: "
                   "kernel/x86/microcode/GenuineIntel.bin)")
      ->check(CLI::ExistingDirectory);
  create->add_option("--mtime", o.mtime,
                     "mtime of every entry in seconds (default SOURCE_DATE_EPOCH, else 0)");
  create->add_option("--uid", o.uid, "Owner of every entry of a directory tree (default 0)");
  create->add_option("--gid", o.gid, "Group of every entry of a directory tree (default 0)");
  create->add_option("--align", o.align,
                     "Align file data to this many bytes by padding names (gen_init_cpio -a; a "
                     "multiple of 4)");
  create->add_option("--format", o.format, "newc (default) or crc (with data checksums)")
      ->check(CLI::IsMember({"newc", "crc"}));
  create->callback([&o, &rc] {
    auto r = initrd_detail::run_create(o);
    rc = r ? exit_ok : report("ukikit initrd create", r.error());
  });

  auto* list =
      initrd->add_subcommand("list", "List the entries as the kernel reads them, like cpio -t");
  add_json_flag(*list, o.json, "JSON output");
  list->add_flag("-v,--verbose", o.verbose,
                 "Long listing, like cpio -tv (numeric owners, UTC times)");
  list->add_flag("--tree", o.tree,
                 "List the tree the kernel leaves instead (later entries override earlier ones; "
                 "dropped entries are warned about)");
  list->add_option("--max-size", o.max_size, "Decompression limit for all segments (default 16G)");
  add_decode_threads_option(list, o.decode_threads);
  list->add_option("FILE", o.file, "Initramfs, cpio archive, or UKI")
      ->required()
      ->check(CLI::ExistingFile);
  list->callback([&o, &rc] { rc = initrd_detail::run_walk(o, true, "ukikit initrd list"); });

  auto* info = initrd->add_subcommand("info", "Show the segments as the kernel reads them");
  add_json_flag(*info, o.json, "JSON output");
  info->add_option("--max-size", o.max_size, "Decompression limit for all segments (default 16G)");
  add_decode_threads_option(info, o.decode_threads);
  info->add_option("FILE", o.file, "Initramfs, cpio archive, or UKI")
      ->required()
      ->check(CLI::ExistingFile);
  info->callback([&o, &rc] { rc = initrd_detail::run_walk(o, false, "ukikit initrd info"); });

  auto* extract = initrd->add_subcommand(
      "extract", "Extract into a directory, never writing outside it (later entries override "
                 "earlier ones, as in the kernel)");
  add_json_flag(*extract, o.json, "JSON summary on stdout");
  extract->add_flag("--owner", o.keep_owner, "Keep owners (only when running as root)");
  extract->add_flag("--devices", o.devices,
                    "Create device nodes (as root only; off by default: an archive could plant a "
                    "writable disk node)");
  extract->add_option("--max-size", o.max_size,
                      "Decompression limit for all segments (default 16G)");
  add_decode_threads_option(extract, o.decode_threads);
  extract->add_option("FILE", o.file, "Initramfs, cpio archive, or UKI")
      ->required()
      ->check(CLI::ExistingFile);
  extract->add_option("DIRECTORY", o.directory, "Target directory (created if missing)")
      ->required();
  extract->callback([&o, &rc] { rc = initrd_detail::run_extract(o, "ukikit initrd extract"); });
}

} // namespace ukikit::cli
