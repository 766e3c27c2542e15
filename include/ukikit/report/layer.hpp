// The listing of a tar layer (an OCI layer blob, or any tar archive), raw or
// compressed (gzip, zstd, xz), as data, as JSON, and as the lines
// `tar --numeric-owner --utc -tv` prints. `ukikit layer list` prints these;
// an embedder gets the same.
//
// A raw archive is read in place (names and data are views into it); a
// compressed one is decoded in bounded chunks into the tar push parser, with
// an output limit. Hard errors (a bad checksum, an archive cut short, a
// strict-mode refusal) are errors; what the reader tolerated is in
// `findings` with its code.
#pragma once

#include "../compress.hpp"
#include "../diagnostics.hpp"
#include "../hash.hpp"
#include "../tar.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::report {

namespace code {
inline constexpr std::string_view layer_trailing_data = "layer.trailing-data";
} // namespace code

// The largest decompressed layer read by default (the bomb limit): 64 GiB.
inline constexpr std::uint64_t default_max_layer_size = std::uint64_t{64} << 30;

struct layer_options {
  strictness mode = strictness::permissive;
  std::uint64_t max_size = default_max_layer_size; // of the decompressed tar stream
  bool diff_id = false; // also hash the tar stream (an OCI config's rootfs.diff_ids entry)
};

// One entry, owned (the input may be a decompressed stream that is gone).
struct layer_entry {
  std::string path, link, uname, gname;
  tar::entry_type type = tar::entry_type::file;
  char typeflag = '0';
  std::uint64_t mode = 0, uid = 0, gid = 0, size = 0, devmajor = 0, devminor = 0;
  std::int64_t mtime = 0;
  std::uint32_t mtime_nsec = 0;
  bool sparse = false;
  std::uint64_t sparse_realsize = 0;
  std::uint64_t offset = 0; // of its first header, in the tar stream
  std::size_t xattrs = 0;
};

struct layer_report {
  compress::format compression = compress::format::none;
  std::uint64_t size = 0;     // bytes of the file
  std::uint64_t tar_size = 0; // bytes of the tar stream (decompressed)
  std::vector<layer_entry> entries;
  finding_log findings;
  std::optional<hash::digest> diff_id; // sha256 of the tar stream, when asked for
};

namespace detail {

inline layer_entry owned(const tar::entry& e) {
  layer_entry o;
  o.path = e.path();
  o.link = std::string(e.linkname);
  o.uname = std::string(e.uname);
  o.gname = std::string(e.gname);
  o.type = e.type;
  o.typeflag = e.typeflag;
  o.mode = e.mode;
  o.uid = e.uid;
  o.gid = e.gid;
  o.size = e.size;
  o.devmajor = e.devmajor;
  o.devminor = e.devminor;
  o.mtime = e.mtime;
  o.mtime_nsec = e.mtime_nsec;
  o.sparse = e.sparse;
  o.sparse_realsize = e.sparse_realsize;
  o.offset = e.offset;
  o.xattrs = e.xattrs.size();
  return o;
}

struct lister {
  std::vector<layer_entry>& out;
  result<void> begin(const tar::entry&) { return success(); }
  result<void> data(const tar::entry&, byte_span) { return success(); }
  result<bool> end(const tar::entry& e) {
    out.push_back(owned(e));
    return true;
  }
};

} // namespace detail

