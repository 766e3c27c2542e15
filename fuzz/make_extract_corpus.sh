#!/bin/sh
# Regenerates the seed corpus of extract_fuzzer in fuzz/corpus/extract_fuzzer/:
# one small tree archived by GNU cpio (--reproducible, fixed mtimes), and
# hand-made newc archives of the attacks extraction must refuse: absolute
# names and "..", a symlink then a write through it (as the final name and
# as a parent), hard links whose first name is replaced, types replacing
# each other, and two archives whose hard link tables must not mix.
#
#   fuzz/make_extract_corpus.sh
set -eu

command -v cpio >/dev/null 2>&1 || { echo "make_extract_corpus.sh: cpio is required" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus/extract_fuzzer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C
mkdir -p "$out"
# Kept: regression-* (inputs that once failed) and min-* (the corpus a
# fuzzing run grew, minimized with -merge=1).
find "$out" -type f ! -name 'regression-*' ! -name 'min-*' -delete
cd "$work"

# entry NAME MODE(octal) NLINK INO DATA [RDEVMAJOR RDEVMINOR]: one newc
# entry (formats.md §1.1), mtime 1600000000; name and data padded to 4.
entry() {
  size=$(printf '%s' "$5" | wc -c)
  namesize=$(( $(printf '%s' "$1" | wc -c) + 1 ))
  printf '070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x' \
    "$4" "$((0$2))" 0 0 "$3" 1600000000 "$size" 0 0 "${6:-0}" "${7:-0}" "$namesize" 0
  printf '%s\0' "$1"
  head -c $(( (4 - (110 + namesize) % 4) % 4 )) /dev/zero
  printf '%s' "$5"
  head -c $(( (4 - size % 4) % 4 )) /dev/zero
}
trailer() { entry 'TRAILER!!!' 0 1 0 ''; }

{ entry ../x 100644 1 1 data; entry a 40755 1 2 ''; entry a/../../x 100644 1 3 data
  entry /etc/x 100644 1 4 data; entry . 40755 1 5 ''; trailer; } >"$out/dotdot.cpio"
{ entry evil 120777 1 1 /tmp/victim; entry evil 100644 1 2 data; trailer; } >"$out/symlink-final.cpio"
{ entry evil 120777 1 1 /tmp; entry evil/x 100644 1 2 data; entry up 120777 1 3 ..
  entry up/x 100644 1 4 data; trailer; } >"$out/symlink-parent.cpio"
{ entry a 100644 2 7 first; entry b 100644 2 7 ''; entry c 100644 2 8 ''
  entry d 100644 2 8 last; entry a 120777 1 9 /tmp/victim; entry e 100644 2 7 data
  trailer; } >"$out/hardlinks.cpio"
{ entry d 40755 1 1 ''; entry d/f 100644 1 2 data; entry d 100644 1 3 data
  entry e 40755 1 4 ''; entry e 100644 1 5 contents; entry p 10644 1 6 ''
  entry p 120777 1 7 p; entry dev 20600 1 8 '' 1 3; trailer; } >"$out/replace.cpio"
{ entry a 100644 2 1 one; trailer; entry b 100644 2 1 two; trailer; } >"$out/two-archives.cpio"

mkdir -p tree/d/e
printf 'abc' >tree/d/e/g
printf 'hello\n' >tree/d/h
ln tree/d/h tree/d/f
ln -s d/f tree/l
mkfifo tree/p
find tree -exec touch -h -d @0 {} +
chmod 500 tree/d/e
(cd tree && find . | sort | cpio -o -H newc --reproducible --quiet) >"$out/gnu-tree.cpio"
chmod 700 tree/d/e
