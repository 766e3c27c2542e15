// .pcrsig: signed PCR 11 policies. The TPM2 PolicyPCR digest `pol` of each
// predicted value, the public-key fingerprint `pkfp`, signing as
// systemd-measure sign does (RSA PKCS#1 v1.5 or ECDSA), a strict parser for
// the JSON, and offline verification against a public key (.pcrpkey).
//
//   {"sha256":[{"pcrs":[11],"pkfp":"<hex>","pol":"<hex>","sig":"<base64>"},...],...}
//
// Rules: reference/uki-signing-pcr.md §3.2 and §3.3. tests/measure_test.cpp
// checks pol, pkfp and the RSA bytes against systemd-measure sign.
#pragma once

#include "../base64.hpp"
#include "../bytes.hpp"
#include "../crypto.hpp"
#include "../hash.hpp"
#include "../result.hpp"
#include "pcr11.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::measure {

// ---- the policy digest ----------------------------------------------------------

// TPM_CC_PolicyPCR (TPM 2.0 Part 2, TPM_CC).
inline constexpr std::uint32_t tpm_cc_policy_pcr = 0x0000017f;
// PCRs a TPMS_PCR_SELECTION bitmap covers with sizeofSelect = 3.
inline constexpr unsigned tpm_pcr_count = 24;

// TPM_ALG_ID of a bank (TCG Algorithm Registry).
constexpr std::uint16_t tpm_alg_id(hash::algorithm a) noexcept {
  switch (a) {
  case hash::algorithm::sha1: return 0x0004;
  case hash::algorithm::sha256: return 0x000b;
  case hash::algorithm::sha384: return 0x000c;
  case hash::algorithm::sha512: return 0x000d;
  }
  return 0;
}

namespace detail {

// What TPM2_PolicyPCR hashes into a fresh SHA-256 policy session (TPM 2.0
// Part 3, TPM2_PolicyPCR), before the PCR digest:
//   policyDigest = SHA256(policyDigest_old || TPM_CC_PolicyPCR || pcrs || pcrDigest)
struct policy_pcr_input {
  std::array<std::byte, 32> old_digest; // 0^32: the policy starts empty
  be32 command_code;                    // TPM_CC_PolicyPCR
  be32 selection_count;                 // TPML_PCR_SELECTION.count = 1
  be16 hash_alg;                        // TPMS_PCR_SELECTION.hash: the bank
  std::uint8_t size_of_select;          // bytes of bitmap: 3 (PCRs 0-23)
  std::array<std::uint8_t, 3> select;   // bitmap, PCR n = bit n % 8 of byte n / 8
};
static_assert(sizeof(policy_pcr_input) == 46);
static_assert(pcr_index < tpm_pcr_count);

} // namespace detail

// `pol`: the TPM2 PolicyPCR digest that binds PCR 11 of the value's bank to
// that value. Always SHA-256 (the policy session's hash), for every bank:
//   SHA256(0^32 || TPM_CC_PolicyPCR || selection(bank, {11}) || SHA256(value))
inline result<hash::digest> policy_digest(const hash::digest& pcr_value) {
  detail::policy_pcr_input in{};
  in.command_code = tpm_cc_policy_pcr;
  in.selection_count = 1;
  in.hash_alg = tpm_alg_id(pcr_value.alg());
  in.size_of_select = static_cast<std::uint8_t>(in.select.size());
  in.select[pcr_index / 8] = static_cast<std::uint8_t>(1u << (pcr_index % 8));
  UKIKIT_TRY_ASSIGN(auto pcr_digest, hash::compute(hash::algorithm::sha256, pcr_value.bytes()));
  UKIKIT_TRY_ASSIGN(auto h, hash::hasher::create(hash::algorithm::sha256));
  return h.update(bytes_of(in)).update(pcr_digest.bytes()).finish();
}

// ---- keys --------------------------------------------------------------------------

namespace detail {
inline result<void> check_key_type(EVP_PKEY* key, std::string_view what) {
  if (!key) return error(errc::invalid_argument, std::string(what) + " is missing");
  const int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_RSA || id == EVP_PKEY_EC) return {};
  const char* type = EVP_PKEY_get0_type_name(key);
  return error(errc::unsupported, std::string(what) + " is " +
                                      (type ? type : "of an unknown type") +
                                      "; .pcrsig takes RSA or EC keys");
}
} // namespace detail

