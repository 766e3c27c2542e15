// An initramfs as the Linux kernel reads it (init/initramfs.c).
//
// The input is a sequence of segments: raw cpio archives (newc or crc),
// compressed streams that hold one or more archives, and zero bytes between
// them. walk() goes through it exactly as the kernel's unpacker does:
//
// - at a '0' on a multiple of 4 from the start, a raw archive; zero bytes
//   are padding; anything else starts a compressed segment, told by its magic
//   (zstd, xz, lzma and gzip are decoded; bzip2, lz4 and lzo are named and
//   stop the walk, as an unconfigured decompressor stops the kernel);
// - each compressed stream (a zstd frame, an xz or lzma stream, a gzip
//   member) is one segment; inside it, archives may follow each other with
//   zero padding, anything else is "junk within compressed archive", and it
//   must end between entries ("junk at the end of compressed archive");
// - the cpio rules of cpio.hpp's kernel mode apply, with every tolerated
//   quirk reported.
//
// The result is a report of segments (offset, length, compression,
// decompressed size, entries, archives) with findings (ukikit::finding):
// notes for the cpio quirks read as the kernel reads them (cpio::code), and
// warnings for what will not work as probably intended (initrd::code: early
// microcode that the early loader will not find, odc archives that the
// kernel rejects, a raw archive cut short) and, where the kernel would stop
// with an error, the failure.
// Entries go to a cpio handler as the parser delivers them (see cpio.hpp), so
// listing and extraction stream: decompressed data is never held whole.
#pragma once

#include "bytes.hpp"
#include "compress.hpp"
#include "cpio.hpp"
#include "diagnostics.hpp"
#include "result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::initrd {

// Limits. The kernel has none but memory; ours keep a hostile initramfs
// from taking the machine.
inline constexpr std::uint64_t default_max_output = std::uint64_t{16}
                                                    << 30; // decompressed, all segments
inline constexpr std::uint64_t max_segments = 100000;

// The finding codes of the walk (README, "Initramfs archives"); the cpio
// parser's notes keep their cpio::code. All are warnings.
namespace code {
// An odc or old binary archive: the kernel reads only newc and crc, and
// stops there with an error (read here to be listed).
inline constexpr std::string_view unsupported_format = "initrd.unsupported-cpio-format";
// Early microcode (kernel/x86/microcode/…) that is not in an uncompressed
// archive at the start of the initrd: the early loader does not find it.
inline constexpr std::string_view misplaced_microcode = "initrd.misplaced-microcode";
// Early microcode named "./kernel/…" or "/kernel/…": the early loader
// matches the name from its first character.
inline constexpr std::string_view microcode_path_prefix = "initrd.microcode-path-prefix";
// Early microcode that is not a regular file.
inline constexpr std::string_view microcode_not_a_file = "initrd.microcode-not-a-file";
// Early microcode under a name the loaders do not ask for (they ask for
// GenuineIntel.bin and AuthenticAMD.bin).
inline constexpr std::string_view microcode_unknown_name = "initrd.microcode-unknown-name";
// A raw archive runs out inside an entry: the kernel keeps what came before
// and ignores the rest without a word (report::truncated is set too).
inline constexpr std::string_view truncated = "initrd.truncated";
} // namespace code

struct segment {
  std::uint64_t offset = 0; // in the input
  std::uint64_t length = 0; // input bytes: the raw archive or the compressed stream
  compress::format compression = compress::format::none;
  std::uint64_t size = 0;          // decompressed bytes (the length for raw archives)
  std::uint64_t entries = 0;       // cpio entries, trailers not counted
  std::uint64_t archives = 0;      // TRAILER!!! entries seen
  std::uint64_t skipped = 0;       // entries the kernel skips silently
  std::optional<cpio::format> fmt; // of the first header
};

