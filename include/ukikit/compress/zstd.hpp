// compress/zstd.hpp: zstd frames through libzstd (detail of ukikit/compress.hpp).
// Decoder: ZSTD_decompressStream, one frame per stream, ZSTD_d_windowLogMax;
// skippable frames are skipped by the driver with skip_zstd_skippable_frames.
// Encoder: ZSTD_compressStream2 with checksum, pledged size and workers.
#pragma once

#include "common.hpp"

#include <zstd.h>
#include <zstd_errors.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ukikit::compress::detail {

// Skippable frames (RFC 8878 §3.1.2): LE32 magic 0x184D2A50…0x184D2A5F, LE32
// size, that many bytes of user data.
inline constexpr std::uint32_t zstd_skippable_magic = 0x184D2A50;
inline constexpr std::uint32_t zstd_skippable_magic_mask = 0xFFFFFFF0;

inline bool starts_with_zstd_skippable(byte_span data) noexcept {
  return data.size() >= sizeof(le32) &&
         (load<le32>(data).value() & zstd_skippable_magic_mask) == zstd_skippable_magic;
}

// The position after the skippable frames that start at `pos`.
inline result<std::size_t> skip_zstd_skippable_frames(byte_span input, std::size_t pos) {
  while (starts_with_zstd_skippable(input.subspan(pos))) {
    cursor c(input.subspan(pos), pos);
    UKIKIT_TRY(c.skip(sizeof(le32), "zstd skippable frame magic"));
    UKIKIT_TRY_ASSIGN(std::uint32_t size, c.u32le("zstd skippable frame size"));
    UKIKIT_TRY(c.skip(size, "zstd skippable frame"));
    pos += c.position();
  }
  return pos;
}

// The window a zstd frame header asks for (RFC 8878 §3.1.1.1), for the
// message when it is over the limit; 0 when the header is cut short.
inline std::uint64_t zstd_window_size(byte_span frame) noexcept {
  constexpr std::size_t descriptor_at = 4; // Frame_Header_Descriptor, after the magic
  constexpr unsigned single_segment_flag = 0x20;
  constexpr std::size_t dictionary_id_sizes[] = {0, 1, 2, 4};
  constexpr std::size_t content_size_sizes[] = {1, 2, 4, 8}; // in single-segment frames
  constexpr std::uint64_t content_size_2_offset = 256;       // the 2-byte form adds 256
  if (frame.size() <= descriptor_at) return 0;
  auto descriptor = std::to_integer<unsigned>(frame[descriptor_at]);
  if ((descriptor & single_segment_flag) == 0) {
    if (frame.size() <= descriptor_at + 1) return 0;
    auto window = std::to_integer<unsigned>(frame[descriptor_at + 1]); // Window_Descriptor
    std::uint64_t base = std::uint64_t{1} << (10 + (window >> 3));
    return base + base / 8 * (window & 7);
  }
  // Single segment: no window descriptor, the window is the content size.
  std::size_t at = descriptor_at + 1 + dictionary_id_sizes[descriptor & 3];
  std::size_t size = content_size_sizes[descriptor >> 6];
  if (frame.size() < at + size) return 0;
  std::uint64_t value = 0;
  for (std::size_t i = size; i-- > 0;)
    value = value << 8 | std::to_integer<std::uint64_t>(frame[at + i]);
  return size == 2 ? value + content_size_2_offset : value;
}

struct zstd_dctx_free {
  void operator()(ZSTD_DCtx* ctx) const noexcept { ZSTD_freeDCtx(ctx); }
};

class zstd_decoder {
public:
  static result<zstd_decoder> create(const decode_options& options) {
    ZSTD_bounds bounds = ZSTD_dParam_getBounds(ZSTD_d_windowLogMax);
    if (ZSTD_isError(bounds.error) || options.zstd_window_log_max < unsigned(bounds.lowerBound) ||
        options.zstd_window_log_max > unsigned(bounds.upperBound)) {
      return error(errc::invalid_argument, "zstd window log max must be " +
                                               std::to_string(bounds.lowerBound) + " to " +
                                               std::to_string(bounds.upperBound) + " (got " +
                                               std::to_string(options.zstd_window_log_max) + ")");
    }
    zstd_decoder d;
    d.ctx_.reset(ZSTD_createDCtx());
    if (!d.ctx_) return error(errc::limit_exceeded, "cannot allocate a zstd decoder");
    std::size_t r = ZSTD_DCtx_setParameter(d.ctx_.get(), ZSTD_d_windowLogMax,
                                           static_cast<int>(options.zstd_window_log_max));
    if (ZSTD_isError(r)) {
      return error(errc::invalid_argument,
                   "cannot set zstd window log max (" + lowercase(ZSTD_getErrorName(r)) + ")");
    }
    d.window_log_max_ = options.zstd_window_log_max;
    return d;
  }

  result<void> reset() {
    ZSTD_DCtx_reset(ctx_.get(), ZSTD_reset_session_only);
    return success();
  }

  void begin(byte_span frame) noexcept { frame_ = frame; }

