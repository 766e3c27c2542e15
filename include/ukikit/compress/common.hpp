// compress/common.hpp: the formats, their magics, and the contract between
// the codecs and the driver (options, stats, sinks, one codec step).
// Included by ukikit/compress.hpp; include that instead.
#pragma once

#include "../bytes.hpp"
#include "../result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace ukikit::compress {

enum class format : std::uint8_t { none, zstd, xz, lzma, gzip, bzip2, lz4, lzo };

// The name the kernel (and the xz, zstd and gzip tools) use: "zstd", "xz", …
constexpr std::string_view name(format f) noexcept {
  switch (f) {
  case format::none: return "none";
  case format::zstd: return "zstd";
  case format::xz: return "xz";
  case format::lzma: return "lzma";
  case format::gzip: return "gzip";
  case format::bzip2: return "bzip2";
  case format::lz4: return "lz4";
  case format::lzo: return "lzo";
  }
  return "unknown";
}

// The format called `text` by name(), or nullopt.
constexpr std::optional<format> from_name(std::string_view text) noexcept {
  for (format f : {format::none, format::zstd, format::xz, format::lzma, format::gzip,
                   format::bzip2, format::lz4, format::lzo}) {
    if (name(f) == text) return f;
  }
  return std::nullopt;
}

// True for the formats decode() reads.
constexpr bool supported(format f) noexcept {
  return f == format::zstd || f == format::xz || f == format::lzma || f == format::gzip;
}

// True for the formats encoder writes.
constexpr bool encodable(format f) noexcept {
  return f == format::zstd || f == format::xz || f == format::gzip;
}

// Size of the chunks handed to a sink, and of the one output buffer a decode
// or an encoder allocates: 128 KiB, ZSTD_DStreamOutSize() and a zstd block.
inline constexpr std::size_t chunk_size = std::size_t{128} << 10;
// Decoder memory allowed to liblzma (xz, lzma) by default: xz -9 needs 65 MiB.
inline constexpr std::uint64_t default_memlimit = std::uint64_t{256} << 20;
// Largest zstd window accepted by default, as a power of two: 2^27 = 128 MiB,
// libzstd's own default (ZSTD_WINDOWLOG_LIMIT_DEFAULT). `zstd --long=28` and
// above need more.
inline constexpr unsigned default_zstd_window_log_max = 27;
// Largest thread count an encoder accepts.
inline constexpr unsigned max_threads = 256;

namespace detail {

struct magic {
  format fmt;
  std::uint8_t size;
  std::array<std::uint8_t, 6> bytes;
};

// lib/decompress.c compares the first two bytes; we compare the whole magic.
inline constexpr magic magics[] = {
    {format::gzip, 2, {0x1f, 0x8b}},                   // RFC 1952 ID1 ID2
    {format::gzip, 2, {0x1f, 0x9e}},                   // old gzip; the kernel lists it
    {format::bzip2, 3, {'B', 'Z', 'h'}},               // "BZh"
    {format::lzma, 2, {0x5d, 0x00}},                   // properties lc=3 lp=0 pb=2, dict size LSB 0
    {format::xz, 6, {0xfd, '7', 'z', 'X', 'Z', 0x00}}, // xz stream header
    {format::lzo, 4, {0x89, 'L', 'Z', 'O'}},           // lzop
    {format::lz4, 4, {0x02, 0x21, 0x4c, 0x18}},        // lz4 legacy (lz4 -l, the kernel's)
    {format::lz4, 4, {0x04, 0x22, 0x4d, 0x18}},        // lz4 frame
    {format::zstd, 4, {0x28, 0xb5, 0x2f, 0xfd}},       // zstd frame
};

inline constexpr magic zstd_magic = magics[8];
inline constexpr magic xz_magic = magics[4];
inline constexpr magic gzip_magic = magics[0];
static_assert(zstd_magic.fmt == format::zstd && xz_magic.fmt == format::xz &&
              gzip_magic.fmt == format::gzip);

inline bool starts_with(byte_span data, const magic& m) noexcept {
  if (data.size() < m.size) return false;
  for (std::size_t i = 0; i < m.size; ++i) {
    if (std::to_integer<std::uint8_t>(data[i]) != m.bytes[i]) return false;
  }
  return true;
}

// True when data is a proper prefix of the magic (a stream cut inside it).
inline bool is_prefix_of(byte_span data, const magic& m) noexcept {
  if (data.size() >= m.size) return false;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (std::to_integer<std::uint8_t>(data[i]) != m.bytes[i]) return false;
  }
  return true;
}

