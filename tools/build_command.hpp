// `ukikit build`: assemble a UKI from a systemd-stub, a kernel and the
// other sections, as ukify does; .pcrsig when a PCR key is given, and the
// Authenticode signature last.
#pragma once

#include "cli.hpp"
#include "measure_command.hpp"

#include <ukikit/uki/make.hpp>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace ukikit::cli {

struct build_options {
  std::string stub, linux_, output, efi_arch;
  std::vector<std::string> initrds, sections, sbat, join_profiles;
  std::optional<std::string> cmdline, os_release, uname, profile, splash, dtb, ucode, pcrpkey;
  std::string pcr_private_key, signing_key, signing_cert;
  // ukify's: where the signing key and certificate live, if not in files.
  std::string signing_engine, signing_provider, certificate_provider;
  std::vector<std::string> phases, pcr_banks;
  std::optional<unsigned> stub_release;
  std::optional<std::string> signtool;       // ukify's; we sign ourselves
  std::optional<std::string> pcr_public_key; // ukify's: .pcrpkey unless --pcrpkey
  bool no_os_release = false, measure = false;
};

// TEXT, or the contents of FILE for "@FILE".
inline uki::text_input text_arg(const std::string& arg) { return uki::text_input::argument(arg); }

inline result<uki::build_request> build_request_of(const build_options& o) {
  uki::build_request req;
  req.stub = o.stub;
  req.efi_arch = o.efi_arch;
  req.linux_ = o.linux_;
  req.initrds.assign(o.initrds.begin(), o.initrds.end());
  if (o.cmdline) req.cmdline = text_arg(*o.cmdline);
  if (o.os_release) req.os_release = text_arg(*o.os_release);
  else if (o.no_os_release) req.os_release.reset();
  req.uname = o.uname;
  for (const auto& s : o.sbat) req.sbat.push_back(text_arg(s));
  if (o.profile) req.profile = text_arg(*o.profile);
  req.join_profiles.assign(o.join_profiles.begin(), o.join_profiles.end());
  for (auto [opt, slot] : {std::pair{&o.splash, &req.splash},
                           {&o.dtb, &req.dtb},
                           {&o.ucode, &req.ucode},
                           {&o.pcrpkey, &req.pcrpkey}})
    if (*opt) *slot = **opt;
  if (!o.pcrpkey && o.pcr_public_key) req.pcrpkey = *o.pcr_public_key;
  for (const auto& s : o.sections) {
    auto colon = s.find(':');
    if (colon == std::string::npos || colon == 0)
      return error(errc::invalid_argument, "--section takes NAME:TEXT or NAME:@FILE, not " + s);
    req.sections.push_back({s.substr(0, colon), text_arg(s.substr(colon + 1))});
  }
  req.pcr_private_key = o.pcr_private_key;
  if (!o.pcr_private_key.empty()) {
    if (!o.phases.empty()) req.phases = split_list(o.phases);
    if (!o.pcr_banks.empty()) {
      UKIKIT_TRY_ASSIGN(req.pcr_banks, parse_algorithms(o.pcr_banks, "PCR bank"));
    }
  }
  req.stub_release = o.stub_release;
  req.signing_key = o.signing_key;
  req.signing_cert = o.signing_cert;
  if (!o.signing_engine.empty())
    req.signing_key_source =
        keys::source{keys::source::kind::engine, o.signing_key, o.signing_engine};
  else if (!o.signing_provider.empty())
    req.signing_key_source =
        keys::source{keys::source::kind::provider, o.signing_key, o.signing_provider};
  if (!o.certificate_provider.empty())
    req.signing_cert_source =
        keys::source{keys::source::kind::provider, o.signing_cert, o.certificate_provider};
  req.output = o.output;
  return req;
}

// The library's error, in the words of this command's options.
inline error with_option_hint(const error& e, const uki::input_problem& p, const build_options& o) {
  switch (p.field) {
  case uki::input_field::kernel:
    if (o.linux_.empty())
      return error(e.code(), "--linux is required (only a profile PE for --join-profile, built "
                             "with --profile, has no kernel)");
    break;
  case uki::input_field::stub:
    if (o.stub.empty()) return error(e.code(), e.message() + "; or use --stub");
    break;
  case uki::input_field::efi_arch:
    return error(e.code(),
                 "stub " + (o.stub.empty() ? uki::default_stub_path(o.efi_arch).string() : o.stub) +
                     " is for " + p.found + ", not --efi-arch " + o.efi_arch);
  case uki::input_field::join_profiles:
    if (!o.profile)
      return error(e.code(), "--join-profile needs --profile for this image's own profile (@0)");
    break;
  case uki::input_field::stub_release:
    return error(e.code(), e.message() + ", or give --stub-release if this one knows them");
  default: break;
  }
  return e;
}

inline result<void> run_build(const build_options& o) {
  UKIKIT_TRY_ASSIGN(auto req, build_request_of(o));
  uki::input_problem problem;
  auto findings = uki::build_file(req, &problem);
  if (!findings) return with_option_hint(findings.error(), problem, o);
  for (const auto& f : *findings)
    std::cerr << "ukikit build: " << escape_controls(f.message) << '\n';
  if (o.measure) { // ukify --measure: PCR 11 of the UKI as `ukikit measure` prints it
    measure_options m;
    m.file = o.output;
    m.banks = split_list(o.pcr_banks);
    m.stub_release = o.stub_release;
    return run_measure(m);
  }
  return {};
}

} // namespace ukikit::cli

