#!/usr/bin/env bash
# The end-to-end job on built-in defaults, run by scripts/quickstart.sh.
#
# Today: make a small initramfs (checked against GNU cpio), build a UKI from
# Debian's systemd-stub and kernel (fetched from Debian's package registry)
# and that initramfs, with a .pcrsig and an
# Authenticode signature made with throwaway keys; inspect it, predict its
# PCR 11, verify it with ukiverify and sbverify, and show that a tampered
# copy fails. Sign systemd-boot the same way. Make an installer-base image
# and a two-architecture (amd64, arm64) installer image on it with the
# signed UKIs and systemd-boots, reproducibly, read by skopeo. Then compress a sample with
# each format, decompress it, check the round trip and that the real
# zstd/xz/gzip agree with us both ways, check the decompression limit, and
# check `ukikit digest` against coreutils' sha*sum. It prints "demo: OK" at
# the end, and exits non-zero on the first failed check.
#
# The ukikit binary is $UKIKIT_BIN, or the one in build/release.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

ukikit=${UKIKIT_BIN:-}
if [ -z "$ukikit" ]; then
  for candidate in "$root/build/release/tools/ukikit" "$root/build/release/bin/ukikit" \
    "$root/build/release/ukikit"; do
    if [ -x "$candidate" ]; then
      ukikit=$candidate
      break
    fi
  done
fi
if [ -z "$ukikit" ] || [ ! -x "$ukikit" ]; then
  echo "demo: no ukikit binary (build it with scripts/quickstart.sh, or set UKIKIT_BIN)" >&2
  exit 2
fi

