// Authenticode image digest: the byte ranges the Microsoft Authenticode PE
// specification hashes, the unhashed gaps, and the digest over them.
// Included by ukikit/authenticode.hpp; include that instead.
//
// Rules: reference/uki-signing-pcr.md §4.
#pragma once

#include "../bytes.hpp"
#include "../hash.hpp"
#include "../pe.hpp"
#include "../result.hpp"
#include "table.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace ukikit::authenticode {

// ---- the image digest ------------------------------------------------------------

// Bytes that no hashed range covers and that are not zero: a signed image can
// carry them unnoticed (sbsign: "gap in section table").
struct unhashed_gap {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  bool nonzero = false;
};

struct hashed_ranges {
  std::vector<byte_span> ranges; // in hashing order
  std::size_t zero_padding = 0;  // zero bytes hashed after the ranges
  std::vector<unhashed_gap> gaps;
};

namespace detail {
inline bool all_zero(byte_span b) {
  return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
}
} // namespace detail

// The Authenticode byte ranges of an image, numbered after the steps of the
// specification. Fails when a range the digest needs lies outside the file.
inline result<hashed_ranges> compute_ranges(const pe::image& img) {
  hashed_ranges out;
  const byte_span file = img.file;
  const std::uint64_t size_of_headers = img.size_of_headers;
  if (size_of_headers > file.size())
    return error(errc::out_of_range,
                 "SizeOfHeaders " + hex(size_of_headers) + " is past end of file (" +
                     hex(file.size()) + ")",
                 img.optional_header_offset + pe::opt_size_of_headers_offset);
  const std::uint64_t checksum = img.checksum_offset();
  const std::uint64_t after_checksum = checksum + sizeof(le32); // CheckSum is a 32-bit field
  if (after_checksum > size_of_headers)
    return error(errc::out_of_range,
                 "CheckSum field lies past SizeOfHeaders (" + hex(checksum) + " + " +
                     hex(sizeof(le32)) + " > " + hex(size_of_headers) + ")",
                 checksum);

  // 1. From the start of the file to the CheckSum field.
  out.ranges.push_back(file.first(static_cast<std::size_t>(checksum)));
  if (img.has_security_directory_entry()) {
    const std::uint64_t secdir = img.security_directory_offset();
    if (secdir + sizeof(pe::data_directory) > size_of_headers)
      return error(errc::out_of_range,
                   "certificate table entry lies past SizeOfHeaders (" + hex(secdir) + " + " +
                       hex(sizeof(pe::data_directory)) + " > " + hex(size_of_headers) + ")",
                   secdir);
    // 2. From after CheckSum to the certificate table entry.
    out.ranges.push_back(file.subspan(static_cast<std::size_t>(after_checksum),
                                      static_cast<std::size_t>(secdir - after_checksum)));
    // 3. From after the entry to the end of the headers.
    const std::uint64_t after = secdir + sizeof(pe::data_directory);
    out.ranges.push_back(file.subspan(static_cast<std::size_t>(after),
                                      static_cast<std::size_t>(size_of_headers - after)));
  } else {
    // No certificate table entry (NumberOfRvaAndSizes <= 4): EDK2 hashes
    // the rest of the headers in one piece.
    out.ranges.push_back(file.subspan(static_cast<std::size_t>(after_checksum),
                                      static_cast<std::size_t>(size_of_headers - after_checksum)));
  }
  std::uint64_t sum = size_of_headers;

  // 4. Sections sorted by PointerToRawData, empty ones skipped; gaps between
  //    them are not hashed.
  std::vector<const pe::section*> sorted;
  for (const auto& s : img.sections)
    if (s.size_of_raw_data != 0) sorted.push_back(&s);
  std::stable_sort(sorted.begin(), sorted.end(), [](const pe::section* a, const pe::section* b) {
    return a->pointer_to_raw_data < b->pointer_to_raw_data;
  });
  std::uint64_t covered = size_of_headers; // end of the hashed prefix, for gap detection
  for (const pe::section* s : sorted) {
    UKIKIT_TRY_ASSIGN(byte_span raw, subview(file, s->pointer_to_raw_data, s->size_of_raw_data,
                                             "section " + s->name + " raw data"));
    if (s->pointer_to_raw_data > covered) {
      byte_span gap = file.subspan(static_cast<std::size_t>(covered),
                                   static_cast<std::size_t>(s->pointer_to_raw_data - covered));
      out.gaps.push_back({covered, gap.size(), !detail::all_zero(gap)});
    }
    covered = std::max(covered, s->raw_end());
    out.ranges.push_back(raw);
    sum += s->size_of_raw_data;
  }

  // 5. Data after SUM up to the certificate table, from SUM (not from the
  //    end of the last section: the specification's quirk everyone copies),
  //    then zeros up to a multiple of 8, as signers pad before appending.
  const std::uint64_t cert_size = img.directories.size() > pe::dir_security
                                      ? img.directories[pe::dir_security].size.value()
                                      : 0;
  const std::uint64_t end = file.size() >= cert_size ? file.size() - cert_size : 0;
  if (end > sum) {
    out.ranges.push_back(
        file.subspan(static_cast<std::size_t>(sum), static_cast<std::size_t>(end - sum)));
    // `end` lies inside the file, so rounding it up cannot wrap.
    out.zero_padding =
        static_cast<std::size_t>(*checked_align_up<std::uint64_t>(end, entry_alignment) - end);
  }
  if (end > covered && sum > covered) {
    // Bytes between the last section and SUM's range start are never hashed.
    byte_span gap = file.subspan(static_cast<std::size_t>(covered),
                                 static_cast<std::size_t>(std::min(end, sum) - covered));
    if (!gap.empty()) out.gaps.push_back({covered, gap.size(), !detail::all_zero(gap)});
  }
  return out;
}

// The image digest with one algorithm.
// Told about each piece of the input once it has been hashed, so a caller
// that mapped the file can release the pages (mapped_file::release).
using consumed_fn = std::function<void(byte_span)>;

// Pieces handed to the hasher at a time, and to consumed_fn after it.
inline constexpr std::size_t digest_piece = std::size_t{8} << 20;

inline result<hash::digest> image_digest(const hashed_ranges& r, hash::algorithm a,
                                         const consumed_fn& consumed = nullptr) {
  static constexpr std::array<std::byte, 8> zeros{};
  UKIKIT_TRY_ASSIGN(hash::hasher h, hash::hasher::create(a));
  for (byte_span range : r.ranges) {
    for (std::size_t off = 0; off < range.size(); off += digest_piece) {
      byte_span piece = range.subspan(off, std::min(digest_piece, range.size() - off));
      h.update(piece);
      if (consumed) consumed(piece);
    }
  }
  h.update(byte_span(zeros).first(r.zero_padding));
  return h.finish();
}

inline result<hash::digest> image_digest(const pe::image& img, hash::algorithm a) {
  UKIKIT_TRY_ASSIGN(auto r, compute_ranges(img));
  return image_digest(r, a);
}

} // namespace ukikit::authenticode
