// Compression: detect a format by its magic, decode a stream into bounded
// output, and encode deterministically.
//
// The formats are those of the Linux kernel's lib/decompress.c. ukikit decodes
// zstd, xz, lzma (lzma-alone, `.lzma`) and gzip and encodes zstd, xz and gzip;
// bzip2, lz4 and lzo are recognised and named, and decoding them is
// errc::unsupported.
//
// Decoding is zero-copy and streaming. The input is one span (a mapped file,
// a section); the output goes to a sink in chunks of at most `chunk_size`
// bytes, so memory stays bounded whatever the input claims, and output past
// `max_output` is an error. decode() reads one stream starting at input[0];
// with `concatenated` it goes on while the rest of the input starts another
// stream of the same format (zstd frames and skippable frames, xz streams
// after null padding in multiples of 4, gzip members) and stops before
// anything else, reporting how much input it consumed so that the caller sees
// what follows (the kernel's "junk after compressed data").
//
// Encoding is deterministic: the same input, options and thread count give
// the same bytes. zstd frames carry an XXH64 checksum and, when known, the
// content size; xz uses CRC32 checks, which the kernel requires; gzip headers
// have mtime 0 and OS 3 (Unix), like `gzip -n`.
//
// Codec state lives in liblzma, libzstd and zlib; this header does no I/O,
// logging or global state.
#pragma once

#include "compress/common.hpp"
#include "compress/gzip.hpp"
#include "compress/xz.hpp"
#include "compress/zstd.hpp"

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace ukikit::compress {

// ---- decoding ---------------------------------------------------------------

namespace detail {

// Output accounting: everything produced goes through put(), which enforces
// the limit before the sink sees a byte over it.
class output {
public:
  output(format f, std::uint64_t limit, sink_ref sink) noexcept
      : fmt_(f), limit_(limit), sink_(sink) {}

  result<void> put(byte_span chunk, std::uint64_t at) {
    if (skip_ > 0) { // already handed over (a stream decoded again)
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, chunk.size()));
      skip_ -= n;
      chunk = chunk.subspan(n);
      if (chunk.empty()) return success();
    }
    if (chunk.size() > limit_ - produced_) {
      return error(errc::limit_exceeded,
                   "decompressed " + std::string(name(fmt_)) + " size exceeds limit (limit " +
                       hex(limit_) + " bytes)",
                   at);
    }
    produced_ += chunk.size();
    return sink_(chunk);
  }

  std::uint64_t produced() const noexcept { return produced_; }

  bool fits(std::size_t n) const noexcept { return n <= limit_ - produced_; }

  // The next `n` bytes put are those the sink already has: dropped.
  void skip(std::uint64_t n) noexcept { skip_ = n; }

private:
  format fmt_;
  std::uint64_t limit_;
  std::uint64_t produced_ = 0;
  std::uint64_t skip_ = 0;
  sink_ref sink_;
};

// zstd, xz and gzip streams start with a magic; lzma-alone has none.
inline const magic* stream_magic(format f) noexcept {
  switch (f) {
  case format::zstd: return &zstd_magic;
  case format::xz: return &xz_magic;
  case format::gzip: return &gzip_magic;
  default: return nullptr;
  }
}

inline result<void> check_magic(format f, byte_span input, std::size_t pos) {
  const magic* m = stream_magic(f);
  if (m == nullptr || starts_with(input.subspan(pos), *m)) return success();
  if (is_prefix_of(input.subspan(pos), *m)) return truncated_stream(f, input.size());
  return error(errc::malformed,
               std::string(name(f)) + " magic not found (expected " + magic_text(*m) + ")", pos);
}

// Where decoding goes on after a complete stream that ends at `pos`:
// `pos` is the end of what belongs to the stream (with trailing skippable
// frames or padding), `another` whether a stream of the same format follows.
struct boundary {
  std::size_t pos;
  bool another;
};

