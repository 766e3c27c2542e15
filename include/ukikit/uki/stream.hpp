// A PE image (a UKI, systemd-boot) read once as it streams past, in file
// order (out of a compressed layer), keeping only what verifying it reads:
//
// - the bytes are laid out at their file offsets in a file::sparse_buffer;
//   every byte is written there except the raw data of large payload
//   sections (.linux, .initrd, .ucode, .splash, .dtb, .efifw of at least
//   stream_options::drop_at bytes), which are only hashed on the way;
// - once the headers have arrived (header_window bytes, or SizeOfHeaders
//   when that is more, up to max_headers) they are
//   parsed and the Authenticode byte ranges computed
//   (authenticode::compute_ranges), so the image digest in each algorithm
//   of stream_options::image_digests is computed as the bytes pass, with the
//   zero padding of step 5 at the end; and each dropped section's measured
//   bytes (VirtualSize-limited, pe::section::data()) are hashed in each
//   algorithm of stream_options::section_digests, for PCR 11;
// - the file's own sha256 is computed on the way too.
//
// bytes() then parses as the file does; report::verify_uki and
// uki::predict_pcr11 take the precomputed digests through
// image_digest()/section_digest() (authenticode::verify_options::known_digest,
// measure::options::known_digest). A digest of dropped bytes that was not
// computed (a signature in another algorithm, a .pcrsig bank other than
// those given) is missed(): the caller must then verify the whole file
// instead. Nothing is dropped — bytes() is the whole file, and no digest is
// precomputed — when the headers do not parse, do not fit in the window, or
// the ranges are out of order or overlap; then the kept bytes are the file,
// and over max_kept the stream fails (failed()).
#pragma once

#include "../authenticode/ranges.hpp"
#include "../bytes.hpp"
#include "../file.hpp"
#include "../hash.hpp"
#include "../pe.hpp"
#include "../result.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::uki {

struct stream_options {
  // Image digests computed on the way (Authenticode), and section digests
  // of the dropped sections (PCR 11 banks).
  std::vector<hash::algorithm> image_digests{hash::algorithm::sha256};
  std::vector<hash::algorithm> section_digests{hash::algorithm::sha256};
  // Payload sections of at least this many raw bytes are hashed, not kept.
  std::uint64_t drop_at = std::uint64_t{1} << 20;
  // Bytes read before the headers are parsed; when SizeOfHeaders is
  // larger (up to max_headers), planning waits for all of them.
  std::uint64_t header_window = std::uint64_t{4} << 10;
  std::uint64_t max_headers = std::uint64_t{1} << 20;
  // The most bytes kept; past it the stream fails.
  std::uint64_t max_kept = std::uint64_t{64} << 20;
  // Compute the file's sha256 (file_digest()) on the way.
  bool file_digest = true;
};

// The sections whose bytes only their digests matter for (PCR 11 and the
// Authenticode digest); everything else stays readable.
inline bool droppable_section(std::string_view name) noexcept {
  for (std::string_view n : {".linux", ".initrd", ".ucode", ".splash", ".dtb", ".efifw"})
    if (name == n) return true;
  return false;
}

class streamed_image {
public:
  static result<streamed_image> create(std::uint64_t size, stream_options o = {}) {
    if (size > std::numeric_limits<std::size_t>::max())
      return error(errc::limit_exceeded, "file of " + std::to_string(size) + " bytes");
    streamed_image s;
    s.opts_ = std::move(o);
    s.plan_at_ = std::max<std::uint64_t>(s.opts_.header_window, 1);
    UKIKIT_TRY_ASSIGN(s.buf_, file::sparse_buffer::create(static_cast<std::size_t>(size)));
    if (s.opts_.file_digest) {
      UKIKIT_TRY_ASSIGN(auto h, hash::hasher::create(hash::algorithm::sha256));
      s.file_hash_.emplace(std::move(h));
    }
    return s;
  }

