#!/bin/sh
# Fetches the real third-party inputs the tests, demo and benchmarks use,
# from Debian's package registry, without installing them:
#   systemd-boot-efi   systemd-stub (linuxx64.efi.stub) and systemd-boot
#   linux-image-amd64  the signed Debian kernel (vmlinuz, a signed PE)
# and, for building an arm64 UKI on this host, the arm64 builds of both
# (linuxaa64.efi.stub, systemd-bootaa64.efi, vmlinuz-arm64), through apt with its own package
# lists under DIR/apt-arm64 (the system's architectures and lists are not
# touched). They are unpacked with `dpkg -x` under DIR (default: build/inputs) and never
# committed. Idempotent; prints DIR on stdout.
#
#   scripts/fetch-inputs.sh [DIR]
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build/inputs}
mkdir -p "$dir/debs" "$dir/root"
dir=$(cd "$dir" && pwd)

# The kernel package linux-image-amd64 points at today.
kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kernel_pkg" ] || { echo "fetch-inputs: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 2; }

for pkg in systemd-boot-efi "$kernel_pkg"; do
  if [ -f "$dir/debs/$pkg.done" ]; then continue; fi
  echo "fetch-inputs: downloading $pkg" >&2
  (cd "$dir/debs" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
    { echo "fetch-inputs: apt-get download $pkg failed" >&2; exit 2; }
  for deb in "$dir/debs/${pkg}"_*.deb; do dpkg -x "$deb" "$dir/root"; done
  rm -f "$dir/debs/${pkg}"_*.deb
  touch "$dir/debs/$pkg.done"
done

# Stable names for the files the tests use.
ln -sf root/usr/lib/systemd/boot/efi/linuxx64.efi.stub "$dir/linuxx64.efi.stub"
ln -sf root/usr/lib/systemd/boot/efi/systemd-bootx64.efi "$dir/systemd-bootx64.efi"
kernel=$(ls "$dir"/root/boot/vmlinuz-* | head -n 1)
ln -sf "${kernel#"$dir"/}" "$dir/vmlinuz"

# The arm64 packages, through apt with its own lists (refreshed when the
# kernel cannot be resolved from them).
arm="$dir/apt-arm64"
mkdir -p "$arm/lists/partial" "$arm/cache/archives/partial" "$dir/root-arm64"
set -- -o APT::Architecture=arm64 -o APT::Architectures::=arm64 \
  -o Dir::State::Lists="$arm/lists" -o Dir::Cache="$arm/cache" -o Dir::State::status=/dev/null \
  -o APT::Sandbox::User=root -o Debug::NoLocking=1
arm_kernel() {
  apt-cache "$@" depends linux-image-arm64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
arm_kernel=$(arm_kernel "$@")
if [ -z "$arm_kernel" ]; then
  apt-get -q "$@" update >"$arm/update.log" 2>&1 ||
    { cat "$arm/update.log" >&2; echo "fetch-inputs: apt-get update for arm64 failed" >&2; exit 2; }
  arm_kernel=$(arm_kernel "$@")
  [ -n "$arm_kernel" ] ||
    { cat "$arm/update.log" >&2; echo "fetch-inputs: cannot resolve linux-image-arm64" >&2; exit 2; }
fi
for pkg in systemd-boot-efi "$arm_kernel"; do
  if [ -f "$dir/debs/$pkg.arm64.done" ]; then continue; fi
  echo "fetch-inputs: downloading $pkg (arm64)" >&2
  (cd "$dir/debs" && apt-get -q "$@" download "$pkg:arm64" >/dev/null 2>&1) ||
    { echo "fetch-inputs: apt-get download $pkg:arm64 failed" >&2; exit 2; }
  for deb in "$dir/debs/${pkg}"_*_arm64.deb; do dpkg -x "$deb" "$dir/root-arm64"; done
  rm -f "$dir/debs/${pkg}"_*_arm64.deb
  touch "$dir/debs/$pkg.arm64.done"
done
ln -sf root-arm64/usr/lib/systemd/boot/efi/linuxaa64.efi.stub "$dir/linuxaa64.efi.stub"
ln -sf root-arm64/usr/lib/systemd/boot/efi/systemd-bootaa64.efi "$dir/systemd-bootaa64.efi"
kernel=$(ls "$dir"/root-arm64/boot/vmlinuz-* | head -n 1)
ln -sf "${kernel#"$dir"/}" "$dir/vmlinuz-arm64"
echo "$dir"
