// The Authenticode certificate table: the finding codes of Authenticode
// checks, the WIN_CERTIFICATE walk as EDK2 does it, and entry padding.
// Included by ukikit/authenticode.hpp; include that instead.
//
// Rules: reference/uki-signing-pcr.md §4 (EDK2 DxeImageVerificationLib).
#pragma once

#include "../bytes.hpp"
#include "../diagnostics.hpp"
#include "../pe.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::authenticode {

// ---- the certificate table --------------------------------------------------------

// Finding codes of Authenticode checks (README, "Finding codes").
namespace code {
inline constexpr std::string_view pe_invalid = "pe.invalid";
inline constexpr std::string_view digest_unavailable = "authenticode.digest-unavailable";
inline constexpr std::string_view unhashed_data = "authenticode.unhashed-data";
inline constexpr std::string_view not_signed = "authenticode.not-signed";
inline constexpr std::string_view table_corrupt = "authenticode.table-corrupt";
inline constexpr std::string_view entry_revision = "authenticode.entry-revision";
inline constexpr std::string_view entry_type = "authenticode.entry-type";
inline constexpr std::string_view entry_not_signature = "authenticode.entry-not-signature";
inline constexpr std::string_view trailing_data = "authenticode.trailing-data";
inline constexpr std::string_view nonzero_padding = "authenticode.nonzero-padding";
inline constexpr std::string_view signature_invalid = "authenticode.signature-invalid";
inline constexpr std::string_view dbx_certificate = "authenticode.dbx-certificate";
inline constexpr std::string_view dbx_certificate_hash = "authenticode.dbx-certificate-hash";
inline constexpr std::string_view dbx_no_signer = "authenticode.dbx-no-signer";
inline constexpr std::string_view dbx_image_digest = "authenticode.dbx-image-digest";
inline constexpr std::string_view db_anchor_revoked = "authenticode.db-anchor-revoked";
} // namespace code

struct table_walk {
  std::vector<pe::certificate_entry> entries;
  std::vector<finding> findings; // why the walk stopped early (errors), odd entries
};

// Entries start 8-byte aligned: dwLength rounded up (EDK2's ALIGN_SIZE).
inline constexpr std::uint64_t entry_alignment = 8;
inline std::uint64_t padded_entry_length(std::uint32_t length) noexcept {
  // A 32-bit length plus 7 cannot wrap in 64 bits.
  return *checked_align_up<std::uint64_t>(length, entry_alignment);
}

// Walk the WIN_CERTIFICATE entries as EDK2's DxeImageVerificationHandler
// does: each entry starts 8-byte aligned after the previous one; the walk
// stops when 8 or fewer bytes are left, when dwLength passes the table, or
// when the padding after an entry would. EDK2 then refuses the image unless
// the walk ended exactly at the end of the table (`OffSet != SecDataDirEnd`
// sets IsVerified = FALSE), so every early stop is an error finding.
inline table_walk walk_certificate_table(const pe::image& img) {
  table_walk w;
  if (!img.has_certificate_table()) return w;
  auto stop = [&](std::string msg, std::uint64_t at, std::uint64_t length) {
    w.findings.push_back({severity::error, code::table_corrupt,
                          std::move(msg) + ": firmware refuses the image", at, length});
  };
  // pe::parse keeps a certificate table only when it lies inside the file.
  auto bytes = subview(img.file, img.certificate_table_offset, img.certificate_table_size,
                       "certificate table");
  if (!bytes) return w;
  cursor table(*bytes, img.certificate_table_offset);
  while (!table.at_end()) {
    const std::uint64_t offset = table.offset();
    const std::uint64_t left = table.remaining();
    if (left <= sizeof(pe::win_certificate)) {
      stop(std::to_string(left) + " stray bytes at the end of the certificate table", offset, left);
      break;
    }
    // More than a header is left, so these reads succeed.
    auto hdr = table.read<pe::win_certificate>("WIN_CERTIFICATE");
    if (!hdr) break;
    const std::uint32_t length = hdr->length.value();
    if (length <= sizeof(pe::win_certificate)) {
      stop("certificate entry has dwLength " + std::to_string(length) + " (no signature data)",
           offset, left);
      break;
    }
    if (length > left) {
      stop("certificate entry dwLength " + hex(length) + " passes the end of the table (" +
               hex(left) + " bytes left)",
           offset, left);
      break;
    }
    const std::uint64_t padded = padded_entry_length(length);
    if (padded > left) {
      stop("certificate entry padding passes the end of the table (dwLength " + hex(length) +
               " padded to " + hex(padded) + ", " + hex(left) + " bytes left)",
           offset, left);
      break;
    }
    pe::certificate_entry e;
    e.offset = offset;
    e.length = length;
    e.revision = hdr->revision.value();
    e.type = hdr->certificate_type.value();
    auto payload = table.bytes(length - sizeof(pe::win_certificate), "certificate entry");
    auto padding = table.skip(padded - length, "certificate entry padding");
    if (!payload || !padding) break; // not reached: padded <= left
    e.payload = *payload;
    if (e.revision != pe::win_cert_revision_2_0)
      w.findings.push_back({severity::warning, code::entry_revision,
                            "certificate entry revision " + hex(e.revision) + " is not 0x200",
                            offset});
    w.entries.push_back(e);
  }
  return w;
}

// The alignment padding after an entry: the bytes from dwLength up to the
// next multiple of 8 (the walk checked that they lie inside the table).
inline byte_span entry_padding(const pe::image& img, const pe::certificate_entry& e) {
  const std::uint64_t from = e.offset + e.length;
  return img.file.subspan(static_cast<std::size_t>(from),
                          static_cast<std::size_t>(padded_entry_length(e.length) - e.length));
}

} // namespace ukikit::authenticode
