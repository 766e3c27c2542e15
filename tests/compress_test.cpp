// compress: detection, decoding and encoding, checked against the real
// zstd, xz, gzip, pigz, bzip2 and lz4 tools. Every expected output is the original input
// of a real tool or a real tool's reading of our output.
#include <ukikit/compress.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace {

namespace cz = ukikit::compress;
using ukikit::byte_span;
using ukikit::errc;
using ukikit::hex;
using ukikit::test::run;
using ukikit::test::sample_bytes;
using ukikit::test::sh_quote;
using ukikit::test::temp_dir;
using bytes = std::vector<std::byte>;

constexpr std::uint64_t MiB = std::uint64_t{1} << 20;

bytes to_bytes(std::string_view s) {
  auto b = ukikit::as_bytes(s);
  return {b.begin(), b.end()};
}

bytes concat(std::initializer_list<byte_span> parts) {
  bytes out;
  for (byte_span p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

bytes zeros(std::size_t n) { return bytes(n, std::byte{0}); }

cz::decode_options limit(std::uint64_t max_output = 64 * MiB) { return {.max_output = max_output}; }

// What a decode handed to its sink.
struct sink_log {
  bytes out;
  std::size_t chunks = 0;
  std::size_t largest = 0;
};

ukikit::result<cz::decode_stats> decode_into(sink_log& log, cz::format f, byte_span in,
                                             const cz::decode_options& options = limit()) {
  return cz::decode(f, in, options, [&log](byte_span chunk) -> ukikit::result<void> {
    log.out.insert(log.out.end(), chunk.begin(), chunk.end());
    ++log.chunks;
    log.largest = std::max(log.largest, chunk.size());
    return ukikit::success();
  });
}

ukikit::result<cz::decode_stats> decode_only(cz::format f, byte_span in,
                                             const cz::decode_options& options = limit()) {
  sink_log log;
  return decode_into(log, f, in, options);
}

// A temporary directory where the real tools run.
class compress_cli : public ::testing::Test {
protected:
  temp_dir dir;

  std::string put(const std::string& name, byte_span data) {
    ukikit::test::write_file(dir / name, data);
    return name;
  }
  bytes file(const std::string& name) { return ukikit::test::read_file(dir / name); }

  // Runs a /bin/sh command line in the directory; it must succeed.
  bytes sh(const std::string& command) {
    auto r = run("cd " + sh_quote(dir.path().string()) + " && " + command);
    if (r.status != 0) throw std::runtime_error("command failed: " + command);
    return to_bytes(r.out);
  }
  int status(const std::string& command) {
    return run("cd " + sh_quote(dir.path().string()) + " && " + command + " >/dev/null 2>&1")
        .status;
  }
};

// ---- detection -----------------------------------------------------------------

TEST_F(compress_cli, detects_each_format_from_its_tools_output) {
  UKIKIT_NEED_TOOL("zstd");
  UKIKIT_NEED_TOOL("xz");
  UKIKIT_NEED_TOOL("gzip");
  UKIKIT_NEED_TOOL("pigz");
  UKIKIT_NEED_TOOL("bzip2");
  UKIKIT_NEED_TOOL("lz4");
  put("s", to_bytes("hello, initramfs\n"));
  EXPECT_EQ(cz::detect(sh("zstd -q -c s")), cz::format::zstd);
  EXPECT_EQ(cz::detect(sh("xz -c s")), cz::format::xz);
  EXPECT_EQ(cz::detect(sh("xz --format=lzma -c s")), cz::format::lzma);
  EXPECT_EQ(cz::detect(sh("gzip -n -c s")), cz::format::gzip);
  EXPECT_EQ(cz::detect(sh("pigz -c s")), cz::format::gzip);
  EXPECT_EQ(cz::detect(sh("bzip2 -c s")), cz::format::bzip2);
  EXPECT_EQ(cz::detect(sh("lz4 -q -l -c s")), cz::format::lz4); // legacy, as the kernel builds it
  EXPECT_EQ(cz::detect(sh("lz4 -q -c s")), cz::format::lz4);    // frame format
}

TEST(compress_detect, recognises_lzo_and_old_gzip_by_the_kernels_magic) {
  // lib/decompress.c lists 1f 9e as gzip; lzop files start 89 4c 5a 4f ("\x89LZO").
  EXPECT_EQ(cz::detect(to_bytes(std::string_view("\x89LZO\0\r\n\x1a\n", 9))), cz::format::lzo);
  EXPECT_EQ(cz::detect(to_bytes("\x1f\x9e\x08")), cz::format::gzip);
}

TEST(compress_detect, finds_nothing_in_raw_cpio_or_short_input) {
  EXPECT_EQ(cz::detect({}), cz::format::none);
  EXPECT_EQ(cz::detect(to_bytes("070701000000")), cz::format::none);
  EXPECT_EQ(cz::detect(to_bytes("\x1f")), cz::format::none);
  EXPECT_EQ(cz::detect(to_bytes("\xfd\x37\x7a\x58")), cz::format::none); // cut xz magic
  EXPECT_EQ(cz::detect(zeros(16)), cz::format::none);
}

TEST(compress_format, names_round_trip_and_only_four_are_supported) {
  for (auto f : {cz::format::none, cz::format::zstd, cz::format::xz, cz::format::lzma,
                 cz::format::gzip, cz::format::bzip2, cz::format::lz4, cz::format::lzo}) {
    EXPECT_EQ(cz::from_name(cz::name(f)), f);
  }
  EXPECT_EQ(cz::from_name("brotli"), std::nullopt);
  EXPECT_TRUE(cz::supported(cz::format::zstd) && cz::supported(cz::format::xz) &&
              cz::supported(cz::format::lzma) && cz::supported(cz::format::gzip));
  EXPECT_FALSE(cz::supported(cz::format::none) || cz::supported(cz::format::bzip2) ||
               cz::supported(cz::format::lz4) || cz::supported(cz::format::lzo));
}

// ---- decoding what the real tools write -------------------------------------------

struct cli_case {
  const char* tool;
  cz::format fmt;
  const char* compress; // shell command compressing file "in" to stdout
};

const cli_case cli_cases[] = {
    {"zstd", cz::format::zstd, "zstd -q -c in"},
    {"zstd", cz::format::zstd, "zstd -q -19 --no-check -c in"},
    {"zstd", cz::format::zstd, "zstd -q -c < in"}, // no content size in the header
    {"xz", cz::format::xz, "xz --check=crc32 -c in"},
    {"xz", cz::format::xz, "xz -c in"}, // CRC64
    {"xz", cz::format::xz, "xz -0 -T2 --block-size=65536 --check=sha256 -c in"},
    {"xz", cz::format::lzma, "xz --format=lzma -c in"},
    {"gzip", cz::format::gzip, "gzip -n -c in"},
    {"gzip", cz::format::gzip, "gzip -9 -c in"}, // with FNAME and MTIME
    {"pigz", cz::format::gzip, "pigz -p 2 -b 128 -c in"},
    {"pigz", cz::format::gzip, "pigz -i -p 2 -b 128 -c in"}, // independent blocks
};

TEST_F(compress_cli, decodes_each_tools_output_to_the_original) {
  bytes original = sample_bytes(200 << 10);
  put("in", original);
  UKIKIT_NEED_TOOLS_OF(cli_cases);
  for (const auto& c : cli_cases) {
    SCOPED_TRACE(c.compress);
    bytes packed = sh(c.compress);
    sink_log log;
    auto stats = decode_into(log, c.fmt, packed);
    ASSERT_TRUE(stats.ok()) << stats.error().message();
    EXPECT_EQ(log.out, original);
    EXPECT_EQ(stats->fmt, c.fmt);
    EXPECT_EQ(stats->consumed, packed.size());
    EXPECT_EQ(stats->produced, original.size());
    EXPECT_EQ(stats->streams, 1u);
    EXPECT_LE(log.largest, cz::chunk_size);
    EXPECT_GE(log.chunks, original.size() / cz::chunk_size);
    auto whole = cz::decompress(packed, limit());
    ASSERT_TRUE(whole.ok()) << whole.error().message();
    EXPECT_EQ(*whole, original);
  }
}

// Concatenations of two outputs of the real tool, as cat writes them.
TEST_F(compress_cli, decodes_every_stream_of_a_concatenation) {
  bytes a = sample_bytes(70 << 10, 1), b = sample_bytes(50 << 10, 2);
  put("a", a);
  put("b", b);
  const cli_case cases[] = {
      {"zstd", cz::format::zstd, "zstd -q -c a && zstd -q -3 -c b"},
      {"xz", cz::format::xz, "xz --check=crc32 -c a && xz --check=crc32 -c b"},
      {"gzip", cz::format::gzip, "gzip -n -c a && gzip -n -c b"},
      {"pigz", cz::format::gzip, "pigz -c a && pigz -i -c b"},
  };
  UKIKIT_NEED_TOOLS_OF(cases);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.compress);
    bytes packed = sh(c.compress);
    sink_log log;
    auto stats = decode_into(log, c.fmt, packed);
    ASSERT_TRUE(stats.ok()) << stats.error().message();
    EXPECT_EQ(log.out, concat({a, b}));
    EXPECT_EQ(stats->streams, 2u);
    EXPECT_EQ(stats->consumed, packed.size());
  }
}

