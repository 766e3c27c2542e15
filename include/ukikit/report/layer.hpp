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
#include "../file.hpp"
#include "../hash.hpp"
#include "../tar.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <functional>
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
  // Told about each piece of a compressed layer once it has been decoded
  // (a caller that mapped the layer may drop those pages: image::source::release).
  std::function<void(byte_span)> consumed;
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

// Input handed to layer_options::consumed at a time, at least.
inline constexpr std::size_t release_piece = std::size_t{4} << 20;

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
  std::size_t released = 0;
  if (opts.consumed)
    d.input_done = [&](std::size_t pos) {
      if (pos < released + release_piece) return;
      opts.consumed(bytes.subspan(released, pos - released));
      released = pos;
    };
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

namespace detail {

// Passes begin() and end() on; data is not looked at.
template <class Handler> struct headers_only {
  Handler& inner;
  result<void> begin(const tar::entry& e) { return inner.begin(e); }
  result<void> data(const tar::entry&, byte_span) { return success(); }
  result<bool> end(const tar::entry& e) { return inner.end(e); }
};

// Bytes read at a time from a raw layer file: a header and on to the end of
// its page (the headers of small files in the same page come in the same
// read; reading more costs more in copying than it saves in reads), and
// everything in big reads after the end of the archive or when hashing.
inline constexpr std::size_t page_read = 4096, bulk_read = std::size_t{1} << 20;

inline std::size_t read_length(std::uint64_t offset, bool bulk) noexcept {
  if (bulk) return bulk_read;
  const std::uint64_t end = (offset + tar::block_size + page_read - 1) / page_read * page_read;
  return static_cast<std::size_t>(end - offset);
}

} // namespace detail

