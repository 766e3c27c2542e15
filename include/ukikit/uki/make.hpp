// Building a UKI from files, as `ukikit build` does, in one call: the inputs
// by path, systemd's stub for the kernel's architecture when none is given
// (systemd#36711: an arm64 kernel needs an arm64 stub, whatever the host),
// the kernel/stub machine check, ukify's defaults (.cmdline text with its
// whitespace collapsed, the build host's /etc/os-release), the PCR key for
// .pcrsig, the Authenticode signature last, over the finished image, and the
// output written atomically (file.hpp).
//
// uki/build.hpp builds from bytes; this is the same with files and policy.
#pragma once

#include "../authenticode.hpp"
#include "../bytes.hpp"
#include "../crypto.hpp"
#include "../diagnostics.hpp"
#include "../file.hpp"
#include "../hash.hpp"
#include "../keys.hpp"
#include "../pe.hpp"
#include "../result.hpp"
#include "build.hpp"

#include <sys/stat.h>
#include <sys/utsname.h>

#include <cstddef>
#include <filesystem>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::uki {

// Where systemd-boot-efi installs systemd-stub, as linux<arch>.efi.stub.
inline constexpr std::string_view default_stub_directory = "/usr/lib/systemd/boot/efi";

// The EFI architecture names systemd's stubs are named after.
inline constexpr std::string_view efi_architectures[] = {
    "ia32", "x64", "arm", "aa64", "riscv32", "riscv64", "loongarch32", "loongarch64"};

// systemd's stub for an EFI architecture: <dir>/linux<arch>.efi.stub.
inline std::filesystem::path
default_stub_path(std::string_view efi_arch,
                  const std::filesystem::path& dir = std::string(default_stub_directory)) {
  return dir / ("linux" + std::string(efi_arch) + ".efi.stub");
}

// The EFI architecture name of the machine this runs on.
inline std::string host_efi_arch() {
  struct utsname u {};
  ::uname(&u);
  const std::string m = u.machine;
  if (m == "x86_64") return "x64";
  if (m == "aarch64") return "aa64";
  if (m == "i686" || m == "i386") return "ia32";
  if (m.rfind("arm", 0) == 0) return "arm";
  return m; // riscv64, loongarch64
}

// ukify collapses the whitespace of a command line given as text (not as a
// file): runs of blanks and newlines become one space, none at either end.
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

// A section's contents: text given as is, or the bytes of a file.
struct text_input {
  std::string text;
  std::filesystem::path file; // when set, the contents are this file's

  static text_input of(std::string text) { return {std::move(text), {}}; }
  static text_input read_from(std::filesystem::path file) { return {{}, std::move(file)}; }
  // A command-line argument as ukify takes one: TEXT, or "@FILE" for the
  // contents of FILE.
  static text_input argument(const std::string& arg) {
    if (arg.empty() || arg[0] != '@') return of(arg);
    return read_from(arg.substr(1));
  }
  bool from_file() const noexcept { return !file.empty(); }
};

// An extra section (ukify --section): its name and contents.
struct extra_section {
  std::string name;
  text_input contents;
};

struct build_request {
  // systemd-stub. Empty: default_stub_path() in stub_directory for
  // efi_arch, or else for the kernel's architecture (or else the host's).
  std::filesystem::path stub;
  std::filesystem::path stub_directory = std::string(default_stub_directory);
  // The EFI architecture (efi_architectures) the stub must be for; empty: the kernel's.
  std::string efi_arch;
  // The kernel: .linux. Empty only for a profile PE (with `profile`), made
  // to be joined into another UKI.
  std::filesystem::path linux_;
  std::vector<std::filesystem::path> initrds; // .initrd, concatenated, each padded to 4 bytes
  // .cmdline; given as text, its whitespace is collapsed as ukify does.
  std::optional<text_input> cmdline;
  // .osrel; ukify's default is the build host's os-release (reset it for none).
  std::optional<text_input> os_release = text_input::read_from("/etc/os-release");
  std::optional<std::string> uname; // .uname; default: found in the kernel
  std::vector<text_input> sbat;     // SBAT texts merged into .sbat (default: the UKI row)
  std::optional<text_input> profile;
  std::vector<std::filesystem::path> join_profiles; // PEs made with a profile and no kernel
  std::optional<std::filesystem::path> splash, dtb, ucode, pcrpkey;
  std::vector<extra_section> sections;

  // .pcrsig, signed with this key (RSA or ECDSA, PEM or DER) when one is given.
  std::filesystem::path pcr_private_key;
  // Or with a key already loaded (from a file, an engine or a provider:
  // keys.hpp), used instead of pcr_private_key; the caller keeps it alive.
  EVP_PKEY* pcr_key = nullptr;
  // Phase paths and banks to sign; default: systemd-measure's four phase
  // paths, and sha1, sha256, sha384, sha512.
  std::optional<std::vector<std::string>> phases;
  std::optional<std::vector<hash::algorithm>> pcr_banks;
  // The systemd release of the stub that measures PCR 11; default: its .sdmagic.
  std::optional<unsigned> stub_release;

