#!/usr/bin/env bash
# boot.tpm.pcr11: measured boot. uki-signed.efi boots with Secure Boot
# enforcing and a swtpm TPM 2.0 attached; systemd-stub measures the UKI's
# sections into PCR 11, and the busybox init measures no phase word, so the
# PCR 11 the guest reads (sha256 and sha1 banks) must equal what
# `ukikit measure --phases=` predicts for the sections alone.
# shellcheck source=tests/boot/lib.sh
source "$(dirname "$0")/lib.sh"
need_tool swtpm
vars=$BOOT_WORK/vars-enrolled.fd
uki=$BOOT_WORK/uki-signed.efi
[ -f "$vars" ] || fail "no $vars (fixture boot_sb)"
[ -f "$uki" ] || fail "no $uki (fixture boot_uki)"
predicted=$("$ukikit" measure --phases= --bank sha256 --bank sha1 "$uki") || fail "ukikit measure exited $?"
boot "$uki" secureboot-tpm --vars "$vars"
expect_booted uki-signed.efi
[ "$(guest UKIKIT-SECUREBOOT)" = 1 ] || fail "the guest sees SecureBoot=$(guest UKIKIT-SECUREBOOT), not 1"
for bank in sha256 sha1; do
  want=$(sed -n "s/^11:$bank=//p" <<<"$predicted")
  got=$(guest "UKIKIT-PCR $bank 11" | tr 'A-F' 'a-f')
  [ -n "$want" ] || fail "ukikit measure printed no $bank value: $predicted"
  [ -n "$got" ] || fail "the guest read no PCR 11 in the $bank bank (log $boot_log)"
  [ "$got" = "$want" ] || fail "PCR 11 $bank: the TPM holds $got, ukikit measure predicted $want"
  echo "$name: PCR 11 $bank = $got, as predicted"
done
grep -aq '^UKIKIT-EVENTLOG-END' "$boot_log" || fail "the guest printed no TPM event log"