TEST_F(compress_cli, stops_after_the_first_stream_when_not_concatenated) {
  bytes a = sample_bytes(20 << 10, 1), b = sample_bytes(10 << 10, 2);
  put("a", a);
  put("b", b);
  const cli_case cases[] = {
      {"zstd", cz::format::zstd, "zstd -q -c"},
      {"xz", cz::format::xz, "xz -c"},
      {"gzip", cz::format::gzip, "gzip -n -c"},
  };
  UKIKIT_NEED_TOOLS_OF(cases);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.compress);
    bytes first = sh(std::string(c.compress) + " a");
    bytes packed = concat({first, sh(std::string(c.compress) + " b")});
    sink_log log;
    auto options = limit();
    options.concatenated = false;
    auto stats = decode_into(log, c.fmt, packed, options);
    ASSERT_TRUE(stats.ok()) << stats.error().message();
    EXPECT_EQ(log.out, a);
    EXPECT_EQ(stats->consumed, first.size());
    EXPECT_EQ(stats->streams, 1u);
  }
}

// ---- zstd ----------------------------------------------------------------------------

// A skippable frame built by hand per RFC 8878 §3.1.2: LE32 magic
// 0x184D2A50 + n, LE32 size, data.
bytes skippable_frame(std::uint8_t n, std::string_view data) {
  bytes frame = {std::byte(0x50 + n), std::byte{0x2a}, std::byte{0x4d}, std::byte{0x18}};
  ukikit::le32 size;
  size = static_cast<std::uint32_t>(data.size());
  auto size_bytes = ukikit::bytes_of(size);
  frame.insert(frame.end(), size_bytes.begin(), size_bytes.end());
  auto payload = ukikit::as_bytes(data);
  frame.insert(frame.end(), payload.begin(), payload.end());
  return frame;
}

