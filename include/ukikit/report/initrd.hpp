// The report of an initramfs, as data, as JSON and as text: what
// `ukikit initrd info` and ukiinspect show of one (the contract's `initrd`
// key), so that an embedder gets byte for byte what the tools print:
//
//   auto bytes = ukikit::report::initrd_bytes(file);          // detect.hpp
//   auto info = ukikit::report::walk_tree("initrd.img", *bytes);
//   std::cout << info->render_text();                   // `ukikit initrd info`
//   std::cout << to_json(*info).dump(2, ' ', false,
//       nlohmann::ordered_json::error_handler_t::replace) << '\n';  // … --json
//
// Text from the input (names in messages) is escaped in the text
// (escape_controls) and raw in the JSON, whose invalid UTF-8 the dump's
// error_handler_t::replace turns into U+FFFD, as the tools do.
#pragma once

#include "../bytes.hpp"
#include "../compress/common.hpp"
#include "../cpio.hpp"
#include "../diagnostics.hpp"
#include "../initrd.hpp"
#include "../initrd/tree.hpp"
#include "../result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>

namespace ukikit::report {

// ---- entries --------------------------------------------------------------

// The `type` of an entry in JSON: "file", "directory", "symlink",
// "character-device", "block-device", "fifo", "socket" or "unknown".
constexpr std::string_view type_name(cpio::file_type t) noexcept {
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

// A mode as `ls -l` shows it: "drwxr-xr-x", "-rwsr-xr-x", "crw-rw-rw-".
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

// A time in seconds since the epoch as "YYYY-MM-DD HH:MM" in UTC ("?" when
// it has no such form).
inline std::string utc(std::uint64_t seconds) {
  std::time_t tt = static_cast<std::time_t>(seconds);
  std::tm tm{};
  char buf[32] = "?";
  if (::gmtime_r(&tt, &tm)) std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

// An entry of `ukikit initrd list --json`: name (for an entry the kernel
// skips unread, the start of it, with "namesize"), type, mode, uid, gid,
// nlink, mtime, size, ino, and link_target, rdev, kernel_skip where they
// apply.
inline nlohmann::ordered_json to_json(const cpio::entry& e) {
  nlohmann::ordered_json j{{"name", std::string(e.name_unread() ? e.name_start : e.name)},
                           {"type", std::string(type_name(e.type()))},
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
  return j;
}

// A path of the tree the kernel leaves, as `ukikit initrd list --tree --json`
// shows it: name, type, mode, uid, gid, mtime, size, inode, and link_target
// for symlinks.
inline nlohmann::ordered_json to_json(const std::string& path, const initrd::node& n) {
  nlohmann::ordered_json j{{"name", path},           {"type", std::string(type_name(n.type))},
                           {"mode", n.mode & 07777}, {"uid", n.uid},
                           {"gid", n.gid},           {"mtime", n.mtime},
                           {"size", n.size},         {"inode", n.inode}};
  if (n.type == cpio::file_type::symlink) j["link_target"] = n.link_target;
  return j;
}

// ---- the walk -------------------------------------------------------------

// The contract's `initrd` object: segments (offset, length, compression,
// size, format, entries, archives, skipped), entries, padding, notices and
// warnings (the texts of the kept findings, then "N more notices|warnings"
// when some were not kept), error (where the kernel stops), truncated (where
// a raw archive is cut short), and findings (every kept finding: code,
// severity, offset, length, message, subject; notes first).
inline nlohmann::ordered_json to_json(const initrd::report& rep) {
  using ojson = nlohmann::ordered_json;
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
  auto texts = [](const finding_log& log, const char* what) {
    ojson a = ojson::array();
    for (const auto& f : log) a.push_back(f.text());
    if (log.dropped() > 0) a.push_back(std::to_string(log.dropped()) + " more " + what);
    return a;
  };
  return ojson{{"segments", segs},
               {"entries", rep.entries()},
               {"padding", rep.padding},
               {"notices", texts(rep.notices, "notices")},
               {"warnings", texts(rep.warnings, "warnings")},
               {"error", rep.failure ? ojson(rep.failure->message()) : ojson(nullptr)},
               {"truncated", rep.truncated ? ojson(rep.truncated->message()) : ojson(nullptr)},
               {"findings", ukikit::to_json(rep.findings())}};
}

// The readable form of the same: a table of the segments, the count of
// entries and padding, then "notice: …", "warning: …" and "error: …" lines;
// every line starts with `indent`.
inline std::string render_text(const initrd::report& rep, std::string_view indent) {
  const std::string in(indent);
  std::string out;
  char line[256]; // a row of 64-bit numbers is at most ~160 characters
  std::snprintf(line, sizeof line, "%-4s %12s %12s %-11s %12s %8s %8s\n", "#", "offset", "length",
                "compression", "size", "entries", "archives");
  out += in + line;
  std::size_t i = 0;
  for (const auto& s : rep.segments) {
    const std::string fmt =
        s.fmt && *s.fmt != cpio::format::newc ? " (" + std::string(cpio::name(*s.fmt)) + ")" : "";
    std::snprintf(
        line, sizeof line, "%-4zu %12llu %12llu %-11s %12llu %8llu %8llu%s\n", i++,
        static_cast<unsigned long long>(s.offset), static_cast<unsigned long long>(s.length),
        std::string(compress::name(s.compression)).c_str(), static_cast<unsigned long long>(s.size),
        static_cast<unsigned long long>(s.entries), static_cast<unsigned long long>(s.archives),
        fmt.c_str());
    out += in + line;
  }
  out += in + std::to_string(rep.entries()) + " entries, " + std::to_string(rep.padding) +
         " bytes of padding\n";
  auto lines = [&](const finding_log& log, const char* label, const char* what) {
    for (const auto& f : log) out += in + label + ": " + escape_controls(f.text()) + '\n';
    if (log.dropped() > 0)
      out += in + label + ": " + std::to_string(log.dropped()) + " more " + what + '\n';
  };
  lines(rep.notices, "notice", "notices");
  lines(rep.warnings, "warning", "warnings");
  if (rep.failure) out += in + "error: " + escape_controls(rep.failure->message()) + '\n';
  return out;
}

// ---- `ukikit initrd info` and `list --tree` ---------------------------------

// An initramfs walked into the tree the kernel leaves: the walk's report,
// whose warnings end with the tree's (entries the kernel drops, an
// incomplete model), and the tree.
struct initrd_info {
  std::string file; // how the caller names the input ("file" in JSON)
  initrd::report walk;
  initrd::tree tree;

  // `ukikit initrd info`: "FILE: initramfs, N segments, P paths in the
  // resulting tree", then the report indented by two spaces.
  std::string render_text() const {
    return file + ": initramfs, " + std::to_string(walk.segments.size()) + " segments, " +
           std::to_string(tree.size()) + " paths in the resulting tree\n" +
           report::render_text(walk, "  ");
  }
};

// Walks `initramfs` (see initrd_bytes()) as the kernel does into the tree.
// Problems of the input are in the report (failure, truncated); an error is
// returned only where the walk itself cannot go on.
inline result<initrd_info> walk_tree(std::string file, byte_span initramfs,
                                     const initrd::walk_options& options = {}) {
  initrd_info out;
  out.file = std::move(file);
  UKIKIT_TRY_ASSIGN(out.walk, initrd::walk(initramfs, options, out.tree));
  out.walk.warnings.append(out.tree.take_findings());
  return out;
}

// `ukikit initrd info --json`: {"file", the `initrd` object's keys, "paths"}.
inline nlohmann::ordered_json to_json(const initrd_info& info) {
  nlohmann::ordered_json j{{"file", info.file}};
  j.update(to_json(info.walk));
  j["paths"] = info.tree.size();
  return j;
}

// ---- ukiinspect of an initramfs file ----------------------------------------

// An initramfs file as ukiinspect reports it: the walk alone.
struct initrd_inspection {
  std::string file; // how the caller names the input
  initrd::report walk;

  // "FILE: initramfs, N segments", then the report indented by two spaces.
  std::string render_text() const {
    return escape_controls(file) + ": initramfs, " + std::to_string(walk.segments.size()) +
           " segments\n" + report::render_text(walk, "  ");
  }
};

inline result<initrd_inspection> inspect_initrd(std::string file, byte_span initramfs,
                                                const initrd::walk_options& options = {}) {
  initrd_inspection out;
  out.file = std::move(file);
  UKIKIT_TRY_ASSIGN(out.walk, initrd::examine(initramfs, options));
  return out;
}

// ukiinspect --json of an initramfs file: {"file", "format": "initramfs",
// "initrd": the `initrd` object}.
inline nlohmann::ordered_json to_json(const initrd_inspection& i) {
  return nlohmann::ordered_json{
      {"file", i.file}, {"format", "initramfs"}, {"initrd", to_json(i.walk)}};
}

} // namespace ukikit::report