// `pkfp`: SHA-256 of the key as i2d_PublicKey encodes it, which is what
// systemd-measure hashes: for RSA the PKCS#1 RSAPublicKey DER (not the
// SubjectPublicKeyInfo), for EC the public point octets (04 || X || Y).
// Works on a private key too (its public half).
inline result<hash::digest> public_key_fingerprint(EVP_PKEY* key) {
  UKIKIT_TRY(detail::check_key_type(key, "key"));
  const int n = i2d_PublicKey(key, nullptr);
  if (n <= 0) return crypto::openssl_error("cannot encode the public key");
  std::vector<std::byte> der(static_cast<std::size_t>(n));
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_PublicKey(key, &p) != n) return crypto::openssl_error("cannot encode the public key");
  return hash::compute(hash::algorithm::sha256, der);
}

// ---- who hashes what -------------------------------------------------------------

// Which hash signs pol. systemd changed it: systemd-measure 252 to 259 signs
// each bank's entries with that bank's hash (sha1 with SHA-1; checked
// against Debian 12's systemd-measure 252), and since systemd PR #41051
// (2026-03, "measure-tool: always sign with SHA256") with SHA-256 for every
// bank. Talos kept the bank hash and writes no sha1 bank.
enum class signature_mode : std::uint8_t {
  systemd,   // SHA-256 for every bank (systemd-measure since PR #41051)
  bank_hash, // each bank's own hash, sha1 included (systemd-measure 252-259)
  talos,     // each bank's own hash; no sha1 bank (Talos imager)
};

constexpr std::string_view signature_mode_name(signature_mode m) noexcept {
  switch (m) {
  case signature_mode::systemd: return "systemd";
  case signature_mode::bank_hash: return "bank-hash";
  case signature_mode::talos: return "talos";
  }
  return "unknown";
}

inline result<signature_mode> parse_signature_mode(std::string_view s) {
  for (auto m : {signature_mode::systemd, signature_mode::bank_hash, signature_mode::talos})
    if (signature_mode_name(m) == s) return m;
  return error(errc::invalid_argument,
               "signature mode " + std::string(s) + " is not systemd, bank-hash or talos");
}

// The hash the signatures of a bank's entries are computed with.
inline result<hash::algorithm> signature_hash(hash::algorithm bank, signature_mode mode) {
  if (mode == signature_mode::systemd) return hash::algorithm::sha256;
  if (mode == signature_mode::talos && bank == hash::algorithm::sha1)
    return error(errc::invalid_argument,
                 "talos mode has no sha1 bank (Talos signs sha256, sha384 and sha512)");
  return bank;
}

// ---- the document -----------------------------------------------------------------

// Limits of the parser. Real .pcrsig sections are a few KiB: 4 banks x 4
// phases x a few keys or devicetrees.
inline constexpr std::size_t max_pcrsig_size = 1024 * 1024; // bytes of JSON
inline constexpr std::size_t max_pcrsig_entries = 1024;     // signatures, all banks together
inline constexpr std::size_t max_signature_size = 2048;     // decoded bytes (RSA-16384)
inline constexpr unsigned max_json_depth = 8;               // .pcrsig itself nests 4 deep

struct signature {
  std::vector<std::uint32_t> pcrs;     // "pcrs": [11]
  hash::digest pkfp;                   // "pkfp": SHA-256 of the signer's public key
  hash::digest pol;                    // "pol": the PolicyPCR digest that was signed
  std::vector<std::byte> sig;          // "sig": base64 of the signature
  std::vector<std::string> other_keys; // keys ukikit does not know; ignored

  friend bool operator==(const signature&, const signature&) = default;
};

struct signed_bank {
  hash::algorithm bank;
  std::vector<signature> entries; // in file order

  friend bool operator==(const signed_bank&, const signed_bank&) = default;
};

struct pcrsig {
  std::vector<signed_bank> banks;       // in file order
  std::vector<std::string> other_banks; // keys that name no bank ukikit knows; ignored

  const signed_bank* find(hash::algorithm a) const noexcept {
    for (const auto& b : banks)
      if (b.bank == a) return &b;
    return nullptr;
  }
  friend bool operator==(const pcrsig&, const pcrsig&) = default;
};