struct report {
  std::vector<segment> segments;
  std::uint64_t padding = 0; // zero bytes between segments
  // The findings, one log per severity: notices holds the notes (quirks
  // tolerated as the kernel does, cpio::code), warnings what will not work as
  // probably intended (initrd::code; initrd::tree adds its own). Each keeps
  // finding_log::default_limit (1000) findings and counts all: two logs, so
  // that a flood of notes (a hostile archive can have one in every header
  // field) never pushes a warning out.
  finding_log notices{finding_log::default_limit};
  finding_log warnings{finding_log::default_limit};
  // Where the kernel would stop with an error. (odc and old binary archives,
  // which the kernel rejects, are read and reported as warnings instead, so
  // that they can be listed.)
  std::optional<error> failure;
  // Where a raw archive runs out inside an entry. The kernel keeps what came
  // before and stops without a word (a warning says so), but the input is
  // cut short: GNU cpio calls it "premature end of file" (exit 2), and so do
  // `ukikit initrd list|info|extract` and ukiinspect.
  std::optional<error> truncated;

  void warn(std::string_view c, std::string message, std::uint64_t offset,
            std::string subject = {}) {
    finding f(severity::warning, c, std::move(message), offset);
    f.subject = std::move(subject);
    warnings.add(std::move(f));
  }

  // Where reading stopped short: the failure, else the truncation; both are
  // errors of the input (the tools exit with status 2).
  const std::optional<error>& stopped() const noexcept { return failure ? failure : truncated; }

  // The kept findings, notes first, then warnings.
  std::vector<finding> findings() const {
    std::vector<finding> out = notices.kept();
    out.insert(out.end(), warnings.kept().begin(), warnings.kept().end());
    return out;
  }

  std::uint64_t entries() const noexcept {
    std::uint64_t n = 0;
    for (const auto& s : segments) n += s.entries;
    return n;
  }
};

struct walk_options {
  cpio::strictness mode = cpio::strictness::kernel;
  std::uint64_t max_output = default_max_output;
  std::uint64_t memlimit = compress::default_memlimit;
  // xz decoder threads (compress::decode_options::threads): 0 is one per core.
  unsigned threads = 1;
};

// Early microcode: the x86 loader (lib/earlycpio.c) scans the raw archives at
// the start of the initrd for these names, matched from the first byte.
inline constexpr std::string_view microcode_prefix = "kernel/x86/microcode/";

