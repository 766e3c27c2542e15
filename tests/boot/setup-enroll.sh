#!/usr/bin/env bash
# Fixture boot_sb: an OVMF variable store with the test's own PK, KEK and db
# enrolled ($BOOT_WORK/vars-enrolled.fd; the boots copy it). efitools makes
# the EFI signature lists and authenticated variables (PK self-signed, KEK
# signed by PK, db by KEK); then systemd-boot, on a first boot of OVMF's
# Secure Boot build in setup mode with `secure-boot-enroll force`, enrolls
# them from loader/keys/auto/ and resets (QEMU exits: -no-reboot).
# shellcheck source=tests/boot/lib.sh
source "$(dirname "$0")/lib.sh"
need_file "$inputs/systemd-bootx64.efi"
need_tool cert-to-efi-sig-list
need_tool sign-efi-sig-list
need_tool python3

w=$BOOT_WORK
k=$w/keys
[ -f "$k/PK.crt" ] || fail "no keys in $k (fixture boot_uki)"
esp=$w/enroll-esp
rm -rf "$esp" "$w/vars-enrolled.fd"
mkdir -p "$esp/EFI/BOOT" "$esp/loader/keys/auto"
cp "$inputs/systemd-bootx64.efi" "$esp/EFI/BOOT/BOOTX64.EFI"
printf 'timeout 0\nsecure-boot-enroll force\n' >"$esp/loader/loader.conf"
guid=$(cat /proc/sys/kernel/random/uuid)
for v in PK KEK db; do
  cert-to-efi-sig-list -g "$guid" "$k/$v.crt" "$w/$v.esl" >/dev/null || fail "cert-to-efi-sig-list $v"
done
auth=$esp/loader/keys/auto
sign-efi-sig-list -k "$k/PK.key" -c "$k/PK.crt" PK "$w/PK.esl" "$auth/PK.auth" >/dev/null ||
  fail "sign-efi-sig-list PK"
sign-efi-sig-list -k "$k/PK.key" -c "$k/PK.crt" KEK "$w/KEK.esl" "$auth/KEK.auth" >/dev/null ||
  fail "sign-efi-sig-list KEK"
sign-efi-sig-list -k "$k/KEK.key" -c "$k/KEK.crt" db "$w/db.esl" "$auth/db.auth" >/dev/null ||
  fail "sign-efi-sig-list db"

boot "$esp" secureboot --expect '' --save-vars "$w/vars-enrolled.fd"
[ "$boot_status" = 0 ] || fail "the enrolling boot did not end by itself (status $boot_status; log $boot_log)"
grep -aq 'Enrolling secure boot keys' "$boot_log" || fail "systemd-boot did not enroll (log $boot_log)"
if grep -aiE 'error|failed' "$boot_log"; then fail "systemd-boot reported an error enrolling (log $boot_log)"; fi
# The store holds each certificate now (as the firmware wrote it; the boots
# then show that Secure Boot enforces with them).
for v in PK KEK db; do
  openssl x509 -in "$k/$v.crt" -outform DER -out "$w/$v.der" || fail "openssl x509 $v"
  python3 -c 'import sys; sys.exit(0 if open(sys.argv[2], "rb").read().find(open(sys.argv[1], "rb").read()) >= 0 else 1)' \
    "$w/$v.der" "$w/vars-enrolled.fd" || fail "the $v certificate is not in the enrolled variable store"
done
echo "$name: keys enrolled in $w/vars-enrolled.fd"