namespace detail {

// RFC 4648 §4 base64 (core, base64.hpp).
using ukikit::base64_decode;
using ukikit::base64_encode;

inline result<std::vector<std::byte>> sign_bytes(EVP_PKEY* key, hash::algorithm md,
                                                 byte_span data) {
  crypto::md_ctx_ptr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, hash::detail::evp(md), nullptr, key) != 1)
    return crypto::openssl_error("cannot start signing");
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) != 1)
    return crypto::openssl_error("signing failed");
  std::vector<std::byte> sig(len);
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                     data.size()) != 1)
    return crypto::openssl_error("signing failed");
  sig.resize(len); // ECDSA signatures may come out shorter than the maximum
  return sig;
}

// True when `sig` is a valid signature of `data` under `key` with hash `md`.
// A malformed signature is invalid, not an error.
inline result<bool> signature_valid(EVP_PKEY* key, hash::algorithm md, byte_span data,
                                    byte_span sig) {
  crypto::md_ctx_ptr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, hash::detail::evp(md), nullptr, key) != 1)
    return crypto::openssl_error("cannot start verifying");
  const int rc =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size());
  ERR_clear_error();
  return rc == 1;
}

} // namespace detail

// ---- making one ---------------------------------------------------------------------

// Sign every value of the prediction, one entry per phase path in its order,
// as systemd-measure sign does. RSA signatures are deterministic (PKCS#1
// v1.5): the same inputs and mode give the same bytes as systemd-measure
// (bank_hash for 252 to 259); ECDSA ones differ from run to run.
inline result<pcrsig> sign(const prediction& p, EVP_PKEY* private_key,
                           signature_mode mode = signature_mode::systemd) {
  UKIKIT_TRY(detail::check_key_type(private_key, "private key"));
  UKIKIT_TRY_ASSIGN(auto pkfp, public_key_fingerprint(private_key));
  pcrsig out;
  for (const auto& b : p.banks) {
    UKIKIT_TRY_ASSIGN(auto md, signature_hash(b.bank, mode));
    signed_bank sb{b.bank, {}};
    for (const auto& v : b.values) {
      UKIKIT_TRY_ASSIGN(auto pol, policy_digest(v.value));
      UKIKIT_TRY_ASSIGN(auto sig, detail::sign_bytes(private_key, md, pol.bytes()));
      sb.entries.push_back({{pcr_index}, pkfp, pol, std::move(sig), {}});
    }
    out.banks.push_back(std::move(sb));
  }
  return out;
}

// The JSON, keys in systemd-measure's order. Ignored banks and keys are not
// written.
inline nlohmann::ordered_json to_json(const pcrsig& s) {
  auto out = nlohmann::ordered_json::object();
  for (const auto& b : s.banks) {
    auto entries = nlohmann::ordered_json::array();
    for (const auto& e : b.entries) {
      nlohmann::ordered_json j;
      j["pcrs"] = e.pcrs;
      j["pkfp"] = e.pkfp.hex();
      j["pol"] = e.pol.hex();
      j["sig"] = detail::base64_encode(e.sig);
      entries.push_back(std::move(j));
    }
    out[std::string(hash::name(b.bank))] = std::move(entries);
  }
  return out;
}

// Exactly what systemd-measure sign prints: compact JSON and a newline.
inline std::string serialize(const pcrsig& s) { return to_json(s).dump() + "\n"; }

// ---- reading one --------------------------------------------------------------------

namespace detail {

// A SAX handler that builds a pcrsig while nlohmann's parser reads the
// bytes: no DOM, duplicate keys refused, nesting and counts limited, and the
// first problem kept as the error. Where a value sits is told by how many
// containers are open around it (`depth_`): see the constants below.
class pcrsig_reader {
public:
  using json = nlohmann::json;

  std::optional<ukikit::error> failure;
  pcrsig out;

  bool null() { return scalar("null"); }
  bool boolean(bool) { return scalar("a boolean"); }
  bool number_integer(json::number_integer_t v) {
    if (v < 0) return scalar("a negative number");
    return number_unsigned(static_cast<json::number_unsigned_t>(v));
  }
  bool number_unsigned(json::number_unsigned_t v) {
    if (skipping()) return skip_scalar();
    if (depth_ != in_pcrs) return unexpected("a number");
    if (v >= tpm_pcr_count)
      return fail(errc::malformed, where() + ": pcr " + std::to_string(v) + " does not exist (" +
                                       std::to_string(tpm_pcr_count) + " PCRs)");
    if (entry_.pcrs.size() >= tpm_pcr_count)
      return fail(errc::limit_exceeded,
                  where() + ": more than " + std::to_string(tpm_pcr_count) + " pcrs");
    entry_.pcrs.push_back(static_cast<std::uint32_t>(v));
    return true;
  }
  bool number_float(json::number_float_t, const json::string_t&) {
    return scalar("a fractional number");
  }
  bool binary(json::binary_t&) { return scalar("binary data"); }