  result<step> run(byte_span in, std::span<std::byte> out) {
    ZSTD_inBuffer zin{in.data(), in.size(), 0};
    ZSTD_outBuffer zout{out.data(), out.size(), 0};
    std::size_t r = ZSTD_decompressStream(ctx_.get(), &zout, &zin);
    if (ZSTD_isError(r)) return failure(r, zin.pos);
    // 0: the frame is complete and flushed; zin.pos is just past it.
    return step{zin.pos, zout.pos, r == 0};
  }

private:
  error failure(std::size_t r, std::size_t at) const {
    std::string why = lowercase(ZSTD_getErrorName(r));
    switch (ZSTD_getErrorCode(r)) {
    case ZSTD_error_checksum_wrong:
      return error(errc::checksum_mismatch, "zstd frame checksum mismatch (" + why + ")", at);
    case ZSTD_error_frameParameter_windowTooLarge:
      return error(errc::limit_exceeded,
                   "zstd window exceeds limit (" + hex(zstd_window_size(frame_)) + " > " +
                       hex(std::uint64_t{1} << window_log_max_) +
                       " bytes; raise zstd_window_log_max)",
                   at);
    case ZSTD_error_memory_allocation:
      return error(errc::limit_exceeded, "cannot allocate memory for a zstd frame", at);
    case ZSTD_error_dictionary_wrong:
      return error(errc::unsupported,
                   "zstd frames with a dictionary are not supported (" + why + ")", at);
    case ZSTD_error_frameParameter_unsupported:
    case ZSTD_error_version_unsupported:
      return error(errc::unsupported, "unsupported zstd frame (" + why + ")", at);
    default: return error(errc::malformed, "corrupt zstd frame (" + why + ")", at);
    }
  }

  std::unique_ptr<ZSTD_DCtx, zstd_dctx_free> ctx_;
  unsigned window_log_max_ = default_zstd_window_log_max;
  byte_span frame_;
};

// ---- encoder ---------------------------------------------------------------

inline constexpr int zstd_default_level = 3; // ZSTD_CLEVEL_DEFAULT, `zstd`

struct zstd_cctx_free {
  void operator()(ZSTD_CCtx* ctx) const noexcept { ZSTD_freeCCtx(ctx); }
};

// One zstd frame: the level, an XXH64 checksum (ZSTD_c_checksumFlag), the
// content size when pledged, and ZSTD_c_nbWorkers = threads when threads > 1.
// One zstd frame: the level, an XXH64 checksum (ZSTD_c_checksumFlag), the
// content size when pledged, and ZSTD_c_nbWorkers = threads when threads > 1.
class zstd_encoder {
public:
  static result<zstd_encoder> create(const encode_options& options) {
    int level = options.level.value_or(zstd_default_level);
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
      return level_error("zstd level", ZSTD_minCLevel(), ZSTD_maxCLevel(), level);
    }
    zstd_encoder e;
    e.ctx_.reset(ZSTD_createCCtx());
    if (!e.ctx_) return error(errc::limit_exceeded, "cannot allocate a zstd encoder");
    UKIKIT_TRY(e.set(ZSTD_c_compressionLevel, level));
    UKIKIT_TRY(e.set(ZSTD_c_checksumFlag, 1));
    if (options.threads > 1) {
      std::size_t r =
          ZSTD_CCtx_setParameter(e.ctx_.get(), ZSTD_c_nbWorkers, static_cast<int>(options.threads));
      if (ZSTD_isError(r)) {
        return error(errc::unsupported, "zstd threads are not supported by this libzstd (" +
                                            lowercase(ZSTD_getErrorName(r)) + ")");
      }
    }
    if (options.content_size) {
      std::size_t r = ZSTD_CCtx_setPledgedSrcSize(e.ctx_.get(), *options.content_size);
      if (ZSTD_isError(r)) return e.failure(r);
    }
    return e;
  }

  result<step> run(byte_span in, std::span<std::byte> out, bool finish) {
    ZSTD_inBuffer zin{in.data(), in.size(), 0};
    ZSTD_outBuffer zout{out.data(), out.size(), 0};
    std::size_t r =
        ZSTD_compressStream2(ctx_.get(), &zout, &zin, finish ? ZSTD_e_end : ZSTD_e_continue);
    if (ZSTD_isError(r)) return failure(r);
    // With ZSTD_e_end, 0 means the frame is complete and flushed.
    return step{zin.pos, zout.pos, finish && r == 0};
  }

private:
  result<void> set(ZSTD_cParameter parameter, int value) {
    std::size_t r = ZSTD_CCtx_setParameter(ctx_.get(), parameter, value);
    if (ZSTD_isError(r)) return failure(r);
    return success();
  }

  static error failure(std::size_t r) {
    errc code = ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? errc::limit_exceeded
                                                                     : errc::invalid_argument;
    return error(code, "zstd encoder failed (" + lowercase(ZSTD_getErrorName(r)) + ")");
  }

  std::unique_ptr<ZSTD_CCtx, zstd_cctx_free> ctx_;
};

// One xz stream with CRC32 checks: lzma_easy_encoder, or
// lzma_stream_encoder_mt (independent blocks of 3 x the dictionary size, as

} // namespace ukikit::compress::detail