TEST_F(compress_cli, zstd_skips_skippable_frames_before_between_and_after_frames) {
  UKIKIT_NEED_TOOL("zstd");
  bytes original = sample_bytes(40 << 10);
  put("in", original);
  bytes frame = sh("zstd -q -c in");
  bytes packed = concat({skippable_frame(0, "pzstd"), frame, skippable_frame(0xe, "seekable table"),
                         frame, skippable_frame(0xf, "")});
  put("packed.zst", packed);
  bytes expected = sh("zstd -q -dc packed.zst"); // the real tool agrees on the content
  ASSERT_EQ(expected, concat({original, original}));

  sink_log log;
  auto stats = decode_into(log, cz::format::zstd, packed);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(log.out, expected);
  EXPECT_EQ(stats->streams, 2u); // skippable frames are not counted
  EXPECT_EQ(stats->consumed, packed.size());

  // Nothing but a skippable frame: nothing to decode, nothing wrong.
  bytes only = skippable_frame(1, "nothing");
  auto empty = decode_only(cz::format::zstd, only);
  ASSERT_TRUE(empty.ok()) << empty.error().message();
  EXPECT_EQ(empty->consumed, only.size());
  EXPECT_EQ(empty->streams, 0u);
}

TEST(compress_zstd, reports_a_skippable_frame_longer_than_the_input) {
  bytes frame = skippable_frame(0, "0123456789");
  frame.erase(frame.end() - 3, frame.end()); // (not resize: g++ 12 -O1 warns falsely)
  auto r = decode_only(cz::format::zstd, frame);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::truncated);
  EXPECT_NE(r.error().context().find("zstd skippable frame"), std::string::npos)
      << r.error().message();
}

TEST_F(compress_cli, zstd_rejects_a_window_above_the_limit_until_raised) {
  UKIKIT_NEED_TOOL("zstd");
  put("in", sample_bytes(4096));
  // From stdin the size is unknown, so the header keeps the 256 MiB window,
  // which `zstd -d` refuses without --memory too.
  bytes packed = sh("zstd -q --zstd=wlog=28 -c < in");
  put("w28.zst", packed);
  ASSERT_NE(status("zstd -q -dc w28.zst"), 0);

  auto r = decode_only(cz::format::zstd, packed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::limit_exceeded);
  EXPECT_EQ(r.error().context(), "zstd window exceeds limit (0x10000000 > 0x8000000 bytes; "
                                 "raise zstd_window_log_max)");

  auto raised = limit();
  raised.zstd_window_log_max = 28;
  sink_log log;
  auto ok = decode_into(log, cz::format::zstd, packed, raised);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(log.out, file("in"));

  raised.zstd_window_log_max = 99;
  auto bad = decode_only(cz::format::zstd, packed, raised);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), errc::invalid_argument);
}

TEST_F(compress_cli, zstd_reports_a_checksum_mismatch) {
  UKIKIT_NEED_TOOL("zstd");
  put("in", sample_bytes(8192));
  bytes packed = sh("zstd -q -c in");
  packed.back() ^= std::byte{0x01}; // the last byte is in the XXH64 checksum
  put("bad.zst", packed);
  ASSERT_NE(status("zstd -q -t bad.zst"), 0);
  auto r = decode_only(cz::format::zstd, packed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::checksum_mismatch);
  EXPECT_EQ(r.error().context(),
            "zstd frame checksum mismatch (restored data doesn't match checksum)");
}

// ---- xz and lzma ---------------------------------------------------------------------------

TEST_F(compress_cli, xz_reads_stream_padding_in_multiples_of_four) {
  UKIKIT_NEED_TOOL("xz");
  bytes a = sample_bytes(10 << 10, 1), b = sample_bytes(12 << 10, 2);
  put("a", a);
  put("b", b);
  bytes xa = sh("xz --check=crc32 -c a"), xb = sh("xz --check=crc32 -c b");
  bytes packed = concat({xa, zeros(4), xb, zeros(8)});
  put("padded.xz", packed);
  ASSERT_EQ(sh("xz -dc padded.xz"), concat({a, b})); // the real tool reads it

  sink_log log;
  auto stats = decode_into(log, cz::format::xz, packed);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(log.out, concat({a, b}));
  EXPECT_EQ(stats->streams, 2u);
  EXPECT_EQ(stats->consumed, packed.size()); // the trailing padding belongs to the stream
}

TEST_F(compress_cli, xz_stops_before_padding_that_is_not_a_multiple_of_four) {
  UKIKIT_NEED_TOOL("xz");
  bytes a = sample_bytes(10 << 10, 1);
  put("a", a);
  bytes xa = sh("xz -c a");
  bytes packed = concat({xa, zeros(3), xa});
  put("bad.xz", packed);
  ASSERT_NE(status("xz -t bad.xz"), 0); // the real tool rejects it

  sink_log log;
  auto stats = decode_into(log, cz::format::xz, packed);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(log.out, a);
  EXPECT_EQ(stats->consumed, xa.size());
  auto whole = cz::decompress(packed, limit());
  ASSERT_FALSE(whole.ok());
  EXPECT_EQ(whole.error().context(), "junk after compressed data (" + hex(3 + xa.size()) +
                                         " bytes at " + hex(xa.size()) + ")");
}

