#!/usr/bin/env bash
# Fixture boot_uki: everything the boot tests boot, made once per run in
# $BOOT_WORK by the tools under test and Debian's packages:
#   keys/{PK,KEK,db,other}.{key,crt}  test keys (openssl), other is unrelated
#   initrd.img      `ukikit initrd create` of busybox-static and tests/boot/init
#   uki.efi         `ukikit build`: Debian's systemd-stub and kernel, that
#                   initrd, console=ttyS0, a .pcrsig; not Authenticode-signed
#   uki-signed.efi  uki.efi signed by `ukikit sign` with db
#   uki-tampered.efi  uki-signed.efi with one byte of .cmdline changed
#   uki-other.efi   uki.efi signed with the unrelated key
#   uki-two.efi     signed with the unrelated key, then ours appended
# shellcheck source=tests/boot/lib.sh
source "$(dirname "$0")/lib.sh"
need_file /bin/busybox
static_busybox() { ! readelf -l /bin/busybox 2>/dev/null | grep -q 'program interpreter'; }
need "a statically linked /bin/busybox (package busybox-static)" static_busybox
need_tool openssl
need_tool objdump

w=$BOOT_WORK
rm -rf "$w/keys" "$w/initramfs" "$w"/*.efi "$w/initrd.img"
mkdir -p "$w/keys"
for k in PK KEK db other; do
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj "/CN=ukikit boot test $k/" \
    -keyout "$w/keys/$k.key" -out "$w/keys/$k.crt" 2>/dev/null || fail "openssl req ($k)"
done
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$w/keys/pcr.key" 2>/dev/null ||
  fail "openssl genpkey"

# The initramfs: busybox-static as /bin/busybox (it links the rest at run
# time) and the test's /init.
mkdir -p "$w/initramfs/bin"
cp /bin/busybox "$w/initramfs/bin/busybox"
cp "$root/tests/boot/init" "$w/initramfs/init"
chmod 755 "$w/initramfs/init" "$w/initramfs/bin/busybox"
"$ukikit" initrd create "$w/initramfs" -o "$w/initrd.img" || fail "ukikit initrd create exited $?"

"$ukikit" build --stub "$inputs/linuxx64.efi.stub" --linux "$inputs/vmlinuz" --initrd "$w/initrd.img" \
  --cmdline "console=ttyS0 panic=-1 quiet" --os-release "$(printf 'ID=ukikit-boot-test\nNAME="ukikit boot test"\nVERSION_ID=1\n')" \
  --pcr-private-key "$w/keys/pcr.key" -o "$w/uki.efi" 2>"$logs/build.log" ||
  fail "ukikit build exited $? ($(cat "$logs/build.log"))"
"$ukikit" sign --key "$w/keys/db.key" --cert "$w/keys/db.crt" -o "$w/uki-signed.efi" "$w/uki.efi" ||
  fail "ukikit sign exited $?"
"$ukikit" sign --key "$w/keys/other.key" --cert "$w/keys/other.crt" -o "$w/uki-other.efi" "$w/uki.efi" ||
  fail "ukikit sign (other key) exited $?"
"$ukikit" sign --append --key "$w/keys/db.key" --cert "$w/keys/db.crt" -o "$w/uki-two.efi" "$w/uki-other.efi" ||
  fail "ukikit sign --append exited $?"

# One byte of the command line changed after signing ("panic" -> "Panic"):
# still a bootable image, no longer the signed one. The offset comes from
# objdump's section table.
off=$(objdump -h "$w/uki-signed.efi" | awk '$2 == ".cmdline" { print $6 }')
[ -n "$off" ] || fail "objdump finds no .cmdline in uki-signed.efi"
pos=$(($(grep -abo 'panic=-1' "$w/uki-signed.efi" | head -n 1 | cut -d: -f1)))
[ "$pos" -ge $((0x$off)) ] || fail "panic=-1 is not in .cmdline"
cp "$w/uki-signed.efi" "$w/uki-tampered.efi"
printf 'P' | dd of="$w/uki-tampered.efi" bs=1 seek="$pos" conv=notrunc 2>/dev/null
cmp -s "$w/uki-signed.efi" "$w/uki-tampered.efi" && fail "the tampered copy is the same"
[ "$(cmp -l "$w/uki-signed.efi" "$w/uki-tampered.efi" | wc -l)" = 1 ] || fail "more than one byte changed"
echo "$name: built in $w: $(cd "$w" && printf '%s ' ./*.efi)"
