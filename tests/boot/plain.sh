#!/usr/bin/env bash
# boot.plain: the ukikit-built UKI (not signed) boots under OVMF without
# Secure Boot: the initramfs made by `ukikit initrd create` runs its /init,
# whose marker is on the serial console, and the guest sees Secure Boot off.
# shellcheck source=tests/boot/lib.sh
source "$(dirname "$0")/lib.sh"
[ -f "$BOOT_WORK/uki.efi" ] || fail "no $BOOT_WORK/uki.efi (fixture boot_uki)"
boot "$BOOT_WORK/uki.efi" plain
expect_booted uki.efi
[ "$(guest UKIKIT-SECUREBOOT)" = 0 ] || fail "the guest sees SecureBoot=$(guest UKIKIT-SECUREBOOT), not 0"
echo "$name: uki.efi booted; SecureBoot off"