  // The Authenticode signature, over the finished image (both or neither).
  std::filesystem::path signing_key, signing_cert;
  // Or the key and certificate where they live (an engine's or provider's
  // designation such as a PKCS#11 URI: keys.hpp), used instead of the paths.
  std::optional<keys::source> signing_key_source, signing_cert_source;
  authenticode::sign_options signing;

  // Where build_file() writes the image, and its mode.
  std::filesystem::path output;
  mode_t mode = 0644;
};

// A built UKI: the unsigned image, the signed one as pieces (views into the
// unsigned one) when it was signed, and what the builder has to say.
// Move-only: the pieces view the image's bytes, which a move keeps in place.
struct build_result {
  std::vector<std::byte> image;
  std::optional<authenticode::image_pieces> signed_image;
  std::vector<::ukikit::finding> findings;

  build_result() = default;
  build_result(build_result&&) noexcept = default;
  build_result& operator=(build_result&&) noexcept = default;
  build_result(const build_result&) = delete;
  build_result& operator=(const build_result&) = delete;

  // The bytes of the UKI, in order.
  std::vector<byte_span> pieces() const {
    if (!signed_image) return {byte_span(image)};
    const auto p = signed_image->pieces();
    return {p.begin(), p.end()};
  }
  // The same, as one copy.
  std::vector<std::byte> bytes() const {
    std::vector<std::byte> out;
    for (byte_span p : pieces()) out.insert(out.end(), p.begin(), p.end());
    return out;
  }
};

namespace detail {

// The input files, mapped while the image is built (sections view them),
// and texts kept beside them.
class build_inputs {
public:
  result<byte_span> map(const std::filesystem::path& path) {
    UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(path));
    files_.push_back(std::move(f));
    return files_.back().bytes();
  }
  result<std::string> text(const text_input& in) {
    if (!in.from_file()) return in.text;
    UKIKIT_TRY_ASSIGN(auto b, map(in.file));
    return std::string(as_chars(b));
  }
  result<byte_span> bytes(const text_input& in) {
    if (in.from_file()) return map(in.file);
    texts_.push_back(in.text);
    return as_bytes(texts_.back());
  }

private:
  std::list<file::mapped_file> files_; // stable addresses
  std::list<std::string> texts_;
};

// systemd-stub: the one asked for or the default for the architecture,
// which must agree with efi_arch and with the kernel's machine.
inline result<byte_span> map_stub(const build_request& req, byte_span kernel, build_inputs& files,
                                  input_problem* problem) {
  const auto about = [problem](input_field f) {
    if (problem) problem->field = f;
  };
  // Not the host's architecture: the kernel's (systemd#36711).
  std::string arch = req.efi_arch;
  if (arch.empty()) {
    auto kimg = pe::parse(kernel);
    arch = kimg && !pe::efi_arch(kimg->machine).empty() ? std::string(pe::efi_arch(kimg->machine))
                                                        : host_efi_arch();
  }
  const std::filesystem::path stub =
      req.stub.empty() ? default_stub_path(arch, req.stub_directory) : req.stub;
  about(input_field::stub);
  auto bytes = files.map(stub);
  if (!bytes)
    return bytes.error().prefixed(req.stub.empty() ? "default stub (install systemd-boot-efi)"
                                                   : "stub");
  auto simg = pe::parse(*bytes);
  if (simg && !req.efi_arch.empty() && pe::efi_arch(simg->machine) != req.efi_arch) {
    about(input_field::efi_arch);
    if (problem) problem->found = std::string(pe::efi_arch(simg->machine));
    return error(errc::invalid_argument, "stub " + stub.string() + " is for " +
                                             std::string(pe::efi_arch(simg->machine)) + ", not " +
                                             req.efi_arch);
  }
  auto kimg = pe::parse(kernel);
  if (simg && kimg && kimg->machine != simg->machine) {
    about(input_field::kernel);
    return error(errc::invalid_argument,
                 "kernel is " + std::string(pe::machine_name(kimg->machine)) + " but the stub is " +
                     std::string(pe::machine_name(simg->machine)));
  }
  about(input_field::none);
  return *bytes;
}