namespace ukikit::cli {

inline void add_build_command(CLI::App& app, build_options& o, int& rc) {
  auto* cmd = app.add_subcommand(
      "build", "Assemble a UKI from systemd-stub, a kernel and sections, as ukify does");
  cmd->add_option(
      "--stub", o.stub,
      "systemd-stub to build on (default: /usr/lib/systemd/boot/efi/linux<arch>.efi.stub for "
      "the kernel's architecture)");
  cmd->add_option("--efi-arch", o.efi_arch,
                  "Architecture of the default stub: x64, aa64, ia32, arm, riscv64 …")
      ->check(CLI::IsMember(std::vector<std::string>(std::begin(uki::efi_architectures),
                                                     std::end(uki::efi_architectures))));
  cmd->add_option("--linux", o.linux_,
                  "The kernel: section .linux (required but for a profile PE made with --profile)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--initrd", o.initrds,
                  "An initrd: section .initrd (repeatable; concatenated, each padded to 4 bytes)")
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile);
  cmd->add_option("--cmdline", o.cmdline,
                  "Kernel command line TEXT (whitespace collapsed) or @FILE: section .cmdline");
  cmd->add_option("--os-release", o.os_release,
                  "os-release TEXT or @FILE: section .osrel (default @/etc/os-release)");
  cmd->add_flag("--no-os-release", o.no_os_release,
                "Leave out .osrel (bootctl then says \"not a UKI\")");
  cmd->add_option("--uname", o.uname,
                  "Kernel release: section .uname (default: found in the kernel)");
  cmd->add_option("--sbat", o.sbat,
                  "SBAT TEXT or @FILE starting with the sbat header line, merged into .sbat after "
                  "the stub's "
                  "and kernel's rows (repeatable; default: the uki row)")
      ->allow_extra_args(false);
  cmd->add_option("--splash", o.splash, "Boot splash BMP: section .splash")
      ->check(CLI::ExistingFile);
  cmd->add_option("--dtb", o.dtb, "Devicetree blob: section .dtb")->check(CLI::ExistingFile);
  cmd->add_option("--microcode", o.ucode, "Microcode cpio: section .ucode")
      ->check(CLI::ExistingFile);
  cmd->add_option("--profile", o.profile,
                  "Profile metadata TEXT or @FILE (ID=…, TITLE=…): section .profile");
  cmd->add_option("--join-profile", o.join_profiles,
                  "A PE built with --profile and its own sections (no kernel needed): appended as "
                  "the next profile @1, @2 … with its own .pcrsig (repeatable; needs --profile)")
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile);
  cmd->add_option("--section", o.sections, "Extra section NAME:TEXT or NAME:@FILE (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--pcrpkey", o.pcrpkey,
                  "Public key PEM for .pcrsig: section .pcrpkey (default: from the PCR key)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--pcr-public-key", o.pcr_public_key,
                  "ukify's name: the public half of --pcr-private-key, put into .pcrpkey unless "
                  "--pcrpkey is given")
      ->check(CLI::ExistingFile);
  cmd->add_option("--pcr-private-key", o.pcr_private_key,
                  "Sign the predicted PCR 11 values into .pcrsig with this key (RSA or ECDSA, PEM)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--phases", o.phases,
                  "Phase paths to sign, comma or space separated (default: enter-initrd, "
                  "enter-initrd:leave-initrd, …:sysinit, …:ready)")
      ->allow_extra_args(false);
  cmd->add_option("--pcr-banks", o.pcr_banks,
                  "PCR banks to sign: sha1, sha256, sha384, sha512 (default: all)")
      ->allow_extra_args(false);
  add_stub_release_option(*cmd, o.stub_release);
  auto* key = cmd->add_option("--signing-key,--secureboot-private-key", o.signing_key,
                              "Authenticode private key (PEM or DER), or with --signing-engine "
                              "or --signing-provider what it resolves (a pkcs11: URI)");
  auto* cert = cmd->add_option("--signing-cert,--secureboot-certificate", o.signing_cert,
                               "Authenticode certificate (PEM or DER)");
  key->needs(cert);
  cert->needs(key);
  auto* engine = cmd->add_option("--signing-engine", o.signing_engine,
                                 "ukify's: the OpenSSL engine that loads --signing-key (pkcs11 "
                                 "for a key in an HSM)")
                     ->needs(key);
  cmd->add_option("--signing-provider", o.signing_provider,
                  "ukify's: the OpenSSL provider whose store loads --signing-key")
      ->needs(key)
      ->excludes(engine);
  cmd->add_option("--certificate-provider", o.certificate_provider,
                  "ukify's: the OpenSSL provider whose store loads --signing-cert")
      ->needs(cert);
  cmd->add_option("--signtool", o.signtool,
                  "ukify's signing tool (sbsign, pesign, systemd-sbsign): accepted for ukify's "
                  "command lines; ukikit signs itself, with the same result")
      ->check(CLI::IsMember({"sbsign", "pesign", "systemd-sbsign"}));
  cmd->add_flag("--measure", o.measure,
                "Then print PCR 11 of the UKI as `ukikit measure` does (ukify --measure), in "
                "the --pcr-banks given");
  cmd->add_option("-o,--output", o.output, "The UKI to write")->required();
  cmd->callback([&o, &rc] {
    auto r = run_build(o);
    rc = r ? exit_ok : report("ukikit build", r.error());
  });
}

} // namespace ukikit::cli