TEST_F(compress_cli, xz_and_lzma_report_the_memory_limit_with_both_numbers) {
  UKIKIT_NEED_TOOL("xz");
  put("in", sample_bytes(1024));
  for (auto [fmt, command] : {std::pair{cz::format::xz, "xz -9 -c < in"},
                              std::pair{cz::format::lzma, "xz --format=lzma -9 -c < in"}}) {
    SCOPED_TRACE(command);
    bytes packed = sh(command);
    put("packed", packed);
    ASSERT_NE(status("xz -dc --memlimit=1MiB packed"), 0); // the real tool needs more too
    auto options = limit();
    options.memlimit = MiB;
    auto r = decode_only(fmt, packed, options);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), errc::limit_exceeded);
    std::string prefix =
        std::string(cz::name(fmt)) + " stream needs more memory than the limit (0x";
    EXPECT_EQ(r.error().context().rfind(prefix, 0), 0u) << r.error().context();
    EXPECT_NE(r.error().context().find(" > 0x100000 bytes; raise memlimit)"), std::string::npos)
        << r.error().context();
  }
}

TEST_F(compress_cli, lzma_is_one_stream_and_what_follows_is_junk) {
  UKIKIT_NEED_TOOL("xz");
  bytes a = sample_bytes(5000);
  put("a", a);
  bytes la = sh("xz --format=lzma -c a");
  bytes packed = concat({la, la});
  put("two.lzma", packed);
  ASSERT_NE(status("xz -t two.lzma"), 0); // xz reads one .lzma stream only

  sink_log log;
  auto stats = decode_into(log, cz::format::lzma, packed);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(log.out, a);
  EXPECT_EQ(stats->consumed, la.size());
  auto whole = cz::decompress(packed, limit());
  ASSERT_FALSE(whole.ok());
  EXPECT_EQ(whole.error().code(), errc::malformed);
  EXPECT_EQ(whole.error().offset(), la.size());
}

// ---- gzip --------------------------------------------------------------------------------

TEST_F(compress_cli, gzip_rejects_reserved_header_flags) {
  UKIKIT_NEED_TOOL("gzip");
  put("in", sample_bytes(4096));
  bytes packed = sh("gzip -n -c in");
  constexpr std::size_t flg_offset = 3;  // ID1 ID2 CM FLG
  packed[flg_offset] |= std::byte{0x20}; // a reserved bit
  put("bad.gz", packed);
  ASSERT_NE(status("gzip -t bad.gz"), 0);
  auto r = decode_only(cz::format::gzip, packed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::malformed);
  EXPECT_EQ(r.error().context(), "corrupt gzip member (unknown header flags set)");
}

TEST_F(compress_cli, gzip_reports_crc32_and_isize_mismatches) {
  UKIKIT_NEED_TOOL("gzip");
  put("in", sample_bytes(4096));
  bytes packed = sh("gzip -n -c in");
  constexpr std::size_t trailer = 8; // CRC32, ISIZE
  for (auto [at, why] : {std::pair{packed.size() - trailer, "incorrect data check"},
                         std::pair{packed.size() - 1, "incorrect length check"}}) {
    bytes bad = packed;
    bad[at] ^= std::byte{0x10};
    put("bad.gz", bad);
    ASSERT_NE(status("gzip -t bad.gz"), 0);
    auto r = decode_only(cz::format::gzip, bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), errc::checksum_mismatch);
    EXPECT_EQ(r.error().context(), std::string("gzip member checksum mismatch (") + why + ")");
  }
}

// ---- every format: truncation, corruption, limits ---------------------------------------

const cli_case small_cases[] = {
    {"zstd", cz::format::zstd, "zstd -q -c in"},
    {"xz", cz::format::xz, "xz -0 --check=crc32 -c in"},
    {"xz", cz::format::lzma, "xz -0 --format=lzma -c in"},
    {"gzip", cz::format::gzip, "gzip -n -c in"},
};

TEST_F(compress_cli, reports_truncation_wherever_the_input_is_cut) {
  put("in", sample_bytes(3000));
  UKIKIT_NEED_TOOLS_OF(small_cases);
  for (const auto& c : small_cases) {
    SCOPED_TRACE(c.compress);
    bytes packed = sh(c.compress);
    for (std::size_t cut = 0; cut < packed.size(); ++cut) {
      auto r = decode_only(c.fmt, byte_span(packed).first(cut));
      ASSERT_FALSE(r.ok()) << "cut at " << cut;
      ASSERT_EQ(r.error().code(), errc::truncated)
          << "cut at " << cut << ": " << r.error().message();
      ASSERT_EQ(r.error().context(), "truncated " + std::string(cz::name(c.fmt)) +
                                         " stream (input ends after " + hex(cut) + " bytes)");
      ASSERT_EQ(r.error().offset(), cut);
    }
  }
}

TEST_F(compress_cli, reports_corruption_with_an_offset_inside_the_input) {
  put("in", sample_bytes(20000));
  UKIKIT_NEED_TOOLS_OF(small_cases);
  for (const auto& c : small_cases) {
    SCOPED_TRACE(c.compress);
    bytes packed = sh(c.compress);
    bytes bad = packed;
    bad[bad.size() / 2] ^= std::byte{0x55};
    put("bad", bad);
    if (c.fmt != cz::format::lzma) { // .lzma has no check: the real tool may not notice
      ASSERT_NE(status(std::string(c.tool) + " -dc < bad"), 0);
    }
    auto r = decode_only(c.fmt, bad);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.error().code() == errc::malformed || r.error().code() == errc::checksum_mismatch)
        << r.error().message();
    ASSERT_TRUE(r.error().has_offset());
    EXPECT_LE(r.error().offset(), bad.size());
  }
}

