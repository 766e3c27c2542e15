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
#include <ukikit/pe.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace ukikit::cli {

namespace initrd_detail {

using ojson = nlohmann::ordered_json;

// The initramfs in `f`: the whole file, or the .initrd section of a PE/UKI.
inline result<byte_span> initrd_bytes(const file::mapped_file& f, const std::string& path) {
  byte_span all = f.bytes();
  if (all.size() < 2 || all[0] != std::byte{'M'} || all[1] != std::byte{'Z'}) return all;
  UKIKIT_TRY_ASSIGN(auto img, pe::parse(all, pe::strictness::permissive));
  const pe::section* s = img.find(".initrd");
  if (s == nullptr) return error(errc::invalid_argument, path + " is a PE image without .initrd");
  return s->data();
}

inline std::string mode_string(std::uint64_t mode) {
  std::string s(10, '-');
  s[0] = cpio::type_letter(cpio::type_of(mode));
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i)
    if (mode & (0400u >> i)) s[1 + i] = rwx[i];
  if (mode & 04000) s[3] = (mode & 0100) ? 's' : 'S';
  if (mode & 02000) s[6] = (mode & 0010) ? 's' : 'S';
  if (mode & 01000) s[9] = (mode & 0001) ? 't' : 'T';
  return s;
}

inline std::string utc(std::uint64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  char buf[32] = "?";
  if (::gmtime_r(&tt, &tm)) std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

inline const char* type_name(cpio::file_type t) {
  switch (t) {
  case cpio::file_type::regular: return "file";
  case cpio::file_type::directory: return "directory";
  case cpio::file_type::symlink: return "symlink";
  case cpio::file_type::character: return "character-device";
  case cpio::file_type::block: return "block-device";
  case cpio::file_type::fifo: return "fifo";
  case cpio::file_type::socket: return "socket";
  case cpio::file_type::unknown: break;
  }
  return "unknown";
}

} // namespace initrd_detail

// The report as JSON: the contract's `initrd` key of ukiinspect, and the
// output of `ukikit initrd info --json`.
inline nlohmann::ordered_json initrd_json(const initrd::report& rep) {
  using initrd_detail::ojson;
  ojson segs = ojson::array();
  for (const auto& s : rep.segments) {
    segs.push_back({{"offset", s.offset},
                    {"length", s.length},
                    {"compression", std::string(compress::name(s.compression))},
                    {"size", s.size},
                    {"format", s.fmt ? ojson(std::string(cpio::name(*s.fmt))) : ojson(nullptr)},
                    {"entries", s.entries},
                    {"archives", s.archives},
                    {"skipped", s.skipped}});
  }
  ojson notices = ojson::array(), warnings = ojson::array();
  for (const auto& n : rep.notices) notices.push_back(n.text());
  for (const auto& w : rep.warnings) warnings.push_back(w.text());
  if (rep.notices_total > rep.notices.size())
    notices.push_back(std::to_string(rep.notices_total - rep.notices.size()) + " more notices");
  if (rep.warnings_total > rep.warnings.size())
    warnings.push_back(std::to_string(rep.warnings_total - rep.warnings.size()) + " more warnings");
  return ojson{{"segments", segs},
               {"entries", rep.entries()},
               {"padding", rep.padding},
               {"notices", notices},
               {"warnings", warnings},
               {"error", rep.failure ? ojson(rep.failure->message()) : ojson(nullptr)},
               {"truncated", rep.truncated ? ojson(rep.truncated->message()) : ojson(nullptr)}};
}

// The readable form of the same. Text from the input (names in messages)
// is escaped (escape_controls), as in every text output.
inline void print_initrd_report(const initrd::report& rep, const std::string& indent) {
  std::printf("%s%-4s %12s %12s %-11s %12s %8s %8s\n", indent.c_str(), "#", "offset", "length",
              "compression", "size", "entries", "archives");
  std::size_t i = 0;
  for (const auto& s : rep.segments) {
    std::printf(
        "%s%-4zu %12llu %12llu %-11s %12llu %8llu %8llu%s\n", indent.c_str(), i++,
        static_cast<unsigned long long>(s.offset), static_cast<unsigned long long>(s.length),
        std::string(compress::name(s.compression)).c_str(), static_cast<unsigned long long>(s.size),
        static_cast<unsigned long long>(s.entries), static_cast<unsigned long long>(s.archives),
        s.fmt && *s.fmt != cpio::format::newc
            ? (" (" + std::string(cpio::name(*s.fmt)) + ")").c_str()
            : "");
  }
  std::printf("%s%llu entries, %llu bytes of padding\n", indent.c_str(),
              static_cast<unsigned long long>(rep.entries()),
              static_cast<unsigned long long>(rep.padding));
  for (const auto& n : rep.notices)
    std::printf("%snotice: %s\n", indent.c_str(), escape_controls(n.text()).c_str());
  if (rep.notices_total > rep.notices.size())
    std::printf("%snotice: %llu more notices\n", indent.c_str(),
                static_cast<unsigned long long>(rep.notices_total - rep.notices.size()));
  for (const auto& w : rep.warnings)
    std::printf("%swarning: %s\n", indent.c_str(), escape_controls(w.text()).c_str());
  if (rep.warnings_total > rep.warnings.size())
    std::printf("%swarning: %llu more warnings\n", indent.c_str(),
                static_cast<unsigned long long>(rep.warnings_total - rep.warnings.size()));
  if (rep.failure)
    std::printf("%serror: %s\n", indent.c_str(), escape_controls(rep.failure->message()).c_str());
}

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
  bool json = false, verbose = false, tree = false, keep_owner = false, devices = false;
};

