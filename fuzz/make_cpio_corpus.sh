#!/bin/sh
# Regenerates the seed corpus of cpio_fuzzer in fuzz/corpus/cpio_fuzzer/:
#  - a small tree (files, an empty file, nested directories with spaces in
#    their names, a symlink, a hardlink pair, a fifo; every mtime 0) archived
#    by GNU cpio in newc, crc, odc and bin with --reproducible -R 0:0;
#  - the GNU newc archive rewritten by libarchive's newc, odc and bin writers
#    (bsdtar --format X @archive, the writers bsdcpio -o uses; bsdcpio itself
#    stores the real inode and device numbers, so its output differs between
#    runs);
#  - a few archives written here byte by byte: kernel quirks, concatenated
#    archives with zero padding, an early microcode cpio followed by a
#    compressed segment's magic, gen_init_cpio -a style name padding.
# Every seed is deterministic and under 2 KiB. Run it from anywhere:
#   fuzz/make_cpio_corpus.sh
set -eu

for tool in cpio bsdtar find sort touch mkfifo head; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make_cpio_corpus.sh: $tool is required" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C TZ=UTC
umask 022

out="$here/corpus/cpio_fuzzer"
mkdir -p "$out" # kept: regression-* and min-* (a fuzzing run's minimized corpus)
find "$out" -type f ! -name 'regression-*' ! -name 'min-*' -delete

# ---- a tree, archived by the real tools ----------------------------------------------
mkdir -p "$work/t/dir a/sub dir"
cd "$work/t"
printf 'hello\n' > 'dir a/file one'
printf 'deep' > 'dir a/sub dir/deep'
printf 'linked data\n' > 'hard 1'
ln 'hard 1' 'hard 2'
: > empty
ln -s 'dir a/file one' link
mkfifo fifo
find . -exec touch -h -d @0 {} +

gnu() { # FORMAT OUTPUT [find filter]
  find . | sort | grep -v "${3:-^\$}" | cpio -o -H "$1" --reproducible -R 0:0 > "$2" 2>/dev/null
}
gnu newc "$out/gnu-newc.cpio"
gnu crc "$out/gnu-crc.cpio"
gnu odc "$out/gnu-odc.cpio"
gnu bin "$out/gnu-bin.cpio"
# The binary formats cannot hold a fifo in libarchive's writer.
gnu newc "$work/no-fifo.cpio" '^./fifo$'
bsdtar --format newc -cf "$out/libarchive-newc.cpio" "@$out/gnu-newc.cpio"
bsdtar --format odc -cf "$out/libarchive-odc.cpio" "@$out/gnu-newc.cpio"
bsdtar --format bin -cf "$out/libarchive-bin.cpio" "@$work/no-fifo.cpio"

# ---- archives written byte by byte -------------------------------------------------------
zeros() { head -c "$1" /dev/zero; }

# entry MAGIC MODE NAME DATA [CHECK] [FILESIZE-FIELD]: one newc/crc entry at an
# offset that is a multiple of 4, padded as formats.md §1.1 says.
entry() {
  magic=$1 mode=$2 name=$3 data=$4 check=${5:-0}
  namesize=$((${#name} + 1))
  size=$(printf '%08X' "${#data}")
  printf '%s%08X%08X%08X%08X%08X%08X%s%08X%08X%08X%08X%08X%08X' "$magic" 721 "$mode" 0 0 1 0 \
    "${6:-$size}" 3 1 0 0 "$namesize" "$check"
  printf '%s' "$name"
  zeros $(((4 - (110 + namesize) % 4) % 4 + 1))
  printf '%s' "$data"
  zeros $(((4 - ${#data} % 4) % 4))
}
trailer() { entry "${1:-070701}" 0 'TRAILER!!!' ''; }

# Kernel quirks: a 0x-prefixed size, a directory with a body (the kernel
# skips it), a symlink, data padding that is not zero, then the trailer.
{
  entry 070701 $((0100644)) hex-size hello 0 0x000005
  entry 070701 $((040755)) dir-with-body body
  entry 070701 $((0120777)) link hex-size
  entry 070701 $((0100644)) file abcde | head -c 121
  printf 'x\001\002'
  trailer
} > "$out/kernel-quirks.cpio"

# Two archives, a crc one after 8 zero bytes, then an odd run of zeros.
{
  entry 070701 $((0100644)) first 'one'
  trailer
  zeros 8
  entry 070702 $((0100644)) second 'two!' $((0x74 + 0x77 + 0x6f + 0x21))
  trailer 070702
  zeros 3
} > "$out/concatenated.cpio"

# An early microcode cpio, then where a compressed segment would start.
{
  entry 070701 $((040755)) kernel ''
  entry 070701 $((040755)) kernel/x86 ''
  entry 070701 $((040755)) kernel/x86/microcode ''
  entry 070701 $((0100644)) kernel/x86/microcode/GenuineIntel.bin 'microcode blob'
  trailer
  zeros 4
  printf '\037\213\010\000'
} > "$out/early-microcode.cpio"

# gen_init_cpio -a 16: zeros inside namesize so the data is 16-aligned.
{
  printf '%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' 070701 721 $((0100644)) 0 0 1 0 \
    4 3 1 0 0 18 0
  printf 'padded'
  zeros 12
  printf 'data'
  trailer
} > "$out/name-padding.cpio"

# A name above PATH_MAX (with an ESC), which the kernel skips unread: shown
# by its first bytes (issue 12).
{
  entry 070701 $((0100644)) "$(printf '\033[2J')$(head -c 4200 /dev/zero | tr '\0' n)" data
  entry 070701 $((0100644)) after x
  trailer
} > "$out/name-above-path-max.cpio"

ls -l "$out" >&2
