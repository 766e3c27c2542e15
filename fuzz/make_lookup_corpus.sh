#!/bin/sh
# Regenerates the seed corpus of lookup_fuzzer in fuzz/corpus/lookup_fuzzer/:
# layer stacks written by Python's tarfile and gzip (later layers replacing
# files, whiteouts and an opaque directory, hard links across layers,
# symlinks inside and beyond the root and in a loop, ".." names, an entry
# through a symlink). Each seed starts with the fuzzer's header: the number
# of layers minus one, then every layer's length but the last's in 512-byte
# blocks (two bytes, big endian).
#
#   fuzz/make_lookup_corpus.sh
set -eu

command -v python3 >/dev/null 2>&1 || { echo "make_lookup_corpus.sh: python3 is required" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus/lookup_fuzzer
mkdir -p "$out"
# Kept: regression-* (inputs that once failed) and min-* (the corpus a
# fuzzing run grew, minimized with -merge=1).
find "$out" -type f ! -name 'regression-*' ! -name 'min-*' -delete

python3 - "$out" <<'PY'
import gzip, io, sys, tarfile
out = sys.argv[1]

def layer(entries, gz=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            kind, name = e[0], e[1]
            ti = tarfile.TarInfo(name)
            ti.mtime = 0
            data = None
            if kind == 'f':
                data = e[2].encode()
                ti.size = len(data)
            elif kind == 'd':
                ti.type = tarfile.DIRTYPE
            elif kind == 'l':
                ti.type, ti.linkname = tarfile.SYMTYPE, e[2]
            elif kind == 'h':
                ti.type, ti.linkname = tarfile.LNKTYPE, e[2]
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    b = buf.getvalue()
    # The end-of-archive blocks, without tarfile's padding to 10240 bytes.
    end = (len(b.rstrip(b'\0')) + 511) // 512 * 512
    b = b[:end] + b'\0' * 1024
    return gzip.compress(b, mtime=0) if gz else b

def seed(name, layers):
    head = bytes([len(layers) - 1])
    for l in layers[:-1]:
        blocks = (len(l) + 511) // 512
        head += blocks.to_bytes(2, 'big')
    body = b''
    for l in layers[:-1]:
        body += l + b'\0' * (-len(l) % 512)
    body += layers[-1]
    open(out + '/' + name, 'wb').write(head + body)

seed('later-wins', [layer([('f', 'a', 'one'), ('f', 'd/f', 'x')]), layer([('f', 'a', 'two')])])
seed('whiteout', [layer([('f', 'a/b', 'b'), ('f', 'd/f', 'f')]),
                  layer([('f', 'a/.wh.b', ''), ('f', 'd/.wh..wh..opq', ''), ('f', 'd/g', 'g')])])
seed('hardlink', [layer([('f', 'a', 'data')]), layer([('h', 'h', 'a')]), layer([('f', 'a', 'new')])])
seed('symlinks', [layer([('f', 'usr/install/amd64/vmlinuz.efi', 'uki'), ('d', 'x')]),
                  layer([('l', 'l', '/usr/install/amd64'), ('l', 's', '../../a'),
                         ('l', 'loop', 'loop2'), ('l', 'loop2', 'loop'), ('f', 'a/b', 'ab')])])
seed('gzip', [layer([('f', 'a', 'alpha'), ('f', 'd/f', 'f')], True),
              layer([('h', 'h', 'd/f'), ('f', 'd/.wh.f', '')], True)])
seed('hostile', [layer([('f', '../a', 'dotdot'), ('l', 's', '/'), ('f', 's/b', 'through'),
                        ('f', '/a', 'abs'), ('h', 'h', '../x'), ('f', '.wh.', ''), ('f', '.wh..', '')])])
seed('four', [layer([('f', 'a', '1')]), layer([('f', 'a', '2')], True), layer([('f', '.wh.a', '')]),
              layer([('l', 'a', 'd/f'), ('f', 'd/f', '4')])])
PY
