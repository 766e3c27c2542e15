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
for tool in gcc ld objcopy openssl sbsign osslsigncode; do
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

# Kept: regression-* (inputs that once failed) and min-* (the corpus a
# fuzzing run grew, minimized with -merge=1).
reset() {
  mkdir -p "$here/corpus/$1"
  find "$here/corpus/$1" -type f ! -name 'regression-*' ! -name 'min-*' -delete
}
reset pe_fuzzer
cp tiny.efi tiny-stripped.efi ukikit-signed.efi sbsigned.efi "$here/corpus/pe_fuzzer/"
reset authenticode_fuzzer
cp ukikit-signed.efi two-signatures.efi sbsigned.efi ossl.efi nested.efi ukikit.p7 "$here/corpus/authenticode_fuzzer/"
ls -l "$here/corpus/pe_fuzzer" "$here/corpus/authenticode_fuzzer" >&2