// feed_layer for a layer file, for a handler that needs no data (its data()
// is never called): a raw archive is read with pread header by header, the
// data between headers skipped as `tar -t` seeks over it (mapping the file
// would fault in and unmap the pages around every header); a compressed one
// is mapped and decoded. With opts.diff_id every byte is read and hashed.
// The report and its findings are those of feed_layer on the same bytes.
template <class Handler>
result<void> feed_layer_headers(const file::read_file& in, const layer_options& opts,
                                Handler& handler, layer_report& rep) {
  detail::headers_only<Handler> h{handler};
  std::vector<std::byte> buf(detail::bulk_read);
  UKIKIT_TRY_ASSIGN(byte_span head,
                    in.read_at(0, std::span<std::byte>(buf).first(detail::page_read)));
  if (compress::detect(head) != compress::format::none) {
    UKIKIT_TRY_ASSIGN(auto mapped, file::mapped_file::map(in.fd(), in.size(), in.path()));
    mapped.advise_sequential();
    return feed_layer(mapped.bytes(), opts, h, rep);
  }
  rep.size = in.size();
  rep.compression = compress::format::none;
  tar::options to;
  to.mode = opts.mode;
  std::optional<hash::hasher> hasher;
  if (opts.diff_id) {
    UKIKIT_TRY_ASSIGN(auto made, hash::hasher::create(hash::algorithm::sha256));
    hasher.emplace(std::move(made));
  }
  tar::parser p(to);
  const std::uint64_t size = in.size();
  std::uint64_t offset = 0;
  auto fed = [&]() -> result<void> {
    while (offset < size) {
      if (!hasher) {
        if (const std::uint64_t skip = std::min(p.skippable(), size - offset); skip != 0) {
          p.skip(skip);
          offset += skip;
          continue;
        }
      }
      const std::size_t want = detail::read_length(offset, hasher || p.ended());
      UKIKIT_TRY_ASSIGN(byte_span got, in.read_at(offset, std::span<std::byte>(buf).first(want)));
      if (hasher) hasher->update(got);
      UKIKIT_TRY_ASSIGN(tar::fed f, p.feed(got, h));
      if (f.used != got.size() && f.stop != tar::stop::paused)
        return error(errc::invalid_argument, "tar parser left input unread", offset + f.used);
      offset += f.used;
    }
    UKIKIT_TRY(p.feed({}, h)); // the last entry's end(), when its data was skipped to the end
    return success();
  }();
  rep.findings.append(std::move(p.findings()));
  UKIKIT_TRY(fed);
  UKIKIT_TRY(p.finish());
  rep.tar_size = size;
  rep.findings.append(std::move(p.findings()));
  if (hasher) {
    UKIKIT_TRY_ASSIGN(rep.diff_id, hasher->finish());
  }
  return success();
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

namespace detail {

// Appends `s` as GNU tar quotes a name in the C locale (quotearg's escape
// style): backslash doubled, \a \b \f \n \r \t \v, other bytes outside
// printable ASCII as three octal digits.
inline void append_quoted(std::string& out, std::string_view s) {
  auto plain = [](unsigned char c) { return c >= 0x20 && c < 0x7f && c != '\\'; };
  std::size_t run = 0;
  while (run < s.size() && plain(static_cast<unsigned char>(s[run]))) ++run;
  out.append(s.substr(0, run));
  for (char ch : s.substr(run)) {
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
}

// What a `tar -t` or `tar -tv` line shows of an entry, from a layer_entry or
// straight from the parser's entry; the path is prefix + "/" + name when the
// prefix is not empty.
struct line_fields {
  std::string_view prefix, name, link;
  tar::entry_type type = tar::entry_type::file;
  char typeflag = '0';
  std::uint64_t mode = 0, uid = 0, gid = 0, size = 0, devmajor = 0, devminor = 0;
  std::int64_t mtime = 0;
  bool sparse = false;
  std::uint64_t sparse_realsize = 0;
};

inline line_fields fields_of(const layer_entry& e) noexcept {
  return {{},    e.path, e.link,     e.type,     e.typeflag, e.mode,   e.uid,
          e.gid, e.size, e.devmajor, e.devminor, e.mtime,    e.sparse, e.sparse_realsize};
}

inline line_fields fields_of(const tar::entry& e) noexcept {
  return {e.prefix, e.name, e.linkname, e.type,     e.typeflag, e.mode,   e.uid,
          e.gid,    e.size, e.devmajor, e.devminor, e.mtime,    e.sparse, e.sparse_realsize};
}

inline void append_path(std::string& out, const line_fields& e) {
  if (!e.prefix.empty()) {
    append_quoted(out, e.prefix);
    out += '/';
  }
  append_quoted(out, e.name);
}

inline char type_char(const line_fields& e) noexcept {
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

inline std::string mode_text(const line_fields& e) {
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

// The `tar -t` line of an entry.
inline void append_t(std::string& out, const line_fields& e) {
  append_path(out, e);
  out += '\n';
}

// The columns of `tar -tv` lines, which widen for good when an entry needs
// more: uid/gid and size start 19 wide, the time 16.
struct tv_widths {
  std::size_t ugs = 19, date = 16;
};

// The `tar --numeric-owner --utc -tv` line of an entry: mode, uid/gid and
// size, the time left-aligned, the quoted name, and "-> target" or "link to
// target".
inline void append_tv(std::string& out, tv_widths& w, const line_fields& e) {
  const std::string owner = std::to_string(e.uid) + "/" + std::to_string(e.gid);
  std::string size;
  if (e.type == tar::entry_type::chardev || e.type == tar::entry_type::blockdev)
    size = std::to_string(e.devmajor) + "," + std::to_string(e.devminor);
  else size = std::to_string(e.sparse ? e.sparse_realsize : e.size);
  const std::size_t pad = owner.size() + 1 + size.size();
  w.ugs = std::max(w.ugs, pad);
  const std::string date = utc_minutes(e.mtime);
  w.date = std::max(w.date, date.size());
  out += mode_text(e);
  out += ' ';
  out += owner;
  out += ' ';
  out.append(w.ugs - pad, ' ');
  out += size;
  out += ' ';
  out += date;
  out.append(w.date - date.size(), ' ');
  out += ' ';
  append_path(out, e);
  if (e.type == tar::entry_type::symlink) {
    out += " -> ";
    append_quoted(out, e.link);
  }
  if (e.type == tar::entry_type::hardlink) {
    out += " link to ";
    append_quoted(out, e.link);
  }
  out += '\n';
}

} // namespace detail

// A name as GNU tar quotes it in the C locale (see detail::append_quoted).
inline std::string tar_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  detail::append_quoted(out, s);
  return out;
}

// The lines `tar --numeric-owner --utc -tv` prints for the entries.
inline std::string tar_tv(const std::vector<layer_entry>& entries) {
  std::string out;
  detail::tv_widths w;
  for (const auto& e : entries) detail::append_tv(out, w, detail::fields_of(e));
  return out;
}

// The names, one per line, as `tar -t` prints them.
inline std::string tar_t(const std::vector<layer_entry>& entries) {
  std::string out;
  for (const auto& e : entries) detail::append_t(out, detail::fields_of(e));
  return out;
}

// ---- listing as text, streamed ---------------------------------------------------

enum class listing_format : std::uint8_t {
  names,   // tar_t
  verbose, // tar_tv
};

namespace detail {

// Appends each entry's line as it is parsed: no entry is kept.
struct text_lister {
  std::string& out;
  listing_format format;
  tv_widths widths{};
  result<void> begin(const tar::entry&) { return success(); }
  result<void> data(const tar::entry&, byte_span) { return success(); }
  result<bool> end(const tar::entry& e) {
    if (format == listing_format::names) append_t(out, fields_of(e));
    else append_tv(out, widths, fields_of(e));
    return true;
  }
};

} // namespace detail

// tar_t or tar_tv of list_layer's entries, appended to `text` as the layer
// streams, without keeping the entries (the report's `entries` stay empty;
// the rest is list_layer's). On an error `text` holds the lines so far.
inline result<layer_report> list_layer_text(byte_span bytes, const layer_options& opts,
                                            listing_format format, std::string& text) {
  layer_report rep;
  detail::text_lister l{text, format};
  UKIKIT_TRY(feed_layer(bytes, opts, l, rep));
  return rep;
}

// The same for a layer file: a raw one is read header by header
// (feed_layer_headers), a compressed one mapped and decoded.
inline result<layer_report> list_layer_text(const file::read_file& in, const layer_options& opts,
                                            listing_format format, std::string& text) {
  layer_report rep;
  detail::text_lister l{text, format};
  UKIKIT_TRY(feed_layer_headers(in, opts, l, rep));
  return rep;
}

} // namespace ukikit::report