// liblzma's threaded decoder reads ahead of its output; whatever the thread
// count, the caller sees what the single-threaded decoder gives: the same
// bytes, the same error with the same offset, the same output before it.
TEST_F(compress_cli, xz_threads_change_neither_output_nor_errors) {
  UKIKIT_NEED_TOOL("xz");
  bytes a = sample_bytes(3 << 20, 3), b = sample_bytes(1 << 20, 4);
  put("a", a);
  put("b", b);
  // Blocks with their sizes in the headers, as `xz -T` writes them.
  bytes xa = sh("xz -0 -T2 --block-size=65536 --check=crc32 -c a");
  bytes xb = sh("xz -1 -T2 --block-size=100000 -c b");
  bytes packed = concat({xa, zeros(4), xb});
  put("packed.xz", packed);
  ASSERT_EQ(sh("xz -dc packed.xz"), concat({a, b}));

  struct outcome {
    bytes out;
    std::optional<cz::decode_stats> stats;
    std::optional<ukikit::error> failure;
  };
  auto decode_with = [](byte_span in, unsigned threads, std::uint64_t max_output) {
    cz::decode_options o = limit(max_output);
    o.threads = threads;
    sink_log log;
    auto r = decode_into(log, cz::format::xz, in, o);
    outcome got{std::move(log.out), std::nullopt, std::nullopt};
    if (r) got.stats = *r;
    else got.failure = r.error();
    return got;
  };
  // Decodes on 1 thread into `one`, then on 2, 3 and all: the same.
  auto same = [&](byte_span in, std::uint64_t max_output, const std::string& what, outcome& one) {
    one = decode_with(in, 1, max_output);
    for (unsigned threads : {2u, 3u, 0u}) {
      SCOPED_TRACE(what + ", " + std::to_string(threads) + " threads");
      const outcome many = decode_with(in, threads, max_output);
      ASSERT_EQ(many.failure.has_value(), one.failure.has_value());
      if (one.failure) {
        EXPECT_EQ(many.failure->code(), one.failure->code());
        EXPECT_EQ(many.failure->context(), one.failure->context());
        EXPECT_EQ(many.failure->has_offset(), one.failure->has_offset());
        if (one.failure->has_offset()) {
          EXPECT_EQ(many.failure->offset(), one.failure->offset());
        }
      } else {
        EXPECT_EQ(many.stats->consumed, one.stats->consumed);
        EXPECT_EQ(many.stats->produced, one.stats->produced);
        EXPECT_EQ(many.stats->streams, one.stats->streams);
      }
      ASSERT_TRUE(many.out == one.out) << many.out.size() << " bytes, not " << one.out.size();
    }
  };

  outcome whole, o;
  same(packed, 64 * MiB, "whole", whole);
  ASSERT_FALSE(whole.failure) << whole.failure->message();
  EXPECT_EQ(whole.out, concat({a, b}));
  EXPECT_EQ(whole.stats->streams, 2u);

  for (std::size_t cut : {std::size_t{40}, xa.size() / 3, xa.size() - 5, xa.size() + 4 + 20,
                          xa.size() + 4 + xb.size() / 2, packed.size() - 1}) {
    same(byte_span(packed).first(cut), 64 * MiB, "cut at " + hex(cut), o);
    ASSERT_TRUE(o.failure);
    EXPECT_EQ(o.failure->code(), errc::truncated);
  }
  for (std::size_t at : {std::size_t{20}, xa.size() / 4, xa.size() / 2, xa.size() - 20,
                         xa.size() + 4 + xb.size() / 3}) {
    bytes bad = packed;
    bad[at] ^= std::byte{0x55};
    same(bad, 64 * MiB, "byte changed at " + hex(at), o);
    ASSERT_TRUE(o.failure);
  }
  for (std::uint64_t max_output : {a.size() / 2, a.size() + b.size() - 1}) {
    same(packed, max_output, "limit " + hex(max_output), o);
    ASSERT_TRUE(o.failure);
    EXPECT_EQ(o.failure->code(), errc::limit_exceeded);
  }
}

TEST_F(compress_cli, accepts_output_exactly_at_the_limit_and_not_a_byte_more) {
  bytes original = sample_bytes(200 << 10);
  put("in", original);
  UKIKIT_NEED_TOOLS_OF(small_cases);
  for (const auto& c : small_cases) {
    SCOPED_TRACE(c.compress);
    bytes packed = sh(c.compress);
    auto exact = decode_only(c.fmt, packed, limit(original.size()));
    ASSERT_TRUE(exact.ok()) << exact.error().message();
    sink_log log;
    auto over = decode_into(log, c.fmt, packed, limit(original.size() - 1));
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.error().code(), errc::limit_exceeded);
    EXPECT_EQ(over.error().context(), "decompressed " + std::string(cz::name(c.fmt)) +
                                          " size exceeds limit (limit " + hex(original.size() - 1) +
                                          " bytes)");
    EXPECT_LT(log.out.size(), original.size());
  }
}

// Decompression bombs made by the real tools: zeros compressed, streamed
// through a pipe into a file once, then decoded with a 64 MiB limit. zstd gets
// 1 GiB; xz, gzip and pigz get 256 MiB because the tools take seconds per GiB
// here (the limit is hit after 64 MiB either way).
TEST_F(compress_cli, stops_decompression_bombs_at_the_limit) {
  const cli_case bombs[] = {
      {"zstd", cz::format::zstd, "head -c 1G /dev/zero | zstd -q -c"},
      {"xz", cz::format::xz, "head -c 256M /dev/zero | xz -0 -T2 -c"},
      {"gzip", cz::format::gzip, "head -c 256M /dev/zero | gzip -1 -n -c"},
      {"pigz", cz::format::gzip, "head -c 256M /dev/zero | pigz -1 -c"},
  };
  constexpr std::uint64_t bomb_limit = 64 * MiB;
  UKIKIT_NEED_TOOLS_OF(bombs);
  for (const auto& c : bombs) {
    SCOPED_TRACE(c.compress);
    sh(std::string(c.compress) + " > bomb");
    bytes packed = file("bomb");
    std::uint64_t seen = 0;
    auto r = cz::decode(c.fmt, packed, limit(bomb_limit),
                        [&seen](byte_span chunk) -> ukikit::result<void> {
                          seen += chunk.size();
                          return ukikit::success();
                        });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), errc::limit_exceeded);
    EXPECT_EQ(r.error().context(), "decompressed " + std::string(cz::name(c.fmt)) +
                                       " size exceeds limit (limit 0x4000000 bytes)");
    EXPECT_LE(seen, bomb_limit);
    EXPECT_GT(seen, bomb_limit - cz::chunk_size);
  }
}

