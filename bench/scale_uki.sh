#!/bin/sh
# Scale: builds, signs, verifies and inspects UKIs whose .initrd is SIZE MiB
# of random data (with the real stub and kernel from scripts/fetch-inputs.sh),
# for each SIZE, and prints the wall time and the peak memory of each step
# next to its reference on the same file in the same run. Time should grow
# with the size and memory should not (issue 17).
#
#   bench/scale_uki.sh [BUILD_DIR] [SIZE_MIB...]     (default sizes: 15 172 1024)
#
# Steps and their references (issue 17's goals in brackets):
#   build            vs `cat` of the output            [<= 1.5x, peak <= 64 MiB]
#   build --signing  vs `cat` + `openssl dgst -sha256` of the output [<= 1.2x]
#   sign -o          vs `cp` + `openssl dgst -sha256` of the UKI     [<= 1.2x]
#   ukiverify        vs `openssl dgst -sha256`
#   ukiinspect       vs `openssl dgst` in sha256, sha256, sha1, sha384, sha512 [<= 0.6x]
# Needs a Release build (cmake -S . -B build/release -G Ninja
# -DCMAKE_BUILD_TYPE=Release) and about 4 x the largest size free in $TMPDIR.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
[ -d "$build" ] && build=$(cd "$build" && pwd)
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- 15 172 1024
runs=${UKIKIT_BENCH_RUNS:-3}
ukikit=$build/tools/ukikit
ukiverify=$build/tools/ukiverify
ukiinspect=$build/tools/ukiinspect
for f in "$ukikit" "$ukiverify" "$ukiinspect"; do
  [ -x "$f" ] || { echo "scale_uki: $f not built" >&2; exit 2; }
done
for t in openssl /usr/bin/time; do
  command -v "$t" >/dev/null 2>&1 || { echo "scale_uki: $t is required" >&2; exit 2; }
done
inputs=$("$root/scripts/fetch-inputs.sh")
. "$root/bench/lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=bench -keyout k.pem \
  -out c.pem 2>/dev/null

build_args="--stub '$inputs/linuxx64.efi.stub' --linux '$inputs/vmlinuz' --initrd initrd --cmdline quiet --no-os-release"
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

# row NAME OURS REFERENCE: both timed, the peak memory of OURS (one command:
# peak_kib execs it).
row() {
  _t=$(best_time "$2")
  _r=$(best_time "$3")
  _m=$(peak_kib "$2")
  printf '%6s %-18s %9s %9s %7s %9s MiB\n' "$size" "$1" "$_t" "$_r" "$(ratio "$_t" "$_r")" "$(mib "$_m")"
}

printf 'best of %s runs; sizes are of the .initrd in MiB\n' "$runs"
printf '%6s %-18s %9s %9s %7s %13s\n' "MiB" "step" "ukikit s" "ref s" "ratio" "peak"
for size in "$@"; do
  echo "making a ${size} MiB initrd ..." >&2
  head -c "$((size << 20))" /dev/urandom >initrd
  sh -c "'$ukikit' build $build_args -o unsigned.efi" 2>/dev/null
  sh -c "'$ukikit' build $build_args --signing-key k.pem --signing-cert c.pem -o signed.efi" 2>/dev/null
  "$ukiverify" --cert c.pem signed.efi >/dev/null
  cat initrd unsigned.efi signed.efi >/dev/null
  row "build" "'$ukikit' build $build_args -o out.efi" "cat unsigned.efi >out.efi"
  row "build --signing" \
    "'$ukikit' build $build_args --signing-key k.pem --signing-cert c.pem -o out.efi" \
    "cat signed.efi >out.efi && openssl dgst -sha256 out.efi"
  row "sign" "'$ukikit' sign --key k.pem --cert c.pem -o s.efi unsigned.efi" \
    "cp unsigned.efi s.efi && openssl dgst -sha256 s.efi"
  row "ukiverify" "'$ukiverify' --cert c.pem signed.efi" "openssl dgst -sha256 signed.efi"
  row "ukiinspect" "'$ukiinspect' signed.efi" \
    "for a in sha256 sha256 sha1 sha384 sha512; do openssl dgst -\$a signed.efi; done"
  rm -f initrd unsigned.efi signed.efi out.efi s.efi
done