  // The next bytes of the file.
  void write(byte_span piece) {
    if (failed_) return;
    const std::uint64_t window = std::min<std::uint64_t>(buf_.size(), plan_at_);
    if (!planned_ && received_ < window && piece.size() > window - received_) {
      // Plan at the window's end, so what follows it may be left out.
      const auto n = static_cast<std::size_t>(window - received_);
      write(piece.first(n));
      write(piece.subspan(n));
      return;
    }
    if (piece.size() > buf_.size() - received_) {
      fail("more bytes than the file's " + std::to_string(buf_.size()));
      return;
    }
    if (file_hash_) file_hash_->update(piece);
    const std::uint64_t at = received_;
    keep(at, piece);
    if (planned_) feed(at, piece);
    received_ += piece.size();
    if (!planned_ && received_ >= window) plan();
  }

  // Every byte was given: the digests are final.
  result<void> finish() {
    if (failed_) return error(errc::limit_exceeded, *failed_);
    if (received_ != buf_.size())
      return error(errc::truncated, "got " + std::to_string(received_) + " of " +
                                        std::to_string(buf_.size()) + " bytes");
    if (!planned_) plan();
    if (failed_) return error(errc::limit_exceeded, *failed_);
    if (file_hash_) {
      UKIKIT_TRY_ASSIGN(file_digest_, file_hash_->finish());
    }
    static constexpr std::array<std::byte, 8> zeros{};
    for (auto& h : image_hash_) {
      h.update(byte_span(zeros).first(zero_padding_));
      UKIKIT_TRY_ASSIGN(auto d, h.finish());
      image_digest_.push_back(d);
    }
    for (auto& d : dropped_)
      for (auto& h : d.hashers) {
        UKIKIT_TRY_ASSIGN(auto digest, h.finish());
        d.digests.push_back(digest);
      }
    finished_ = true;
    return {};
  }

  std::optional<std::string> failed() const { return failed_; }
  // The file at its offsets; dropped sections' raw bytes read as zeros.
  byte_span bytes() const noexcept { return buf_.bytes(); }
  std::uint64_t size() const noexcept { return buf_.size(); }
  std::uint64_t kept() const noexcept { return kept_; }
  // Nothing was dropped: bytes() is the file.
  bool whole() const noexcept { return dropped_.empty(); }
  // sha256 of the whole file (after finish(); stream_options::file_digest).
  const std::optional<hash::digest>& file_digest() const noexcept { return file_digest_; }

  // The Authenticode image digest in `a` when it was computed; nullopt when
  // nothing was dropped (hash bytes()), and a miss when it was not computed.
  std::optional<hash::digest> image_digest(hash::algorithm a) const {
    if (whole()) return std::nullopt;
    for (const auto& d : image_digest_)
      if (d.alg() == a) return d;
    note_miss(missed_image_, a);
    return std::nullopt;
  }

  // H(data) in `a` when `data` (a span of bytes()) is a dropped section's
  // measured bytes; nullopt for bytes that were kept, and a miss for
  // dropped bytes whose digest was not computed.
  std::optional<hash::digest> section_digest(byte_span data, hash::algorithm a) const {
    if (whole() || data.empty()) return std::nullopt;
    const auto base = reinterpret_cast<std::uintptr_t>(buf_.bytes().data());
    const auto p = reinterpret_cast<std::uintptr_t>(data.data());
    if (p < base || p - base > buf_.size() || data.size() > buf_.size() - (p - base))
      return std::nullopt; // not ours
    const std::uint64_t off = p - base, end = off + data.size();
    for (const auto& d : dropped_) {
      if (end <= d.raw_offset || off >= d.raw_offset + d.raw_size) continue;
      if (off == d.measured_offset && data.size() == d.measured_size)
        for (const auto& digest : d.digests)
          if (digest.alg() == a) return digest;
      note_miss(missed_section_, a);
      return std::nullopt;
    }
    return std::nullopt;
  }

  // A digest of dropped bytes was asked for that was not computed: what
  // used bytes() hashed zeros and must be redone, on the whole file or
  // after the file streamed again for the digests missed (adopt_digests).
  bool missed() const noexcept { return !missed_image_.empty() || !missed_section_.empty(); }
  // The algorithms of the image digests and section digests missed.
  const std::vector<hash::algorithm>& missed_image_digests() const noexcept {
    return missed_image_;
  }
  const std::vector<hash::algorithm>& missed_section_digests() const noexcept {
    return missed_section_;
  }

