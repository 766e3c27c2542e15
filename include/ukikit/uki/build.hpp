// Building a UKI from a systemd-stub, as ukify does (reference/uki-signing-pcr.md
// §1.5, §2.3, §2.4): sections placed after the stub's last one, SBAT merged
// into the stub's .sbat, uname found in the kernel, then .pcrsig over the
// measured sections when a PCR key is given. Authenticode signing, last, is
// the caller's (authenticode::sign over the result; uki/make.hpp does it, and
// everything else `ukikit build` does with files).
//
// Building twice from the same inputs gives the same bytes.
#pragma once

#include "../bytes.hpp"
#include "../crypto.hpp"
#include "../diagnostics.hpp"
#include "../measure.hpp"
#include "../pe.hpp"
#include "../pe_writer.hpp"
#include "../result.hpp"
#include "../uki.hpp"
#include "kernel.hpp"
#include "pcr.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::uki {

// ukify's SBAT header line and its default row for UKIs.
inline constexpr std::string_view sbat_header =
    "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n";
inline constexpr std::string_view default_uki_sbat =
    "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"
    "uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n";

// Characteristics of every added section but .linux (which is code).
inline constexpr std::uint32_t data_section = pe::scn_mem_read | pe::scn_cnt_initialized_data;

// Finding codes of the builder (README, "Building and measuring").
namespace code {
inline constexpr std::string_view uname_found = "build.uname-found";
inline constexpr std::string_view uname_missing = "build.uname-missing";
inline constexpr std::string_view stub_sbat_in_tail = "build.stub-sbat-in-tail";
inline constexpr std::string_view sbat_without_header = "build.sbat-without-header";
inline constexpr std::string_view pcrpkey_derived = "build.pcrpkey-derived";
inline constexpr std::string_view profile_joined = "build.profile-joined";
} // namespace code

// The input a build error is about, so that a front end can name its own
// option in the message (the library's messages name none).
enum class input_field : std::uint8_t {
  none,
  stub,
  efi_arch, // the stub is not for the architecture asked for
  kernel,
  sbat,
  profile,
  join_profiles, // joined profiles without a profile of this image's own
  stub_release,  // the stub's release does not know what the build needs
  section,       // an extra section
  pcr_private_key,
  signing_key,
  signing_cert,
};

struct input_problem {
  input_field field = input_field::none;
  // What the input is where it is not what was asked for: the stub's EFI
  // architecture for input_field::efi_arch.
  std::string found;
};

struct build_input {
  byte_span stub;                 // systemd-stub (unsigned)
  byte_span linux_;               // the kernel; empty for an addon
  std::vector<byte_span> initrds; // concatenated, each padded to 4 bytes
  std::optional<std::string> cmdline;
  std::optional<std::string> os_release;
  std::optional<std::string> uname; // default: found in the kernel
  std::vector<std::string> sbat;    // user SBAT texts (default: the UKI row)
  std::optional<std::string> profile;
  // ukify --join-profile: PE files (built with --profile and no kernel) whose
  // sections form profiles @1, @2 … after this image's own profile @0.
  std::vector<byte_span> join_profiles;
  std::optional<byte_span> splash, dtb, ucode, pcrpkey;
  std::vector<std::pair<std::string, byte_span>> extra; // --section NAME:@FILE

  // .pcrsig: signed when a key is given (and .pcrpkey derived from it when
  // none is given).
  EVP_PKEY* pcr_private_key = nullptr;
  // pcr_options.stub_release is set from the stub's .sdmagic unless
  // stub_release is given (a distribution's stub may measure more than its
  // release did upstream).
  measure::options pcr_options;
  std::optional<unsigned> stub_release;
};

struct built_uki {
  std::vector<std::byte> bytes; // the unsigned image
  // What the builder decided (uname found, SBAT merged …) and what the stub
  // will not measure: notes and warnings, never errors.
  std::vector<::ukikit::finding> findings;
};

