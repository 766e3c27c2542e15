#!/usr/bin/env bash
# boot.secureboot.CASE: OVMF's Secure Boot build with the test's own PK,
# KEK and db enrolled (fixture boot_sb), Secure Boot enforcing.
#   signed    uki-signed.efi (`ukikit sign`, db key) boots; the guest sees
#             SecureBoot=1
#   two       uki-two.efi, signed by an unrelated key and then by ours
#             (`ukikit sign --append`), boots
#   unsigned  uki.efi is refused by the firmware
#   tampered  uki-tampered.efi (one byte of .cmdline changed after signing)
#             is refused
#   other     uki-other.efi (signed by a key not in db) is refused
# shellcheck source=tests/boot/lib.sh
source "$(dirname "$0")/lib.sh"
case=${1:?usage: secureboot.sh signed|two|unsigned|tampered|other}
name=$name.$case
vars=$BOOT_WORK/vars-enrolled.fd
[ -f "$vars" ] || fail "no $vars (fixture boot_sb)"
case $case in
signed) uki="uki-signed.efi" ;;
two) uki="uki-two.efi" ;;
unsigned) uki="uki.efi" ;;
tampered) uki="uki-tampered.efi" ;;
other) uki="uki-other.efi" ;;
*) fail "unknown case $case" ;;
esac
boot "$BOOT_WORK/$uki" secureboot --vars "$vars"
case $case in
signed | two)
  expect_booted "$uki"
  [ "$(guest UKIKIT-SECUREBOOT)" = 1 ] || fail "the guest sees SecureBoot=$(guest UKIKIT-SECUREBOOT), not 1"
  echo "$name: $uki booted with Secure Boot enforcing"
  ;;
*)
  expect_refused "$uki"
  echo "$name: $uki refused: $(grep -aE 'Access Denied|Security Violation' "$boot_log" | head -n 1 | tr -d '\r')"
  ;;
esac
