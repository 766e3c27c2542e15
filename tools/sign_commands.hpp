// `ukikit sign`, `ukikit attach`, `ukikit unsign`: Authenticode signatures
// on PE images, including offline (HSM) signing in two steps.
#pragma once

#include "cli.hpp"

#include <ukikit/authenticode.hpp>
#include <ukikit/file.hpp>
#include <ukikit/keys.hpp>
#include <ukikit/pe.hpp>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace ukikit::cli {

// An input PE: the mapping and its parsed view (which points into it).
struct pe_input {
  file::mapped_file file;
  pe::image image;
};

inline result<pe_input> open_pe(const std::string& path) {
  pe_input in;
  UKIKIT_TRY_ASSIGN(in.file, file::mapped_file::open(path));
  UKIKIT_TRY_ASSIGN(in.image, pe::parse(in.file.bytes(), pe::strictness::permissive));
  for (const auto& f : in.image.findings.kept())
    if (f.is_error()) return error(errc::malformed, path + ": " + f.text());
  return in;
}

// The mode of the input, so signing an executable keeps it executable.
inline mode_t mode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
}

struct signature_placement {
  bool append = false;
  bool replace = false;
};

// The signatures the new image carries: the existing ones when appending,
// none when replacing; refuse to drop signatures silently.
inline result<std::vector<byte_span>>
kept_signatures(const pe::image& img, const signature_placement& p, const std::string& path) {
  auto existing = authenticode::existing_signatures(img);
  if (existing.empty() || p.replace) return std::vector<byte_span>{};
  if (p.append) return existing;
  return error(errc::invalid_argument,
               path + " is already signed (" + std::to_string(existing.size()) +
                   " signature(s)); use --append to add one or --replace to replace them");
}

inline result<void> attach_signature(const pe_input& in, byte_span der,
                                     const signature_placement& p, const std::string& input_path,
                                     const std::string& output_path) {
  UKIKIT_TRY_ASSIGN(auto entries, kept_signatures(in.image, p, input_path));
  entries.push_back(der);
  UKIKIT_TRY_ASSIGN(auto pieces, authenticode::with_certificates(in.image, entries));
  return file::write_pieces(output_path, pieces.pieces(), mode_of(input_path));
}

struct sign_options {
  std::string key, cert, output, detached, export_tbs, raw_signature, digest = "sha256", file;
  // systemd-sbsign's --private-key-source and --certificate-source; sbsign's --engine.
  std::string key_source = "file", cert_source = "file", engine;
  std::optional<std::int64_t> signing_time;
  signature_placement placement;
};

inline result<hash::algorithm> digest_algorithm(const std::string& name) {
  auto a = hash::parse_algorithm(name);
  if (!a || *a == hash::algorithm::sha1)
    return error(errc::invalid_argument,
                 "digest " + name + " is not supported (use sha256, sha384 or sha512)");
  return *a;
}

inline result<void> run_sign(const sign_options& o) {
  UKIKIT_TRY_ASSIGN(pe_input in, open_pe(o.file));
  authenticode::sign_options sopt;
  UKIKIT_TRY_ASSIGN(sopt.digest, digest_algorithm(o.digest));
  sopt.signing_time = o.signing_time;
  const std::string output = o.output.empty() ? o.file : o.output;

  if (!o.export_tbs.empty()) { // step 1 of offline signing: what the HSM signs
    UKIKIT_TRY_ASSIGN(hash::digest d, authenticode::image_digest(in.image, sopt.digest));
    auto indirect = authenticode::make_indirect_data(d);
    UKIKIT_TRY_ASSIGN(auto attrs, authenticode::signed_attributes(indirect, sopt));
    return file::write_file(o.export_tbs, authenticode::to_be_signed(attrs));
  }
  UKIKIT_TRY_ASSIGN(auto cert_from, keys::parse_source(o.cert_source, o.cert));
  UKIKIT_TRY_ASSIGN(auto cert, keys::load_certificate(cert_from));
  std::vector<std::byte> der;
  if (!o.raw_signature.empty()) { // step 2: a signature made elsewhere
    UKIKIT_TRY_ASSIGN(auto sig, file::mapped_file::open(o.raw_signature));
    UKIKIT_TRY_ASSIGN(hash::digest d, authenticode::image_digest(in.image, sopt.digest));
    auto indirect = authenticode::make_indirect_data(d);
    UKIKIT_TRY_ASSIGN(auto attrs, authenticode::signed_attributes(indirect, sopt));
    UKIKIT_TRY_ASSIGN(der, authenticode::assemble(indirect, attrs, cert.get(), sig.bytes(), sopt));
    // Refuse a signature that does not verify, before it lands in an image.
    UKIKIT_TRY(authenticode::check_signature(der));
  } else {
    UKIKIT_TRY_ASSIGN(
        auto key_from,
        keys::parse_source(o.engine.empty() ? o.key_source : "engine:" + o.engine, o.key));
    UKIKIT_TRY_ASSIGN(auto key, keys::load_private_key(key_from));
    UKIKIT_TRY_ASSIGN(der, authenticode::sign(in.image, key.get(), cert.get(), sopt));
  }
  if (!o.detached.empty()) return file::write_file(o.detached, der);
  return attach_signature(in, der, o.placement, o.file, output);
}

inline void add_placement_flags(CLI::App* cmd, signature_placement& p) {
  auto* a = cmd->add_flag("--append", p.append,
                          "Keep the image's signatures and add this one after them");
  auto* r = cmd->add_flag("--replace", p.replace, "Remove the image's signatures and add this one");
  a->excludes(r);
}