namespace detail {

// Lines 2..n of an SBAT text whose first line is the "sbat," header;
// nullopt when it has no such header.
inline std::optional<std::vector<std::string>> sbat_rows(std::string_view text) {
  while (!text.empty() && text.back() == '\0') text.remove_suffix(1);
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) lines.emplace_back(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  if (lines.empty() || lines.front().rfind("sbat,", 0) != 0) return std::nullopt;
  lines.erase(lines.begin());
  return lines;
}

// The section bytes of `name` in a PE, if it is one and has it.
inline std::optional<std::string_view> pe_section_text(byte_span file, std::string_view name) {
  auto img = pe::parse(file);
  if (!img) return std::nullopt;
  const pe::section* s = img->find(name);
  if (!s) return std::nullopt;
  return as_chars(s->data());
}

// An SBAT text (from its header line to the NUL or the end) in the unmapped
// tail of a PE: where an objcopy-made stub, such as Debian 12's arm64 one,
// has its SBAT for want of a .sbat section.
inline std::optional<std::string_view> tail_sbat_text(byte_span file) {
  auto img = pe::parse(file);
  if (!img) return std::nullopt;
  const auto tail = as_chars(img->unmapped_tail());
  const auto at = tail.find(sbat_header);
  if (at == std::string_view::npos) return std::nullopt;
  const auto text = tail.substr(at);
  return text.substr(0, text.find('\0'));
}

// ukify's order of a joined profile's sections (reference §1.5).
inline constexpr std::string_view joined_order[] = {".profile", ".linux", ".osrel", ".cmdline",
                                                    ".initrd",  ".efifw", ".ucode", ".splash",
                                                    ".dtb",     ".uname", ".sbat"};

// Appends the profile sections of `img` (the N-th joined profile) in
// ukify's order; returns them as measured sections.
inline result<std::vector<measure::section>> join_profile(pe::editor& ed, const pe::image& img,
                                                          std::size_t n) {
  const std::string which = "joined profile @" + std::to_string(n);
  if (img.find(".profile") == nullptr)
    return error(errc::invalid_argument, which + " has no .profile section");
  std::vector<measure::section> out;
  for (std::string_view name : joined_order) {
    const pe::section* s = img.find(name);
    if (s == nullptr || s->data().empty()) continue;
    const std::uint32_t flags =
        name == ".linux" ? pe::scn_mem_read | pe::scn_cnt_code : data_section;
    UKIKIT_TRY(ed.append(name, s->data(), flags, true));
    out.push_back({name, s->data()});
  }
  return out;
}

// The sections a profile measures: the base ones it does not override, and
// its own.
inline std::vector<measure::section> overlay(const std::vector<measure::section>& base,
                                             const std::vector<measure::section>& profile) {
  std::vector<measure::section> out;
  for (const auto& b : base) {
    bool overridden = std::any_of(profile.begin(), profile.end(),
                                  [&](const measure::section& p) { return p.name == b.name; });
    if (!overridden) out.push_back(b);
  }
  out.insert(out.end(), profile.begin(), profile.end());
  return out;
}

} // namespace detail

// ukify's SBAT merge: the header, then the rows of the stub's .sbat, the
// kernel's .sbat and each user text (each must start with the header line),
// joined by newlines and ending in "\n\0".
inline result<std::string> merge_sbat(byte_span stub, byte_span kernel,
                                      const std::vector<std::string>& user,
                                      std::vector<::ukikit::finding>& findings) {
  std::vector<std::string> rows;
  for (auto [what, file] :
       {std::pair<std::string_view, byte_span>{"stub", stub}, {"kernel", kernel}}) {
    if (file.empty()) continue;
    auto text = detail::pe_section_text(file, ".sbat");
    if (!text && what == "stub") {
      // The stub's SBAT rows belong in the UKI's .sbat, so that shim's SBAT
      // revocations of systemd-stub apply to it (ukify misses these).
      text = detail::tail_sbat_text(file);
      if (text)
        findings.push_back({severity::note, code::stub_sbat_in_tail,
                            "the stub has no .sbat section; its SBAT text after the last section "
                            "is merged"});
    }
    if (!text) continue;
    auto r = detail::sbat_rows(*text);
    if (!r) {
      ::ukikit::finding f(severity::warning, code::sbat_without_header,
                          std::string("the ") + std::string(what) +
                              "'s .sbat has no sbat header line; skipped");
      f.subject = std::string(what);
      findings.push_back(std::move(f));
      continue;
    }
    rows.insert(rows.end(), r->begin(), r->end());
  }
  std::vector<std::string> texts =
      user.empty() ? std::vector<std::string>{std::string(default_uki_sbat)} : user;
  for (const auto& t : texts) {
    auto r = detail::sbat_rows(t);
    if (!r)
      return error(errc::invalid_argument,
                   "SBAT text must start with the header line \"sbat,1,SBAT Version,…\"");
    rows.insert(rows.end(), r->begin(), r->end());
  }
  std::string out(sbat_header);
  for (std::size_t i = 0; i < rows.size(); ++i) out += rows[i] + (i + 1 < rows.size() ? "\n" : "");
  out += "\n";
  out.push_back('\0');
  UKIKIT_TRY(parse_sbat(std::string_view(out), strictness::strict)); // what we write must be valid
  return out;
}

// The .pcrpkey text (SubjectPublicKeyInfo PEM) of a key.
inline result<std::string> public_key_pem(EVP_PKEY* key) {
  crypto::bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1)
    return crypto::openssl_error("cannot write public key");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// A stub that is not systemd-stub, named as the cause: systemd-boot, a
