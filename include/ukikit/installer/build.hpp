// The boot artifacts of an installer image, per architecture, from a recipe
// (installer/recipe.hpp): the UKI built as `ukikit build` builds it
// (uki/make.hpp), its .pcrsig signed with the PCR key, then the UKI and
// systemd-boot signed with the Secure Boot key, as Talos' imager does
// (reference/uki-signing-pcr.md §5.1). What `ukikit image build` does
// before it assembles the image; nothing is written here.
//
// Keys are loaded through keys::source (a file, an OpenSSL engine such as
// pkcs11, or a provider's store) and used as EVP_PKEYs from then on.
#pragma once

#include "../authenticode.hpp"
#include "../bytes.hpp"
#include "../crypto.hpp"
#include "../diagnostics.hpp"
#include "../file.hpp"
#include "../keys.hpp"
#include "../pe.hpp"
#include "../result.hpp"
#include "../uki/make.hpp"
#include "layout.hpp"
#include "recipe.hpp"

#include <openssl/evp.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::installer {

// What to do when the systemd-boot to ship is signed already (a
// distribution's signed build).
enum class signed_boot : std::uint8_t {
  refuse,  // an error: say which (as `ukikit sign` does without --append/--replace)
  keep,    // add ours after them
  replace, // drop them
};

struct build_options {
  // Where systemd's stubs are, for a recipe that names none.
  std::filesystem::path stub_directory = std::string(uki::default_stub_directory);
  authenticode::sign_options signing; // digest, signingTime
  signed_boot boot_signatures = signed_boot::refuse;
};

// One architecture's artifacts: the bytes of usr/install/<arch>/vmlinuz.efi
// and systemd-boot.efi (installer/layout.hpp), signed when the recipe has a
// Secure Boot key, and what the UKI builder had to say (uname found, SBAT
// merged ...: notes and warnings; errors are the result's).
struct built_arch {
  std::string arch; // OCI architecture
  std::vector<std::byte> uki;
  std::vector<std::byte> boot;
  std::vector<finding> findings;
};

