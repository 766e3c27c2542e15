#!/bin/sh
# Regenerates the seeds of pe_stream_fuzzer in fuzz/corpus/pe_stream_fuzzer/:
# the UKI and PE seeds of uki_fuzzer and pe_fuzzer, each behind the 4 bytes
# that choose the piece size, the size from which sections are left out and
# the header window (pe_stream_fuzzer.cpp), a few choices each. Keeps the
# min-* files.
#
#   fuzz/make_pe_stream_corpus.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus/pe_stream_fuzzer
mkdir -p "$out"
find "$out" -type f ! -name 'min-*' -delete
for f in "$here"/corpus/uki_fuzzer/*.efi "$here"/corpus/pe_fuzzer/*.efi; do
  [ -f "$f" ] || continue
  name=$(basename "$f" .efi)
  # piece 1 byte, drop from 0x100, window 0x401; piece 0x201, drop from 0,
  # window 0x801; piece 4096, drop from 0x800, window 0x1001.
  for p in "00 01 00 40 a" "20 00 00 80 b" "ff f8 00 ff c"; do
    set -- $p
    for b in "$1" "$2" "$3" "$4"; do printf "\\$(printf %03o "0x$b")"; done >"$out/$name-$5"
    cat "$f" >>"$out/$name-$5"
  done
done