// ---- the API around decoding ----------------------------------------------------------------

TEST_F(compress_cli, decompress_reports_junk_after_the_data_but_accepts_zero_padding) {
  UKIKIT_NEED_TOOL("zstd");
  bytes original = sample_bytes(5000);
  put("in", original);
  bytes packed = sh("zstd -q -c in");

  auto padded = cz::decompress(concat({packed, zeros(512)}), limit());
  ASSERT_TRUE(padded.ok()) << padded.error().message();
  EXPECT_EQ(*padded, original);

  bytes junk = concat({packed, to_bytes("070701")});
  auto r = cz::decompress(junk, limit());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::malformed);
  EXPECT_EQ(r.error().context(),
            "junk after compressed data (0x6 bytes at " + hex(packed.size()) + ")");
  EXPECT_EQ(r.error().offset(), packed.size());

  // decode() itself stops before the junk and says where.
  auto stats = decode_only(cz::format::zstd, junk);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->consumed, packed.size());
}

TEST_F(compress_cli, names_the_formats_it_does_not_decode) {
  UKIKIT_NEED_TOOL("bzip2");
  put("in", to_bytes("hello\n"));
  bytes packed = sh("bzip2 -c in");
  auto r = cz::decompress(packed, limit());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::unsupported);
  EXPECT_EQ(r.error().context(),
            "bzip2 compression is not supported (ukikit decodes zstd, xz, lzma and gzip)");
  for (auto f : {cz::format::lz4, cz::format::lzo}) {
    auto e = decode_only(f, packed);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().code(), errc::unsupported);
    EXPECT_EQ(
        e.error().context().rfind(std::string(cz::name(f)) + " compression is not supported", 0),
        0u);
  }
}

TEST(compress_decode, rejects_unknown_data_and_the_wrong_format) {
  auto r = cz::decompress(to_bytes("070701 not compressed"), limit());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().context(), "unknown compression format (no known magic)");

  auto xz = decode_only(cz::format::xz, to_bytes("\x1f\x8b\x08\x00 gzip, not xz"));
  ASSERT_FALSE(xz.ok());
  EXPECT_EQ(xz.error().code(), errc::malformed);
  EXPECT_EQ(xz.error().context(), "xz magic not found (expected fd 37 7a 58 5a 00)");

  auto none = decode_only(cz::format::none, to_bytes("abc"));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), errc::invalid_argument);
}

TEST_F(compress_cli, passes_the_sinks_error_through_and_stops) {
  UKIKIT_NEED_TOOL("gzip");
  put("in", sample_bytes(1 << 20));
  bytes packed = sh("gzip -n -c in");
  int calls = 0;
  auto r =
      cz::decode(cz::format::gzip, packed, limit(), [&calls](byte_span) -> ukikit::result<void> {
        if (++calls == 2) return ukikit::error(errc::io, "disk full");
        return ukikit::success();
      });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::io);
  EXPECT_EQ(r.error().context(), "disk full");
  EXPECT_EQ(calls, 2);
}

// ---- encoding, read back by the real tools ----------------------------------------------------

struct encode_case {
  const char* tool;
  cz::encode_options options;
  std::size_t input_size;
};

const encode_case encode_cases[] = {
    {"zstd", {.fmt = cz::format::zstd, .level = 1}, 300 << 10},
    {"zstd", {.fmt = cz::format::zstd}, 300 << 10},
    {"zstd", {.fmt = cz::format::zstd, .level = 19}, 64 << 10},
    {"zstd", {.fmt = cz::format::zstd, .level = 1, .threads = 2}, 3 << 20},
    {"zstd", {.fmt = cz::format::zstd}, 0},
    {"xz", {.fmt = cz::format::xz, .level = 0}, 300 << 10},
    {"xz", {.fmt = cz::format::xz}, 100 << 10},
    {"xz", {.fmt = cz::format::xz, .level = 6, .extreme = true}, 64 << 10},
    {"xz", {.fmt = cz::format::xz, .level = 0, .threads = 2}, 2 << 20},
    {"xz", {.fmt = cz::format::xz}, 0},
    {"gzip", {.fmt = cz::format::gzip, .level = 1}, 300 << 10},
    {"gzip", {.fmt = cz::format::gzip}, 300 << 10},
    {"gzip", {.fmt = cz::format::gzip, .level = 9}, 300 << 10},
    {"gzip", {.fmt = cz::format::gzip, .level = 0}, 64 << 10},
    {"gzip", {.fmt = cz::format::gzip}, 0},
};

std::string describe(const cz::encode_options& o, std::size_t size) {
  return std::string(cz::name(o.fmt)) + " level " +
         (o.level ? std::to_string(*o.level) : "default") + " threads " +
         std::to_string(o.threads) + (o.extreme ? " extreme" : "") + " size " +
         std::to_string(size);
}