namespace detail {

// The recipe key an input of the UKI builder is given by.
constexpr std::string_view recipe_key(uki::input_field f) noexcept {
  switch (f) {
  case uki::input_field::none: return {};
  case uki::input_field::stub:
  case uki::input_field::efi_arch:
  case uki::input_field::stub_release: return "Stub";
  case uki::input_field::kernel: return "Linux";
  case uki::input_field::sbat: return "SBAT";
  case uki::input_field::profile: return "Profile";
  case uki::input_field::join_profiles: return "JoinProfile";
  case uki::input_field::section: return {};
  case uki::input_field::pcr_private_key: return "PCRPrivateKey";
  case uki::input_field::signing_key: return "SecureBootPrivateKey";
  case uki::input_field::signing_cert: return "SecureBootCertificate";
  }
  return {};
}

inline error about(const error& e, std::string_view arch, std::string_view key = {}) {
  std::string where = "[Arch:" + std::string(arch) + "]";
  if (!key.empty()) where += " " + std::string(key) + "=";
  return e.prefixed(where);
}

inline std::vector<std::byte> join(const authenticode::image_pieces& p) {
  std::vector<std::byte> out;
  out.reserve(static_cast<std::size_t>(p.size()));
  for (byte_span s : p.pieces()) out.insert(out.end(), s.begin(), s.end());
  return out;
}

// A PE image for `arch`: its machine must be the architecture's.
inline result<pe::image> parse_for_arch(byte_span bytes, std::string_view arch,
                                        std::string_view what) {
  UKIKIT_TRY_ASSIGN(pe::image img, pe::parse(bytes, pe::strictness::strict));
  const auto want = pe_machine(arch);
  if (!want)
    return error(errc::invalid_argument, "not an OCI architecture with UEFI: " + std::string(arch));
  if (img.machine != *want)
    return error(errc::invalid_argument,
                 std::string(what) + " is for " + std::string(pe::machine_name(img.machine)) +
                     " (PE machine " + hex(img.machine) + "), not for " + std::string(arch) + " (" +
                     std::string(pe::machine_name(*want)) + ", " + hex(*want) + ")");
  return img;
}

// The Secure Boot key and certificate, loaded.
struct signer {
  crypto::pkey_ptr key;
  crypto::x509_ptr cert;
};

inline result<std::optional<signer>> load_signer(const arch_recipe& r) {
  if (!r.signing_key) return std::optional<signer>{};
  signer s;
  {
    auto k = keys::load_private_key(*r.signing_key);
    if (!k) return about(k.error(), r.arch, "SecureBootPrivateKey");
    s.key = std::move(*k);
  }
  auto c = keys::load_certificate(*r.signing_cert);
  if (!c) return about(c.error(), r.arch, "SecureBootCertificate");
  s.cert = std::move(*c);
  return std::optional<signer>(std::move(s));
}

// The PCR key (ukikit signs .pcrsig with one key group) and the public key
// ukify would embed as .pcrpkey.
inline result<crypto::pkey_ptr> load_pcr_key(const arch_recipe& r) {
  if (r.pcr_signatures.empty()) return crypto::pkey_ptr{};
  if (r.pcr_signatures.size() > 1)
    return about(error(errc::unsupported,
                       std::to_string(r.pcr_signatures.size()) +
                           " [PCRSignature:NAME] groups: ukikit signs .pcrsig with one key"),
                 r.arch);
  const auto& g = r.pcr_signatures.front();
  auto key = keys::load_private_key(g.private_key);
  if (!key) return about(key.error(), r.arch, "PCRPrivateKey");
  if (g.public_key) {
    auto pub = keys::load_public_key(*g.public_key);
    if (!pub) return about(pub.error(), r.arch, "PCRPublicKey");
    if (EVP_PKEY_eq(key->get(), pub->get()) != 1)
      return about(error(errc::invalid_argument, g.public_key->string() +
                                                     " is not the public half of the PCR "
                                                     "private key of [PCRSignature:" +
                                                     g.name + "]"),
                   r.arch, "PCRPublicKey");
  }
  return std::move(*key);
}

inline uki::build_request uki_request(const arch_recipe& r, const build_options& opt,
                                      EVP_PKEY* pcr_key) {
  uki::build_request req;
  req.stub = r.stub;
  req.stub_directory = opt.stub_directory;
  // With no stub given, systemd's for the architecture; a given one is
  // checked against the architecture after the build.
  if (r.stub.empty()) req.efi_arch = r.efi_arch;
  req.linux_ = r.kernel;
  req.initrds = r.initrds;
  req.cmdline = r.cmdline;
  if (r.os_release) req.os_release = r.os_release; // else ukify's: the host's
  req.uname = r.uname;
  if (r.sbat) req.sbat = {*r.sbat};
  req.profile = r.profile;
  req.join_profiles = r.join_profiles;
  req.splash = r.splash;
  req.dtb = r.devicetree;
  req.ucode = r.microcode;
  req.pcrpkey = r.pcrpkey;
  // ukify: with one PCR key group and no PCRPKey=, its public key file.
  if (!req.pcrpkey && r.pcr_signatures.size() == 1 && r.pcr_signatures.front().public_key)
    req.pcrpkey = r.pcr_signatures.front().public_key;
  req.pcr_key = pcr_key;
  if (pcr_key) req.phases = r.pcr_signatures.front().phases;
  req.pcr_banks = r.pcr_banks;
  return req;
}

inline result<std::vector<std::byte>> sign_image(const pe::image& img, const signer& s,
                                                 const std::vector<byte_span>& keep,
                                                 const build_options& opt) {
  UKIKIT_TRY_ASSIGN(auto der, authenticode::sign(img, s.key.get(), s.cert.get(), opt.signing));
  std::vector<byte_span> entries = keep;
  entries.push_back(der);
  UKIKIT_TRY_ASSIGN(auto pieces, authenticode::with_certificates(img, entries));
  return join(pieces);
}

inline result<std::vector<std::byte>> build_uki(const arch_recipe& r, const build_options& opt,
                                                const signer* s, std::vector<finding>& findings) {
  UKIKIT_TRY_ASSIGN(auto pcr_key, load_pcr_key(r));
  uki::input_problem problem;
  auto built = uki::build_image(uki_request(r, opt, pcr_key.get()), &problem);
  if (!built) return about(built.error(), r.arch, recipe_key(problem.field));
  findings = std::move(built->findings);
  auto img = parse_for_arch(built->image, r.arch, "the UKI (its Stub= and Linux=)");
  if (!img) return about(img.error(), r.arch);
  if (!s) return std::move(built->image);
  auto signed_uki = sign_image(*img, *s, {}, opt);
  if (!signed_uki) return about(signed_uki.error(), r.arch, "SecureBootPrivateKey");
  return signed_uki;
}

inline result<std::vector<std::byte>> build_boot(const arch_recipe& r, const build_options& opt,
                                                 const signer* s) {
  auto file = file::mapped_file::open(r.systemd_boot);
  if (!file) return about(file.error(), r.arch, "SystemdBoot");
  const byte_span bytes = file->bytes();
  auto img = parse_for_arch(bytes, r.arch, r.systemd_boot.string());
  if (!img) return about(img.error(), r.arch, "SystemdBoot");
  if (!s) return std::vector<std::byte>(bytes.begin(), bytes.end());
  std::vector<byte_span> keep = authenticode::existing_signatures(*img);
  if (!keep.empty() && opt.boot_signatures == signed_boot::refuse)
    return about(error(errc::invalid_argument,
                       r.systemd_boot.string() + " is signed already (" +
                           std::to_string(keep.size()) +
                           " signature(s)); keep or replace them, or give an unsigned one"),
                 r.arch, "SystemdBoot");
  if (opt.boot_signatures == signed_boot::replace) keep.clear();
  auto signed_bytes = sign_image(*img, *s, keep, opt);
  if (!signed_bytes) return about(signed_bytes.error(), r.arch, "SecureBootPrivateKey");
  return signed_bytes;
}

} // namespace detail

// One architecture's signed UKI and systemd-boot. Errors name the
// architecture and the recipe key at fault ("[Arch:arm64] Linux=: ...").
inline result<built_arch> build_arch(const arch_recipe& r, const build_options& opt = {}) {
  if (!pe_machine(r.arch))
    return error(errc::invalid_argument, "not an OCI architecture with UEFI: " + r.arch);
  UKIKIT_TRY_ASSIGN(auto s, detail::load_signer(r));
  built_arch out;
  out.arch = r.arch;
  UKIKIT_TRY_ASSIGN(out.uki, detail::build_uki(r, opt, s ? &*s : nullptr, out.findings));
  UKIKIT_TRY_ASSIGN(out.boot, detail::build_boot(r, opt, s ? &*s : nullptr));
  return out;
}

// Every architecture of a resolved recipe (installer::resolve), in order;
// the first error stops the build.
inline result<std::vector<built_arch>> build_arches(const std::vector<arch_recipe>& arches,
                                                    const build_options& opt = {}) {
  std::vector<built_arch> out;
  out.reserve(arches.size());
  for (const auto& a : arches) {
    UKIKIT_TRY_ASSIGN(auto one, build_arch(a, opt));
    out.push_back(std::move(one));
  }
  return out;
}

} // namespace ukikit::installer