namespace initrd_detail {

inline result<initrd::walk_options> walk_options_of(const initrd_options& o) {
  initrd::walk_options w;
  UKIKIT_TRY_ASSIGN(w.max_output, parse_size(o.max_size));
  return w;
}

inline result<void> run_create(const initrd_options& o) {
  initrd::create_options co;
  co.mtime = o.mtime;
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
      ojson j{{"name", std::string(e.name_unread() ? e.name_start : e.name)},
              {"type", type_name(e.type())},
              {"mode", e.mode & 07777},
              {"uid", e.uid},
              {"gid", e.gid},
              {"nlink", e.nlink},
              {"mtime", e.mtime},
              {"size", e.filesize},
              {"ino", e.ino}};
      if (e.type() == cpio::file_type::symlink) j["link_target"] = std::string(e.link_target);
      if (e.type() == cpio::file_type::character || e.type() == cpio::file_type::block)
        j["rdev"] = {e.rdev_major, e.rdev_minor};
      if (!e.kernel_skip.empty()) j["kernel_skip"] = std::string(e.kernel_skip);
      if (e.name_unread()) j["namesize"] = e.namesize;
      entries.push_back(std::move(j));
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
    std::printf("%s %3llu %-8llu %-8llu %10s %s %s", mode_string(e.mode).c_str(),
                static_cast<unsigned long long>(e.nlink), static_cast<unsigned long long>(e.uid),
                static_cast<unsigned long long>(e.gid), size.c_str(), utc(e.mtime).c_str(),
                name.c_str());
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
      ojson j{{"name", path},           {"type", type_name(n.type)},
              {"mode", n.mode & 07777}, {"uid", n.uid},
              {"gid", n.gid},           {"mtime", n.mtime},
              {"size", n.size},         {"inode", n.inode}};
      if (n.type == cpio::file_type::symlink) j["link_target"] = n.link_target;
      entries.push_back(std::move(j));
    } else if (o.verbose) {
      std::printf("%s %-8llu %-8llu %10llu %s %s%s%s\n", mode_string(n.mode).c_str(),
                  static_cast<unsigned long long>(n.uid), static_cast<unsigned long long>(n.gid),
                  static_cast<unsigned long long>(n.size), utc(n.mtime).c_str(),
                  escape_controls(path).c_str(), n.type == cpio::file_type::symlink ? " -> " : "",
                  escape_controls(n.link_target).c_str());
    } else {
      std::printf("%s\n", escape_controls(path).c_str());
    }
  }
}

// list and info: walk, print, and fail (exit 2) where the kernel would, and
// where a raw archive is cut short (the kernel keeps what came before; GNU
// cpio, like us, calls that an error).
inline int run_walk(const initrd_options& o, bool listing, std::string_view tool) {
  auto f = file::mapped_file::open(o.file);
  if (!f) return report(tool, f.error());
  f->advise_sequential();
  auto bytes = initrd_bytes(*f, o.file);
  if (!bytes) return report(tool, bytes.error());
  auto wo = walk_options_of(o);
  if (!wo) return report(tool, wo.error());
  list_handler lh{o};
  initrd::tree tree;
  auto rep = listing && !o.tree ? initrd::walk(*bytes, *wo, lh) : initrd::walk(*bytes, *wo, tree);
  if (!rep) return report(tool, rep.error());
  for (const auto& d : tree.dropped())
    rep->warn({d.offset, "entry \"" + cpio::detail::header_decoder::printable(d.name) +
                             "\" dropped by the kernel: " + d.reason});
  // The dropped entries the tree did not keep are counted as warnings, so
  // that "N more warnings" counts them all (a warning saying how many would
  // itself be past the report's cap).
  rep->warnings_total += tree.dropped_total() - tree.dropped().size();
  if (!tree.complete())
    rep->warn({error::no_offset, "the resulting tree is incomplete: the model's step limit was "
                                 "reached (long chains of symlinks)"});
  if (listing && o.tree) print_tree(tree, o, lh.entries);
  if (o.json) {
    ojson j{{"file", o.file}};
    if (listing) {
      j["entries"] = std::move(lh.entries);
      const auto& stopped = rep->failure ? rep->failure : rep->truncated;
      j["error"] = stopped ? ojson(stopped->message()) : ojson(nullptr);
    } else {
      j.update(initrd_json(*rep));
      j["paths"] = tree.size();
    }
    std::cout << json_text(j) << '\n';
  } else if (!listing) {
    std::cout << o.file << ": initramfs, " << rep->segments.size() << " segments, " << tree.size()
              << " paths in the resulting tree\n";
    print_initrd_report(*rep, "  ");
  } else {
    for (const auto& w : rep->warnings)
      std::cerr << tool << ": warning: " << escape_controls(w.text()) << '\n';
    if (rep->warnings_total > rep->warnings.size())
      std::cerr << tool << ": warning: " << rep->warnings_total - rep->warnings.size()
                << " more warnings\n";
  }
  std::fflush(stdout);
  if (rep->failure) return report(tool, rep->failure->prefixed(o.file));
  if (rep->truncated) return report(tool, rep->truncated->prefixed(o.file));
  return exit_ok;
}