// Map the request's files into build_input (texts read, defaults applied).
inline result<void> gather(const build_request& req, build_inputs& files, build_input& in,
                           input_problem* problem) {
  const auto about = [problem](input_field f) {
    if (problem) problem->field = f;
  };
  if (req.linux_.empty() && !req.profile) {
    about(input_field::kernel);
    return error(errc::invalid_argument, "a kernel is required (only a profile PE, made to be "
                                         "joined into another UKI, has none)");
  }
  if (!req.linux_.empty()) {
    about(input_field::kernel);
    UKIKIT_TRY_ASSIGN(in.linux_, files.map(req.linux_));
  }
  UKIKIT_TRY_ASSIGN(in.stub, map_stub(req, in.linux_, files, problem));
  about(input_field::none);
  for (const auto& p : req.initrds) {
    UKIKIT_TRY_ASSIGN(auto b, files.map(p));
    in.initrds.push_back(b);
  }
  if (req.cmdline) {
    UKIKIT_TRY_ASSIGN(auto t, files.text(*req.cmdline));
    in.cmdline = req.cmdline->from_file() ? t : collapse_whitespace(t);
  }
  if (req.os_release) {
    UKIKIT_TRY_ASSIGN(in.os_release, files.text(*req.os_release));
  }
  in.uname = req.uname;
  about(input_field::sbat);
  for (const auto& s : req.sbat) {
    UKIKIT_TRY_ASSIGN(auto t, files.text(s));
    in.sbat.push_back(t);
  }
  about(input_field::profile);
  if (req.profile) {
    UKIKIT_TRY_ASSIGN(in.profile, files.text(*req.profile));
  }
  about(input_field::join_profiles);
  for (const auto& j : req.join_profiles) {
    UKIKIT_TRY_ASSIGN(auto b, files.map(j));
    in.join_profiles.push_back(b);
  }
  about(input_field::none);
  for (auto [path, slot] : {std::pair{&req.splash, &in.splash},
                            {&req.dtb, &in.dtb},
                            {&req.ucode, &in.ucode},
                            {&req.pcrpkey, &in.pcrpkey}}) {
    if (!*path) continue;
    UKIKIT_TRY_ASSIGN(auto b, files.map(**path));
    *slot = b;
  }
  about(input_field::section);
  for (const auto& s : req.sections) {
    UKIKIT_TRY_ASSIGN(auto b, files.bytes(s.contents));
    in.extra.emplace_back(s.name, b);
  }
  about(input_field::none);
  in.stub_release = req.stub_release;
  return {};
}

} // namespace detail

// Build (and sign) the UKI a request describes, in memory. Errors name no
// command-line option; `problem`, when given, says which input an error is
// about.
inline result<build_result> build_image(const build_request& req,
                                        input_problem* problem = nullptr) {
  const auto about = [problem](input_field f) {
    if (problem) problem->field = f;
  };
  const auto key_from =
      req.signing_key_source ? *req.signing_key_source : keys::source::from_file(req.signing_key);
  const auto cert_from = req.signing_cert_source ? *req.signing_cert_source
                                                 : keys::source::from_file(req.signing_cert);
  const bool with_key = !key_from.location.empty(), with_cert = !cert_from.location.empty();
  if (with_key != with_cert) {
    about(with_key ? input_field::signing_cert : input_field::signing_key);
    return error(errc::invalid_argument,
                 "an Authenticode signature needs both a signing key and its certificate");
  }
  detail::build_inputs files;
  build_input in;
  UKIKIT_TRY(detail::gather(req, files, in, problem));

  crypto::pkey_ptr pcr_key;
  in.pcr_private_key = req.pcr_key;
  if (!in.pcr_private_key && !req.pcr_private_key.empty()) {
    about(input_field::pcr_private_key);
    UKIKIT_TRY_ASSIGN(pcr_key, keys::load_private_key(req.pcr_private_key));
    about(input_field::none);
    in.pcr_private_key = pcr_key.get();
  }
  if (in.pcr_private_key) {
    if (req.phases) in.pcr_options.phases = *req.phases;
    if (req.pcr_banks) in.pcr_options.banks = *req.pcr_banks;
  }

  build_result out;
  UKIKIT_TRY_ASSIGN(auto built, build(in, problem));
  out.image = std::move(built.bytes);
  out.findings = std::move(built.findings);
  if (!with_key) return out;

  // The Authenticode signature comes last, over the finished image.
  UKIKIT_TRY_ASSIGN(pe::image img, pe::parse(out.image, pe::strictness::strict));
  about(input_field::signing_key);
  UKIKIT_TRY_ASSIGN(auto key, keys::load_private_key(key_from));
  about(input_field::signing_cert);
  UKIKIT_TRY_ASSIGN(auto cert, keys::load_certificate(cert_from));
  about(input_field::signing_key);
  UKIKIT_TRY_ASSIGN(auto der, authenticode::sign(img, key.get(), cert.get(), req.signing));
  about(input_field::none);
  UKIKIT_TRY_ASSIGN(out.signed_image, authenticode::with_certificates(img, {der}));
  return out;
}

// Build (and sign) the UKI and write it to req.output, atomically: nothing
// appears under that name unless the whole image was written. Returns the
// builder's findings.
inline result<std::vector<::ukikit::finding>> build_file(const build_request& req,
                                                         input_problem* problem = nullptr) {
  UKIKIT_TRY_ASSIGN(build_result built, build_image(req, problem));
  UKIKIT_TRY(file::write_pieces(req.output, built.pieces(), req.mode));
  return std::move(built.findings);
}

} // namespace ukikit::uki
