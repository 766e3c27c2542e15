#!/bin/sh
# Installs everything ukikit needs to build, test, fuzz and benchmark, from
# Debian 12 packages only. Idempotent and non-interactive; run as root.
#
# Every real tool a test runs is here: under UKIKIT_REQUIRE_INPUTS=1 (CI) a
# test whose tool is missing fails and names it (tests/support.hpp,
# UKIKIT_NEED_TOOL). The tools, by package:
#   openssl                  openssl (keys, certificates, pkeyutl)
#   coreutils                sha*sum, head, tr, timeout, mkfifo, touch, ...
#   zstd xz-utils gzip pigz  zstd; xz, lzma; gzip; pigz
#   bzip2 lz4                bzip2, lz4 (formats ukikit detects, not decodes)
#   binutils                 objcopy, objdump, strings
#   binutils-aarch64-linux-gnu  aarch64-linux-gnu-objcopy, -objdump
#   cpio libarchive-tools    GNU cpio; bsdcpio, bsdtar
#   sbsigntool               sbsign, sbverify, sbattach
#   osslsigncode efitools    osslsigncode; cert-to-efi-sig-list, hash-to-efi-sig-list
#   file python3             file; python3 (an independent JSON parser)
#   skopeo umoci             skopeo (copy/inspect OCI layouts and archives); umoci (unpack)
#   systemd                  /lib/systemd/systemd-measure (not on PATH)
#   swtpm libtss2-*          a software TPM and the TSS libraries that
#                            `systemd-measure sign` loads
#   qemu-system-x86 ovmf     the boot tests (tests/boot/, scripts/boot-uki.sh):
#   busybox-static           QEMU, OVMF with and without Secure Boot, and the
#   qemu-system-arm          busybox of their initramfs; the arm64 boot's QEMU
#   qemu-efi-aarch64         and AAVMF
#   softhsm2 opensc          a PKCS#11 token made by the tests (softhsm2-util),
#   libengine-pkcs11-openssl pkcs11-tool to put a certificate in it, and the
#                            OpenSSL engine that signs with keys in it
set -eu

packages="
  build-essential cmake ninja-build pkg-config git ca-certificates
  libssl-dev libzstd-dev liblzma-dev zlib1g-dev nlohmann-json3-dev
  libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  openssl coreutils zstd xz-utils gzip pigz bzip2 lz4 file python3
  binutils binutils-aarch64-linux-gnu cpio libarchive-tools sbsigntool osslsigncode efitools
  systemd swtpm libtss2-esys-3.0.2-0 libtss2-rc0 libtss2-mu0 libtss2-tcti-swtpm0
  faketime skopeo umoci
  softhsm2 libengine-pkcs11-openssl opensc
  qemu-system-x86 ovmf busybox-static qemu-system-arm qemu-efi-aarch64
"

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing="$missing $p"
done

if [ -z "$missing" ]; then
  echo "setup: all packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages:$missing" >&2
  echo "setup: run as root to install them" >&2
  exit 2
fi

echo "setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