  bool string(json::string_t& s) {
    if (skipping()) return skip_scalar();
    if (depth_ != in_entry || field_ == "pcrs") return unexpected("a string");
    const std::string field = std::exchange(field_, {});
    if (field == "sig") {
      auto sig = base64_decode(s, max_signature_size);
      if (!sig) return fail(sig.error().code(), where() + ": \"sig\": " + sig.error().context());
      if (sig->empty()) return fail(errc::malformed, where() + ": \"sig\" is empty");
      entry_.sig = std::move(*sig);
      return true;
    }
    auto d = hash::digest::from_hex(hash::algorithm::sha256, s);
    if (!d) return fail(errc::malformed, where() + ": \"" + field + "\": " + d.error().context());
    (field == "pkfp" ? entry_.pkfp : entry_.pol) = *d;
    return true;
  }

  bool start_object(std::size_t) {
    if (skipping()) return enter();
    if (depth_ == at_top) return enter();
    if (depth_ != in_bank) return unexpected("an object");
    if (entries_ >= max_pcrsig_entries)
      return fail(errc::limit_exceeded,
                  ".pcrsig has more than " + std::to_string(max_pcrsig_entries) + " signatures");
    entry_ = partial{};
    return enter();
  }

  bool end_object() {
    if (skip_depth_ == 0 && depth_ == in_entry && !finish_entry()) return false;
    return leave();
  }

  bool start_array(std::size_t) {
    if (skipping()) return enter();
    if (depth_ == in_document) return enter();
    if (depth_ != in_entry || field_ != "pcrs") return unexpected("a list");
    field_.clear();
    entry_.has_pcrs = true;
    return enter();
  }

  bool end_array() { return leave(); }

  bool key(json::string_t& k) {
    if (skip_depth_ > 0) return true;
    if (depth_ == in_document) return bank_key(k);
    // An entry's key.
    const bool known = k == "pcrs" || k == "pkfp" || k == "pol" || k == "sig";
    const bool seen = k == "pcrs"   ? entry_.has_pcrs
                      : k == "pkfp" ? entry_.pkfp.has_value()
                      : k == "pol"  ? entry_.pol.has_value()
                      : k == "sig"  ? entry_.sig.has_value()
                                    : std::find(entry_.other_keys.begin(), entry_.other_keys.end(),
                                                k) != entry_.other_keys.end();
    if (seen) return fail(errc::malformed, where() + ": \"" + k + "\" given twice");
    if (known) {
      field_ = k;
    } else {
      entry_.other_keys.push_back(k);
      skip_next_ = true;
    }
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ..."
    std::string why = e.what();
    if (auto colon = why.find(": "); colon != std::string::npos) why = why.substr(colon + 2);
    fail(errc::malformed, ".pcrsig is not valid JSON (" + why + ")");
    if (failure && !failure->has_offset() && position > 0)
      failure = ukikit::error(failure->code(), failure->context(), position - 1);
    return false;
  }

private:
  // Containers open around a value, and so what the value must be.
  static constexpr unsigned at_top = 0;      // the document: an object of banks
  static constexpr unsigned in_document = 1; // a bank's value: a list of entries
  static constexpr unsigned in_bank = 2;     // an entry: an object
  static constexpr unsigned in_entry = 3;    // an entry's value: pcrs list or string
  static constexpr unsigned in_pcrs = 4;     // a PCR number

  struct partial {
    bool has_pcrs = false;
    std::vector<std::uint32_t> pcrs;
    std::optional<hash::digest> pkfp, pol;
    std::optional<std::vector<std::byte>> sig;
    std::vector<std::string> other_keys;
  };

  // Inside, or at the start of, a value that is ignored (unknown key or bank).
  bool skipping() const noexcept { return skip_depth_ > 0 || skip_next_; }

  // A scalar that is the whole ignored value ends the skip.
  bool skip_scalar() {
    if (skip_depth_ == 0) skip_next_ = false;
    return true;
  }

