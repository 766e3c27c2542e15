// Authenticode verification: the decision EDK2's DxeImageVerificationHandler
// makes, and ukiverify's stricter gate, as a report.
// Included by ukikit/authenticode.hpp; include that instead.
#pragma once

#include "../bytes.hpp"
#include "../crypto.hpp"
#include "../diagnostics.hpp"
#include "../hash.hpp"
#include "../pe.hpp"
#include "../result.hpp"
#include "pkcs7.hpp"
#include "ranges.hpp"
#include "signature_lists.hpp"
#include "table.hpp"

#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::authenticode {

// ---- verification ------------------------------------------------------------------
//
// The decision follows EDK2's DxeImageVerificationHandler
// (SecurityPkg/Library/DxeImageVerificationLib/DxeImageVerificationLib.c),
// which walks every certificate table entry in order and, for each entry it
// can hash by (a PKCS#7 whose DigestInfo names sha1/256/384/512):
//   1. IsForbiddenByDbx: the image is refused outright (whatever the other
//      entries say) when
//      a. an EFI_CERT_X509 certificate in dbx verifies the signature as a
//         trust anchor (AuthenticodeVerify with that certificate as root:
//         the chain may end at the signer or at any issuer, the signature
//         must verify and the signed digest must be the image's), or
//      b. the signature has no signer certificate (Pkcs7GetSigners fails), or
//      c. the hash of the signer's TBSCertificate is in an
//         EFI_CERT_X509_SHA256/384/512 list and no dbt timestamp clears it
//         (ukikit has no dbt: a listed hash always refuses; so does EDK2
//         when the revocation time is zero or dbt is absent);
//   2. IsAllowedByDb (only until one entry passed): the first db certificate
//      that verifies the signature as a trust anchor allows the image, unless
//      that db certificate's own TBSCertificate hash is in dbx;
//   3. the image digest in this entry's algorithm listed in dbx
//      (EFI_CERT_SHA1/256/384/512) refuses the image;
//   4. the same digest listed in db allows it.
// Entries of another wCertificateType, and entries that do not parse, are
// skipped. The walk must end exactly at the end of the table.
//
// ukiverify is stricter than the firmware where unsigned bytes could ride
// along: in strict mode every byte of the certificate table must belong to a
// verifiable signature (or be zero padding), and an image passes only through
// a signature that chains to a given certificate (not through a db digest).

struct verify_options {
  // sha1 image digests are weak; firmware may still accept them.
  bool allow_sha1 = false;
  // Strict (the gate): unsigned data in the certificate table and unhashed
  // data are errors. Permissive (inspect): they are warnings.
  bool strict = true;
  // Told about each hashed piece of the file (see image_digest).
  consumed_fn consumed;
  // The image digest in an algorithm when it is already known (computed
  // while the file streamed past: uki/stream.hpp); nullopt: hash the ranges.
  std::function<std::optional<hash::digest>(hash::algorithm)> known_digest;
};

struct signature_result {
  std::uint64_t entry_offset = 0;
  std::string subject, issuer;
  std::string digest_algorithm; // name or dotted OID
  std::string claimed;          // hex of the digest in the signature
  std::string computed;         // hex of the image digest we computed
  bool digest_matches = false;
  bool signature_valid = false; // messageDigest and signer signature
  bool trusted = false;         // chains to a trust anchor
  bool revoked = false;         // dbx refuses it (and with it the image)
  bool refused = false;         // policy refuses it (sha1, unknown algorithm)
  bool sha1_refused = false;    // refused for its sha1 digest alone (verify_options::allow_sha1)
  unsigned nested_signatures = 0;
  std::vector<std::string> problems; // why it does not pass
  std::vector<std::string> notes;    // worth knowing, not a failure

  bool passed() const noexcept {
    return digest_matches && signature_valid && trusted && !revoked && !refused;
  }
};

struct verify_report {
  std::optional<hash::digest> sha256; // the image digest, when computable
  std::vector<signature_result> signatures;
  std::vector<finding> findings; // about the image and its certificate table

  bool any_signature_passed() const noexcept {
    return std::any_of(signatures.begin(), signatures.end(),
                       [](const signature_result& s) { return s.passed(); });
  }
  bool passed() const noexcept { return !has_errors(findings) && any_signature_passed(); }

  // Why the image does not pass: the error findings, then, when no signature
  // passed, each signature's problems. Empty when it passes.
  std::vector<std::string> reasons() const {
    std::vector<std::string> out;
    for (const auto& f : findings)
      if (f.is_error()) out.push_back(f.text());
    if (!any_signature_passed()) {
      for (const auto& s : signatures)
        for (const auto& p : s.problems) out.push_back(p);
      if (out.empty()) out.push_back("no signature passed");
    }
    return out;
  }
};

