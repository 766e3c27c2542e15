#!/usr/bin/env bash
# boot.image.CASE: the seed's flow end to end. An installer-base image
# (`ukikit image base`) and the installer image assembled on it (`ukikit
# image assemble`) with the signed UKI and a systemd-boot signed by `ukikit
# sign`, both with the test's db key; then, from the image:
#   uki           `ukikit image extract` takes the UKI back out; it is
#                 byte-identical to what went in, and it boots as
#                 EFI/BOOT/BOOTX64.EFI with Secure Boot enforcing
#   systemd-boot  systemd-boot and the UKI extracted from the image, as
#                 EFI/BOOT/BOOTX64.EFI and EFI/Linux/ukikit.efi: systemd-boot
#                 (verified by the firmware) finds the UKI and loads it
#                 (verified again), Secure Boot enforcing
#   systemd-boot-unsigned  the same systemd-boot with the unsigned uki.efi
#                 in EFI/Linux/: systemd-boot runs, and the firmware refuses
#                 the UKI it loads ("Error loading \EFI\Linux\...: Access
#                 Denied")
# shellcheck source=tests/boot/lib.sh
source "$(dirname "$0")/lib.sh"
case=${1:?usage: image.sh uki|systemd-boot|systemd-boot-unsigned}
name=$name.$case
need_file "$inputs/systemd-bootx64.efi"
vars=$BOOT_WORK/vars-enrolled.fd
k=$BOOT_WORK/keys
uki=$BOOT_WORK/uki-signed.efi
[ -f "$vars" ] || fail "no $vars (fixture boot_sb)"
[ -f "$uki" ] || fail "no $uki (fixture boot_uki)"
w=$BOOT_WORK/image-$case
rm -rf "$w"
mkdir -p "$w/base-tree/bin"
printf '#!/bin/sh\necho installer\n' >"$w/base-tree/bin/installer"
chmod 755 "$w/base-tree/bin/installer"
"$ukikit" image base "$w/base-tree" -o "$w/installer-base:v1" --arch amd64 \
  --entrypoint '["/bin/installer"]' >/dev/null || fail "ukikit image base exited $?"
cp "$inputs/systemd-bootx64.efi" "$w/systemd-bootx64.efi"
"$ukikit" sign --key "$k/db.key" --cert "$k/db.crt" "$w/systemd-bootx64.efi" || fail "ukikit sign systemd-boot exited $?"
"$ukikit" image assemble --base "$w/installer-base:v1" -o "oci-archive:$w/installer.tar:v1" \
  --arch amd64 --uki "$uki" --boot "$w/systemd-bootx64.efi" >/dev/null || fail "ukikit image assemble exited $?"
"$ukikit" image extract "oci-archive:$w/installer.tar:v1" --arch amd64 usr/install/amd64/vmlinuz.efi \
  -o "$w/vmlinuz.efi" || fail "ukikit image extract (UKI) exited $?"
cmp "$w/vmlinuz.efi" "$uki" || fail "the UKI extracted from the image is not the one put in"
case $case in
uki)
  boot "$w/vmlinuz.efi" secureboot --vars "$vars"
  ;;
systemd-boot | systemd-boot-unsigned)
  "$ukikit" image extract "oci-archive:$w/installer.tar:v1" --arch amd64 usr/install/amd64/systemd-boot.efi \
    -o "$w/systemd-boot.efi" || fail "ukikit image extract (systemd-boot) exited $?"
  cmp "$w/systemd-boot.efi" "$w/systemd-bootx64.efi" || fail "the systemd-boot extracted is not the one put in"
  mkdir -p "$w/esp/EFI/BOOT" "$w/esp/EFI/Linux"
  cp "$w/systemd-boot.efi" "$w/esp/EFI/BOOT/BOOTX64.EFI"
  if [ "$case" = systemd-boot ]; then
    cp "$w/vmlinuz.efi" "$w/esp/EFI/Linux/ukikit.efi"
  else
    cp "$BOOT_WORK/uki.efi" "$w/esp/EFI/Linux/ukikit.efi"
  fi
  boot "$w/esp" secureboot --vars "$vars"
  if [ "$case" = systemd-boot-unsigned ]; then
    expect_refused "the unsigned UKI loaded by systemd-boot"
    grep -aq 'Error loading .EFI.Linux.ukikit.efi: Access Denied' "$boot_log" ||
      fail "systemd-boot did not report the firmware's refusal (log $boot_log)"
    echo "$name: systemd-boot from the image ran; the firmware refused the unsigned UKI it loaded"
    exit 0
  fi
  ;;
*) fail "unknown case $case" ;;
esac
expect_booted "the installer image's UKI"
[ "$(guest UKIKIT-SECUREBOOT)" = 1 ] || fail "the guest sees SecureBoot=$(guest UKIKIT-SECUREBOOT), not 1"
echo "$name: the UKI from the installer image is byte-identical and booted with Secure Boot enforcing"