  bool enter() {
    if (depth_ >= max_json_depth)
      return fail(errc::limit_exceeded,
                  ".pcrsig nests deeper than " + std::to_string(max_json_depth) + " levels");
    ++depth_;
    if (skip_next_) {
      skip_next_ = false;
      skip_depth_ = 1;
    } else if (skip_depth_ > 0) {
      ++skip_depth_;
    }
    return true;
  }

  bool leave() {
    if (skip_depth_ > 0) --skip_depth_;
    --depth_;
    return true;
  }

  bool bank_key(const std::string& k) {
    if (std::find(seen_banks_.begin(), seen_banks_.end(), k) != seen_banks_.end())
      return fail(errc::malformed, ".pcrsig names bank \"" + k + "\" twice");
    seen_banks_.push_back(k);
    if (auto a = hash::parse_algorithm(k)) {
      out.banks.push_back({*a, {}});
    } else {
      out.other_banks.push_back(k);
      skip_next_ = true;
    }
    return true;
  }

  bool finish_entry() {
    const char* missing = !entry_.has_pcrs ? "pcrs"
                          : !entry_.pkfp   ? "pkfp"
                          : !entry_.pol    ? "pol"
                          : !entry_.sig    ? "sig"
                                           : nullptr;
    if (missing) return fail(errc::malformed, where() + ": no \"" + missing + "\"");
    out.banks.back().entries.push_back({std::move(entry_.pcrs), *entry_.pkfp, *entry_.pol,
                                        std::move(*entry_.sig), std::move(entry_.other_keys)});
    ++entries_;
    return true;
  }

  std::string bank_name() const {
    return out.banks.empty() ? "?" : std::string(hash::name(out.banks.back().bank));
  }

  // "sha256 entry 2": the entry being read.
  std::string where() const {
    return bank_name() + " entry " +
           std::to_string(out.banks.empty() ? 0 : out.banks.back().entries.size());
  }

  bool scalar(std::string_view what) {
    if (skipping()) return skip_scalar();
    return unexpected(what);
  }

  // A value of the wrong type: say what was wanted there.
  bool unexpected(std::string_view what) {
    std::string want;
    switch (depth_) {
    case at_top: want = ".pcrsig must be a JSON object of banks"; break;
    case in_document: want = "bank " + bank_name() + " must be a list"; break;
    case in_bank: want = where() + " must be an object"; break;
    case in_entry:
      want = where() + ": \"" + field_ + "\" must be " +
             (field_ == "pcrs"  ? "a list of PCR numbers"
              : field_ == "sig" ? "a base64 string"
                                : "a hex string");
      break;
    default: want = where() + ": \"pcrs\" must hold PCR numbers"; break;
    }
    return fail(errc::malformed, want + ", not " + std::string(what));
  }

  bool fail(errc code, std::string message) {
    if (!failure) failure = ukikit::error(code, std::move(message));
    return false;
  }

  unsigned depth_ = 0;      // containers open
  unsigned skip_depth_ = 0; // > 0 while inside an ignored container
  bool skip_next_ = false;  // the next value is ignored (unknown key or bank)
  std::string field_;       // the known entry key whose value comes next
  partial entry_;
  std::size_t entries_ = 0; // entries read, all banks
  std::vector<std::string> seen_banks_;
};

} // namespace detail

// Parse .pcrsig JSON. One trailing NUL (UAPI.5 asks for it; ukify and Talos
// do not write it) is accepted, not required. Unknown banks and unknown
// entry keys are kept by name and otherwise ignored; anything else that is
// not the grammar above is an error.
inline result<pcrsig> parse_pcrsig(byte_span in) {
  if (!in.empty() && in.back() == std::byte{0}) in = in.first(in.size() - 1);
  if (in.empty()) return error(errc::malformed, ".pcrsig is empty");
  if (in.size() > max_pcrsig_size)
    return error(errc::limit_exceeded, ".pcrsig is larger than " + std::to_string(max_pcrsig_size) +
                                           " bytes (" + std::to_string(in.size()) + ")");
  // JSON has no raw NUL anywhere, and nlohmann's lexer would take one as
  // the end of the input and ignore what follows.
  if (const auto nul = std::find(in.begin(), in.end(), std::byte{0}); nul != in.end())
    return error(errc::malformed, ".pcrsig has a NUL byte before its end",
                 static_cast<std::uint64_t>(nul - in.begin()));
  detail::pcrsig_reader reader;
  const char* first = reinterpret_cast<const char*>(in.data());
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(first, first + in.size(), &reader,
                                   nlohmann::json::input_format_t::json, true);
  } catch (const nlohmann::json::exception& e) {
    return error(errc::malformed, std::string(".pcrsig is not valid JSON (") + e.what() + ")");
  }
  if (!ok || reader.failure) {
    if (reader.failure) return *reader.failure;
    return error(errc::malformed, ".pcrsig is not valid JSON");
  }
  return std::move(reader.out);
}