TEST_F(compress_cli, encoder_output_is_read_back_by_the_real_tool) {
  UKIKIT_NEED_TOOLS_OF(encode_cases);
  for (const auto& c : encode_cases) {
    SCOPED_TRACE(describe(c.options, c.input_size));
    bytes original = sample_bytes(c.input_size);
    auto packed = cz::compress(original, c.options);
    ASSERT_TRUE(packed.ok()) << packed.error().message();
    EXPECT_EQ(cz::detect(*packed), c.options.fmt);
    put("packed", *packed);
    EXPECT_EQ(sh(std::string(c.tool) + " -dc < packed"), original);
    // And by our own decoder.
    auto back = cz::decompress(*packed, limit());
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, original);
  }
}

TEST_F(compress_cli, zstd_frames_carry_a_checksum_and_the_content_size) {
  UKIKIT_NEED_TOOL("zstd");
  bytes original = sample_bytes(100 << 10);
  auto packed = cz::compress(original, {.fmt = cz::format::zstd});
  ASSERT_TRUE(packed.ok()) << packed.error().message();
  put("packed.zst", *packed);
  bytes out = sh("zstd -lv packed.zst 2>/dev/null");
  std::string listing(ukikit::as_chars(out));
  EXPECT_NE(listing.find("Check: XXH64"), std::string::npos) << listing;
  EXPECT_NE(listing.find("(" + std::to_string(original.size()) + " B)"), std::string::npos)
      << listing;
}

TEST_F(compress_cli, xz_streams_use_crc32_checks_as_the_kernel_requires) {
  UKIKIT_NEED_TOOL("xz");
  for (unsigned threads : {1u, 2u}) {
    SCOPED_TRACE(threads);
    auto packed = cz::compress(sample_bytes(2 << 20),
                               {.fmt = cz::format::xz, .level = 0, .threads = threads});
    ASSERT_TRUE(packed.ok()) << packed.error().message();
    put("packed.xz", *packed);
    bytes robot = sh("xz -lvv --robot packed.xz");
    std::string listing(ukikit::as_chars(robot));
    // "stream <n> <blocks> <offsets…> <ratio> <check> <padding>", tab-separated.
    std::size_t stream = listing.find("\nstream\t");
    ASSERT_NE(stream, std::string::npos) << listing;
    std::string line = listing.substr(stream + 1, listing.find('\n', stream + 1) - stream - 1);
    EXPECT_NE(line.find("\tCRC32\t"), std::string::npos) << line;
    // Threads split the stream into blocks (3 x the 256 KiB dictionary of -0).
    std::size_t block_lines = 0;
    for (auto at = listing.find("\nblock\t"); at != std::string::npos;
         at = listing.find("\nblock\t", at + 1)) {
      ++block_lines;
    }
    if (threads == 1) EXPECT_EQ(block_lines, 1u);
    else EXPECT_GT(block_lines, 1u);
  }
}

TEST_F(compress_cli, gzip_header_matches_gzip_n_with_mtime_zero_and_unix_os) {
  UKIKIT_NEED_TOOL("gzip");
  bytes original = sample_bytes(10000);
  put("in", original);
  constexpr std::size_t header_size = 10; // ID1 ID2 CM FLG MTIME(4) XFL OS
  for (int level : {1, 6, 9}) {
    SCOPED_TRACE(level);
    auto packed = cz::compress(original, {.fmt = cz::format::gzip, .level = level});
    ASSERT_TRUE(packed.ok()) << packed.error().message();
    bytes reference = sh("gzip -n -" + std::to_string(level) + " -c in");
    EXPECT_EQ(bytes(packed->begin(), packed->begin() + header_size),
              bytes(reference.begin(), reference.begin() + header_size));
    EXPECT_EQ((*packed)[9], std::byte{3});                                // OS: Unix
    EXPECT_EQ(bytes(packed->begin() + 4, packed->begin() + 8), zeros(4)); // MTIME
  }
}

// ---- determinism ------------------------------------------------------------------------

TEST(compress_encode, same_input_and_options_give_identical_bytes) {
  bytes original = sample_bytes(2 << 20);
  const cz::encode_options cases[] = {
      {.fmt = cz::format::zstd, .level = 3}, {.fmt = cz::format::zstd, .level = 3, .threads = 2},
      {.fmt = cz::format::xz, .level = 0},   {.fmt = cz::format::xz, .level = 0, .threads = 2},
      {.fmt = cz::format::gzip, .level = 6},
  };
  for (const auto& o : cases) {
    SCOPED_TRACE(describe(o, original.size()));
    auto first = cz::compress(original, o);
    auto second = cz::compress(original, o);
    ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_EQ(*first, *second);
  }
}

// The content and options decide the bytes, not how the caller slices its writes.
TEST(compress_encode, output_does_not_depend_on_write_sizes) {
  bytes original = sample_bytes(1 << 20);
  for (auto f : {cz::format::zstd, cz::format::xz, cz::format::gzip}) {
    SCOPED_TRACE(cz::name(f));
    cz::encode_options o{.fmt = f, .level = 1};
    auto whole = cz::compress(original, o);
    ASSERT_TRUE(whole.ok());
    o.content_size = original.size();
    auto enc = cz::encoder::create(o);
    ASSERT_TRUE(enc.ok()) << enc.error().message();
    bytes sliced;
    std::size_t largest = 0;
    auto append = [&](byte_span chunk) -> ukikit::result<void> {
      sliced.insert(sliced.end(), chunk.begin(), chunk.end());
      largest = std::max(largest, chunk.size());
      return ukikit::success();
    };
    for (std::size_t at = 0, step = 1; at < original.size(); at += step, step = step * 3 % 65537) {
      std::size_t n = std::min(step, original.size() - at);
      ASSERT_TRUE(enc->write(byte_span(original).subspan(at, n), append).ok());
    }
    ASSERT_TRUE(enc->finish(append).ok());
    EXPECT_EQ(sliced, *whole);
    EXPECT_LE(largest, cz::chunk_size);
    EXPECT_EQ(enc->consumed(), original.size());
    EXPECT_EQ(enc->produced(), sliced.size());
  }
}