inline result<boundary> next_stream(format f, byte_span input, std::size_t pos) {
  switch (f) {
  case format::zstd: {
    UKIKIT_TRY_ASSIGN(pos, skip_zstd_skippable_frames(input, pos));
    return boundary{pos, starts_with(input.subspan(pos), zstd_magic)};
  }
  case format::xz: {
    // Stream padding belongs to the stream before it when it is a multiple
    // of four bytes and is followed by another stream or the end of input.
    std::size_t end = pos;
    while (end < input.size() && input[end] == std::byte{0}) ++end;
    if ((end - pos) % xz_padding_alignment != 0) return boundary{pos, false};
    if (end == input.size()) return boundary{end, false};
    if (starts_with(input.subspan(end), xz_magic)) return boundary{end, true};
    return boundary{pos, false};
  }
  case format::gzip: return boundary{pos, starts_with(input.subspan(pos), gzip_magic)};
  default: return boundary{pos, false}; // lzma-alone: one stream
  }
}

// A codec whose output may lag behind its input (liblzma's threaded decoder).
template <class Codec>
concept threaded_codec = requires(Codec& c) {
  { c.threaded() } -> std::convertible_to<bool>;
  { c.single_threaded() } -> std::same_as<result<void>>;
};

template <class Codec> bool is_threaded(const Codec& codec) {
  if constexpr (threaded_codec<Codec>) return codec.threaded();
  return false;
}

// Decodes the stream at input[pos…] to its end; returns the position after it.
// A threaded codec that fails or stalls decodes the stream again on one
// thread, its output up to there skipped, so that what the caller sees (output,
// error, offset) is the single-threaded decoder's; input_done only moves on.
template <class Codec>
result<std::size_t> decode_stream(format f, Codec& codec, byte_span input, std::size_t pos,
                                  std::span<std::byte> buffer, output& out,
                                  const std::function<void(std::size_t)>& input_done) {
  const std::size_t start = pos;
  const std::uint64_t produced_before = out.produced();
  std::size_t reported = pos;
  codec.begin(input.subspan(pos));
  for (;;) {
    auto s = codec.run(input.subspan(pos), buffer);
    const bool threaded = is_threaded(codec);
    // A threaded codec's limit error would name the input it read ahead to.
    bool failed = !s || (threaded && !out.fits(s->out_used));
    bool stalled = false;
    if (!failed) {
      pos += s->in_used;
      if (input_done && pos > reported) input_done(reported = pos);
      if (s->out_used > 0) UKIKIT_TRY(out.put(byte_span(buffer.first(s->out_used)), pos));
      if (s->end) return pos;
      stalled = s->in_used == 0 && s->out_used == 0;
    }
    if (threaded) {
      // Reading ahead, a threaded codec stops short with all input read and
      // output still to come; only a failure or a stall ends it.
      if (!failed && !stalled) continue;
      if constexpr (threaded_codec<Codec>) {
        UKIKIT_TRY(codec.single_threaded());
        out.skip(out.produced() - produced_before);
        pos = start;
        codec.begin(input.subspan(pos));
        continue;
      }
    }
    if (!s) return s.error().rebased(pos);
    // With all input given and room left for output, the codec only stops
    // short of the stream's end when the input does.
    if (pos == input.size() && s->out_used < buffer.size())
      return truncated_stream(f, input.size());
    if (stalled) {
      return error(errc::malformed, std::string(name(f)) + " decoder made no progress", pos);
    }
  }
}

template <class Codec>
result<decode_stats> drive(format f, Codec& codec, byte_span input, const decode_options& options,
                           sink_ref sink) {
  auto buffer = std::make_unique_for_overwrite<std::byte[]>(chunk_size);
  output out(f, options.max_output, sink);
  decode_stats stats{f, 0, 0, 0};
  std::size_t pos = 0;
  if (f == format::zstd) {
    UKIKIT_TRY_ASSIGN(pos, skip_zstd_skippable_frames(input, pos));
    if (pos > 0 && pos == input.size()) { // nothing but skippable frames
      stats.consumed = pos;
      return stats;
    }
  }
  for (;;) {
    UKIKIT_TRY(check_magic(f, input, pos));
    UKIKIT_TRY_ASSIGN(pos, decode_stream(f, codec, input, pos, {buffer.get(), chunk_size}, out,
                                         options.input_done));
    ++stats.streams;
    if (!options.concatenated) break;
    UKIKIT_TRY_ASSIGN(boundary next, next_stream(f, input, pos));
    pos = next.pos;
    if (!next.another) break;
    UKIKIT_TRY(codec.reset());
  }
  stats.consumed = pos;
  stats.produced = out.produced();
  return stats;
}

} // namespace detail