// ---- checking one -------------------------------------------------------------------

// One predicted value (bank, phase path) and the entry that should sign it.
struct phase_check {
  hash::algorithm bank;
  std::string phase;                        // "" for the sections alone
  hash::digest pcr;                         // predicted PCR 11
  hash::digest pol;                         // policy digest recomputed from it
  std::optional<std::size_t> entry;         // index in the bank's list of the entry checked
  std::optional<hash::digest> claimed_pol;  // that entry's pol
  std::optional<hash::digest> claimed_pkfp; // that entry's pkfp
  bool pol_matches = false;
  bool pkfp_matches = false;
  bool pcrs_match = false;      // the entry says "pcrs": [11]
  bool signature_valid = false; // over the entry's own pol, with the mode's hash

  bool ok() const noexcept { return pol_matches && pkfp_matches && pcrs_match && signature_valid; }
};

struct verification {
  signature_mode mode = signature_mode::systemd;
  std::optional<hash::digest> pkfp;  // of the public key checked against
  std::vector<phase_check> checks;   // one per bank and phase path of the prediction
  std::vector<std::string> findings; // every problem, in order; empty when all is well

  bool ok() const noexcept {
    return findings.empty() && !checks.empty() &&
           std::all_of(checks.begin(), checks.end(), [](const auto& c) { return c.ok(); });
  }
};

