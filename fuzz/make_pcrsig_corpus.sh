#!/bin/sh
# Regenerates the seed corpus of pcrsig_fuzzer in fuzz/corpus/pcrsig_fuzzer/:
# .pcrsig JSON made by the real systemd-measure sign for the sections that
# pcrsig_fuzzer.cpp predicts, with throwaway RSA and EC keys made for the
# run (so the signatures differ between runs), and variants whose pkfp is
# the fingerprint of the public key embedded in pcrsig_fuzzer.cpp, so that
# the fuzzer's verification gets as far as the signature check.
#
# systemd-measure 252 computes the policy digest with a TPM, so this starts
# swtpm (a software TPM) on a loopback port for the run.
#
#   fuzz/make_pcrsig_corpus.sh
set -eu

measure=/lib/systemd/systemd-measure
for tool in "$measure" swtpm openssl sed timeout; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make_pcrsig_corpus.sh: $tool is required" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
tpm_pid=
cleanup() {
  [ -z "$tpm_pid" ] || kill "$tpm_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export LC_ALL=C

cd "$work"
# The sections of pcrsig_fuzzer.cpp, byte for byte.
printf 'ukikit pcrsig fuzzer kernel\n' >linux
printf 'ID=ukikit-fuzz\n' >osrel
printf 'console=ttyS0' >cmdline
sections="--linux=linux --osrel=osrel --cmdline=cmdline"

port=$((20000 + ($$ % 10000) * 2))
mkdir tpm
timeout 600 swtpm socket --tpm2 --tpmstate dir="$work/tpm" \
  --server type=tcp,port=$port,bindaddr=127.0.0.1 --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
  --flags not-need-init,startup-clear >/dev/null 2>&1 &
tpm_pid=$!
device="--tpm2-device=swtpm:host=127.0.0.1,port=$port"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null
openssl pkey -in rsa.pem -pubout -out rsa.pub
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null
openssl pkey -in ec.pem -pubout -out ec.pub

sign() { # sign OUT KEY OPTIONS...
  out=$1 key=$2
  shift 2
  # shellcheck disable=SC2086
  "$measure" sign "$device" $sections --private-key="$key.pem" --public-key="$key.pub" "$@" >"$out"
}
# The first signature also waits for swtpm to listen.
tries=0
until sign rsa-all-banks.json rsa 2>/dev/null; do
  tries=$((tries + 1))
  [ "$tries" -lt 50 ] || { echo "make_pcrsig_corpus.sh: systemd-measure sign failed" >&2; exit 1; }
  sleep 0.2
done
sign ec-sha256.json ec --bank=sha256
sign rsa-sha384-empty-phase.json rsa --bank=sha384 --phase= --phase=enter-initrd
sign ec-sha1-custom-phase.json ec --bank=sha1 --phase=enter-initrd:leave-initrd:enter-machined

# The fuzzer's key, read from its source, and its pkfp (SHA-256 of PKCS#1).
sed -n '/-----BEGIN PUBLIC KEY-----/,/-----END PUBLIC KEY-----/p' "$here/pcrsig_fuzzer.cpp" |
  sed 's/^.*\(-----BEGIN PUBLIC KEY-----\)/\1/' >fuzzer.pub
fuzzer_pkfp=$(openssl rsa -pubin -in fuzzer.pub -RSAPublicKey_out -outform DER 2>/dev/null |
  openssl dgst -sha256 -r | cut -d' ' -f1)
rsa_pkfp=$(openssl rsa -pubin -in rsa.pub -RSAPublicKey_out -outform DER 2>/dev/null |
  openssl dgst -sha256 -r | cut -d' ' -f1)
ec_pkfp=$(openssl pkey -pubin -in ec.pub -outform DER | tail -c 65 | openssl dgst -sha256 -r | cut -d' ' -f1)
grep -q "$rsa_pkfp" rsa-all-banks.json || { echo "make_pcrsig_corpus.sh: unexpected RSA pkfp" >&2; exit 1; }
grep -q "$ec_pkfp" ec-sha256.json || { echo "make_pcrsig_corpus.sh: unexpected EC pkfp" >&2; exit 1; }

sed "s/$rsa_pkfp/$fuzzer_pkfp/g" rsa-all-banks.json >rsa-all-banks-fuzzer-pkfp.json
sed "s/$ec_pkfp/$fuzzer_pkfp/g" ec-sha256.json >ec-sha256-fuzzer-pkfp.json
# A trailing NUL (UAPI.5), unknown keys and banks (newer systemd), spacing (ukify).
cat ec-sha256.json >ec-sha256-nul.json && printf '\0' >>ec-sha256-nul.json
sed 's/"pcrs":\[11\],/"pcrs":[11],"ref":"initrd",/' rsa-sha384-empty-phase.json |
  sed 's/^{/{"sm3_256":[{"pcrs":[11]}],/' >rsa-sha384-other-keys.json
sed 's/,/, /g; s/":/": /g' rsa-all-banks-fuzzer-pkfp.json >rsa-all-banks-spaced.json

mkdir -p "$here/corpus/pcrsig_fuzzer" # kept: regression-* and min-*
find "$here/corpus/pcrsig_fuzzer" -type f ! -name 'regression-*' ! -name 'min-*' -delete
cp rsa-all-banks.json rsa-all-banks-fuzzer-pkfp.json rsa-all-banks-spaced.json ec-sha256.json \
  ec-sha256-fuzzer-pkfp.json ec-sha256-nul.json rsa-sha384-empty-phase.json \
  rsa-sha384-other-keys.json ec-sha1-custom-phase.json "$here/corpus/pcrsig_fuzzer/"
ls -l "$here/corpus/pcrsig_fuzzer" >&2
