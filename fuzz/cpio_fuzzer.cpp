// cpio_fuzzer: every cpio reader on the same bytes, in strict mode, in
// kernel mode, and in kernel mode with newc and crc only. For each:
//  - cpio::reader over the whole input, touching every byte of each name,
//    data and link_target view;
//  - cpio::parser fed the whole input at once, and again in chunks whose
//    sizes come from the first input byte, with the handler pausing now and
//    then. Both must report the same entries (name, sizes, link target, a
//    checksum of the data), the same findings (each a note with a cpio.
//    code), and the same outcome (error
//    code and offset, foreign byte, end at an entry boundary);
//  - the reader must report what the parser reports up to the first trailer;
//  - permissive mode reads as kernel mode does.
// A broken promise is __builtin_trap(), so libFuzzer and the replay main
// both stop on it.
#include <ukikit/cpio.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace cpio = ukikit::cpio;
using ukikit::byte_span;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// FNV-1a, continued across pieces; also touches every byte for ASan.
std::uint64_t fnv(std::uint64_t h, byte_span b) {
  for (std::byte x : b) h = (h ^ std::to_integer<std::uint64_t>(x)) * 0x100000001b3;
  return h;
}
constexpr std::uint64_t fnv_basis = 0xcbf29ce484222325;

std::uint64_t fnv(std::uint64_t h, std::string_view s) { return fnv(h, ukikit::as_bytes(s)); }

// Keeps the touching loops from being optimized away.
volatile std::uint64_t sink = 0;

struct seen_entry {
  std::string name;
  cpio::format format;
  std::uint64_t offset, mode, filesize, namesize, data_size, data_hash;
  std::string link_target, kernel_skip;
  std::string name_start; // of a name skipped unread: the same in any chunking
  bool operator==(const seen_entry&) const = default;
};

seen_entry seen(const cpio::entry& e, std::uint64_t data_size, std::uint64_t data_hash) {
  return {std::string(e.name),
          e.format,
          e.offset,
          e.mode,
          e.filesize,
          e.namesize,
          data_size,
          data_hash,
          std::string(e.link_target),
          std::string(e.kernel_skip),
          std::string(e.name_start)};
}

struct outcome {
  std::vector<seen_entry> entries;
  std::vector<std::string> notices;
  std::optional<ukikit::errc> code;
  std::uint64_t error_offset = 0;
  bool foreign = false;
  bool at_boundary = false;
  std::uint64_t offset = 0;
  bool operator==(const outcome&) const = default;
};

// The push handler. pause_every > 0: end() returns false on every
// pause_every-th entry.
struct collector {
  std::vector<seen_entry> entries;
  std::uint64_t size = 0, hash = fnv_basis;
  unsigned pause_every = 0;
  bool in_entry = false;

  ukikit::result<void> begin(const cpio::entry& e) {
    check(!in_entry);
    in_entry = true;
    size = 0;
    hash = fnv_basis;
    sink = fnv(fnv_basis, e.name);
    return ukikit::success();
  }
  ukikit::result<void> data(const cpio::entry&, byte_span piece) {
    check(in_entry && !piece.empty());
    size += piece.size();
    hash = fnv(hash, piece);
    return ukikit::success();
  }
  ukikit::result<bool> end(const cpio::entry& e) {
    check(in_entry);
    in_entry = false;
    // Only a name skipped unread has a start, bounded, and only in kernel mode.
    check(e.name_start.empty() || (e.name.empty() && !e.kernel_skip.empty()));
    check(e.name_start.size() <= cpio::name_start_max && e.name_start.size() < e.namesize + 1);
    // The data handed out is the whole body, unless the kernel skips it.
    check(size == (e.kernel_skip.empty() ? e.filesize : 0));
    if (e.type() == cpio::file_type::symlink && e.kernel_skip.empty()) {
      check(e.link_target.size() == e.filesize);
      check(fnv(fnv_basis, e.link_target) == hash);
    }
    entries.push_back(seen(e, size, hash));
    return !(pause_every > 0 && entries.size() % pause_every == 0);
  }
};

// Chunk sizes: a small generator seeded by the first input byte, giving
// sizes from 1 up to 1 + (seed % 128), so splits land inside magics,
// headers, names, data and padding.
struct chunker {
  std::uint32_t state;
  std::uint32_t max;
  explicit chunker(std::uint8_t seed) : state(seed * 2654435761u + 1), max(1 + seed % 128) {}
  std::size_t next() {
    state = state * 1103515245u + 12345u;
    return 1 + (state >> 16) % max;
  }
};

