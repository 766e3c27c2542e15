// compress/xz.hpp: xz and lzma-alone through liblzma (detail of ukikit/compress.hpp).
// Decoder: lzma_stream_decoder (or lzma_stream_decoder_mt when threads are
// asked for) or lzma_alone_decoder, one stream per reset; concatenation and
// padding are the driver's.
// Encoder: lzma_easy_encoder or lzma_stream_encoder_mt, CRC32 checks.
#pragma once

#include "common.hpp"

#include <lzma.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace ukikit::compress::detail {

// xz stream padding is null bytes in multiples of four (xz format §2.2).
inline constexpr std::size_t xz_padding_alignment = 4;

// An lzma_stream at a fixed address, ended on destruction.
struct lzma_state {
  lzma_stream stream = LZMA_STREAM_INIT;
  lzma_state() = default;
  lzma_state(const lzma_state&) = delete;
  lzma_state& operator=(const lzma_state&) = delete;
  ~lzma_state() { lzma_end(&stream); }
};

inline lzma_ret lzma_step(lzma_stream& s, byte_span in, std::span<std::byte> out,
                          lzma_action action, step& done) {
  s.next_in = reinterpret_cast<const std::uint8_t*>(in.data());
  s.avail_in = in.size();
  s.next_out = reinterpret_cast<std::uint8_t*>(out.data());
  s.avail_out = out.size();
  lzma_ret r = lzma_code(&s, action);
  done = step{in.size() - s.avail_in, out.size() - s.avail_out, r == LZMA_STREAM_END};
  return r;
}

// Decodes one .xz stream or one .lzma stream (lzma_alone_decoder).
// Concatenation and stream padding are the driver's. An xz stream is decoded
// with lzma_stream_decoder_mt when more than one thread is asked for: it reads
// ahead of its output, so after a failure the driver decodes the stream again
// single-threaded (single_threaded()) and reports what that decoder reports.
class lzma_decoder {
public:
  static result<lzma_decoder> create(format f, const decode_options& options) {
    lzma_decoder d;
    d.fmt_ = f;
    d.memlimit_ = options.memlimit;
    d.threads_ = options.threads == 0 ? std::max(1u, std::thread::hardware_concurrency())
                                      : std::min(options.threads, max_threads);
    d.state_ = std::make_unique<lzma_state>();
    UKIKIT_TRY(d.reset());
    return d;
  }

  result<void> reset() {
    lzma_stream* s = &state_->stream;
    lzma_ret r;
    if (threaded()) {
      lzma_mt mt{};
      mt.threads = threads_;
      mt.timeout = 0; // block until output is ready or all input is read
      mt.memlimit_threading = memlimit_;
      mt.memlimit_stop = memlimit_;
      r = lzma_stream_decoder_mt(s, &mt);
    } else {
      r = fmt_ == format::xz ? lzma_stream_decoder(s, memlimit_, 0)
                             : lzma_alone_decoder(s, memlimit_);
    }
    if (r != LZMA_OK) return failure(r, 0);
    return success();
  }

  // Whether output may lag behind the input read (then a stop short of the
  // stream's end with all input read is not yet a truncation).
  bool threaded() const noexcept { return fmt_ == format::xz && threads_ > 1; }

  // From now on one thread: the driver decodes the current stream again.
  result<void> single_threaded() {
    threads_ = 1;
    return reset();
  }

  void begin(byte_span) noexcept {}

  result<step> run(byte_span in, std::span<std::byte> out) {
    // All remaining input is there, so LZMA_FINISH; a single-stream decoder
    // still stops at the end of its stream.
    step done;
    lzma_ret r = lzma_step(state_->stream, in, out, LZMA_FINISH, done);
    // LZMA_BUF_ERROR: no progress possible; the driver reports truncation.
    if (r == LZMA_OK || r == LZMA_STREAM_END || r == LZMA_BUF_ERROR) return done;
    return failure(r, done.in_used);
  }

private:
  error failure(lzma_ret r, std::size_t at) const {
    std::string what(name(fmt_));
    switch (r) {
    case LZMA_MEMLIMIT_ERROR:
      return error(errc::limit_exceeded,
                   what + " stream needs more memory than the limit (" +
                       hex(lzma_memusage(&state_->stream)) + " > " + hex(memlimit_) +
                       " bytes; raise memlimit)",
                   at);
    case LZMA_MEM_ERROR:
      return error(errc::limit_exceeded, "cannot allocate memory for the " + what + " decoder", at);
    case LZMA_FORMAT_ERROR:
      return error(errc::malformed, "not an " + what + " stream (file format not recognized)", at);
    case LZMA_OPTIONS_ERROR:
      return error(errc::unsupported,
                   "unsupported " + what + " stream options (unsupported options)", at);
    case LZMA_DATA_ERROR:
      return error(errc::malformed, "corrupt " + what + " stream (compressed data is corrupt)", at);
    default:
      return error(errc::malformed,
                   what + " decoder failed (liblzma error " + std::to_string(int(r)) + ")", at);
    }
  }

  format fmt_ = format::xz;
  std::uint64_t memlimit_ = default_memlimit;
  unsigned threads_ = 1;
  std::unique_ptr<lzma_state> state_;
};

// ---- encoder ---------------------------------------------------------------

inline constexpr int xz_default_preset = 6; // LZMA_PRESET_DEFAULT, `xz`

// One xz stream with CRC32 checks: lzma_easy_encoder, or
// lzma_stream_encoder_mt (independent blocks of 3 x the dictionary size, as
// `xz -T`) when threads > 1.
class xz_encoder {
public:
  static result<xz_encoder> create(const encode_options& options) {
    int preset = options.level.value_or(xz_default_preset);
    if (preset < 0 || preset > 9) return level_error("xz preset", 0, 9, preset);
    std::uint32_t flags =
        static_cast<std::uint32_t>(preset) | (options.extreme ? LZMA_PRESET_EXTREME : 0);
    xz_encoder e;
    e.state_ = std::make_unique<lzma_state>();
    lzma_ret r;
    if (options.threads > 1) {
      lzma_mt mt{};
      mt.threads = options.threads;
      mt.preset = flags;
      mt.check = LZMA_CHECK_CRC32;
      r = lzma_stream_encoder_mt(&e.state_->stream, &mt);
    } else {
      r = lzma_easy_encoder(&e.state_->stream, flags, LZMA_CHECK_CRC32);
    }
    if (r != LZMA_OK) return failure(r);
    return e;
  }

  result<step> run(byte_span in, std::span<std::byte> out, bool finish) {
    step done;
    lzma_ret r = lzma_step(state_->stream, in, out, finish ? LZMA_FINISH : LZMA_RUN, done);
    if (r == LZMA_OK || r == LZMA_STREAM_END || r == LZMA_BUF_ERROR) return done;
    return failure(r);
  }

private:
  static error failure(lzma_ret r) {
    if (r == LZMA_MEM_ERROR)
      return error(errc::limit_exceeded, "cannot allocate memory for the xz encoder");
    return error(errc::invalid_argument,
                 "xz encoder failed (liblzma error " + std::to_string(int(r)) + ")");
  }

  std::unique_ptr<lzma_state> state_;
};

// A z_stream for deflate and the gz_header it points to until the header is

} // namespace ukikit::compress::detail
