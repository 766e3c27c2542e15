// Where an installer image keeps its boot artifacts, and how an image
// platform's architecture names the machine its EFI binaries must be built
// for. Shared by assemble (which writes these paths), verify (which looks
// for them) and extract.
//
// Talos' imager (reference/uki-signing-pcr.md §5.3) puts one artifacts layer
// on top of installer-base holding usr/install/<arch>/…, where <arch> is the
// OCI (GOARCH) architecture name of the image's platform:
// - uki (Talos ≥ 1.10): vmlinuz.efi (the signed UKI) and systemd-boot.efi;
// - legacy-signed (earlier Secure Boot installers): the same two files with
//   a `.signed` suffix;
// - legacy (before systemd-boot): vmlinuz (the kernel) and initramfs.xz.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ukikit::installer {

enum class layout : std::uint8_t { uki, legacy_signed, legacy };

inline constexpr std::array<layout, 3> all_layouts = {layout::uki, layout::legacy_signed,
                                                      layout::legacy};

constexpr std::string_view name(layout l) noexcept {
  switch (l) {
  case layout::uki: return "uki";
  case layout::legacy_signed: return "legacy-signed";
  case layout::legacy: return "legacy";
  }
  return "?";
}

constexpr std::optional<layout> parse_layout(std::string_view s) noexcept {
  for (auto l : all_layouts)
    if (name(l) == s) return l;
  return std::nullopt;
}

// The directory of one architecture's artifacts, relative to the image
// root (layer member names have no leading '/').
inline std::string install_dir(std::string_view arch) { return "usr/install/" + std::string(arch); }

// The file names a layout uses in install_dir(arch). `boot` is the signed
// systemd-boot and `initramfs` the legacy initramfs; empty when the layout
// has none.
struct artifact_names {
  std::string_view kernel; // the UKI, or the legacy kernel
  std::string_view boot;
  std::string_view initramfs;
};

constexpr artifact_names names(layout l) noexcept {
  switch (l) {
  case layout::uki: return {"vmlinuz.efi", "systemd-boot.efi", {}};
  case layout::legacy_signed: return {"vmlinuz.efi.signed", "systemd-boot.efi.signed", {}};
  case layout::legacy: return {"vmlinuz", {}, "initramfs.xz"};
  }
  return {};
}

// The PE/COFF machine of EFI binaries for an OCI architecture (image-spec
// platform.architecture, Go's GOARCH values); nullopt for architectures
// without UEFI.
constexpr std::optional<std::uint16_t> pe_machine(std::string_view oci_arch) noexcept {
  if (oci_arch == "amd64") return 0x8664;
  if (oci_arch == "arm64") return 0xaa64;
  if (oci_arch == "386") return 0x014c;
  if (oci_arch == "arm") return 0x01c2;
  if (oci_arch == "riscv64") return 0x5064;
  if (oci_arch == "loong64") return 0x6264;
  return std::nullopt;
}

// systemd's EFI architecture name (linux<efi>.efi.stub, BOOT<EFI>.EFI) for
// an OCI architecture.
constexpr std::optional<std::string_view> efi_arch(std::string_view oci_arch) noexcept {
  if (oci_arch == "amd64") return "x64";
  if (oci_arch == "arm64") return "aa64";
  if (oci_arch == "386") return "ia32";
  if (oci_arch == "arm") return "arm";
  if (oci_arch == "riscv64") return "riscv64";
  if (oci_arch == "loong64") return "loongarch64";
  return std::nullopt;
}

} // namespace ukikit::installer