// Streams a layer into a tar::parser handler: a raw archive in place, a
// compressed one decoded in bounded chunks (opts.max_size). Fills the
// compression, sizes and reader findings of `rep`; the handler sees each
// entry. An error stops the stream where it was found.
template <class Handler>
result<void> feed_layer(byte_span bytes, const layer_options& opts, Handler& handler,
                        layer_report& rep) {
  rep.size = bytes.size();
  rep.compression = compress::detect(bytes);
  tar::options to;
  to.mode = opts.mode;
  std::optional<hash::hasher> h;
  if (opts.diff_id) {
    UKIKIT_TRY_ASSIGN(auto made, hash::hasher::create(hash::algorithm::sha256));
    h.emplace(std::move(made));
  }
  if (rep.compression == compress::format::none) {
    to.chunks_persist = true;
    tar::parser p(to);
    auto fed = p.feed(bytes, handler);
    rep.findings.append(std::move(p.findings()));
    UKIKIT_TRY(fed);
    UKIKIT_TRY(p.finish());
    rep.tar_size = bytes.size();
    rep.findings.append(std::move(p.findings()));
    if (h) {
      UKIKIT_TRY_ASSIGN(rep.diff_id, h->update(bytes).finish());
    }
    return success();
  }
  tar::parser p(to);
  compress::decode_options d;
  d.max_output = opts.max_size;
  auto sink = [&](byte_span chunk) -> result<void> {
    if (h) h->update(chunk);
    UKIKIT_TRY(p.feed(chunk, handler));
    return success();
  };
  auto stats = compress::decode(rep.compression, bytes, d, sink);
  rep.findings.append(std::move(p.findings()));
  if (!stats)
    return std::move(stats).error().prefixed(std::string(compress::name(rep.compression)) +
                                             " layer");
  UKIKIT_TRY(p.finish());
  rep.tar_size = stats->produced;
  rep.findings.append(std::move(p.findings()));
  if (h) {
    UKIKIT_TRY_ASSIGN(rep.diff_id, h->finish());
  }
  if (stats->consumed < bytes.size()) {
    byte_span rest = bytes.subspan(static_cast<std::size_t>(stats->consumed));
    if (leading_zeros(rest) != rest.size()) {
      if (opts.mode == strictness::strict)
        return error(errc::malformed,
                     "data after the compressed stream (" + std::to_string(rest.size()) + " bytes)",
                     stats->consumed);
      rep.findings.add(severity::error, code::layer_trailing_data,
                       "data after the compressed stream: no reader sees it", stats->consumed,
                       rest.size());
    }
  }
  return success();
}

inline result<layer_report> list_layer(byte_span bytes, const layer_options& opts = {}) {
  layer_report rep;
  detail::lister l{rep.entries};
  UKIKIT_TRY(feed_layer(bytes, opts, l, rep));
  return rep;
}

// ---- JSON ---------------------------------------------------------------------

inline nlohmann::ordered_json to_json(const layer_entry& e) {
  nlohmann::ordered_json j{{"path", e.path},  {"type", std::string(tar::type_name(e.type))},
                           {"mode", e.mode},  {"uid", e.uid},
                           {"gid", e.gid},    {"size", e.size},
                           {"mtime", e.mtime}};
  if (e.mtime_nsec != 0) j["mtime_nsec"] = e.mtime_nsec;
  if (!e.link.empty()) j["link"] = e.link;
  if (!e.uname.empty()) j["uname"] = e.uname;
  if (!e.gname.empty()) j["gname"] = e.gname;
  if (e.type == tar::entry_type::chardev || e.type == tar::entry_type::blockdev) {
    j["devmajor"] = e.devmajor;
    j["devminor"] = e.devminor;
  }
  if (e.sparse) j["sparse_size"] = e.sparse_realsize;
  if (e.xattrs != 0) j["xattrs"] = e.xattrs;
  j["offset"] = e.offset;
  return j;
}

// {"compression", "size", "tar_size", "entries": [...], "findings": [...],
//  "findings_dropped"}
inline nlohmann::ordered_json to_json(const layer_report& r) {
  nlohmann::ordered_json j;
  j["compression"] = std::string(compress::name(r.compression));
  j["size"] = r.size;
  j["tar_size"] = r.tar_size;
  j["entries"] = nlohmann::ordered_json::array();
  for (const auto& e : r.entries) j["entries"].push_back(to_json(e));
  j["findings"] = to_json(r.findings.kept());
  j["findings_dropped"] = r.findings.dropped();
  return j;
}

// ---- tar -tv --------------------------------------------------------------------

