// `ukikit compress` and `ukikit decompress`: the core codecs on files, with
// the same limits the library applies to initramfs segments.
#pragma once

#include "cli.hpp"

#include <ukikit/compress.hpp>
#include <ukikit/file.hpp>

#include <iostream>
#include <optional>
#include <string>

namespace ukikit::cli {

struct compress_options {
  std::string format = "zstd", output, file;
  std::optional<int> level;
  unsigned threads = 1;
  bool extreme = false;
};

inline result<compress::format> encodable_format(const std::string& name) {
  if (name == "zstd") return compress::format::zstd;
  if (name == "xz") return compress::format::xz;
  if (name == "gzip") return compress::format::gzip;
  return error(errc::invalid_argument, "cannot compress as " + name + " (use zstd, xz or gzip)");
}

inline result<void> run_compress(const compress_options& o) {
  compress::encode_options eo;
  UKIKIT_TRY_ASSIGN(eo.fmt, encodable_format(o.format));
  eo.level = o.level;
  eo.threads = o.threads;
  eo.extreme = o.extreme;
  std::optional<file::mapped_file> in;
  if (!is_empty_regular_file(o.file)) { // an empty file compresses to an empty stream
    UKIKIT_TRY_ASSIGN(in, file::mapped_file::open(o.file));
    in->advise_sequential();
  }
  const byte_span all = in ? in->bytes() : byte_span{};
  eo.content_size = all.size();
  UKIKIT_TRY_ASSIGN(auto enc, compress::encoder::create(eo));
  UKIKIT_TRY_ASSIGN(auto out, output::open(o.output));
  auto sink = [&out](byte_span chunk) { return out.write(chunk); };
  progress bar("compressing " + o.file, all.size());
  constexpr std::size_t piece = 4 << 20;
  for (std::size_t off = 0; off < all.size(); off += piece) {
    UKIKIT_TRY(enc.write(all.subspan(off, std::min(piece, all.size() - off)), sink));
    bar.update(off);
  }
  UKIKIT_TRY(enc.finish(sink));
  return out.commit();
}

inline void add_compress_command(CLI::App& app, compress_options& o, int& rc) {
  auto* cmd = app.add_subcommand(
      "compress", "Compress a file as zstd, xz (crc32 check, as the kernel needs) or gzip");
  cmd->add_option("--format", o.format, "zstd (default), xz or gzip")
      ->check(CLI::IsMember({"zstd", "xz", "gzip"}));
  cmd->add_option("--level", o.level,
                  "zstd -131072 to 22 (default 3; 20+ need much memory), xz preset 0-9 (default "
                  "6), gzip 0-9 (default 6)");
  cmd->add_option(
         "--threads", o.threads,
         "Worker threads for zstd and xz (default 1); the output depends on it, keep it fixed "
         "for reproducible output")
      ->check(CLI::Range(1u, compress::max_threads));
  cmd->add_flag("--extreme", o.extreme,
                "xz only: the slower 'extreme' variant of the preset (xz -e)");
  cmd->add_option("-o,--output", o.output, "Output file, or - for stdout")->required();
  cmd->add_option("FILE", o.file, "Input file")->required()->check(CLI::ExistingFile);
  cmd->callback([&o, &rc] {
    auto r = run_compress(o);
    rc = r ? exit_ok : report("ukikit compress", r.error());
  });
}

struct decompress_options {
  std::string max_size = "4G", memlimit = "256M", output, file;
  unsigned threads = 0;
};

inline result<void> run_decompress(const decompress_options& o) {
  compress::decode_options d;
  UKIKIT_TRY_ASSIGN(d.max_output, parse_size(o.max_size));
  UKIKIT_TRY_ASSIGN(d.memlimit, parse_size(o.memlimit));
  d.threads = o.threads;
  UKIKIT_TRY_ASSIGN(auto in, file::mapped_file::open(o.file));
  in.advise_sequential();
  const compress::format f = compress::detect(in.bytes());
  if (f == compress::format::none)
    return error(errc::malformed,
                 o.file + ": not compressed data (no zstd, xz, lzma or gzip magic)", 0);
  UKIKIT_TRY_ASSIGN(auto out, output::open(o.output));
  progress bar("decompressing " + o.file, 0);
  std::uint64_t produced = 0;
  auto sink = [&](byte_span chunk) {
    produced += chunk.size();
    bar.update(produced);
    return out.write(chunk);
  };
  auto stats = compress::decode(f, in.bytes(), d, sink);
  if (!stats) {
    if (stats.error().code() == errc::limit_exceeded)
      return stats.error().prefixed(o.file + " (raise the limit with --max-size or --memlimit)");
    return stats.error().prefixed(o.file);
  }
  byte_span rest = in.bytes().subspan(static_cast<std::size_t>(stats->consumed));
  if (std::any_of(rest.begin(), rest.end(), [](std::byte b) { return b != std::byte{0}; }))
    return error(errc::malformed,
                 o.file + ": junk after compressed data (" + hex(rest.size()) + " bytes)",
                 stats->consumed);
  return out.commit();
}

inline void add_decompress_command(CLI::App& app, decompress_options& o, int& rc) {
  auto* cmd = app.add_subcommand(
      "decompress",
      "Decompress a zstd, xz, lzma or gzip file (several frames, streams or members)");
  cmd->add_option(
      "--max-size", o.max_size,
      "Refuse to produce more than this many bytes (decompression bomb limit; default 4G; "
      "suffixes K, M, G, T)");
  cmd->add_option("--memlimit", o.memlimit, "Decoder memory limit for xz and lzma (default 256M)");
  add_decode_threads_option(cmd, o.threads);
  cmd->add_option("-o,--output", o.output, "Output file, or - for stdout")->required();
  cmd->add_option("FILE", o.file, "Compressed input file")->required()->check(CLI::ExistingFile);
  cmd->callback([&o, &rc] {
    auto r = run_decompress(o);
    rc = r ? exit_ok : report("ukikit decompress", r.error());
  });
}

} // namespace ukikit::cli