namespace detail {

// Wraps the caller's handler: counts entries per segment, checks early
// microcode, and in raw runs pauses at each trailer so that every archive
// is its own segment.
template <class Handler> class counting_handler {
public:
  counting_handler(Handler& inner, report& rep) : inner_(inner), rep_(rep) {}

  segment* current() const noexcept { return seg_; }

  // Entries from `p` go to segment `s`, or for raw runs (s null) each archive
  // to a new segment opened at its first header.
  void open(const cpio::parser* p, segment* s, bool raw, bool early) {
    parser_ = p;
    seg_ = s;
    raw_ = raw;
    early_ = early;
  }
  std::optional<error> inner_error;

  result<void> begin(const cpio::entry& e) {
    if (seg_ == nullptr) {
      if (rep_.segments.size() >= max_segments) { // not inner_error: a failure of the input
        return error(errc::limit_exceeded,
                     "too many initramfs segments (limit " + std::to_string(max_segments) + ")",
                     e.offset);
      }
      rep_.segments.push_back({});
      seg_ = &rep_.segments.back();
      seg_->offset = e.offset;
      seg_->fmt = e.format;
      check_format(e);
    } else if (!seg_->fmt) {
      seg_->fmt = e.format;
      check_format(e);
    }
    check_microcode(e);
    return forward(inner_.begin(e));
  }

  result<void> data(const cpio::entry& e, byte_span piece) {
    return forward(inner_.data(e, piece));
  }

  result<bool> end(const cpio::entry& e) {
    if (raw_) seg_->length = seg_->size = parser_->offset() - seg_->offset;
    if (e.is_trailer()) {
      ++seg_->archives;
    } else {
      ++seg_->entries;
      if (!e.kernel_skip.empty()) ++seg_->skipped;
    }
    auto r = inner_.end(e);
    if (!r) {
      inner_error = r.error();
      return r.error();
    }
    if (raw_ && e.is_trailer()) {
      seg_ = nullptr; // the next archive is a new segment
      return false;
    }
    return true;
  }

private:
  result<void> forward(result<void> r) {
    if (!r) inner_error = r.error();
    return r;
  }

  void check_format(const cpio::entry& e) {
    if (e.format == cpio::format::newc || e.format == cpio::format::crc) return;
    // An odc header starts with '0' and reaches the kernel's magic check; a
    // binary one does not start with '0' and is taken for compressed data.
    const char* says = e.format == cpio::format::odc
                           ? "incorrect cpio method used: use -H newc option"
                           : "invalid magic at start of compressed archive";
    rep_.warn(code::unsupported_format,
              std::string(cpio::name(e.format)) +
                  " cpio archive: the kernel reads only newc and crc (\"" + says + "\")",
              seg_->offset);
  }

  void check_microcode(const cpio::entry& e) {
    std::string_view n = e.name;
    std::string_view bare = n;
    while (bare.starts_with("./")) bare.remove_prefix(2);
    while (bare.starts_with("/")) bare.remove_prefix(1);
    if (!bare.starts_with(microcode_prefix)) return;
    const std::uint64_t at = raw_ ? e.offset : seg_->offset;
    const std::string quoted = "early microcode \"" + std::string(n) + "\"";
    auto warn = [&](std::string_view c, std::string why) {
      rep_.warn(c, quoted + why, at, std::string(n));
    };
    if (!raw_ || !early_) {
      warn(code::misplaced_microcode,
           " is not in an uncompressed archive at the start of the initrd: the early loader will "
           "not find it");
    } else if (bare.size() != n.size()) {
      warn(code::microcode_path_prefix, " starts with ./ or /: the early loader matches "
                                        "\"kernel/x86/microcode/…\" from the first character");
    } else if (e.type() != cpio::file_type::regular && e.type() != cpio::file_type::directory) {
      warn(code::microcode_not_a_file,
           " is not a regular file: the early loader matches regular files only");
    } else if (e.type() == cpio::file_type::regular) {
      // The loaders ask for these two names; dot files are the alignment
      // padding distributions add (".enuineIntel.align.0123456789abc").
      std::string_view file = bare.substr(microcode_prefix.size());
      if (file != "GenuineIntel.bin" && file != "AuthenticAMD.bin" && !file.starts_with('.')) {
        warn(code::microcode_unknown_name, " is not a name the early loader looks for "
                                           "(GenuineIntel.bin or AuthenticAMD.bin)");
      }
    }
  }

  Handler& inner_;
  report& rep_;
  const cpio::parser* parser_ = nullptr;
  segment* seg_ = nullptr;
  bool raw_ = false;
  bool early_ = true;
};

// Moves a parser's findings into the report's notices. Those of a
// compressed segment get `prefix` and the decompressed offset in the message
// and `at` (the segment) as their offset.
inline void take_notices(cpio::parser& p, report& rep, const std::string& prefix,
                         std::uint64_t at = error::no_offset) {
  finding_log log = p.take_findings();
  for (finding& f : log.take()) {
    if (at != error::no_offset) {
      f.message = prefix + "decompressed offset " + hex(f.offset) + ": " + f.message;
      f.offset = at;
    }
    rep.notices.add(std::move(f));
  }
  rep.notices.append(std::move(log)); // what the parser counted but did not keep
}

inline cpio::options parser_options(const walk_options& o) { return cpio::options{o.mode, true}; }

} // namespace detail