// extract: walk into a cpio_extractor; refusals are listed on stderr and
// make the exit status 1; a malformed or truncated input is 2, after what
// came before it was extracted.
inline int run_extract(const initrd_options& o, std::string_view tool) {
  auto f = file::mapped_file::open(o.file);
  if (!f) return report(tool, f.error());
  f->advise_sequential();
  auto bytes = initrd_bytes(*f, o.file);
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
    std::cerr << tool << ": " << escape_controls(fnd.text()) << '\n';
  if (done->findings_total > done->findings.size())
    std::cerr << tool << ": " << done->findings_total - done->findings.size()
              << " more findings not shown\n";
  if (o.json) {
    ojson j{
        {"file", o.file},       {"directory", o.directory},   {"directories", done->directories},
        {"files", done->files}, {"symlinks", done->symlinks}, {"hardlinks", done->hardlinks},
        {"nodes", done->nodes}, {"refused", ojson::array()},  {"error", nullptr}};
    if (const auto& stopped = rep->failure ? rep->failure : rep->truncated)
      j["error"] = stopped->message();
    for (const auto& fnd : done->findings)
      j["refused"].push_back({{"name", fnd.name}, {"offset", fnd.offset}, {"reason", fnd.reason}});
    std::cout << json_text(j) << '\n';
  }
  if (rep->failure) return report(tool, rep->failure->prefixed(o.file));
  if (rep->truncated) return report(tool, rep->truncated->prefixed(o.file));
  return done->findings_total > 0 ? exit_failed : exit_ok;
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
  list->add_flag("--json", o.json, "JSON output");
  list->add_flag("-v,--verbose", o.verbose,
                 "Long listing, like cpio -tv (numeric owners, UTC times)");
  list->add_flag("--tree", o.tree,
                 "List the tree the kernel leaves instead (later entries override earlier ones; "
                 "dropped entries are warned about)");
  list->add_option("--max-size", o.max_size, "Decompression limit for all segments (default 16G)");
  list->add_option("FILE", o.file, "Initramfs, cpio archive, or UKI")
      ->required()
      ->check(CLI::ExistingFile);
  list->callback([&o, &rc] { rc = initrd_detail::run_walk(o, true, "ukikit initrd list"); });

  auto* info = initrd->add_subcommand("info", "Show the segments as the kernel reads them");
  info->add_flag("--json", o.json, "JSON output");
  info->add_option("--max-size", o.max_size, "Decompression limit for all segments (default 16G)");
  info->add_option("FILE", o.file, "Initramfs, cpio archive, or UKI")
      ->required()
      ->check(CLI::ExistingFile);
  info->callback([&o, &rc] { rc = initrd_detail::run_walk(o, false, "ukikit initrd info"); });

  auto* extract = initrd->add_subcommand(
      "extract", "Extract into a directory, never writing outside it (later entries override "
                 "earlier ones, as in the kernel)");
  extract->add_flag("--json", o.json, "JSON summary on stdout");
  extract->add_flag("--owner", o.keep_owner, "Keep owners (only when running as root)");
  extract->add_flag("--devices", o.devices,
                    "Create device nodes (as root only; off by default: an archive could plant a "
                    "writable disk node)");
  extract->add_option("--max-size", o.max_size,
                      "Decompression limit for all segments (default 16G)");
  extract->add_option("FILE", o.file, "Initramfs, cpio archive, or UKI")
      ->required()
      ->check(CLI::ExistingFile);
  extract->add_option("DIRECTORY", o.directory, "Target directory (created if missing)")
      ->required();
  extract->callback([&o, &rc] { rc = initrd_detail::run_extract(o, "ukikit initrd extract"); });
}

} // namespace ukikit::cli