outcome push(byte_span in, cpio::options opts, std::optional<chunker> cut, unsigned pause_every) {
  outcome out;
  cpio::parser p(opts);
  collector c;
  c.pause_every = pause_every;
  std::size_t pos = 0;
  while (true) {
    const std::size_t n = cut ? std::min(cut->next(), in.size() - pos) : in.size() - pos;
    byte_span chunk = in.subspan(pos, n);
    bool stopped = false;
    for (;;) { // re-feed the rest of a chunk after a pause
      const std::uint64_t before = p.offset();
      auto f = p.feed(chunk, c);
      if (!f) {
        out.code = f.error().code();
        out.error_offset = f.error().offset();
        check(!f.error().context().empty());
        stopped = true;
        break;
      }
      check(f->used <= chunk.size());
      check(p.offset() == before + f->used);
      pos += f->used;
      chunk = chunk.subspan(f->used);
      if (f->stop == cpio::stop::foreign) {
        check(p.at_boundary());
        out.foreign = true;
        stopped = true;
        break;
      }
      if (f->stop == cpio::stop::need_input) {
        check(chunk.empty());
        break;
      }
    }
    if (stopped || pos == in.size()) break;
  }
  out.entries = std::move(c.entries);
  for (const auto& n : p.findings()) {
    check(n.level == ukikit::severity::note && n.code.starts_with("cpio."));
    out.notices.push_back(std::string(n.code) + ": " + n.text());
  }
  out.at_boundary = p.at_boundary();
  out.offset = p.offset();
  if (out.code) { // where the parser stopped after an error depends on the chunks
    out.offset = 0;
    out.at_boundary = false;
  } else if (!out.foreign) {
    check(out.offset == in.size());
    // A stream that ends inside an entry is what truncated_error() describes.
    if (!out.at_boundary) check(p.truncated_error().code() == ukikit::errc::truncated);
  }
  return out;
}

// The reader, checked against the one-span parse.
void read(byte_span in, cpio::options opts, const outcome& parsed) {
  cpio::reader r(in, opts);
  std::vector<seen_entry> got;
  std::optional<ukikit::error> err;
  bool trailer = false;
  for (;;) {
    auto e = r.next();
    if (!e) {
      err = e.error();
      break;
    }
    if (!*e) break;
    const cpio::entry& x = **e;
    // Views into the input: in bounds, and read in full.
    const auto* base = reinterpret_cast<const char*>(in.data());
    check(x.name.empty() || (x.name.data() >= base && x.name.end() <= base + in.size()));
    check(x.data.empty() ||
          (x.data.data() >= in.data() && x.data.data() + x.data.size() <= in.data() + in.size()));
    sink = fnv(fnv_basis, x.link_target);
    got.push_back(seen(x, x.data.size(), fnv(fnv_basis, x.data)));
  }
  for (const auto& n : r.findings()) sink = fnv(fnv_basis, n.text());
  check(r.rest().size() <= in.size());

  // The parser's entries up to the first trailer.
  std::vector<seen_entry> want;
  for (const auto& e : parsed.entries) {
    if (e.name == cpio::trailer_name && cpio::type_of(e.mode) != cpio::file_type::symlink &&
        e.kernel_skip.empty()) { // entry::is_trailer()
      trailer = true;
      break;
    }
    want.push_back(e);
  }
  check(got == want);
  if (trailer) {
    check(!err);
    return;
  }
  if (parsed.code) { // the same error
    check(err && err->code() == *parsed.code && err->offset() == parsed.error_offset);
  } else if (parsed.foreign) {
    check(err && err->code() == ukikit::errc::malformed && err->offset() == parsed.offset);
  } else if (!parsed.at_boundary) {
    check(err && err->code() == ukikit::errc::truncated);
  } else if (opts.mode == cpio::strictness::strict) {
    check(err && err->code() == ukikit::errc::truncated); // no trailer
  } else {
    check(!err);
  }
}

void exercise(byte_span in, cpio::options opts) {
  const outcome whole = push(in, opts, std::nullopt, 0);
  read(in, opts, whole);
  if (in.empty()) return;
  const auto seed = std::to_integer<std::uint8_t>(in[0]);
  const outcome cut = push(in, opts, chunker(seed), 1 + seed % 3);
  check(cut == whole);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  byte_span in(reinterpret_cast<const std::byte*>(data), size);
  cpio::options opts;
  exercise(in, opts); // strict, all formats
  opts.mode = cpio::strictness::kernel;
  exercise(in, opts);
  cpio::options permissive = opts;
  permissive.mode = cpio::strictness::permissive;
  check(push(in, permissive, std::nullopt, 0) == push(in, opts, std::nullopt, 0));
  opts.all_formats = false; // newc and crc only, as the kernel reads
  exercise(in, opts);
  return 0;
}