namespace detail {

inline bool listed(const std::vector<hash::digest>& digests, const hash::digest& d) {
  return std::find(digests.begin(), digests.end(), d) != digests.end();
}

// The TBSCertificate of a certificate, as encoded in it (EDK2 X509GetTBSCert).
inline result<std::vector<std::byte>> tbs_certificate(X509* cert) {
  UKIKIT_TRY_ASSIGN(der::bytes whole, crypto::to_der(cert));
  cursor c(whole);
  UKIKIT_TRY_ASSIGN(der::tlv top, der::expect(c, der::tag_sequence, "Certificate"));
  cursor body = der::inside(top);
  UKIKIT_TRY_ASSIGN(der::tlv tbs, der::expect(body, der::tag_sequence, "TBSCertificate"));
  return std::vector<std::byte>(tbs.whole.begin(), tbs.whole.end());
}

// Is the certificate listed in dbx by the hash of its TBSCertificate
// (EDK2 IsCertHashFoundInDbx)? A certificate that cannot be hashed counts
// as listed, as EDK2 treats a search error.
inline bool certificate_hash_listed(X509* cert, const signature_database& dbx) {
  if (dbx.certificate_hashes.empty()) return false;
  auto tbs = tbs_certificate(cert);
  if (!tbs) return true;
  for (const auto& h : dbx.certificate_hashes) {
    auto d = hash::compute(h.digest.alg(), *tbs);
    if (!d || *d == h.digest) return true;
  }
  return false;
}

// Does `cert` chain to `anchor` (or is it `anchor`)? No time check, any
// purpose, partial chains allowed, as EDK2's Pkcs7Verify sets its store.
inline bool chains_to(X509* cert, STACK_OF(X509) * untrusted, X509* anchor, std::string* why) {
  crypto::store_ptr store(X509_STORE_new());
  crypto::store_ctx_ptr ctx(X509_STORE_CTX_new());
  if (!store || !ctx) return false;
  X509_STORE_add_cert(store.get(), anchor);
  if (X509_STORE_CTX_init(ctx.get(), store.get(), cert, untrusted) != 1) return false;
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_ANY);
  bool ok = X509_verify_cert(ctx.get()) == 1;
  if (!ok && why) *why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  ERR_clear_error();
  return ok;
}

// The strict gate's check of one certificate table entry: the bytes no
// signature covers (another entry type, a payload that is no Authenticode
// signature, bytes after the DER, non-zero alignment padding). `s` is the
// entry's parsed signature, or null with `parse_error` saying why not.
inline void check_unsigned_bytes(const pe::image& img, const pe::certificate_entry& entry,
                                 const signature* s, const std::string& parse_error, severity level,
                                 std::vector<finding>& findings) {
  const std::uint64_t whole = padded_entry_length(entry.length);
  if (entry.type != pe::win_cert_type_pkcs_signed_data) {
    const bool pkcs7_guid =
        entry.type == pe::win_cert_type_efi_guid &&
        entry.payload.size() > efi_cert_type_pkcs7_guid.size() &&
        std::equal(efi_cert_type_pkcs7_guid.begin(), efi_cert_type_pkcs7_guid.end(),
                   entry.payload.begin(),
                   [](std::uint8_t a, std::byte b) { return std::byte{a} == b; });
    findings.push_back(
        {level, code::entry_type,
         "certificate entry type " + hex(entry.type) +
             (pkcs7_guid ? " (WIN_CERT_TYPE_EFI_GUID with a PKCS#7): firmware would check it as "
                           "a signature, ukikit does not support it"
                         : " is not PKCS_SIGNED_DATA (0x2): firmware skips it") +
             "; the gate refuses its unverified bytes",
         entry.offset, whole});
    return;
  }
  if (!s) {
    findings.push_back({level, code::entry_not_signature,
                        "certificate entry is not an Authenticode signature (" + parse_error +
                            "): firmware skips it and would boot the image through another "
                            "signature; the gate refuses it because no signature covers its bytes",
                        entry.offset, whole});
    return;
  }
  // osslsigncode and signtool count the alignment padding in dwLength: up
  // to 7 zero bytes after the DER that end the entry on a multiple of 8 are
  // that padding, not data.
  const byte_span after_der = entry.payload.subspan(s->der_size);
  const bool padding_in_length = after_der.size() < entry_alignment &&
                                 padded_entry_length(entry.length) == entry.length &&
                                 all_zero(after_der);
  if (!after_der.empty() && !padding_in_length) {
    const std::uint64_t at = entry.offset + sizeof(pe::win_certificate) + s->der_size;
    findings.push_back({level, code::trailing_data,
                        "certificate entry has bytes after the end of its PKCS#7 (dwLength " +
                            hex(entry.length) + ", the DER ends at " + hex(at) +
                            "): firmware ignores them; the gate refuses them because no "
                            "signature covers them",
                        at, entry.payload.size() - s->der_size});
  }
  byte_span pad = entry_padding(img, entry);
  if (!all_zero(pad))
    findings.push_back({level, code::nonzero_padding,
                        "alignment padding after a certificate entry is not zero: firmware skips "
                        "it; the gate refuses it because no signature covers it",
                        entry.offset + entry.length, pad.size()});
}