// Not documented by either library: measured with libzstd 1.5.4 and liblzma 5.4.1.
TEST(compress_encode, output_is_the_same_for_any_thread_count_above_one) {
  bytes original = sample_bytes(3 << 20);
  for (auto f : {cz::format::zstd, cz::format::xz}) {
    SCOPED_TRACE(cz::name(f));
    auto two = cz::compress(original, {.fmt = f, .level = 1, .threads = 2});
    auto four = cz::compress(original, {.fmt = f, .level = 1, .threads = 4});
    ASSERT_TRUE(two.ok() && four.ok());
    EXPECT_EQ(*two, *four);
  }
}

// ---- encoder contract ------------------------------------------------------------------------

TEST(compress_encode, rejects_options_it_cannot_honour) {
  struct bad_case {
    cz::encode_options options;
    errc code;
    std::string context;
  };
  const bad_case cases[] = {
      {{.fmt = cz::format::zstd, .level = 23},
       errc::invalid_argument,
       "zstd level must be -131072 to 22 (got 23)"},
      {{.fmt = cz::format::xz, .level = 10},
       errc::invalid_argument,
       "xz preset must be 0 to 9 (got 10)"},
      {{.fmt = cz::format::gzip, .level = -1},
       errc::invalid_argument,
       "gzip level must be 0 to 9 (got -1)"},
      {{.fmt = cz::format::gzip, .extreme = true},
       errc::invalid_argument,
       "extreme applies to xz only (format is gzip)"},
      {{.fmt = cz::format::zstd, .threads = 1000},
       errc::invalid_argument,
       "threads must be at most 256 (got 1000)"},
      {{.fmt = cz::format::none}, errc::invalid_argument, "no compression format to encode"},
      {{.fmt = cz::format::lzma},
       errc::unsupported,
       "lzma compression is not supported (ukikit encodes zstd, xz and gzip)"},
      {{.fmt = cz::format::lz4},
       errc::unsupported,
       "lz4 compression is not supported (ukikit encodes zstd, xz and gzip)"},
  };
  for (const auto& c : cases) {
    auto e = cz::encoder::create(c.options);
    ASSERT_FALSE(e.ok()) << c.context;
    EXPECT_EQ(e.error().code(), c.code);
    EXPECT_EQ(e.error().context(), c.context);
  }
}

auto discard = [](byte_span) -> ukikit::result<void> { return ukikit::success(); };

TEST(compress_encode, refuses_calls_after_finish_and_after_a_move) {
  static_assert(!std::is_copy_constructible_v<cz::encoder>);
  static_assert(std::is_nothrow_move_constructible_v<cz::encoder>);
  auto created = cz::encoder::create({.fmt = cz::format::zstd});
  ASSERT_TRUE(created.ok());
  cz::encoder enc = std::move(*created);
  ASSERT_TRUE(enc.write(ukikit::as_bytes("abc"), discard).ok());
  cz::encoder moved = std::move(enc);
  ASSERT_TRUE(moved.finish(discard).ok());
  EXPECT_TRUE(moved.finished());

  auto after = moved.write(ukikit::as_bytes("x"), discard);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().context(), "zstd encoder is finished");
  auto from_moved = enc.write(ukikit::as_bytes("x"), discard); // NOLINT(bugprone-use-after-move)
  ASSERT_FALSE(from_moved.ok());
  EXPECT_EQ(from_moved.error().context(), "zstd encoder was moved from");
}

TEST(compress_encode, holds_the_writer_to_the_declared_content_size) {
  for (auto f : {cz::format::zstd, cz::format::xz, cz::format::gzip}) {
    auto longer = cz::encoder::create({.fmt = f, .content_size = 2});
    ASSERT_TRUE(longer.ok());
    auto r = longer->write(ukikit::as_bytes("abc"), discard);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().context(),
              std::string(cz::name(f)) +
                  " input exceeds the declared content size (0x0 + 0x3 > 0x2)");
    EXPECT_FALSE(longer->finish(discard).ok()); // failed encoders stay failed

    auto shorter = cz::encoder::create({.fmt = f, .content_size = 4});
    ASSERT_TRUE(shorter.ok());
    ASSERT_TRUE(shorter->write(ukikit::as_bytes("abc"), discard).ok());
    auto s = shorter->finish(discard);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().context(),
              std::string(cz::name(f)) +
                  " input is shorter than the declared content size (0x3 < 0x4)");
  }
}

TEST(compress_encode, passes_the_sinks_error_through) {
  auto enc = cz::encoder::create({.fmt = cz::format::gzip, .level = 0});
  ASSERT_TRUE(enc.ok());
  auto full = [](byte_span) -> ukikit::result<void> {
    return ukikit::error(errc::io, "disk full");
  };
  bytes original = sample_bytes(1 << 20);
  auto r = enc->write(original, full); // stored blocks fill the buffer at once
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().context(), "disk full");
  EXPECT_EQ(enc->finish(discard).error().context(), "gzip encoder failed earlier");
}

} // namespace
