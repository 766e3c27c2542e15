// tar_fuzzer: the tar reader and the push parser on the same bytes, in
// strict and in permissive mode:
//  - tar::reader over the whole input, touching every byte of each name,
//    link, xattr and data view;
//  - tar::parser fed the whole input at once, and again in chunks whose
//    sizes come from the first input byte, with the handler pausing now and
//    then, then finish().
// All three must report the same entries (path, link, type, sizes, offsets,
// ids, times, xattrs, a hash of the data), the same findings (code, offset)
// and the same outcome (error code and offset). A broken promise is
// __builtin_trap(), so libFuzzer and the replay main both stop on it.
#include <ukikit/tar.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace tar = ukikit::tar;
using ukikit::byte_span;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::uint64_t fnv(std::uint64_t h, byte_span b) {
  for (std::byte x : b) h = (h ^ std::to_integer<std::uint64_t>(x)) * 0x100000001b3;
  return h;
}
std::uint64_t fnv(std::uint64_t h, std::string_view s) { return fnv(h, ukikit::as_bytes(s)); }
constexpr std::uint64_t fnv_basis = 0xcbf29ce484222325;

struct seen_entry {
  std::string path, link, uname, gname;
  tar::entry_type type;
  char typeflag;
  std::uint64_t offset, header_offset, data_offset, size, mode, uid, gid, devmajor, devminor;
  std::int64_t mtime;
  std::uint32_t mtime_nsec;
  bool sparse, pax;
  std::uint64_t xattr_hash, data_size = 0, data_hash = fnv_basis;
  bool operator==(const seen_entry&) const = default;
};

seen_entry seen(const tar::entry& e) {
  std::uint64_t xh = fnv_basis;
  for (const auto& x : e.xattrs) xh = fnv(fnv(xh, x.name), x.value);
  return {e.path(),
          std::string(e.linkname),
          std::string(e.uname),
          std::string(e.gname),
          e.type,
          e.typeflag,
          e.offset,
          e.header_offset,
          e.data_offset,
          e.size,
          e.mode,
          e.uid,
          e.gid,
          e.devmajor,
          e.devminor,
          e.mtime,
          e.mtime_nsec,
          e.sparse,
          e.pax,
          xh};
}

struct outcome {
  std::vector<seen_entry> entries;
  std::vector<std::pair<std::string, std::uint64_t>> findings;
  std::uint64_t findings_dropped = 0;
  std::optional<ukikit::errc> code;
  std::uint64_t error_offset = 0;
  bool operator==(const outcome&) const = default;
};

void take_findings(outcome& o, const ukikit::finding_log& log) {
  for (const auto& f : log.kept()) o.findings.emplace_back(std::string(f.code), f.offset);
  o.findings_dropped = log.dropped();
}

outcome read_span(byte_span in, tar::options opts) {
  outcome o;
  tar::reader r(in, opts);
  for (;;) {
    auto e = r.next();
    if (!e) {
      o.code = e.error().code();
      o.error_offset = e.error().offset();
      break;
    }
    if (!*e) break;
    seen_entry s = seen(**e);
    s.data_size = (*e)->data.size();
    s.data_hash = fnv(fnv_basis, (*e)->data);
    check(s.data_size == (*e)->size);
    o.entries.push_back(std::move(s));
  }
  take_findings(o, r.findings());
  return o;
}

struct collector {
  std::vector<seen_entry> entries;
  seen_entry cur{};
  unsigned pause_every = 0;
  bool skipped = false; // data may be skipped: data() sees part of it
  ukikit::result<void> begin(const tar::entry& e) {
    cur = seen(e);
    return ukikit::success();
  }
  ukikit::result<void> data(const tar::entry& e, byte_span piece) {
    check(!piece.empty());
    check(seen(e).path == cur.path);
    cur.data_size += piece.size();
    cur.data_hash = fnv(cur.data_hash, piece);
    return ukikit::success();
  }
  ukikit::result<bool> end(const tar::entry& e) {
    check(skipped ? cur.data_size <= e.size : cur.data_size == e.size);
    entries.push_back(cur);
    return pause_every == 0 || entries.size() % pause_every != 0;
  }
};

outcome push(byte_span in, tar::options opts, std::size_t chunk, unsigned pause_every) {
  outcome o;
  tar::parser p(opts);
  collector c;
  c.pause_every = pause_every;
  std::size_t pos = 0;
  while (pos < in.size()) {
    byte_span piece = in.subspan(pos, std::min(chunk, in.size() - pos));
    while (!piece.empty()) {
      auto f = p.feed(piece, c);
      if (!f) {
        o.code = f.error().code();
        o.error_offset = f.error().offset();
        o.entries = c.entries;
        take_findings(o, p.findings());
        return o;
      }
      check(f->used <= piece.size());
      if (f->stop != tar::stop::paused) check(f->used == piece.size());
      piece = piece.subspan(f->used);
      pos += f->used;
    }
  }
  if (auto r = p.finish(); !r) {
    o.code = r.error().code();
    o.error_offset = r.error().offset();
  }
  o.entries = c.entries;
  take_findings(o, p.findings());
  return o;
}

// Fed in chunks, the data skipped rather than fed.
outcome skipping(byte_span in, tar::options opts, std::size_t chunk) {
  outcome o;
  tar::parser p(opts);
  collector c;
  c.skipped = true;
  std::size_t pos = 0;
  auto failed = [&](const ukikit::error& e) {
    o.code = e.code();
    o.error_offset = e.offset();
  };
  for (;;) {
    if (const std::uint64_t s = std::min<std::uint64_t>(p.skippable(), in.size() - pos); s != 0) {
      p.skip(s);
      pos += static_cast<std::size_t>(s);
      continue;
    }
    byte_span piece = in.subspan(pos, std::min(chunk, in.size() - pos));
    auto f = p.feed(piece, c); // an empty piece at the end: the last entry's end()
    if (!f) {
      failed(f.error());
      break;
    }
    check(f->used == piece.size());
    pos += f->used;
    if (pos == in.size() && piece.empty()) {
      if (auto r = p.finish(); !r) failed(r.error());
      break;
    }
  }
  o.entries = c.entries;
  take_findings(o, p.findings());
  return o;
}

// The outcome with the data sizes and hashes forgotten.
outcome without_data(outcome o) {
  for (auto& e : o.entries) {
    e.data_size = 0;
    e.data_hash = fnv_basis;
  }
  return o;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  byte_span in(reinterpret_cast<const std::byte*>(data), size);
  const std::size_t chunk = size == 0 ? 1 : std::to_integer<std::size_t>(in[0]) % 97 + 1;
  const unsigned pause = size < 2 ? 0 : std::to_integer<unsigned>(in[1]) % 4;
  for (auto mode : {ukikit::strictness::strict, ukikit::strictness::permissive}) {
    tar::options opts;
    opts.mode = mode;
    opts.max_findings = 16;
    const outcome spanned = read_span(in, opts);
    const outcome whole = push(in, opts, in.size() == 0 ? 1 : in.size(), 0);
    const outcome chunked = push(in, opts, chunk, pause);
    check(spanned == whole);
    check(whole == chunked);
    check(without_data(whole) == without_data(skipping(in, opts, chunk)));
  }
  return 0;
}