// built UKI, or another PE with the sections a UKI gets (instead of "section
// .osrel already exists" when the build adds one).
inline result<void> check_stub(const pe::image& stub, bool systemd_stub) {
  if (stub.find(".linux") != nullptr)
    return error(errc::invalid_argument,
                 "the stub is already a UKI (it has a .linux section); give systemd-stub "
                 "(linux<arch>.efi.stub) as the stub");
  if (systemd_stub) return success();
  std::string what;
  if (const pe::section* magic = stub.find(".sdmagic");
      magic != nullptr &&
      as_chars(magic->data()).find("LoaderInfo: systemd-boot") != std::string_view::npos)
    what = " (it is systemd-boot)";
  for (std::string_view name : {".osrel", ".cmdline", ".initrd", ".uname", ".pcrsig", ".profile"})
    if (stub.find(name) != nullptr)
      return error(errc::invalid_argument, "the stub is not systemd-stub" + what + ": it has a " +
                                               std::string(name) +
                                               " section already; give systemd-stub "
                                               "(linux<arch>.efi.stub) as the stub");
  return success();
}

// Errors name no command-line option; `problem`, when given, says which
// input an error is about.
inline result<built_uki> build(const build_input& in, input_problem* problem = nullptr) {
  built_uki out;
  // The input the next error is about.
  const auto about = [problem](input_field f) {
    if (problem) problem->field = f;
  };
  about(input_field::stub);
  UKIKIT_TRY_ASSIGN(pe::image stub, pe::parse(in.stub, pe::strictness::permissive));
  for (const auto& f : stub.findings.kept())
    if (f.is_error()) return error(errc::malformed, "stub: " + f.text());
  UKIKIT_TRY_ASSIGN(pe::editor ed, pe::editor::open(stub));
  const auto identity = identify_stub(stub);
  UKIKIT_TRY(check_stub(stub, identity.has_value()));
  about(input_field::none);
  measure::options pcr_options = in.pcr_options;
  pcr_options.stub_release = in.stub_release.value_or(identity ? identity->release : 0);
  const std::string stub_name = identity && !in.stub_release ? "systemd-stub " + identity->version
                                : pcr_options.stub_release
                                    ? "systemd-stub " + std::to_string(pcr_options.stub_release)
                                    : std::string("the current systemd-stub");

  // Owned texts; sections view them, so they must not move once added.
  std::string uname_text, sbat_text, pcrpkey_text;
  std::vector<std::byte> initrd_joined;

  if (in.uname) {
    uname_text = *in.uname;
  } else if (!in.linux_.empty()) {
    auto facts = kernel_facts(in.linux_);
    if (facts && !facts->uname().empty()) {
      uname_text = std::string(facts->uname());
      out.findings.push_back(
          {severity::note, code::uname_found,
           ".uname " + uname_text + " found in the kernel (" + facts->versions.front().how + ")"});
    } else {
      out.findings.push_back(
          {severity::warning, code::uname_missing, "no kernel version found; no .uname section"});
    }
  }
  about(input_field::sbat);
  UKIKIT_TRY_ASSIGN(sbat_text, merge_sbat(in.stub, in.linux_, in.sbat, out.findings));
  about(input_field::none);

  byte_span initrd;
  if (in.initrds.size() == 1 && in.initrds[0].size() % 4 == 0) {
    initrd = in.initrds[0];
  } else if (!in.initrds.empty()) {
    for (byte_span part : in.initrds) {
      initrd_joined.insert(initrd_joined.end(), part.begin(), part.end());
      initrd_joined.resize((initrd_joined.size() + 3) / 4 * 4);
    }
    initrd = initrd_joined;
  }
  std::optional<byte_span> pcrpkey = in.pcrpkey;
  if (!pcrpkey && in.pcr_private_key) {
    about(input_field::pcr_private_key);
    UKIKIT_TRY_ASSIGN(pcrpkey_text, public_key_pem(in.pcr_private_key));
    about(input_field::none);
    pcrpkey = as_bytes(pcrpkey_text);
    out.findings.push_back(
        {severity::note, code::pcrpkey_derived, ".pcrpkey derived from the PCR private key"});
  }

  // ukify's file order; .sbat replaces the stub's own in place; .pcrsig last.
  std::vector<measure::section> measured;
  auto add = [&](std::string_view name, byte_span bytes,
                 std::uint32_t flags = data_section) -> result<void> {
    if (bytes.empty()) return {};
    UKIKIT_TRY(ed.append(name, bytes, flags));
    measured.push_back({name, bytes});
    return {};
  };
  const bool joining = !in.join_profiles.empty();
  if (joining && !in.profile) {
    about(input_field::join_profiles);
    return error(errc::invalid_argument, "joined profiles need a profile of this image's own (@0)");
  }
  // A stub before 257 knows no .profile and, meeting a section name twice,
  // uses the last: a multi-profile UKI would boot a mix of its profiles. (A
  // stub that knows them though its release says otherwise is declared with
  // build_input::stub_release.)
  if (in.profile && pcr_options.stub_release &&
      !measure::measured_by(".profile", pcr_options.stub_release)) {
    about(input_field::stub_release);
    return error(
        errc::unsupported,
        stub_name + " does not know profiles (systemd-stub does since " +
            std::to_string(measure::measured_since[*measure::measurement_position(".profile")]) +
            "): build on a newer stub");
  }
  if (in.profile && !joining) UKIKIT_TRY(add(".profile", as_bytes(*in.profile)));
  if (in.os_release) UKIKIT_TRY(add(".osrel", as_bytes(*in.os_release)));
  if (in.cmdline) UKIKIT_TRY(add(".cmdline", as_bytes(*in.cmdline)));
  if (in.dtb) UKIKIT_TRY(add(".dtb", *in.dtb));
  UKIKIT_TRY(add(".uname", as_bytes(uname_text)));
  if (in.splash) UKIKIT_TRY(add(".splash", *in.splash));
  if (pcrpkey) UKIKIT_TRY(add(".pcrpkey", *pcrpkey));
  UKIKIT_TRY(add(".initrd", initrd));
  if (in.ucode) UKIKIT_TRY(add(".ucode", *in.ucode));
  for (const auto& [name, bytes] : in.extra) {
    if (name == ".pcrsig") {
      about(input_field::section);
      return error(errc::invalid_argument, ".pcrsig is made by the builder, not given");
    }
    UKIKIT_TRY(add(name, bytes));
  }
  UKIKIT_TRY(add(".linux", in.linux_, pe::scn_mem_read | pe::scn_cnt_code));
  if (stub.find(".sbat")) {
    UKIKIT_TRY(ed.replace(".sbat", as_bytes(sbat_text)));
    measured.push_back({".sbat", as_bytes(sbat_text)});
  } else {
    UKIKIT_TRY(add(".sbat", as_bytes(sbat_text)));
  }

  // What this stub will not measure (or use) of what was added.
  std::vector<section_kind> added;
  for (const auto& m : measured)
    if (const auto k = kind_of(m.name)) added.push_back(*k);
  if (in.profile) added.push_back(section_kind::profile);
  for (auto& f : stub_release_findings(added, pcr_options.stub_release, stub_name))
    out.findings.push_back(std::move(f));

  // Each profile range ends with its own .pcrsig over base ∪ profile.
  std::vector<std::string> pcrsig_texts;
  pcrsig_texts.reserve(in.join_profiles.size() + 1);
  auto sign_range = [&](const std::vector<measure::section>& sections) -> result<void> {
    if (!in.pcr_private_key) return {};
    UKIKIT_TRY_ASSIGN(auto prediction, measure::predict(sections, pcr_options));
    UKIKIT_TRY_ASSIGN(auto sig, measure::sign(prediction, in.pcr_private_key));
    pcrsig_texts.push_back(measure::serialize(sig));
    return ed.append(".pcrsig", as_bytes(pcrsig_texts.back()), data_section, joining);
  };
  if (!joining) {
    UKIKIT_TRY(sign_range(measured));
  } else {
    const std::vector<measure::section> base = measured;
    std::vector<measure::section> own = base;
    UKIKIT_TRY(ed.append(".profile", as_bytes(*in.profile), data_section, true));
    own.push_back({".profile", as_bytes(*in.profile)});
    UKIKIT_TRY(sign_range(own));
    std::vector<pe::image> joined; // their sections are views into in.join_profiles
    joined.reserve(in.join_profiles.size());
    for (std::size_t n = 0; n < in.join_profiles.size(); ++n) {
      about(input_field::join_profiles);
      UKIKIT_TRY_ASSIGN(auto img, pe::parse(in.join_profiles[n], pe::strictness::permissive));
      joined.push_back(std::move(img));
      UKIKIT_TRY_ASSIGN(auto sections, detail::join_profile(ed, joined.back(), n + 1));
      about(input_field::none);
      UKIKIT_TRY(sign_range(detail::overlay(base, sections)));
      out.findings.push_back({severity::note, code::profile_joined,
                              "profile @" + std::to_string(n + 1) + " joined (" +
                                  std::to_string(sections.size()) + " sections)"});
    }
  }

  UKIKIT_TRY_ASSIGN(auto planned, ed.build());
  out.bytes = planned.to_vector();
  return out;
}

} // namespace ukikit::uki
