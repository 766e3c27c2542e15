#!/bin/sh
# Regenerates the seed corpus of initrd_fuzzer in fuzz/corpus/initrd_fuzzer/:
# small initramfs images as distributions build them, made by GNU cpio
# (--reproducible, fixed mtimes) and the real zstd, xz (crc32) and gzip:
# a raw newc archive, each compression, an early microcode archive followed
# by a compressed one, zero padding between segments, and two archives in
# one compressed stream.
#
#   fuzz/make_initrd_corpus.sh
set -eu

for tool in cpio zstd xz gzip; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make_initrd_corpus.sh: $tool is required" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus/initrd_fuzzer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C
mkdir -p "$out"
find "$out" -type f ! -name 'regression-*' -delete
cd "$work"

mkdir -p tree/bin tree/etc early/kernel/x86/microcode
printf '#!/bin/sh\necho hi\n' >tree/init
chmod 755 tree/init
printf 'root:x:0:0::/root:/bin/sh\n' >tree/etc/passwd
ln -s ../init tree/bin/sh
ln tree/etc/passwd tree/etc/passwd.hard
printf 'MICROCODE' >early/kernel/x86/microcode/GenuineIntel.bin
find tree early -exec touch -h -d @0 {} +

archive() { (cd "$1" && find . | sort | cpio -o -H "$2" --reproducible --quiet); }
archive tree newc >main.cpio
archive tree crc >crc.cpio
archive early newc >early.cpio

cp main.cpio "$out/raw-newc"
cp crc.cpio "$out/raw-crc"
zstd -q -c main.cpio >"$out/zstd"
xz --check=crc32 -c main.cpio >"$out/xz"
gzip -n -c main.cpio >"$out/gzip"
{ cat early.cpio; zstd -q -c main.cpio; } >"$out/early-then-zstd"
{ gzip -n -c main.cpio; printf '\0\0\0\0\0'; xz --check=crc32 -c crc.cpio; } >"$out/gzip-padding-xz"
cat main.cpio crc.cpio | zstd -q -c >"$out/two-archives-one-stream"
# Zero padding, then a raw archive cut inside an entry (issue 12).
{ cat main.cpio; head -c 4100 /dev/zero; head -c 300 crc.cpio; } >"$out/raw-padding-then-truncated"