// Does the signature verify with `anchor` as its root and sign `digest`
// (EDK2 AuthenticodeVerify)?
inline bool authenticode_verify(const signature& s, bool signature_valid, bool digest_matches,
                                X509* signer, X509* anchor) {
  return signature_valid && digest_matches && signer &&
         chains_to(signer, s.pkcs7->d.sign->cert, anchor, nullptr);
}

} // namespace detail

// Verify every signature of an image against trust anchors (db) and dbx.
// The image passes when no error finding is left (dbx refused nothing, the
// certificate table is intact and, in strict mode, holds no unsigned bytes,
// nothing unhashed hides data) and at least one signature passes.
inline verify_report verify(const pe::image& img, const signature_database& trust,
                            const signature_database* dbx = nullptr,
                            const verify_options& opt = {}) {
  verify_report rep;
  const severity gate = opt.strict ? severity::error : severity::warning;
  // The PE rules the image breaks (errors when parsed strictly), each with its
  // own code; pe.invalid when the PE findings log dropped the errors.
  bool pe_error_kept = false;
  for (const auto& f : img.findings.kept())
    if (f.is_error()) {
      rep.findings.push_back(f);
      pe_error_kept = true;
    }
  if (img.findings.has_errors() && !pe_error_kept)
    rep.findings.push_back({severity::error, code::pe_invalid,
                            "PE header rules are broken (" +
                                std::to_string(img.findings.dropped()) +
                                " findings past the log's limit)"});
  auto ranges = compute_ranges(img);
  if (!ranges) {
    rep.findings.push_back({severity::error, code::digest_unavailable, ranges.error().context(),
                            ranges.error().offset()});
    return rep;
  }
  for (const auto& g : ranges->gaps)
    if (g.nonzero)
      rep.findings.push_back({gate, code::unhashed_data,
                              "unhashed data (not covered by the signature)", g.offset, g.size});
  // Each algorithm's digest is computed once, however many signatures use it.
  std::map<hash::algorithm, result<hash::digest>> digests;
  auto digest_for = [&](hash::algorithm a) -> result<hash::digest> {
    auto it = digests.find(a);
    if (it != digests.end()) return it->second;
    if (opt.known_digest)
      if (auto known = opt.known_digest(a)) return digests.emplace(a, *known).first->second;
    it = digests.emplace(a, image_digest(*ranges, a, opt.consumed)).first;
    return it->second;
  };
  if (auto d = digest_for(hash::algorithm::sha256)) rep.sha256 = *d;
  // 3. Image digests in dbx. EDK2 looks up the digest of each entry's
  //    algorithm (and the SHA-256 one of an unsigned image); ukikit looks up
  //    every algorithm dbx lists, which refuses at least what EDK2 refuses.
  if (dbx) {
    for (hash::algorithm a : hash::all_algorithms) {
      bool any = std::any_of(dbx->image_digests.begin(), dbx->image_digests.end(),
                             [a](const hash::digest& d) { return d.alg() == a; });
      if (!any) continue;
      auto d = digest_for(a);
      if (d && detail::listed(dbx->image_digests, *d))
        rep.findings.push_back({severity::error, code::dbx_image_digest,
                                "image " + std::string(hash::name(a)) + " digest " + d->hex() +
                                    " is listed in dbx: firmware refuses the image"});
    }
  }
  if (!img.has_certificate_table()) {
    rep.findings.push_back(
        {severity::error, code::not_signed, "image is not signed (no certificate table)"});
    return rep;
  }
  auto walk = walk_certificate_table(img);
  for (auto& f : walk.findings) rep.findings.push_back(std::move(f));
  if (walk.entries.empty())
    rep.findings.push_back(
        {severity::error, code::not_signed, "certificate table holds no signature"});

  for (std::size_t i = 0; i < walk.entries.size(); ++i) {
    const auto& e = walk.entries[i];
    signature_result r;
    r.entry_offset = e.offset;
    const std::string label = "signature " + std::to_string(i + 1);
    auto parsed = parse_signature(e);
    detail::check_unsigned_bytes(img, e, parsed ? &*parsed : nullptr,
                                 parsed ? std::string() : parsed.error().context(), gate,
                                 rep.findings);
    if (!parsed) {
      r.problems.push_back(parsed.error().message());
      rep.signatures.push_back(std::move(r));
      continue; // EDK2: HashPeImageByType fails, the entry is skipped
    }
    signature& s = *parsed;
    r.subject = s.subject;
    r.issuer = s.issuer;
    r.nested_signatures = s.nested_signatures;
    r.claimed = to_hex(s.indirect.digest);
    r.digest_algorithm = s.indirect.algorithm ? std::string(hash::name(*s.indirect.algorithm))
                                              : s.indirect.digest_oid;
    if (r.nested_signatures)
      r.notes.push_back(std::to_string(r.nested_signatures) +
                        " nested signature(s) present: firmware ignores them, only this outer "
                        "signature counts");
    if (!s.indirect.algorithm) {
      r.refused = true;
      r.problems.push_back("unsupported digest algorithm " + s.indirect.digest_oid);
      rep.signatures.push_back(std::move(r));
      continue; // EDK2 cannot hash by it either: skipped
    }
    if (*s.indirect.algorithm == hash::algorithm::sha1 && !opt.allow_sha1) {
      r.refused = true;
      r.sha1_refused = true;
      r.problems.push_back("sha1 image digest refused by policy");
    }
    auto computed = digest_for(*s.indirect.algorithm);
    if (!computed) {
      r.problems.push_back(computed.error().message());
      rep.signatures.push_back(std::move(r));
      continue;
    }
    r.computed = computed->hex();
    r.digest_matches = r.claimed == r.computed;
    if (!r.digest_matches)
      r.problems.push_back("digest mismatch: signed=" + r.claimed + ", computed=" + r.computed);
    // messageDigest over the content octets, and the signer's signature.
    auto valid = verify_content(s.pkcs7.get(), s.indirect.content_octets);
    r.signature_valid = valid.ok();
    if (!valid) {
      r.problems.push_back(valid.error().message());
      rep.findings.push_back({gate, code::signature_invalid,
                              label + " does not verify (" + valid.error().context() +
                                  "): its bytes are authenticated by no key",
                              e.offset, padded_entry_length(e.length)});
    }

    STACK_OF(X509)* signers = PKCS7_get0_signers(s.pkcs7.get(), nullptr, 0);
    X509* signer = signers && sk_X509_num(signers) > 0 ? sk_X509_value(signers, 0) : nullptr;
    ERR_clear_error();
    if (!signer) r.problems.push_back("signer certificate is not in the signature");

    // 1. IsForbiddenByDbx.
    if (dbx) {
      std::string revoked_by;
      std::string_view revoked_code;
      for (const auto& bad : dbx->certificates)
        if (detail::authenticode_verify(s, r.signature_valid, r.digest_matches, signer,
                                        bad.get())) {
          revoked_code = code::dbx_certificate;
          revoked_by = "it verifies with certificate \"" + crypto::subject(bad.get()) +
                       "\", which is listed in dbx";
          break;
        }
      if (revoked_by.empty() && !signer) {
        revoked_code = code::dbx_no_signer;
        revoked_by = "it names no signer certificate, which EDK2 treats as revoked when dbx is set";
      }
      if (revoked_by.empty() && signer && detail::certificate_hash_listed(signer, *dbx)) {
        revoked_code = code::dbx_certificate_hash;
        revoked_by = "the hash of its signer certificate \"" + r.subject + "\" is listed in dbx";
      }
      if (!revoked_by.empty()) {
        r.revoked = true;
        r.problems.push_back("revoked: " + revoked_by);
        rep.findings.push_back({severity::error, revoked_code,
                                label + " (signer \"" + r.subject +
                                    "\") is revoked: " + revoked_by +
                                    "; firmware refuses the image whatever the other "
                                    "signatures say",
                                e.offset, padded_entry_length(e.length)});
      }
    }

    // 2. IsAllowedByDb: the first db certificate that verifies the signature.
    if (signer) {
      std::string why = trust.certificates.empty() ? "no trust anchor given" : "";
      bool anchor_revoked = false;
      for (const auto& anchor : trust.certificates) {
        if (!detail::chains_to(signer, s.pkcs7->d.sign->cert, anchor.get(), &why)) continue;
        if (dbx && detail::certificate_hash_listed(anchor.get(), *dbx)) {
          anchor_revoked = true;
          r.problems.push_back("trust anchor \"" + crypto::subject(anchor.get()) +
                               "\" is listed in dbx by its certificate hash");
          rep.findings.push_back({severity::warning, code::db_anchor_revoked,
                                  label + " chains to \"" + crypto::subject(anchor.get()) +
                                      "\", whose certificate hash is listed in dbx: firmware "
                                      "does not allow the image through it",
                                  e.offset});
        } else {
          r.trusted = true;
        }
        break;
      }
      if (!r.trusted && !anchor_revoked)
        r.problems.push_back("signer \"" + r.subject +
                             "\" does not chain to a given certificate (" + why + ")");
    }
    sk_X509_free(signers);
    rep.signatures.push_back(std::move(r));
  }
  return rep;
}

} // namespace ukikit::authenticode
