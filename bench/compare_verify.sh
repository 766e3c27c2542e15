#!/bin/sh
# Times signature verification of one large signed PE image with ukiverify,
# sbverify and osslsigncode, next to `openssl dgst -sha256` of the file (the
# limit: SHA-256 with the CPU's SHA instructions), and their peak resident
# memory. Prints wall-time ratios against openssl dgst.
#
#   bench/compare_verify.sh [BUILD_DIR] [SIZE_MIB]
#
# Goals (issue 3): ukiverify <= 1.10x openssl dgst; peak RSS < 64 MiB for a
# 200 MiB image. Needs scripts/fetch-inputs.sh (the systemd-stub) and a
# Release build: cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
[ -d "$build" ] && build=$(cd "$build" && pwd)
size_mib=${2:-200}
runs=${UKIKIT_BENCH_RUNS:-3}
ukikit=$build/tools/ukikit
ukiverify=$build/tools/ukiverify
for f in "$ukikit" "$ukiverify"; do
  [ -x "$f" ] || { echo "compare_verify: $f not built" >&2; exit 2; }
done
for t in sbverify osslsigncode openssl objcopy /usr/bin/time; do
  command -v "$t" >/dev/null 2>&1 || { echo "compare_verify: $t is required (scripts/setup.sh)" >&2; exit 2; }
done
inputs=$("$root/scripts/fetch-inputs.sh")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work"

echo "making a signed ${size_mib} MiB image ..." >&2
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=bench -keyout k.pem -out c.pem 2>/dev/null
head -c "$((size_mib << 20))" /dev/urandom >payload
objcopy --add-section .initrd=payload --set-section-flags .initrd=contents,alloc,load,readonly,data \
  --change-section-vma .initrd=0x1000000 "$inputs/linuxx64.efi.stub" big.efi
"$ukikit" sign --key k.pem --cert c.pem big.efi
# Warm the page cache so every tool reads from memory.
cat big.efi >/dev/null

. "$root/bench/lib.sh"

ref=""
printf '%-28s %9s %8s %12s\n' "tool (${size_mib} MiB image)" "seconds" "ratio" "peak RSS"
for tool in "openssl dgst -sha256 big.efi" \
  "$ukiverify --cert c.pem big.efi" \
  "sbverify --cert c.pem big.efi" \
  "osslsigncode verify -CAfile c.pem -in big.efi"; do
  t=$(best_time "$tool")
  [ -n "$ref" ] || ref=$t
  m=$(peak_kib "$tool")
  name=$(echo "$tool" | awk '{ n = $1; sub(".*/", "", n); print n, ($2 == "dgst" ? "dgst" : "") }')
  printf '%-28s %9s %8s %9s MiB\n' "$name" "$t" "$(ratio "$t" "$ref")" \
    "$(awk -v k="$m" 'BEGIN { printf "%.0f", k / 1024 }')"
done
