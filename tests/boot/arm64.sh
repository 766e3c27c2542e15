#!/usr/bin/env bash
# boot.arm64: an arm64 UKI built by `ukikit build` from Debian's arm64
# systemd-stub and kernel, with an initramfs by `ukikit initrd create`
# holding a tiny /init assembled here (init-arm64.S; there is no arm64
# busybox among the inputs), boots in qemu-system-aarch64 (TCG) with AAVMF,
# without Secure Boot: the marker is on the serial console.
# shellcheck source=tests/boot/lib.sh
source "$(dirname "$0")/lib.sh"
need_file "$inputs/linuxaa64.efi.stub"
need_file "$inputs/vmlinuz-arm64"
need_tool aarch64-linux-gnu-as
need_tool aarch64-linux-gnu-ld
need_tool qemu-system-aarch64
need_file /usr/share/AAVMF/AAVMF_CODE.fd
w=$BOOT_WORK/arm64
rm -rf "$w"
mkdir -p "$w/initramfs"
aarch64-linux-gnu-as -o "$w/init.o" "$root/tests/boot/init-arm64.S" || fail "aarch64-linux-gnu-as"
aarch64-linux-gnu-ld -static -o "$w/initramfs/init" "$w/init.o" || fail "aarch64-linux-gnu-ld"
"$ukikit" initrd create "$w/initramfs" -o "$w/initrd.img" || fail "ukikit initrd create exited $?"
"$ukikit" build --stub "$inputs/linuxaa64.efi.stub" --linux "$inputs/vmlinuz-arm64" --initrd "$w/initrd.img" \
  --cmdline "console=ttyAMA0 panic=-1 quiet" --os-release "$(printf 'ID=ukikit-boot-test\nVERSION_ID=1\n')" \
  -o "$w/uki.efi" 2>"$logs/arm64-build.log" || fail "ukikit build exited $? ($(cat "$logs/arm64-build.log"))"
boot "$w/uki.efi" arm64
expect_booted "the arm64 UKI"
echo "$name: the arm64 UKI booted"