// A name as GNU tar quotes it in the C locale (quotearg's escape style):
// backslash doubled, \a \b \f \n \r \t \v, other bytes outside printable
// ASCII as three octal digits.
inline std::string tar_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
    case '\\': out += "\\\\"; continue;
    case '\a': out += "\\a"; continue;
    case '\b': out += "\\b"; continue;
    case '\f': out += "\\f"; continue;
    case '\n': out += "\\n"; continue;
    case '\r': out += "\\r"; continue;
    case '\t': out += "\\t"; continue;
    case '\v': out += "\\v"; continue;
    default: break;
    }
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      out += '\\';
      out += static_cast<char>('0' + ((c >> 6) & 7));
      out += static_cast<char>('0' + ((c >> 3) & 7));
      out += static_cast<char>('0' + (c & 7));
    }
  }
  return out;
}

namespace detail {

inline char type_char(const layer_entry& e) noexcept {
  switch (e.type) {
  case tar::entry_type::hardlink: return 'h';
  case tar::entry_type::symlink: return 'l';
  case tar::entry_type::chardev: return 'c';
  case tar::entry_type::blockdev: return 'b';
  case tar::entry_type::directory: return 'd';
  case tar::entry_type::fifo: return 'p';
  case tar::entry_type::file: return e.typeflag == '7' ? 'C' : '-';
  case tar::entry_type::other: return e.typeflag == 'D' ? 'd' : '?';
  }
  return '?';
}

inline std::string mode_text(const layer_entry& e) {
  std::string m(10, '-');
  m[0] = type_char(e);
  constexpr char rwx[] = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i)
    if (e.mode & (0400U >> i)) m[static_cast<std::size_t>(i + 1)] = rwx[i];
  if (e.mode & 04000) m[3] = (e.mode & 0100) ? 's' : 'S';
  if (e.mode & 02000) m[6] = (e.mode & 0010) ? 's' : 'S';
  if (e.mode & 01000) m[9] = (e.mode & 0001) ? 't' : 'T';
  return m;
}

inline std::string utc_minutes(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (!gmtime_r(&tt, &tm)) return std::to_string(t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02d-%02d %02d:%02d",
                static_cast<long long>(tm.tm_year) + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min);
  return buf;
}

} // namespace detail

// The lines `tar --numeric-owner --utc -tv` prints for the entries: mode,
// uid/gid and size in a column that starts 19 wide and widens for good when
// an entry needs more, the time left-aligned in a column that starts 16 wide,
// the quoted name, and "-> target" or "link to target".
inline std::string tar_tv(const std::vector<layer_entry>& entries) {
  std::string out;
  std::size_t ugs_width = 19, date_width = 16;
  for (const auto& e : entries) {
    const std::string owner = std::to_string(e.uid) + "/" + std::to_string(e.gid);
    std::string size;
    if (e.type == tar::entry_type::chardev || e.type == tar::entry_type::blockdev)
      size = std::to_string(e.devmajor) + "," + std::to_string(e.devminor);
    else size = std::to_string(e.sparse ? e.sparse_realsize : e.size);
    const std::size_t pad = owner.size() + 1 + size.size();
    ugs_width = std::max(ugs_width, pad);
    const std::string date = detail::utc_minutes(e.mtime);
    date_width = std::max(date_width, date.size());
    out += detail::mode_text(e);
    out += ' ';
    out += owner;
    out += ' ';
    out.append(ugs_width - pad, ' ');
    out += size;
    out += ' ';
    out += date;
    out.append(date_width - date.size(), ' ');
    out += ' ';
    out += tar_quote(e.path);
    if (e.type == tar::entry_type::symlink) out += " -> " + tar_quote(e.link);
    if (e.type == tar::entry_type::hardlink) out += " link to " + tar_quote(e.link);
    out += '\n';
  }
  return out;
}

// The names, one per line, as `tar -t` prints them.
inline std::string tar_t(const std::vector<layer_entry>& entries) {
  std::string out;
  for (const auto& e : entries) out += tar_quote(e.path) + '\n';
  return out;
}

} // namespace ukikit::report