  // The image digest, or every dropped section's digest, in `a` was
  // computed (asked for in stream_options).
  bool has_image_digest(hash::algorithm a) const noexcept {
    return std::find(opts_.image_digests.begin(), opts_.image_digests.end(), a) !=
           opts_.image_digests.end();
  }
  bool has_section_digests(hash::algorithm a) const noexcept {
    return std::find(opts_.section_digests.begin(), opts_.section_digests.end(), a) !=
           opts_.section_digests.end();
  }

  // Takes the digests `other` computed that this stream did not: `other`
  // streamed the same file again (finished, the same sections dropped) for
  // the digests this one missed. The misses are forgotten, so the checks
  // can run again on bytes(). An error when `other` is not that file.
  result<void> adopt_digests(const streamed_image& other) {
    if (!finished_ || !other.finished_ || other.size() != size() ||
        other.dropped_.size() != dropped_.size())
      return error(errc::invalid_argument, "not the same file streamed the same way");
    for (std::size_t i = 0; i < dropped_.size(); ++i)
      if (other.dropped_[i].raw_offset != dropped_[i].raw_offset ||
          other.dropped_[i].measured_size != dropped_[i].measured_size)
        return error(errc::invalid_argument, "not the same sections dropped");
    auto merge = [](std::vector<hash::digest>& to, const std::vector<hash::digest>& from) {
      for (const auto& d : from)
        if (std::none_of(to.begin(), to.end(),
                         [&d](const hash::digest& t) { return t.alg() == d.alg(); }))
          to.push_back(d);
    };
    merge(image_digest_, other.image_digest_);
    for (std::size_t i = 0; i < dropped_.size(); ++i)
      merge(dropped_[i].digests, other.dropped_[i].digests);
    for (auto a : other.opts_.image_digests)
      if (!has_image_digest(a)) opts_.image_digests.push_back(a);
    for (auto a : other.opts_.section_digests)
      if (!has_section_digests(a)) opts_.section_digests.push_back(a);
    missed_image_.clear();
    missed_section_.clear();
    return success();
  }

private:
  struct range {
    std::uint64_t offset, size;
  };
  struct dropped {
    std::uint64_t raw_offset, raw_size;           // not kept
    std::uint64_t measured_offset, measured_size; // hashed into `hashers`
    std::vector<hash::hasher> hashers;
    std::vector<hash::digest> digests;
  };

  static void note_miss(std::vector<hash::algorithm>& missed, hash::algorithm a) {
    if (std::find(missed.begin(), missed.end(), a) == missed.end()) missed.push_back(a);
  }

  void fail(std::string why) {
    failed_ = std::move(why);
    buf_ = file::sparse_buffer();
  }

  bool is_dropped(std::uint64_t at, std::uint64_t* until) const noexcept {
    for (const auto& d : dropped_) {
      if (at >= d.raw_offset && at < d.raw_offset + d.raw_size) {
        *until = d.raw_offset + d.raw_size;
        return true;
      }
    }
    std::uint64_t next = buf_.size();
    for (const auto& d : dropped_)
      if (d.raw_offset > at) next = std::min(next, d.raw_offset);
    *until = next;
    return false;
  }

