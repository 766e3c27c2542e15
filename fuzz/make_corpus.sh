#!/bin/sh
# Regenerates the seed corpora of the compression fuzzers (zstd_fuzzer,
# xz_fuzzer, lzma_fuzzer, gzip_fuzzer) in fuzz/corpus/<target>/ with the real
# zstd, xz, gzip and pigz tools. The output is deterministic (fixed inputs,
# no names or timestamps in headers, fixed block sizes) and every seed is
# under 4 KiB. Run it from anywhere: fuzz/make_corpus.sh
set -eu

for tool in zstd xz gzip pigz seq; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make_corpus.sh: $tool is required" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C

# ---- inputs -------------------------------------------------------------------
seq 1 400 > "$work/text"                                   # 1492 bytes of digits
seq 1000 1300 | tr '\n' ' ' > "$work/words"                # 1505 bytes, no newline
head -c 4096 /dev/zero > "$work/zeros"                     # runs: RLE blocks, long matches
: > "$work/empty"
printf 'initramfs\n' > "$work/short"
touch -d @1000000000 "$work/text"                          # for the gzip seed that keeps MTIME

# A zstd skippable frame (RFC 8878 §3.1.2): LE32 magic 0x184D2A50, LE32 size 5, data.
printf '\120\052\115\030\005\000\000\000pzstd' > "$work/skippable"

# Kept: regression-* and min-* (a fuzzing run's minimized corpus).
reset_corpus() {
  mkdir -p "$here/corpus/$1"
  find "$here/corpus/$1" -type f ! -name 'regression-*' ! -name 'min-*' -delete
  echo "$here/corpus/$1"
}

# ---- zstd -----------------------------------------------------------------------
out=$(reset_corpus zstd_fuzzer)
zstd -q -c "$work/text" > "$out/text.zst"
zstd -q -19 -c "$work/words" > "$out/words-19.zst"
zstd -q --no-check -c "$work/text" > "$out/no-check.zst"
zstd -q -c < "$work/text" > "$out/no-content-size.zst"
zstd -q -c "$work/zeros" > "$out/zeros.zst"
zstd -q -c "$work/empty" > "$out/empty.zst"
cat "$out/text.zst" "$out/zeros.zst" > "$out/two-frames.zst"
cat "$work/skippable" "$out/text.zst" "$work/skippable" > "$out/skippable-frames.zst"
zstd -q --zstd=wlog=25 -c < "$work/short" > "$out/window-32m.zst" # over the fuzzer's 2^24
cp "$work/text" "$out/raw-text"                                    # for the round trip

# ---- xz ---------------------------------------------------------------------------
out=$(reset_corpus xz_fuzzer)
xz -c --check=crc32 "$work/text" > "$out/crc32.xz"
xz -c --check=crc64 "$work/words" > "$out/crc64.xz"
xz -c --check=sha256 "$work/short" > "$out/sha256.xz"
xz -c --check=none "$work/short" > "$out/no-check.xz"
xz -c -0 -e --check=crc32 "$work/zeros" > "$out/zeros-0e.xz"
xz -c --check=crc32 "$work/empty" > "$out/empty.xz"
xz -c -T2 --block-size=512 --check=crc32 "$work/text" > "$out/blocks.xz"
# Blocks with their sizes in the headers: what the threaded decoder splits.
seq 1 3000 | xz -c -T2 --block-size=3000 -0 --check=crc32 > "$out/threaded-blocks.xz"
xz -c --check=crc32 --x86 --lzma2=preset=1 "$work/words" > "$out/x86-filter.xz"
xz -c --check=crc32 --delta=dist=4 --lzma2=preset=1 "$work/text" > "$out/delta-filter.xz"
cat "$out/crc32.xz" "$out/empty.xz" > "$out/two-streams.xz"
{ cat "$out/no-check.xz"; head -c 8 /dev/zero; cat "$out/no-check.xz"; head -c 4 /dev/zero; } > "$out/padded.xz"
cp "$work/text" "$out/raw-text"

# ---- lzma (lzma-alone) -----------------------------------------------------------
out=$(reset_corpus lzma_fuzzer)
xz -c --format=lzma "$work/text" > "$out/text.lzma"
xz -c --format=lzma -0 "$work/zeros" > "$out/zeros-0.lzma"
xz -c --format=lzma "$work/empty" > "$out/empty.lzma"
xz -c --format=lzma --lzma1=preset=1,lc=0,lp=2,pb=0 "$work/words" > "$out/lc0-lp2.lzma"
xz -c --format=lzma -9 "$work/short" > "$out/dict-64m.lzma" # over the fuzzer's 16 MiB memlimit

# ---- gzip ----------------------------------------------------------------------------
out=$(reset_corpus gzip_fuzzer)
gzip -n -c "$work/text" > "$out/text.gz"
gzip -n -1 -c "$work/words" > "$out/words-1.gz"
gzip -n -9 -c "$work/zeros" > "$out/zeros-9.gz"
gzip -n -c "$work/empty" > "$out/empty.gz"
(cd "$work" && gzip -N -c text) > "$out/name-and-mtime.gz" # FNAME, MTIME 1000000000
cat "$out/text.gz" "$out/empty.gz" > "$out/two-members.gz"
pigz -n -m -p 2 -b 128 -c < "$work/text" > "$out/pigz.gz"
pigz -n -m -i -p 2 -b 128 -c < "$work/words" > "$out/pigz-independent.gz"
cp "$work/text" "$out/raw-text"

# ---- every seed small -----------------------------------------------------------------
big=$(find "$here/corpus/zstd_fuzzer" "$here/corpus/xz_fuzzer" "$here/corpus/lzma_fuzzer" \
  "$here/corpus/gzip_fuzzer" -type f -size +4095c)
if [ -n "$big" ]; then
  echo "make_corpus.sh: seeds of 4 KiB or more: $big" >&2
  exit 1
fi