// Decodes the `f` stream that starts at input[0] into `sink`, in chunks of at
// most chunk_size bytes. See decode_options for limits and concatenation;
// errors carry the input offset where decoding stopped.
inline result<decode_stats> decode(format f, byte_span input, const decode_options& options,
                                   sink_ref sink) {
  switch (f) {
  case format::zstd: {
    UKIKIT_TRY_ASSIGN(auto codec, detail::zstd_decoder::create(options));
    return detail::drive(f, codec, input, options, sink);
  }
  case format::xz:
  case format::lzma: {
    UKIKIT_TRY_ASSIGN(auto codec, detail::lzma_decoder::create(f, options));
    return detail::drive(f, codec, input, options, sink);
  }
  case format::gzip: {
    UKIKIT_TRY_ASSIGN(auto codec, detail::gzip_decoder::create());
    return detail::drive(f, codec, input, options, sink);
  }
  case format::bzip2:
  case format::lz4:
  case format::lzo:
    return error(errc::unsupported,
                 std::string(name(f)) +
                     " compression is not supported (ukikit decodes zstd, xz, lzma and gzip)",
                 0);
  case format::none: break;
  }
  return error(errc::invalid_argument, "no compression format to decode");
}

// Detects the format, decodes everything into memory, and rejects what
// follows the compressed data unless it is all zero bytes (padding).
inline result<std::vector<std::byte>> decompress(byte_span input, const decode_options& options) {
  format f = detect(input);
  if (f == format::none)
    return error(errc::malformed, "unknown compression format (no known magic)", 0);
  std::vector<std::byte> out;
  auto append = [&out](byte_span chunk) -> result<void> {
    out.insert(out.end(), chunk.begin(), chunk.end());
    return success();
  };
  UKIKIT_TRY_ASSIGN(decode_stats stats, decode(f, input, options, append));
  byte_span rest = input.subspan(static_cast<std::size_t>(stats.consumed));
  if (std::any_of(rest.begin(), rest.end(), [](std::byte b) { return b != std::byte{0}; })) {
    return error(errc::malformed,
                 "junk after compressed data (" + hex(rest.size()) + " bytes at " +
                     hex(stats.consumed) + ")",
                 stats.consumed);
  }
  return out;
}

// ---- encoding ---------------------------------------------------------------

// A streaming encoder: create(), write() any number of times, finish().
// Output goes to the sink passed to each call, in chunks of at most
// chunk_size bytes; write() may keep output buffered until later calls.
// After an error or finish() the encoder refuses further calls. Move-only;
// the codec state is freed with it.
class encoder {
public:
  static result<encoder> create(const encode_options& options) {
    if (options.threads > max_threads) {
      return error(errc::invalid_argument, "threads must be at most " +
                                               std::to_string(max_threads) + " (got " +
                                               std::to_string(options.threads) + ")");
    }
    if (options.extreme && options.fmt != format::xz) {
      return error(errc::invalid_argument,
                   "extreme applies to xz only (format is " + std::string(name(options.fmt)) + ")");
    }
    switch (options.fmt) {
    case format::zstd: return make<detail::zstd_encoder>(options);
    case format::xz: return make<detail::xz_encoder>(options);
    case format::gzip: return make<detail::gzip_encoder>(options);
    case format::none: return error(errc::invalid_argument, "no compression format to encode");
    default:
      return error(errc::unsupported,
                   std::string(name(options.fmt)) +
                       " compression is not supported (ukikit encodes zstd, xz and gzip)");
    }
  }

  encoder(encoder&&) noexcept = default;
  encoder& operator=(encoder&&) noexcept = default;

  // Compresses `input`, handing full output chunks to `sink`.
  result<void> write(byte_span input, sink_ref sink) {
    UKIKIT_TRY(check_open());
    if (content_size_ && input.size() > *content_size_ - consumed_) {
      return fail(error(errc::invalid_argument, std::string(name(fmt_)) +
                                                    " input exceeds the declared content size (" +
                                                    hex(consumed_) + " + " + hex(input.size()) +
                                                    " > " + hex(*content_size_) + ")"));
    }
    return pump(input, false, sink);
  }

