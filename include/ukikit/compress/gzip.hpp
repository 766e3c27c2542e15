// compress/gzip.hpp: gzip members through zlib (detail of ukikit/compress.hpp).
// Decoder: inflate with the gzip wrapper only, one member per reset.
// Encoder: deflate with a fixed header (no name, MTIME 0, OS 3), like gzip -n.
#pragma once

#include "common.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>

namespace ukikit::compress::detail {

// zlib counts in uInt: it is fed at most this much per call.
inline constexpr std::size_t zlib_max_avail = std::size_t{1} << 30;
// inflateInit2/deflateInit2 window bits: 15 (32 KiB), +16 for the gzip wrapper only.
inline constexpr int gzip_window_bits = 16 + MAX_WBITS;

// A z_stream at a fixed address (zlib keeps a pointer back to it), ended on
// destruction.
struct inflate_state {
  z_stream stream{};
  bool live = false;
  inflate_state() = default;
  inflate_state(const inflate_state&) = delete;
  inflate_state& operator=(const inflate_state&) = delete;
  ~inflate_state() {
    if (live) inflateEnd(&stream);
  }
};

inline void zlib_buffers(z_stream& z, byte_span in, std::span<std::byte> out) {
  z.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(in.data()));
  z.avail_in = static_cast<uInt>(std::min(in.size(), zlib_max_avail));
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(std::min(out.size(), zlib_max_avail));
}

// Decodes one gzip member; the driver calls reset() (inflateReset) before the
// next one. zlib checks the header (reserved FLG bits must be zero), CRC32
// and ISIZE.
class gzip_decoder {
public:
  static result<gzip_decoder> create() {
    gzip_decoder d;
    d.state_ = std::make_unique<inflate_state>();
    if (inflateInit2(&d.state_->stream, gzip_window_bits) != Z_OK) {
      return error(errc::limit_exceeded, "cannot allocate a gzip decoder");
    }
    d.state_->live = true;
    return d;
  }

  result<void> reset() {
    inflateReset(&state_->stream);
    return success();
  }

  void begin(byte_span) noexcept {}

  result<step> run(byte_span in, std::span<std::byte> out) {
    z_stream& z = state_->stream;
    zlib_buffers(z, in, out);
    uInt avail_in = z.avail_in, avail_out = z.avail_out;
    int r = inflate(&z, Z_NO_FLUSH);
    step done{avail_in - z.avail_in, avail_out - z.avail_out, r == Z_STREAM_END};
    // Z_BUF_ERROR: no progress possible; the driver reports truncation.
    if (r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR) return done;
    std::string why = z.msg ? z.msg : "zlib error " + std::to_string(r);
    switch (r) {
    case Z_DATA_ERROR:
      if (why == "incorrect data check" || why == "incorrect length check" ||
          why == "header crc mismatch") {
        return error(errc::checksum_mismatch, "gzip member checksum mismatch (" + why + ")",
                     done.in_used);
      }
      return error(errc::malformed, "corrupt gzip member (" + why + ")", done.in_used);
    case Z_NEED_DICT:
      return error(errc::unsupported, "gzip member needs a preset dictionary", done.in_used);
    case Z_MEM_ERROR:
      return error(errc::limit_exceeded, "cannot allocate memory for the gzip decoder",
                   done.in_used);
    default: return error(errc::malformed, "gzip decoder failed (" + why + ")", done.in_used);
    }
  }

private:
  std::unique_ptr<inflate_state> state_;
};

// ---- encoder ---------------------------------------------------------------

inline constexpr int gzip_default_level = 6; // Z_DEFAULT_COMPRESSION, `gzip`
inline constexpr int gzip_mem_level = 8;     // deflateInit2's default memLevel
inline constexpr int gzip_os_unix = 3;       // RFC 1952 OS field: Unix, as gzip and zlib write

// A z_stream for deflate and the gz_header it points to until the header is
// written; both at fixed addresses, ended on destruction.
struct deflate_state {
  z_stream stream{};
  gz_header header{};
  bool live = false;
  deflate_state() = default;
  deflate_state(const deflate_state&) = delete;
  deflate_state& operator=(const deflate_state&) = delete;
  ~deflate_state() {
    if (live) deflateEnd(&stream);
  }
};

// One gzip member, header as `gzip -n` writes it: no name, MTIME 0, XFL from
// the level (zlib: 2 for 9, 4 below 2), OS 3.
// One gzip member, header as `gzip -n` writes it: no name, MTIME 0, XFL from
// the level (zlib: 2 for 9, 4 below 2), OS 3.
class gzip_encoder {
public:
  static result<gzip_encoder> create(const encode_options& options) {
    int level = options.level.value_or(gzip_default_level);
    if (level < 0 || level > 9) return level_error("gzip level", 0, 9, level);
    gzip_encoder e;
    e.state_ = std::make_unique<deflate_state>();
    z_stream& z = e.state_->stream;
    if (deflateInit2(&z, level, Z_DEFLATED, gzip_window_bits, gzip_mem_level, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
      return error(errc::limit_exceeded, "cannot allocate a gzip encoder");
    }
    e.state_->live = true;
    gz_header& h = e.state_->header;
    h.time = 0;          // MTIME: none, for reproducible output
    h.os = gzip_os_unix; // OS, whatever the build host
    if (deflateSetHeader(&z, &h) != Z_OK)
      return error(errc::invalid_argument, "cannot set the gzip header");
    return e;
  }

  result<step> run(byte_span in, std::span<std::byte> out, bool finish) {
    z_stream& z = state_->stream;
    zlib_buffers(z, in, out);
    uInt avail_in = z.avail_in, avail_out = z.avail_out;
    int r = deflate(&z, finish ? Z_FINISH : Z_NO_FLUSH);
    step done{avail_in - z.avail_in, avail_out - z.avail_out, r == Z_STREAM_END};
    if (r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR) return done;
    return error(errc::invalid_argument,
                 "gzip encoder failed (zlib error " + std::to_string(r) + ")");
  }

private:
  std::unique_ptr<deflate_state> state_;
};

} // namespace ukikit::compress::detail