inline std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// "28 b5 2f fd", for messages.
inline std::string magic_text(const magic& m) {
  std::string out;
  for (std::size_t i = 0; i < m.size; ++i) {
    constexpr char digits[] = "0123456789abcdef";
    if (i > 0) out += ' ';
    out += digits[m.bytes[i] >> 4];
    out += digits[m.bytes[i] & 0xf];
  }
  return out;
}

} // namespace detail

// The format whose magic starts `data`, or format::none.
inline format detect(byte_span data) noexcept {
  for (const auto& m : detail::magics) {
    if (detail::starts_with(data, m)) return m.fmt;
  }
  return format::none;
}

// The generic sink of core (bytes.hpp), under the name the codecs always used.
using sink_ref = ::ukikit::sink_ref;

struct decode_options {
  // Largest decompressed size accepted (the bomb limit); more is
  // errc::limit_exceeded. Always set it: 0 accepts only empty output.
  std::uint64_t max_output = 0;
  // Decoder memory for xz and lzma (liblzma's memlimit).
  std::uint64_t memlimit = default_memlimit;
  // Largest zstd window, as a power of two (ZSTD_d_windowLogMax).
  unsigned zstd_window_log_max = default_zstd_window_log_max;
  // xz only: threads for streams of several blocks with sizes in their
  // headers (what `xz -T` and lzma_stream_encoder_mt write), through
  // liblzma's threaded decoder within `memlimit` (fewer threads, or one, when
  // more would not fit). 0 is one per core. Output, errors and their offsets
  // are the single-threaded decoder's whatever the count. Needs a liblzma with
  // CVE-2025-31115 fixed (upstream 5.8.1; Debian 12's 5.4.1-1 and later).
  unsigned threads = 1;
  // Go on after the first stream while another of the same format follows.
  // lzma-alone has no concatenation (xz and the kernel read one stream).
  bool concatenated = true;
  // Told the input position up to which every byte has been read, as the
  // decoder moves on (a caller that mapped the input may drop those pages).
  std::function<void(std::size_t)> input_done = nullptr;
};

struct decode_stats {
  format fmt = format::none;
  std::uint64_t consumed = 0; // input bytes read: streams, skippable frames, padding
  std::uint64_t produced = 0; // output bytes handed to the sink
  unsigned streams = 0;       // zstd frames (not skippable ones), xz streams, gzip members
};

struct encode_options {
  format fmt = format::zstd;
  // zstd -131072…22 (default 3), xz preset 0…9 (default 6), gzip 0…9 (default 6).
  std::optional<int> level = std::nullopt;
  // zstd workers (ZSTD_c_nbWorkers) or xz encoder threads (lzma_stream_encoder_mt);
  // 0 and 1 are single-threaded; gzip is single-threaded and ignores it. The
  // output depends on it: single-threaded and threaded output differ. Any two
  // counts above one gave the same bytes with libzstd 1.5.4 and liblzma 5.4.1
  // (tested), but neither library documents it, so keep the count fixed.
  unsigned threads = 1;
  // xz only: LZMA_PRESET_EXTREME, `xz -e`.
  bool extreme = false;
  // The exact number of input bytes, when known in advance: zstd records it in
  // the frame header, and the encoder checks it.
  std::optional<std::uint64_t> content_size = std::nullopt;
};

namespace detail {

// What one codec call did: input bytes read, output bytes written, and
// whether a stream (zstd frame, xz or lzma stream, gzip member) ended.
// Codecs are classes with
//   result<step> run(byte_span in, std::span<std::byte> out)               (decoders)
//   result<step> run(byte_span in, std::span<std::byte> out, bool finish)  (encoders)
// and decoders also reset() (before the next stream) and begin(stream).
struct step {
  std::size_t in_used = 0;
  std::size_t out_used = 0;
  bool end = false;
};

inline error truncated_stream(format f, std::size_t input_size) {
  return error(errc::truncated,
               "truncated " + std::string(name(f)) + " stream (input ends after " +
                   hex(input_size) + " bytes)",
               input_size);
}

inline error level_error(std::string_view what, int low, int high, int got) {
  return error(errc::invalid_argument, std::string(what) + " must be " + std::to_string(low) +
                                           " to " + std::to_string(high) + " (got " +
                                           std::to_string(got) + ")");
}

} // namespace detail
} // namespace ukikit::compress