namespace detail {

inline std::string phase_label(const phase_check& c) {
  return std::string(hash::name(c.bank)) + " " + (c.phase.empty() ? "(no phase)" : c.phase);
}

inline std::string pcrs_string(const std::vector<std::uint32_t>& pcrs) {
  std::string s = "[";
  for (std::size_t i = 0; i < pcrs.size(); ++i) {
    if (i) s += ','; // (appended apart: g++ 12 warns falsely on "," + to_string())
    s += std::to_string(pcrs[i]);
  }
  return s + "]";
}

// Pick the entry that should sign `c.pol`: one with that pol and our key,
// else one with that pol, else the one at the same position among our
// key's entries (systemd-measure writes one per phase path, in path
// order), so that a mismatch shows claimed against computed.
inline std::optional<std::size_t> pick_entry(const signed_bank& b, const hash::digest& pol,
                                             const hash::digest& pkfp, std::size_t position) {
  std::optional<std::size_t> same_pol;
  std::vector<std::size_t> ours;
  for (std::size_t i = 0; i < b.entries.size(); ++i) {
    const auto& e = b.entries[i];
    if (e.pol == pol && e.pkfp == pkfp) return i;
    if (e.pol == pol && !same_pol) same_pol = i;
    if (e.pkfp == pkfp) ours.push_back(i);
  }
  if (same_pol) return same_pol;
  if (position < ours.size()) return ours[position];
  if (ours.empty() && position < b.entries.size()) return position;
  return std::nullopt;
}

inline result<void> check_phase(phase_check& c, const signed_bank& b, std::size_t position,
                                EVP_PKEY* key, const hash::digest& pkfp, hash::algorithm md,
                                std::vector<std::string>& findings) {
  const std::string label = phase_label(c);
  c.entry = pick_entry(b, c.pol, pkfp, position);
  if (!c.entry) {
    findings.push_back(label + ": no entry signs pol " + c.pol.hex() + " (the bank has " +
                       std::to_string(b.entries.size()) + " entries)");
    return {};
  }
  const signature& e = b.entries[*c.entry];
  const std::string at = label + " (entry " + std::to_string(*c.entry) + ")";
  c.claimed_pol = e.pol;
  c.claimed_pkfp = e.pkfp;
  c.pol_matches = e.pol == c.pol;
  c.pkfp_matches = e.pkfp == pkfp;
  c.pcrs_match = e.pcrs == std::vector<std::uint32_t>{pcr_index};
  UKIKIT_TRY_ASSIGN(c.signature_valid, signature_valid(key, md, e.pol.bytes(), e.sig));
  if (!c.pol_matches)
    findings.push_back(at + ": pol mismatch: signed=" + e.pol.hex() + ", computed=" + c.pol.hex() +
                       (c.signature_valid ? " (the signature is valid for the signed pol: it "
                                            "was made for other sections or phases)"
                                          : ""));
  if (!c.pkfp_matches)
    findings.push_back(at + ": pkfp mismatch: signed=" + e.pkfp.hex() + ", key=" + pkfp.hex());
  if (!c.pcrs_match)
    findings.push_back(at + ": pcrs is " + pcrs_string(e.pcrs) + ", expected [" +
                       std::to_string(pcr_index) + "]");
  if (!c.signature_valid)
    findings.push_back(at + ": signature does not verify with the public key (" +
                       std::string(hash::name(md)) + " over pol)");
  return {};
}

// One bank of the prediction against the same bank of the .pcrsig.
inline result<void> check_bank(verification& v, const pcrsig& s, const bank_prediction& pb,
                               EVP_PKEY* key, const hash::digest& pkfp, signature_mode mode) {
  const std::string bank(hash::name(pb.bank));
  const signed_bank* sb = s.find(pb.bank);
  const auto md = signature_hash(pb.bank, mode);
  std::vector<bool> used(sb ? sb->entries.size() : 0, false);
  for (std::size_t i = 0; i < pb.values.size(); ++i) {
    UKIKIT_TRY_ASSIGN(auto pol, policy_digest(pb.values[i].value));
    phase_check c{pb.bank, pb.values[i].phase, pb.values[i].value, pol, {}, {}, {}};
    if (sb && md) {
      UKIKIT_TRY(check_phase(c, *sb, i, key, pkfp, *md, v.findings));
      if (c.entry) used[*c.entry] = true;
    }
    v.checks.push_back(std::move(c));
  }
  if (!md) {
    v.findings.push_back(bank + ": " + md.error().context());
    return {};
  }
  if (!sb) {
    std::string have;
    for (const auto& b : s.banks)
      have += (have.empty() ? "" : ", ") + std::string(hash::name(b.bank));
    v.findings.push_back("no " + bank + " bank in .pcrsig (it has " +
                         (have.empty() ? "none" : have) + ")");
    return {};
  }
  // This key's other entries (phases not predicted) must not carry bad signatures.
  for (std::size_t i = 0; i < sb->entries.size(); ++i) {
    const auto& e = sb->entries[i];
    if (used[i] || !(e.pkfp == pkfp)) continue;
    UKIKIT_TRY_ASSIGN(bool valid, signature_valid(key, *md, e.pol.bytes(), e.sig));
    if (!valid)
      v.findings.push_back(bank + " entry " + std::to_string(i) +
                           ": signature does not verify with the public key (" +
                           std::string(hash::name(*md)) + " over pol)");
  }
  return {};
}

} // namespace detail

// Check a .pcrsig against the predicted PCR 11 values and a public key. For
// each bank and phase path of the prediction there must be an entry whose
// pol is the recomputed policy digest, whose pkfp is the key's, whose pcrs
// is [11], and whose signature over pol verifies with the mode's hash
// (signature_hash()). Entries of other keys are allowed and ignored; this
// key's entries for values not predicted must still carry valid
// signatures. Every problem is a finding (all of them are collected); an
// error is returned only when the key cannot be used or the crypto library
// fails.
inline result<verification> verify(const pcrsig& s, const prediction& p, EVP_PKEY* public_key,
                                   signature_mode mode = signature_mode::systemd) {
  UKIKIT_TRY(detail::check_key_type(public_key, "public key"));
  verification v;
  v.mode = mode;
  UKIKIT_TRY_ASSIGN(auto pkfp, public_key_fingerprint(public_key));
  v.pkfp = pkfp;
  if (p.banks.empty()) v.findings.push_back("nothing to verify: the prediction has no bank");
  for (const auto& pb : p.banks) UKIKIT_TRY(detail::check_bank(v, s, pb, public_key, pkfp, mode));
  return v;
}

// The same with the public key as .pcrpkey holds it (PEM, or DER
// SubjectPublicKeyInfo).
inline result<verification> verify(const pcrsig& s, const prediction& p, byte_span pcrpkey,
                                   signature_mode mode = signature_mode::systemd) {
  UKIKIT_TRY_ASSIGN(auto key, crypto::load_public_key(pcrpkey, ".pcrpkey"));
  return verify(s, p, key.get(), mode);
}

} // namespace ukikit::measure
