#!/bin/sh
# Regenerates the seed corpus of layer_extract_fuzzer in
# fuzz/corpus/layer_extract_fuzzer/: layers written by Python's tarfile (the
# attacks extraction must refuse: ".." and absolute names, a symlink then a
# file, a directory or a whiteout through it, hard links outside, to a
# symlink and to themselves, bare and parent whiteouts, duplicates) and by
# GNU tar (a tree with whiteout files and an opaque marker, sparse). Each
# seed starts with the fuzzer's flag byte: 0 one layer, 1 two layers (then
# the first layer's length in 512-byte blocks, two bytes big endian), +2 the
# component walk.
#
#   fuzz/make_layer_extract_corpus.sh
set -eu

command -v python3 >/dev/null 2>&1 || { echo "make_layer_extract_corpus.sh: python3 is required" >&2; exit 2; }
command -v tar >/dev/null 2>&1 || { echo "make_layer_extract_corpus.sh: GNU tar is required" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus/layer_extract_fuzzer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C
mkdir -p "$out"
# Kept: regression-* (inputs that once failed) and min-* (the corpus a
# fuzzing run grew, minimized with -merge=1).
find "$out" -type f ! -name 'regression-*' ! -name 'min-*' -delete
cd "$work"

mkdir -p base/d/sub base/gone up/d
printf 'a\n' >base/d/a; printf 'b\n' >base/d/sub/b; printf 'x\n' >base/gone/x
ln -s ../sentinel base/s; ln base/d/a base/d/hl
printf 'new\n' >up/d/new; : >up/d/.wh..wh..opq; : >up/.wh.gone; : >up/.wh.s
find base up -exec touch -h -d @0 {} +
tar --format=gnu --sort=name --owner=0 --group=0 --numeric-owner -C base -cf l1.tar .
tar --format=pax --sort=name --owner=0 --group=0 --numeric-owner -C up -cf l2.tar .
dd if=/dev/zero of=holes bs=1 count=0 seek=65536 2>/dev/null; printf end >>holes
tar --format=gnu --sparse -cf sparse.tar holes

python3 - "$out" <<'PY'
import io, os, sys, tarfile
out = sys.argv[1]

def layer(members, fmt=tarfile.USTAR_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for m in members:
            kind, name = m[0], m[1]
            i = tarfile.TarInfo(name)
            i.mtime = 1600000000
            data = b""
            if kind == "f":
                data = (m[2] if len(m) > 2 else "x").encode()
                i.size = len(data)
            elif kind == "d":
                i.type, i.mode = tarfile.DIRTYPE, 0o755
            elif kind == "l":
                i.type, i.linkname = tarfile.SYMTYPE, m[2]
            elif kind == "h":
                i.type, i.linkname = tarfile.LNKTYPE, m[2]
            t.addfile(i, io.BytesIO(data) if data else None)
    return b.getvalue()

def seed(name, *layers, walk=False):
    flag = (2 if walk else 0) | (1 if len(layers) == 2 else 0)
    body = bytes([flag])
    if len(layers) == 2:
        blocks = len(layers[0]) // 512
        body += bytes([blocks >> 8, blocks & 0xff]) + layers[0] + layers[1]
    else:
        body += layers[0]
    with open(os.path.join(out, name), "wb") as f:
        f.write(body)

seed("dotdot", layer([("f", "../sentinel/secret"), ("f", "/tmp/x"), ("f", "a/../../x"), ("f", "ok")]))
seed("symlink-then-file", layer([("l", "s", "../sentinel"), ("f", "s/secret", "evil"), ("d", "s/dir/new")]), walk=True)
seed("symlink-root", layer([("l", "r", "/")]), layer([("d", "r/tmp/evil"), ("f", "r/tmp/x")]))
seed("hardlinks", layer([("h", "h1", "../sentinel/secret"), ("h", "h2", "/etc/passwd"),
                         ("l", "s", "../sentinel/secret"), ("h", "h3", "s"), ("f", "h3", "evil"),
                         ("h", "h4", "h4"), ("h", "h5", "s/x")]))
seed("whiteouts", layer([("d", "a"), ("f", "a/f"), ("l", "s", "../sentinel")]),
     layer([("f", "a/.wh.."), ("f", "a/.wh..."), ("f", ".wh."), ("f", "s/.wh.secret"),
            ("f", "s/.wh..wh..opq"), ("f", ".wh.s")]), walk=True)
seed("opaque", layer([("d", "d"), ("f", "d/a"), ("d", "d/sub"), ("f", "d/sub/b")]),
     layer([("f", "d/new"), ("f", "d/.wh..wh..opq"), ("f", "d/sub/.wh..wh..opq"), ("f", "d/sub/c")]))
seed("duplicates", layer([("f", "f", "one"), ("d", "d"), ("f", "f", "two"), ("d", "d"), ("f", "d", "x")],
                         tarfile.PAX_FORMAT))
seed("replace", layer([("d", "x"), ("f", "x/in"), ("f", "f"), ("l", "l", "f")]),
     layer([("f", "x", "file"), ("d", "f"), ("f", "l", "y"), ("h", "l2", "x")]))
PY

layers() { # NAME FILE1 [FILE2]: a seed of one or two layers
  name=$1; shift
  if [ $# -eq 2 ]; then
    blocks=$(( $(wc -c <"$1") / 512 ))
    { printf "\\001\\$(printf %03o $((blocks / 256)))\\$(printf %03o $((blocks % 256)))"; cat "$1" "$2"; } >"$out/$name"
  else
    { printf '\000'; cat "$1"; } >"$out/$name"
  fi
}
layers gnu-tar-whiteouts l1.tar l2.tar
layers gnu-tar-sparse sparse.tar
echo "make_layer_extract_corpus.sh: $(ls "$out" | wc -l) files in $out"