namespace detail {

// Why the kernel cannot decode the compressed segment at input[pos…] whose
// magic says `f`, if it cannot.
inline std::optional<error> undecodable(compress::format f, byte_span rest, std::size_t pos) {
  if (f == compress::format::none)
    return error(errc::malformed, "invalid magic at start of compressed archive", pos);
  if (f == compress::format::lz4 && rest[0] == std::byte{0x04}) { // 04 22 4d 18, not 02 21 4c 18
    return error(errc::malformed,
                 "invalid magic at start of compressed archive (an lz4 frame: the kernel reads "
                 "only the legacy lz4 format)",
                 pos);
  }
  constexpr std::size_t xz_check_flags = 7; // the stream flags' second byte, after the magic
  if (f == compress::format::xz && rest.size() > xz_check_flags) {
    // XZ Embedded in the kernel accepts the checks None and CRC32 only.
    const auto check = std::to_integer<unsigned>(rest[xz_check_flags]) & 0x0f;
    if (check != 0 && check != 1) {
      const std::string name = check == 4    ? "crc64"
                               : check == 10 ? "sha256"
                                             : "type " + std::to_string(check);
      return error(errc::unsupported,
                   "xz segment uses check " + name +
                       ", which the kernel's xz decoder rejects (it accepts crc32 and none)",
                   pos);
    }
  }
  if (!compress::supported(f)) {
    return error(errc::unsupported,
                 "compression method " + std::string(compress::name(f)) +
                     " not supported by ukikit (it decodes zstd, xz, lzma and gzip)",
                 pos);
  }
  return std::nullopt;
}

// Whether a raw archive starts at input[pos]: a '0' on a multiple of 4, or
// an old binary magic (the kernel reads only newc and crc; binary archives
// are read to be reported by name rather than as an unknown compression).
inline bool raw_archive_at(byte_span input, std::size_t pos) noexcept {
  if (input[pos] == std::byte{'0'}) return pos % 4 == 0;
  return pos % 2 == 0 && pos + 1 < input.size() &&
         ((input[pos] == std::byte{0xc7} && input[pos + 1] == std::byte{0x71}) ||
          (input[pos] == std::byte{0x71} && input[pos + 1] == std::byte{0xc7}));
}

// The state of one walk; see walk().
template <class Handler> class walker {
public:
  walker(byte_span input, const walk_options& options, Handler& handler)
      : input_(input), options_(options), counter_(handler, rep_), budget_(options.max_output) {
    rep_.segments.reserve(16);
  }

  result<report> run() {
    while (pos_ < input_.size() && !rep_.failure) {
      if (rep_.segments.size() >= max_segments) {
        rep_.failure =
            error(errc::limit_exceeded,
                  "too many initramfs segments (limit " + std::to_string(max_segments) + ")", pos_);
        break;
      }
      if (input_[pos_] == std::byte{0}) { // padding
        pos_ += leading_zeros(input_.subspan(pos_));
        continue;
      }
      if (raw_archive_at(input_, pos_)) {
        UKIKIT_TRY(raw_run());
      } else {
        UKIKIT_TRY(compressed());
      }
    }
    std::uint64_t in_segments = 0;
    for (const auto& s : rep_.segments) in_segments += s.length;
    rep_.padding = pos_ - in_segments;
    return std::move(rep_);
  }

private:
  // A run of raw archives: one parser, a segment per archive. Returns an
  // error only from the handler; input problems set report::failure.
  result<void> raw_run() {
    cpio::parser p(parser_options(options_), pos_);
    counter_.open(&p, nullptr, true, early_);
    for (;;) {
      auto fed = p.feed(input_.subspan(pos_), counter_);
      if (!fed) {
        if (counter_.inner_error) return *counter_.inner_error;
        rep_.failure = fed.error();
        break;
      }
      pos_ += fed->used;
      if (fed->stop == cpio::stop::paused) continue; // an archive ended; more may follow
      if (fed->stop == cpio::stop::need_input && !p.at_boundary()) {
        // The kernel unpacks what came before and stops without a word
        // (only compressed segments are checked for their end state).
        const error cut = p.truncated_error();
        rep_.warn(code::truncated,
                  cut.context() + ": the kernel keeps what came before and silently ignores the "
                                  "rest",
                  cut.offset());
        rep_.truncated = cut;
        if (segment* s = counter_.current()) s->length = s->size = input_.size() - s->offset;
      }
      break;
    }
    any_entry_ = any_entry_ || p.entries() > 0;
    take_notices(p, rep_, {});
    return success();
  }

  // One compressed stream (zstd frame, xz or lzma stream, gzip member).
  result<void> compressed() {
    const byte_span rest = input_.subspan(pos_);
    const compress::format f = compress::detect(rest);
    if (auto why = undecodable(f, rest, pos_)) {
      rep_.failure = std::move(*why);
      return success();
    }
    early_ = false;
    rep_.segments.push_back({});
    segment& seg = rep_.segments.back();
    seg.offset = pos_;
    seg.compression = f;
    // Until the first entry of the initramfs is done, the kernel is in its
    // Start state: the stream must begin with a header, and be non-empty.
    const bool start_state = !any_entry_;
    cpio::options popts = parser_options(options_);
    popts.header_first = start_state;
    cpio::parser p(popts);
    counter_.open(&p, &seg, false, false);
    auto sink = [&](byte_span chunk) -> result<void> {
      while (!chunk.empty()) {
        auto fed = p.feed(chunk, counter_);
        if (!fed) return at_segment(fed.error());
        if (fed->stop == cpio::stop::foreign)
          return at_segment(error(errc::malformed, "junk within compressed archive", p.offset()));
        chunk = chunk.subspan(fed->used);
      }
      return success();
    };
    compress::decode_options dopts;
    dopts.max_output = budget_;
    dopts.memlimit = options_.memlimit;
    dopts.threads = options_.threads;
    dopts.concatenated = false;
    auto stats = compress::decode(f, rest, dopts, sink);
    const std::string where = "in " + std::string(compress::name(f)) + " segment at " + hex(pos_);
    take_notices(p, rep_, where + ", ", pos_);
    if (!stats) {
      if (counter_.inner_error) return *counter_.inner_error;
      rep_.failure = stats.error().rebased(pos_).prefixed(where);
      return success();
    }
    seg.length = stats->consumed;
    seg.size = stats->produced;
    budget_ -= stats->produced;
    if (!p.at_boundary() || (start_state && p.entries() == 0)) {
      rep_.failure = error(errc::truncated,
                           "junk at the end of compressed archive: the " +
                               std::string(compress::name(f)) + " stream ends " +
                               (p.entries() == 0 && p.at_boundary() ? "before its first cpio entry"
                                                                    : "inside a cpio entry"),
                           pos_ + stats->consumed);
      return success();
    }
    any_entry_ = any_entry_ || p.entries() > 0;
    pos_ += static_cast<std::size_t>(stats->consumed);
    return success();
  }

  // Errors inside a stream have decompressed offsets: they are reported at
  // the segment, with the decompressed offset in the message.
  static error at_segment(const error& e) {
    std::string what = e.context();
    if (e.has_offset()) what += " (decompressed offset " + hex(e.offset()) + ")";
    return error(e.code(), what, 0);
  }

  byte_span input_;
  const walk_options& options_;
  report rep_;
  counting_handler<Handler> counter_;
  std::uint64_t budget_;
  std::size_t pos_ = 0;
  bool early_ = true;      // no compressed segment yet
  bool any_entry_ = false; // the kernel has left its Start state
};

} // namespace detail

// Walks `input` as the kernel does; see the top of the file. Problems in the
// input end the walk with report::failure set; an error from the handler is
// returned as is.
template <class Handler>
result<report> walk(byte_span input, const walk_options& options, Handler& handler) {
  detail::walker<Handler> w(input, options, handler);
  return w.run();
}

// A handler that only counts (the report has everything).
struct null_handler {
  result<void> begin(const cpio::entry&) { return success(); }
  result<void> data(const cpio::entry&, byte_span) { return success(); }
  result<bool> end(const cpio::entry&) { return true; }
};

inline result<report> examine(byte_span input, const walk_options& options = {}) {
  null_handler h;
  return walk(input, options, h);
}

} // namespace ukikit::initrd
