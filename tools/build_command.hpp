// `ukikit build`: assemble a UKI from a systemd-stub, a kernel and the
// other sections, as ukify does; .pcrsig when a PCR key is given, and the
// Authenticode signature last.
#pragma once

#include "cli.hpp"
#include "sign_commands.hpp"

#include <ukikit/authenticode.hpp>
#include <ukikit/file.hpp>
#include <ukikit/uki/build.hpp>

#include <sys/utsname.h>

#include <iostream>
#include <list>
#include <optional>
#include <string>
#include <vector>

namespace ukikit::cli {

struct build_options {
  std::string stub, linux_, output, efi_arch;
  std::vector<std::string> initrds, sections, sbat, join_profiles;
  std::optional<std::string> cmdline, os_release, uname, profile, splash, dtb, ucode, pcrpkey;
  std::string pcr_private_key, signing_key, signing_cert;
  std::vector<std::string> phases, pcr_banks;
  std::optional<unsigned> stub_release;
  bool no_os_release = false;
};

// Inputs stay mapped while the image is built (sections view them).
class input_files {
public:
  result<byte_span> map(const std::string& path) {
    UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(path));
    files_.push_back(std::move(f));
    return files_.back().bytes();
  }
  // TEXT, or the contents of FILE for "@FILE".
  result<std::string> text(const std::string& arg) {
    if (arg.empty() || arg[0] != '@') return arg;
    UKIKIT_TRY_ASSIGN(auto b, map(arg.substr(1)));
    return std::string(as_chars(b));
  }

  // Keep a text alive for as long as the files, and view it.
  byte_span keep(std::string text) {
    texts_.push_back(std::move(text));
    return as_bytes(texts_.back());
  }

private:
  std::list<file::mapped_file> files_; // stable addresses
  std::list<std::string> texts_;
};

