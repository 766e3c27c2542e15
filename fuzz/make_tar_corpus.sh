#!/bin/sh
# Regenerates the seed corpus of tar_fuzzer in fuzz/corpus/tar_fuzzer/:
#  - a small tree (files, an empty file, a long path, a long symlink target,
#    a hard link, a fifo, a sparse file; every mtime 0) archived by GNU tar
#    in gnu, oldgnu, pax, ustar and v7 format and by bsdtar in pax, ustar
#    and gnutar format;
#  - archives written by Python's tarfile (pax global headers, GNU long
#    names, base-256 numbers);
#  - hostile archives written byte by byte: a pax/ustar size desync, a
#    directory with a size, a lone zero block with entries after it, data
#    after the end, a signed-byte checksum, malformed pax records.
# Every seed is deterministic and small (under 24 KiB). Run it from anywhere:
#   fuzz/make_tar_corpus.sh
set -eu

for tool in tar bsdtar python3 find touch mkfifo truncate; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make_tar_corpus.sh: $tool is required" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C TZ=UTC
umask 022

out="$here/corpus/tar_fuzzer"
mkdir -p "$out" # kept: regression-* and min-* (a fuzzing run's minimized corpus)
find "$out" -type f ! -name 'regression-*' ! -name 'min-*' -delete

# ---- a tree, archived by the real tools ----------------------------------------------
mkdir -p "$work/t/dir/sub" "$work/s"
cd "$work/t"
printf 'hello\n' > dir/a
: > empty
ln dir/a dir/hard
ln -s a dir/link
mkfifo fifo
long=$(printf '%0150d' 0 | tr 0 n)
mkdir -p "dir/$long"
printf 'x' > "dir/$long/$long"
ln -s "$(printf '%0120d' 0 | tr 0 t)" dir/longlink
printf 'short\n' > "$work/s/f"
ln -s f "$work/s/l"
truncate -s 65536 "$work/s/sparse"
printf 'end' | dd of="$work/s/sparse" bs=1 seek=60000 conv=notrunc 2>/dev/null
find . "$work/s" -exec touch -h -d @0 {} +

for f in gnu oldgnu pax; do
  tar --format=$f --sort=name --owner=0 --group=0 --numeric-owner -cf "$out/gnu-$f.tar" .
done
for f in ustar v7; do
  tar --format=$f --sort=name --owner=0 --group=0 --numeric-owner -cf "$out/gnu-$f.tar" -C "$work/s" f l
done
tar --format=gnu -S --sort=name --owner=0 --group=0 -cf "$out/gnu-sparse.tar" -C "$work/s" sparse
tar --format=pax -S --sort=name --owner=0 --group=0 -cf "$out/pax-sparse.tar" -C "$work/s" sparse
bsdtar --format pax --uid 0 --gid 0 -cf "$out/bsd-pax.tar" dir/a dir/hard dir/link "dir/$long" dir/longlink
bsdtar --format gnutar --uid 0 --gid 0 -cf "$out/bsd-gnutar.tar" dir/a dir/link "dir/$long"
bsdtar --format ustar --uid 0 --gid 0 -cf "$out/bsd-ustar.tar" dir/a dir/hard dir/link

# ---- Python's tarfile, and hostile archives byte by byte --------------------------
python3 - "$out" <<'PY'
import io, os, sys, tarfile
out = sys.argv[1]

def member(name, data=b"", **kw):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = kw.pop("mtime", 0)
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, io.BytesIO(data)

def write(path, fmt, members, pax_headers=None):
    with tarfile.open(os.path.join(out, path), "w", format=fmt,
                      pax_headers=pax_headers or {}) as t:
        for ti, f in members:
            t.addfile(ti, f)

write("py-pax-global.tar", tarfile.PAX_FORMAT,
      [member("a", b"1"), member("b" * 120, b"2", uid=5000000),
       member("l", type=tarfile.SYMTYPE, linkname="t" * 200)],
      pax_headers={"comment": "global", "uid": "7"})
write("py-gnu-longname.tar", tarfile.GNU_FORMAT,
      [member("d/" + "x" * 200, b"data"), member("neg", b"n", mtime=-1)])

def header(name, typeflag=b"0", size=0, link=b"", magic=b"ustar\x0000", mtime=0,
           signed=False):
    b = bytearray(512)
    b[0:len(name)] = name
    b[100:108] = b"0000644\x00"
    b[108:116] = b"0000000\x00"
    b[116:124] = b"0000000\x00"
    b[124:136] = b"%011o\x00" % size
    b[136:148] = b"%011o\x00" % mtime
    b[156:157] = typeflag
    b[157:157 + len(link)] = link
    b[257:265] = magic
    s = 0
    for i, c in enumerate(b):
        c = 32 if 148 <= i < 156 else c
        s += (c - 256 if signed and c >= 128 else c)
    b[148:156] = b"%06o\x00 " % s
    return bytes(b)

def data(d):
    return d + b"\x00" * (-len(d) % 512)

def rec(k, v):
    body = b" " + k + b"=" + v + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body

def pax(records, t=b"x"):
    return header(b"PaxHeaders/x", t, len(records)) + data(records)

end = b"\x00" * 1024
inner = header(b"smuggled", size=4) + data(b"evil")
seeds = {
    "desync.tar": pax(rec(b"size", str(len(inner)).encode())) + header(b"innocent", size=1)
                  + inner + header(b"after", size=2) + data(b"ok") + end,
    "dir-with-size.tar": header(b"d/", b"5", 512) + header(b"next", size=1) + data(b"x") + end,
    "lone-zero.tar": header(b"a", size=1) + data(b"1") + b"\x00" * 512
                     + header(b"hidden", size=1) + data(b"2") + end,
    "trailing.tar": header(b"a", size=1) + data(b"1") + end + b"junk",
    "signed-sum.tar": header("\u00e9t\u00e9".encode(), signed=True) + end,
    "pax-bad-length.tar": pax(b"99 path=a\n") + header(b"f") + end,
    "pax-no-equals.tar": pax(b"7 path\n") + header(b"f") + end,
    "pax-dup-key.tar": pax(rec(b"path", b"one") + rec(b"path", b"two")) + header(b"f") + end,
    "pax-mtime.tar": pax(rec(b"mtime", b"-1.25") + rec(b"SCHILY.xattr.user.a", b"\x01\x02"))
                     + header(b"f") + end,
    "pax-global-reset.tar": pax(rec(b"uid", b"9"), b"g") + header(b"a") + pax(rec(b"uid", b""))
                            + header(b"b") + end,
    "gnu-longlink.tar": header(b"././@LongLink", b"K", 301, magic=b"ustar  \x00")
                        + data(b"k" * 300 + b"\x00") + header(b"l", b"2", magic=b"ustar  \x00")
                        + end,
    "dotdot.tar": header(b"../x", size=1) + data(b"1") + header(b"/abs") + header(b"h", b"1", link=b"../y") + end,
    "no-end.tar": header(b"a", size=3) + data(b"abc"),
    "truncated.tar": (header(b"a", size=1000) + data(b"z" * 1000))[:800],
}
for name, b in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(b)
PY
echo "make_tar_corpus.sh: $(find "$out" -type f | wc -l) seeds in $out"