  // Ends the stream and hands the rest of the output to `sink`.
  result<void> finish(sink_ref sink) {
    UKIKIT_TRY(check_open());
    if (content_size_ && consumed_ != *content_size_) {
      return fail(
          error(errc::invalid_argument, std::string(name(fmt_)) +
                                            " input is shorter than the declared content size (" +
                                            hex(consumed_) + " < " + hex(*content_size_) + ")"));
    }
    UKIKIT_TRY(pump({}, true, sink));
    phase_ = phase::finished;
    return success();
  }

  format fmt() const noexcept { return fmt_; }
  std::uint64_t consumed() const noexcept { return consumed_; } // input bytes written
  std::uint64_t produced() const noexcept { return produced_; } // output bytes handed to sinks
  bool finished() const noexcept { return phase_ == phase::finished; }

private:
  using codec = std::variant<detail::zstd_encoder, detail::xz_encoder, detail::gzip_encoder>;
  enum class phase : std::uint8_t { open, finished, failed };

  template <class Codec> static result<encoder> make(const encode_options& options) {
    UKIKIT_TRY_ASSIGN(Codec c, Codec::create(options));
    return encoder(options.fmt, codec(std::move(c)), options.content_size);
  }

  encoder(format f, codec c, std::optional<std::uint64_t> content_size)
      : fmt_(f), codec_(std::move(c)), content_size_(content_size),
        buffer_(std::make_unique_for_overwrite<std::byte[]>(chunk_size)) {}

  result<void> check_open() const {
    if (phase_ == phase::open && buffer_) return success();
    std::string why = phase_ == phase::finished ? "is finished"
                      : buffer_                 ? "failed earlier"
                                                : "was moved from";
    return error(errc::invalid_argument, std::string(name(fmt_)) + " encoder " + why);
  }

  error fail(error e) {
    phase_ = phase::failed;
    return e;
  }

  result<void> pump(byte_span input, bool finish, sink_ref sink) {
    if (!finish && input.empty()) return success();
    for (;;) {
      if (buffered_ == chunk_size) {
        if (auto r = flush(sink); !r) return fail(std::move(r).error());
      }
      std::span<std::byte> room(buffer_.get() + buffered_, chunk_size - buffered_);
      auto s = std::visit([&](auto& c) { return c.run(input, room, finish); }, codec_);
      if (!s) return fail(std::move(s).error());
      input = input.subspan(s->in_used);
      consumed_ += s->in_used;
      buffered_ += s->out_used;
      if (finish ? s->end : input.empty()) break;
    }
    if (finish) {
      if (auto r = flush(sink); !r) return fail(std::move(r).error());
    }
    return success();
  }

  result<void> flush(sink_ref sink) {
    if (buffered_ == 0) return success();
    byte_span chunk(buffer_.get(), buffered_);
    buffered_ = 0;
    produced_ += chunk.size();
    return sink(chunk);
  }

  format fmt_;
  codec codec_;
  std::optional<std::uint64_t> content_size_;
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t buffered_ = 0;
  std::uint64_t consumed_ = 0;
  std::uint64_t produced_ = 0;
  phase phase_ = phase::open;
};

// Compresses `input` in one go (the content size is recorded for zstd).
inline result<std::vector<std::byte>> compress(byte_span input, const encode_options& options) {
  if (options.content_size && *options.content_size != input.size()) {
    return error(errc::invalid_argument, "content size " + hex(*options.content_size) +
                                             " differs from the input size " + hex(input.size()));
  }
  encode_options with_size = options;
  with_size.content_size = input.size();
  UKIKIT_TRY_ASSIGN(encoder enc, encoder::create(with_size));
  std::vector<std::byte> out;
  auto append = [&out](byte_span chunk) -> result<void> {
    out.insert(out.end(), chunk.begin(), chunk.end());
    return success();
  };
  UKIKIT_TRY(enc.write(input, append));
  UKIKIT_TRY(enc.finish(append));
  return out;
}

} // namespace ukikit::compress