fail() {
  echo "demo: FAILED: $*" >&2
  exit 1
}
step() { echo "demo: $*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ukikit-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "demo: $("$ukikit" --version 2>/dev/null || echo "$ukikit")"
ukiverify=$(dirname "$ukikit")/ukiverify
[ -x "$ukiverify" ] || { echo "demo: no ukiverify next to $ukikit" >&2; exit 2; }

# ---- sign and verify real EFI binaries -----------------------------------------
inputs=$("$root/scripts/fetch-inputs.sh") || fail "scripts/fetch-inputs.sh exited $?"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj "/CN=ukikit demo db" \
  -keyout db.key -out db.crt 2>/dev/null || fail "openssl could not make a throwaway key"
ukiinspect=$(dirname "$ukikit")/ukiinspect

# A small initramfs with an /init that says hello, made by ukikit initrd
# create (newc, zstd, sorted, mtime 0), with an early uncompressed archive in
# front as distributions place microcode. Reproducible, listed as GNU cpio
# lists it, and extracted by GNU cpio to the same tree.
mkdir -p initramfs/bin early/kernel/x86/microcode
printf '#!/bin/sh\necho "hello from a ukikit UKI"\nexec /bin/sh\n' >initramfs/init
chmod 755 initramfs/init
ln -s ../init initramfs/bin/hello
printf 'not real microcode' >early/kernel/x86/microcode/GenuineIntel.bin
"$ukikit" initrd create initramfs --early early -o initrd.img || fail "ukikit initrd create exited $?"
"$ukikit" initrd create initramfs --early early -o initrd.again || fail "ukikit initrd create exited $?"
cmp -s initrd.img initrd.again || fail "two initrd create runs differ"
"$ukikit" initrd info initrd.img | sed 's/^/demo:   /'
"$ukikit" initrd list -v initrd.img | sed 's/^/demo:   /'
"$ukikit" initrd create initramfs --compress none -o initrd.cpio || fail "ukikit initrd create exited $?"
[ "$("$ukikit" initrd list initrd.cpio)" = "$(cpio -t --quiet <initrd.cpio)" ] ||
  fail "ukikit initrd list and cpio -t disagree"
mkdir extracted && (cd extracted && cpio -idm --quiet <../initrd.cpio) || fail "GNU cpio cannot extract"
diff -r --no-dereference initramfs extracted >/dev/null || fail "GNU cpio extracts a different tree"
"$ukikit" initrd extract initrd.img ours >/dev/null || fail "ukikit initrd extract exited $?"
diff -r --no-dereference initramfs ours/ --exclude=kernel >/dev/null || fail "ukikit extracts a different tree"
step "initrd.img: reproducible; GNU cpio lists and extracts what we wrote; so does ukikit"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out pcr.key 2>/dev/null

# The UKI: stub + kernel + initrd + cmdline + os-release, .pcrsig, signed.
"$ukikit" build --stub "$inputs/linuxx64.efi.stub" --linux "$inputs/vmlinuz" --initrd initrd.img \
  --cmdline "console=ttyS0 quiet" --pcr-private-key pcr.key \
  --signing-key db.key --signing-cert db.crt -o uki.efi 2>build.log || fail "ukikit build exited $? ($(cat build.log))"
step "built uki.efi: $(wc -c <uki.efi) bytes"
"$ukiinspect" uki.efi | grep -E '^  (kernel|uname|cmdline|os-release|initrd|signature|PCR 11 sha256 enter-initrd:)' |
  sed 's/^/demo:   /'
"$ukikit" measure --bank sha256 --phases=enter-initrd uki.efi | sed 's/^/demo:   /'
"$ukiverify" --cert db.crt --require .linux --require .initrd uki.efi | sed 's/^/demo:   /'
sbverify --cert db.crt uki.efi >/dev/null 2>&1 || fail "sbverify rejects uki.efi"
step "uki.efi: ukiverify (signature and .pcrsig) and sbverify pass"

for efi in uki.efi systemd-bootx64.efi; do
  if [ "$efi" = systemd-bootx64.efi ]; then
    cp "$inputs/$efi" "$efi"
    "$ukikit" sign --key db.key --cert db.crt "$efi" || fail "ukikit sign $efi exited $?"
    "$ukiverify" --cert db.crt "$efi" | sed 's/^/demo:   /'
    sbverify --cert db.crt "$efi" >/dev/null 2>&1 || fail "sbverify rejects the signed $efi"
  fi
  # One byte changed in the signed image must fail, with both digests shown.
  cp "$efi" tampered.efi
  printf 'X' | dd of=tampered.efi bs=1 seek=4096 conv=notrunc 2>/dev/null
  if "$ukiverify" --cert db.crt tampered.efi >tampered.out; then fail "a tampered $efi passed"; fi
  step "tampered $efi: $(cut -c1-100 tampered.out)"
  "$ukikit" unsign -o "$efi.unsigned" "$efi" || fail "ukikit unsign exited $?"
done
step "systemd-boot: signed, verified by ukiverify and sbverify, tamper detected, unsigned again"

# ---- an installer image ----------------------------------------------------
# The seed's flow, as Talos Linux 1.10 ships installers: an installer-base
# image (one layer of tools, amd64 and arm64) made from a small tree, then
# the installer image assembled on it with, per architecture, the signed UKI
# and the signed systemd-boot at usr/install/<arch>/, under one index. The
# arm64 UKI is built on this machine from Debian's arm64 stub and kernel.
# Assembled twice, once on another clock and in another time zone: the same
# bytes. skopeo reads every architecture of it; `ukikit image verify` passes
# it (signatures against db.crt, .pcrsig, machines) and fails one with an
# unsigned systemd-boot; the arm64 UKI extracted again is byte-identical.
"$ukikit" build --stub "$inputs/linuxaa64.efi.stub" --linux "$inputs/vmlinuz-arm64" --initrd initrd.img \
  --cmdline "console=ttyAMA0 quiet" --pcr-private-key pcr.key \
  --signing-key db.key --signing-cert db.crt -o uki-arm64.efi 2>build.log ||
  fail "ukikit build (arm64) exited $? ($(cat build.log))"
cp "$inputs/systemd-bootaa64.efi" systemd-bootaa64.efi
"$ukikit" sign --key db.key --cert db.crt systemd-bootaa64.efi || fail "ukikit sign (arm64) exited $?"
mkdir -p base-tree/bin base-tree/etc
printf '#!/bin/sh\necho "an installer would run here"\n' >base-tree/bin/installer
chmod 755 base-tree/bin/installer
printf 'ID=demo\nVERSION_ID=1\n' >base-tree/etc/os-release
"$ukikit" image base base-tree -o installer-base:v1 --arch amd64 --arch arm64 \
  --entrypoint '["/bin/installer"]' --env VERSION=v1 \
  --label org.opencontainers.image.source=https://example.com/demo | sed 's/^/demo:   /'
assemble() {
  out=$1
  shift
  "$@" "$ukikit" image assemble --base installer-base:v1 -o "oci-archive:$out:v1" \
    --arch amd64 --uki uki.efi --boot systemd-bootx64.efi \
    --arch arm64 --uki uki-arm64.efi --boot systemd-bootaa64.efi
}
assemble installer.tar | sed 's/^/demo:   /'
[ -s installer.tar ] || fail "ukikit image assemble wrote nothing"
later=""
if command -v faketime >/dev/null 2>&1; then later="faketime -f +400d"; fi
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" TZ=Pacific/Kiritimati \
  assemble installer-again.tar $later >/dev/null || fail "ukikit image assemble (second run) exited $?"
cmp -s installer.tar installer-again.tar || fail "two assemblies of the same inputs differ"
"$ukikit" image inspect installer.tar | sed 's/^/demo:   /'
for arch in amd64 arm64; do
  got=$(skopeo inspect --override-arch "$arch" --format '{{.Architecture}} {{len .Layers}} layers' \
    oci-archive:installer.tar:v1) || fail "skopeo cannot read the $arch image"
  [ "$got" = "$arch 2 layers" ] || fail "skopeo sees $got for $arch"
done
"$ukikit" image verify --cert db.crt oci-archive:installer.tar:v1 | sed 's/^/demo:   /'
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "ukikit image verify rejects installer.tar"
"$ukikit" image extract oci-archive:installer.tar:v1 --arch arm64 usr/install/arm64/vmlinuz.efi \
  -o uki-arm64.back.efi || fail "ukikit image extract exited $?"
cmp -s uki-arm64.back.efi uki-arm64.efi || fail "the UKI extracted from installer.tar is not the one put in"
"$ukikit" image assemble --base installer-base:v1 -o "oci-archive:broken.tar:v1" \
  --arch amd64 --uki uki.efi --boot "$inputs/systemd-bootx64.efi" >/dev/null ||
  fail "ukikit image assemble (unsigned systemd-boot) exited $?"
if "$ukikit" image verify --cert db.crt oci-archive:broken.tar:v1 >broken.out; then
  fail "an image with an unsigned systemd-boot passed ukikit image verify"
fi
step "installer.tar: installer-base plus one artifacts layer per architecture; reproducible; skopeo reads amd64 and arm64; ukikit image verify passes it (and fails one with an unsigned systemd-boot: $(tail -n 1 broken.out | cut -c1-90)); the arm64 UKI extracted again is the same bytes"

# ---- a sample input --------------------------------------------------------
# Four copies of the Debian license texts (about 1 MiB of text): real-world
# data, the same on every Debian machine.
licenses=/usr/share/common-licenses
if [ -d "$licenses" ]; then
  for _ in 1 2 3 4; do cat "$licenses"/*; done >sample
else
  seq 1 200000 >sample
fi
step "sample: $(wc -c <sample) bytes"

# ---- compress, decompress, compare -----------------------------------------
for format in zstd xz gzip; do
  case $format in
  zstd) ext=zst decode="zstd -q -d -c" encode="zstd -q -c" ;;
  xz) ext=xz decode="xz -d -c" encode="xz --check=crc32 -c" ;;
  gzip) ext=gz decode="gzip -d -c" encode="gzip -n -c" ;;
  esac

  "$ukikit" compress --format "$format" -o "sample.$ext" sample ||
    fail "ukikit compress --format $format exited $?"
  # Writers are deterministic: the same input and options give the same bytes.
  "$ukikit" compress --format "$format" -o "again.$ext" sample ||
    fail "ukikit compress --format $format (second run) exited $?"
  cmp -s "sample.$ext" "again.$ext" || fail "$format: two compressions of the same input differ"

  # The real tool decodes what we wrote.
  $decode "sample.$ext" | cmp -s - sample || fail "$format: '$decode' does not give back the sample"

  # We decode what we wrote (format auto-detected).
  "$ukikit" decompress -o "sample.$ext.out" "sample.$ext" ||
    fail "ukikit decompress sample.$ext exited $?"
  cmp -s "sample.$ext.out" sample || fail "$format: ukikit decompress does not give back the sample"

  # We decode what the real tool wrote, including two streams back to back.
  $encode sample >"real.$ext"
  cat "real.$ext" "real.$ext" >"twice.$ext"
  cat sample sample >twice
  "$ukikit" decompress -o "real.$ext.out" "real.$ext" ||
    fail "ukikit decompress of '$encode' output exited $?"
  cmp -s "real.$ext.out" sample || fail "$format: ukikit decompress of '$encode' output differs"
  "$ukikit" decompress -o "twice.$ext.out" "twice.$ext" ||
    fail "ukikit decompress of two concatenated $format streams exited $?"
  cmp -s "twice.$ext.out" twice || fail "$format: two concatenated streams do not decode to both"

  step "$format: $(wc -c <"sample.$ext") bytes; round trip, '$decode' and '$encode' agree"
done

# ---- the decompression limit -------------------------------------------------
# A limit below the real size is an error, and no partial output is left.
if "$ukikit" decompress --max-size 4096 -o limited sample.zst 2>limit.err; then
  fail "decompress --max-size 4096 of a $(wc -c <sample)-byte stream succeeded"
fi
[ ! -e limited ] || fail "decompress over its limit left a partial output file"
step "limit: --max-size 4096 refused ($(head -n 1 limit.err))"

# ---- digests -------------------------------------------------------------------
# `ukikit digest` prints OCI digests "alg:hex  FILE"; coreutils must agree.
for algorithm in sha256 sha384 sha512 sha1; do
  expected=$("${algorithm}sum" sample sample.zst | sed "s/^/$algorithm:/")
  got=$("$ukikit" digest --algorithm "$algorithm" sample sample.zst) ||
    fail "ukikit digest --algorithm $algorithm exited $?"
  [ "$got" = "$expected" ] ||
    fail "ukikit digest --algorithm $algorithm disagrees with ${algorithm}sum:
  ukikit:    $got
  ${algorithm}sum: $expected"
done
got=$("$ukikit" digest sample) || fail "ukikit digest exited $?"
[ "$got" = "sha256:$(sha256sum sample | cut -d' ' -f1)  sample" ] ||
  fail "ukikit digest (default sha256) disagrees with sha256sum: $got"
"$ukikit" digest sample sample.zst sample.xz sample.gz | sed 's/^/demo:   /'
step "digests: sha256, sha384, sha512 and sha1 agree with coreutils"

echo "demo: OK"