inline void add_sign_command(CLI::App& app, sign_options& o, int& rc) {
  auto* cmd = app.add_subcommand(
      "sign", "Sign a PE image with Authenticode (certificate table entry, CheckSum)");
  auto* key = cmd->add_option("--key,--private-key", o.key,
                              "Private key (PEM or DER): RSA 2048-4096 or ECDSA P-256/P-384; with "
                              "an engine or provider what it resolves (a pkcs11: URI)");
  auto* cert = cmd->add_option("--cert,--certificate", o.cert,
                               "Signer certificate (PEM or DER), or what the certificate source "
                               "resolves");
  add_key_source_options(cmd, o.key_source, o.cert_source, &o.engine);
  cmd->add_option("-o,--output", o.output, "Signed image (default: replace FILE atomically)");
  cmd->add_option("--digest", o.digest,
                  "Image digest and signature hash: sha256 (default), sha384, sha512");
  cmd->add_option(
      "--signing-time", o.signing_time,
      "Add a signingTime attribute (seconds since the epoch); without it, signing twice with "
      "an RSA key gives identical bytes");
  auto* detached = cmd->add_option("--detached", o.detached,
                                   "Write the PKCS#7 signature to this file instead of "
                                   "embedding it (attach it later with `ukikit attach`)");
  auto* tbs = cmd->add_option(
      "--export-tbs", o.export_tbs,
      "Offline signing, step 1: write the DER bytes to be signed (the signed attributes); "
      "sign them elsewhere with the --digest hash");
  auto* raw =
      cmd->add_option(
             "--signature", o.raw_signature,
             "Offline signing, step 2: a raw signature over the --export-tbs bytes (RSA PKCS#1 "
             "v1.5 or DER ECDSA), made with the key of --cert")
          ->check(CLI::ExistingFile);
  add_placement_flags(cmd, o.placement);
  cmd->add_option("FILE", o.file, "PE image to sign")->required()->check(CLI::ExistingFile);
  tbs->excludes(key)->excludes(raw)->excludes(detached);
  raw->excludes(key)->needs(cert);
  cmd->callback([&o, &rc, key, cert, tbs, raw] {
    if (tbs->count() == 0 && raw->count() == 0 && (key->count() == 0 || cert->count() == 0)) {
      std::cerr << "ukikit sign: --key and --cert are required (or --export-tbs, or --signature "
                   "with --cert)\n";
      rc = exit_usage;
      return;
    }
    auto r = run_sign(o);
    rc = r ? exit_ok : report("ukikit sign", r.error());
  });
}

struct attach_options {
  std::string signature, output, file;
  signature_placement placement;
};

inline void add_attach_command(CLI::App& app, attach_options& o, int& rc) {
  auto* cmd =
      app.add_subcommand("attach", "Attach a detached PKCS#7 Authenticode signature to a PE image");
  cmd->add_option("--signature", o.signature,
                  "PKCS#7 SignedData (DER) made by `ukikit sign --detached`, "
                  "`sbsign --detached` or `osslsigncode extract-signature`")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", o.output, "Signed image (default: replace FILE atomically)");
  add_placement_flags(cmd, o.placement);
  cmd->add_option("FILE", o.file, "PE image")->required()->check(CLI::ExistingFile);
  cmd->callback([&o, &rc] {
    auto run = [&]() -> result<void> {
      UKIKIT_TRY_ASSIGN(pe_input in, open_pe(o.file));
      UKIKIT_TRY_ASSIGN(auto sig, file::mapped_file::open(o.signature));
      UKIKIT_TRY(authenticode::check_detached_signature(in.image, sig.bytes()));
      return attach_signature(in, sig.bytes(), o.placement, o.file,
                              o.output.empty() ? o.file : o.output);
    };
    auto r = run();
    rc = r ? exit_ok
           : report("ukikit attach", r.error(),
                    r.error().code() == errc::checksum_mismatch ? exit_failed : exit_usage);
  });
}

struct unsign_options {
  std::string output, file;
  std::optional<std::size_t> index;
};

inline void add_unsign_command(CLI::App& app, unsign_options& o, int& rc) {
  auto* cmd = app.add_subcommand("unsign", "Remove Authenticode signatures from a PE image");
  cmd->add_option("-o,--output", o.output, "Unsigned image (default: replace FILE atomically)");
  cmd->add_option("--index", o.index,
                  "Remove only the signature with this index (0 = first); default: all");
  cmd->add_option("FILE", o.file, "PE image")->required()->check(CLI::ExistingFile);
  cmd->callback([&o, &rc] {
    auto run = [&]() -> result<void> {
      UKIKIT_TRY_ASSIGN(pe_input in, open_pe(o.file));
      auto sigs = authenticode::existing_signatures(in.image);
      if (!in.image.has_certificate_table())
        return error(errc::invalid_argument, o.file + " is not signed");
      std::vector<byte_span> keep;
      if (o.index) {
        if (*o.index >= sigs.size())
          return error(errc::invalid_argument, o.file + " has " + std::to_string(sigs.size()) +
                                                   " signature(s); there is no index " +
                                                   std::to_string(*o.index));
        keep = sigs;
        keep.erase(keep.begin() + static_cast<std::ptrdiff_t>(*o.index));
      }
      UKIKIT_TRY_ASSIGN(auto pieces, authenticode::with_certificates(in.image, keep));
      return file::write_pieces(o.output.empty() ? o.file : o.output, pieces.pieces(),
                                mode_of(o.file));
    };
    auto r = run();
    rc = r ? exit_ok : report("ukikit unsign", r.error());
  });
}

} // namespace ukikit::cli
