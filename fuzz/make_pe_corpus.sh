#!/bin/sh
# Regenerates the seed corpora of pe_fuzzer and authenticode_fuzzer in
# fuzz/corpus/<target>/: a 2 KiB EFI application linked here with gcc, ld
# and objcopy (as gnu-efi builds them), signed by ukikit, sbsign and
# osslsigncode with a throwaway key made for the run (so signed seeds differ
# between runs; the unsigned ones do not), and the bare PKCS#7 blobs.
#
#   fuzz/make_pe_corpus.sh PATH/TO/ukikit
set -eu

ukikit=${1:?usage: make_pe_corpus.sh PATH/TO/ukikit}
for tool in gcc ld objcopy openssl sbsign osslsigncode python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make_pe_corpus.sh: $tool is required" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C SOURCE_DATE_EPOCH=0

cd "$work"
printf 'int counter = 1;\nint efi_main(void *h, void *st) { return counter + (h != st); }\n' >t.c
gcc -O2 -fpic -fno-stack-protector -ffreestanding -fno-asynchronous-unwind-tables -c t.c -o t.o
ld -shared -Bsymbolic -nostdlib -znocombreloc --build-id=none -e efi_main -o t.so t.o
objcopy --target=efi-app-x86_64 -j .text -j .data -j .dynamic -j .rela -j .reloc t.so tiny.efi
objcopy --strip-all tiny.efi tiny-stripped.efi

openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj /CN=seed -keyout k.pem -out c.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj /CN=seed-ec \
  -keyout ek.pem -out ec.pem 2>/dev/null
"$ukikit" sign --key k.pem --cert c.pem -o ukikit-signed.efi tiny-stripped.efi
"$ukikit" sign --append --key ek.pem --cert ec.pem -o two-signatures.efi ukikit-signed.efi
"$ukikit" sign --detached ukikit.p7 --key k.pem --cert c.pem tiny-stripped.efi
sbsign --key k.pem --cert c.pem --output sbsigned.efi tiny-stripped.efi >/dev/null 2>&1
osslsigncode sign -key k.pem -certs c.pem -in tiny-stripped.efi -out ossl.efi >/dev/null 2>&1
osslsigncode sign -nest -key ek.pem -certs ec.pem -in ossl.efi -out nested.efi >/dev/null 2>&1

# Certificate tables with bytes no signature covers (issue 12's shapes): a
# junk entry before and after the signature, an entry of another type,
# bytes after the PKCS#7 inside dwLength, non-zero padding.
python3 - <<'PY'
import struct
img = bytearray(open("ukikit-signed.efi", "rb").read())
lfanew = struct.unpack_from("<I", img, 0x3c)[0]
secdir = lfanew + 24 + 112 + 4 * 8        # PE32+: optional header, data directory 4
off, size = struct.unpack_from("<II", img, secdir)
body, table = bytes(img[:off]), bytes(img[off:off + size])
der = table[8:struct.unpack_from("<I", table, 0)[0]]
def entry(payload, kind=2, pad=b""):
    e = struct.pack("<IHH", 8 + len(payload), 0x200, kind) + payload
    return e + (pad or b"\0" * ((8 - len(e) % 8) % 8))
def write(name, entries):
    t = b"".join(entries)
    out = bytearray(body + t)
    struct.pack_into("<II", out, secdir, off, len(t))
    open(name, "wb").write(out)
junk = b"A" * 100
write("junk-after.efi", [entry(der), entry(junk)])
write("junk-before.efi", [entry(junk), entry(der)])
write("other-type.efi", [entry(der), entry(der, kind=1)])
write("trailing.efi", [entry(der + b"Z" * 5)])
write("efi-guid.efi", [entry(bytes.fromhex("9dd2af4adf68ee498aa9347d375665a7") + der, kind=0x0ef1)])
n = (8 - (8 + len(der)) % 8) % 8
if n:
    write("nonzero-padding.efi", [entry(der, pad=b"\x01" * n)])
else:                                     # make room for padding: one zero after the DER
    write("nonzero-padding.efi", [entry(der + b"\0", pad=b"\x01" * 7)])
PY

# Kept: regression-* (inputs that once failed) and min-* (the corpus a
# fuzzing run grew, minimized with -merge=1).
reset() {
  mkdir -p "$here/corpus/$1"
  find "$here/corpus/$1" -type f ! -name 'regression-*' ! -name 'min-*' -delete
}
reset pe_fuzzer
cp tiny.efi tiny-stripped.efi ukikit-signed.efi sbsigned.efi "$here/corpus/pe_fuzzer/"
reset authenticode_fuzzer
cp ukikit-signed.efi two-signatures.efi sbsigned.efi ossl.efi nested.efi ukikit.p7 \
  junk-after.efi junk-before.efi other-type.efi trailing.efi efi-guid.efi nonzero-padding.efi \
  "$here/corpus/authenticode_fuzzer/"
ls -l "$here/corpus/pe_fuzzer" "$here/corpus/authenticode_fuzzer" >&2