// ukify collapses whitespace in a command line given as text (not @FILE).
inline std::string collapse_whitespace(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// The EFI architecture name of the machine ukikit runs on.
inline std::string host_efi_arch() {
  struct utsname u {};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "x64";
  if (m == "aarch64") return "aa64";
  if (m == "i686" || m == "i386") return "ia32";
  if (m.rfind("arm", 0) == 0) return "arm";
  return m; // riscv64, loongarch64
}

inline std::vector<std::string> split_list(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    std::string cur;
    for (char c : a) {
      if (c == ',' || c == ' ') {
        if (!cur.empty()) out.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) out.push_back(cur);
  }
  return out;
}

inline result<void> run_build(const build_options& o) {
  input_files files;
  uki::build_input in;
  if (o.linux_.empty() && !o.profile)
    return error(errc::invalid_argument,
                 "--linux is required (only a profile PE for --join-profile, built with "
                 "--profile, has no kernel)");
  if (!o.linux_.empty()) {
    UKIKIT_TRY_ASSIGN(in.linux_, files.map(o.linux_));
  }

  // The stub: given, or systemd's for the kernel's architecture (not the
  // host's: an arm64 kernel needs an arm64 stub, systemd#36711).
  std::string arch = o.efi_arch;
  if (arch.empty()) {
    auto kimg = pe::parse(in.linux_);
    arch = kimg && !pe::efi_arch(kimg->machine).empty() ? std::string(pe::efi_arch(kimg->machine))
                                                        : host_efi_arch();
  }
  const std::string stub =
      o.stub.empty() ? "/usr/lib/systemd/boot/efi/linux" + arch + ".efi.stub" : o.stub;
  auto stub_bytes = files.map(stub);
  if (!stub_bytes)
    return stub_bytes.error().prefixed(
        o.stub.empty() ? "default stub (install systemd-boot-efi, or use --stub)" : "stub");
  in.stub = *stub_bytes;
  {
    auto simg = pe::parse(in.stub);
    if (simg && !o.efi_arch.empty() && pe::efi_arch(simg->machine) != o.efi_arch)
      return error(errc::invalid_argument, "stub " + stub + " is for " +
                                               std::string(pe::efi_arch(simg->machine)) +
                                               ", not --efi-arch " + o.efi_arch);
    auto kimg = pe::parse(in.linux_);
    if (simg && kimg && kimg->machine != simg->machine)
      return error(errc::invalid_argument,
                   "kernel is " + std::string(pe::machine_name(kimg->machine)) +
                       " but the stub is " + std::string(pe::machine_name(simg->machine)));
  }

  for (const auto& p : o.initrds) {
    UKIKIT_TRY_ASSIGN(auto b, files.map(p));
    in.initrds.push_back(b);
  }
  if (o.cmdline) {
    UKIKIT_TRY_ASSIGN(auto t, files.text(*o.cmdline));
    in.cmdline = (*o.cmdline)[0] == '@' ? t : collapse_whitespace(t);
  }
  if (o.os_release) {
    UKIKIT_TRY_ASSIGN(in.os_release, files.text(*o.os_release));
  } else if (!o.no_os_release) {
    UKIKIT_TRY_ASSIGN(in.os_release, files.text("@/etc/os-release")); // ukify's default
  }
  in.uname = o.uname;
  for (const auto& s : o.sbat) {
    UKIKIT_TRY_ASSIGN(auto t, files.text(s));
    in.sbat.push_back(t);
  }
  if (o.profile) {
    UKIKIT_TRY_ASSIGN(in.profile, files.text(*o.profile));
  }
  for (const auto& j : o.join_profiles) {
    UKIKIT_TRY_ASSIGN(auto b, files.map(j));
    in.join_profiles.push_back(b);
  }
  for (auto [opt, slot] : {std::pair{&o.splash, &in.splash},
                           {&o.dtb, &in.dtb},
                           {&o.ucode, &in.ucode},
                           {&o.pcrpkey, &in.pcrpkey}}) {
    if (!*opt) continue;
    UKIKIT_TRY_ASSIGN(auto b, files.map(**opt));
    *slot = b;
  }
  for (const auto& s : o.sections) {
    auto colon = s.find(':');
    if (colon == std::string::npos || colon == 0)
      return error(errc::invalid_argument, "--section takes NAME:TEXT or NAME:@FILE, not " + s);
    std::string name = s.substr(0, colon);
    std::string value = s.substr(colon + 1);
    if (!value.empty() && value[0] == '@') {
      UKIKIT_TRY_ASSIGN(auto b, files.map(value.substr(1)));
      in.extra.emplace_back(name, b);
    } else {
      in.extra.emplace_back(name, files.keep(std::move(value)));
    }
  }

  crypto::pkey_ptr pcr_key;
  if (!o.pcr_private_key.empty()) {
    UKIKIT_TRY_ASSIGN(auto b, files.map(o.pcr_private_key));
    UKIKIT_TRY_ASSIGN(pcr_key, crypto::load_private_key(b, o.pcr_private_key));
    in.pcr_private_key = pcr_key.get();
    if (!o.phases.empty()) in.pcr_options.phases = split_list(o.phases);
    if (!o.pcr_banks.empty()) {
      in.pcr_options.banks.clear();
      for (const auto& name : split_list(o.pcr_banks)) {
        auto a = hash::parse_algorithm(name);
        if (!a)
          return error(errc::invalid_argument,
                       "unknown PCR bank " + name + " (sha1, sha256, sha384, sha512)");
        in.pcr_options.banks.push_back(*a);
      }
    }
  }

  in.stub_release = o.stub_release;
  UKIKIT_TRY_ASSIGN(auto built, uki::build(in));
  for (const auto& n : built.notes) std::cerr << "ukikit build: " << escape_controls(n) << '\n';

  if (o.signing_key.empty()) return file::write_file(o.output, built.bytes, 0644);
  // The Authenticode signature comes last, over the finished image.
  UKIKIT_TRY_ASSIGN(pe::image img, pe::parse(built.bytes, pe::strictness::strict));
  UKIKIT_TRY_ASSIGN(auto kb, files.map(o.signing_key));
  UKIKIT_TRY_ASSIGN(auto key, crypto::load_private_key(kb, o.signing_key));
  UKIKIT_TRY_ASSIGN(auto cert, read_certificate(o.signing_cert));
  UKIKIT_TRY_ASSIGN(auto der, authenticode::sign(img, key.get(), cert.get()));
  UKIKIT_TRY_ASSIGN(auto pieces, authenticode::with_certificates(img, {der}));
  return file::write_pieces(o.output, pieces.pieces(), 0644);
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
      ->check(CLI::IsMember(
          {"ia32", "x64", "arm", "aa64", "riscv32", "riscv64", "loongarch32", "loongarch64"}));
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
  auto* key =
      cmd->add_option("--signing-key", o.signing_key, "Authenticode private key (PEM or DER)")
          ->check(CLI::ExistingFile);
  auto* cert =
      cmd->add_option("--signing-cert", o.signing_cert, "Authenticode certificate (PEM or DER)")
          ->check(CLI::ExistingFile);
  key->needs(cert);
  cert->needs(key);
  cmd->add_option("-o,--output", o.output, "The UKI to write")->required();
  cmd->callback([&o, &rc] {
    auto r = run_build(o);
    rc = r ? exit_ok : report("ukikit build", r.error());
  });
}

} // namespace ukikit::cli