  // Writes the bytes of `piece` (at file offset `at`) that are not dropped.
  void keep(std::uint64_t at, byte_span piece) {
    while (!piece.empty()) {
      std::uint64_t until = 0;
      const bool drop = is_dropped(at, &until);
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), until - at));
      if (!drop) {
        kept_ += n;
        if (kept_ > opts_.max_kept) {
          fail("over " + std::to_string(opts_.max_kept) + " bytes to keep");
          return;
        }
        buf_.write(at, piece.first(n));
      }
      piece = piece.subspan(n);
      at += n;
    }
  }

  // Hands the bytes of `piece` (at `at`) to the digests that cover them.
  void feed(std::uint64_t at, byte_span piece) {
    const std::uint64_t end = at + piece.size();
    const auto overlap = [&](std::uint64_t from, std::uint64_t size) -> byte_span {
      const std::uint64_t lo = std::max(at, from), hi = std::min(end, from + size);
      if (lo >= hi) return {};
      return piece.subspan(static_cast<std::size_t>(lo - at), static_cast<std::size_t>(hi - lo));
    };
    while (next_range_ < ranges_.size()) {
      const range& r = ranges_[next_range_];
      if (r.offset >= end) break;
      const byte_span part = overlap(r.offset, r.size);
      for (auto& h : image_hash_) h.update(part);
      if (r.offset + r.size > end) break;
      ++next_range_;
    }
    for (auto& d : dropped_) {
      const byte_span part = overlap(d.measured_offset, d.measured_size);
      for (auto& h : d.hashers) h.update(part);
    }
  }

  // Parses the headers and decides what to drop; nothing when anything is
  // odd. Waits for more when the headers are longer than the window.
  void plan() {
    if (received_ < buf_.size()) {
      auto img = pe::parse(buf_.bytes(), strictness::permissive);
      if (img && img->size_of_headers > received_ && img->size_of_headers <= opts_.max_headers &&
          img->size_of_headers > plan_at_) {
        plan_at_ = img->size_of_headers;
        return;
      }
    }
    planned_ = true;
    if (decide()) {
      feed(0, buf_.bytes().first(static_cast<std::size_t>(received_)));
    } else {
      dropped_.clear();
      ranges_.clear();
      image_hash_.clear();
    }
    if (whole() && buf_.size() > opts_.max_kept)
      fail("the image is " + std::to_string(buf_.size()) + " bytes and none of it can be " +
           "left out (over " + std::to_string(opts_.max_kept) + " to keep)");
  }

  bool decide() {
    const byte_span file = buf_.bytes();
    auto img = pe::parse(file, strictness::permissive);
    if (!img || img->size_of_headers > received_ || img->section_table_offset > received_ ||
        img->sections.size() * sizeof(pe::section_header) > received_ - img->section_table_offset)
      return false;
    auto ranges = authenticode::compute_ranges(*img);
    if (!ranges) return false;
    const auto base = reinterpret_cast<std::uintptr_t>(file.data());
    std::uint64_t last = 0;
    for (byte_span r : ranges->ranges) {
      if (r.empty()) continue;
      const std::uint64_t off = reinterpret_cast<std::uintptr_t>(r.data()) - base;
      if (off < last) return false; // out of file order, or bytes hashed twice
      ranges_.push_back({off, r.size()});
      last = off + r.size();
    }
    zero_padding_ = ranges->zero_padding;
    const std::uint64_t cert_end =
        std::uint64_t{img->certificate_table_offset} + img->certificate_table_size;
    for (const auto& s : img->sections) {
      if (!droppable_section(s.name) || s.size_of_raw_data < opts_.drop_at) continue;
      if (s.pointer_to_raw_data < std::max<std::uint64_t>(received_, img->size_of_headers) ||
          s.raw_end() > file.size())
        continue;
      bool alone = !(img->has_certificate_table() && img->certificate_table_offset < s.raw_end() &&
                     cert_end > s.pointer_to_raw_data);
      for (const auto& o : img->sections)
        if (&o != &s && o.size_of_raw_data != 0 && o.pointer_to_raw_data < s.raw_end() &&
            o.raw_end() > s.pointer_to_raw_data)
          alone = false;
      if (!alone) continue;
      dropped d{s.pointer_to_raw_data,
                s.size_of_raw_data,
                s.pointer_to_raw_data,
                std::min<std::uint64_t>(s.size_of_raw_data, s.virtual_size),
                {},
                {}};
      for (auto a : opts_.section_digests) {
        auto h = hash::hasher::create(a);
        if (!h) return false;
        d.hashers.push_back(std::move(*h));
      }
      dropped_.push_back(std::move(d));
    }
    if (dropped_.empty()) return false;
    for (auto a : opts_.image_digests) {
      auto h = hash::hasher::create(a);
      if (!h) return false;
      image_hash_.push_back(std::move(*h));
    }
    return true;
  }

  stream_options opts_;
  file::sparse_buffer buf_;
  std::uint64_t received_ = 0, kept_ = 0;
  std::uint64_t plan_at_ = 0; // received bytes at which plan() runs
  bool planned_ = false, finished_ = false;
  std::optional<std::string> failed_;
  std::optional<hash::hasher> file_hash_;
  std::optional<hash::digest> file_digest_;
  std::vector<range> ranges_;
  std::size_t next_range_ = 0, zero_padding_ = 0;
  std::vector<hash::hasher> image_hash_;
  std::vector<hash::digest> image_digest_;
  std::vector<dropped> dropped_;
  mutable std::vector<hash::algorithm> missed_image_, missed_section_;
};

} // namespace ukikit::uki
