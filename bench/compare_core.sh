#!/bin/sh
# Times ukikit's core layer against the reference tools on the same machine,
# the same run and the same input, and prints ratios of wall time
# (ukikit / reference; 1.00 = equal, lower is better).
#
#   bench/compare_core.sh [BUILD_DIR] [SIZE_MIB]
#
# Goals (issue 2): sha256 within 5% of `openssl speed -evp sha256 -bytes
# 16384`; zstd decode within 5% of `zstd -d`; xz decode within 5% of `xz -d`.
# Build first: cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release
set -eu

build=${1:-build/release}
size_mib=${2:-200}
bench=$build/bench/ukikit_bench
tool=$build/tools/ukikit
runs=${UKIKIT_BENCH_RUNS:-3}
for f in "$bench" "$tool"; do
  [ -x "$f" ] || { echo "compare_core: $f not built (Release build in $build)" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

. "$(dirname "$0")/lib.sh"

printf '%-34s %12s %12s %8s\n' "what" "ukikit" "reference" "ratio"

# 1. SHA-256 throughput, 16 KiB updates, as openssl speed measures it.
ref_kbs=$(openssl speed -evp sha256 -bytes 16384 -seconds 3 2>/dev/null |
  awk '/^sha256 / { v = $NF; sub(/k$/, "", v); print v }')
ours_bps=$("$bench" --benchmark_filter='^BM_sha256_hash_64MiB_in_16KiB$' \
  --benchmark_repetitions="$runs" --benchmark_report_aggregates_only=true \
  --benchmark_format=csv 2>/dev/null |
  awk -F, '$1 ~ /_mean"?$/ { print $6 }')
ours_mbs=$(awk -v b="$ours_bps" 'BEGIN { printf "%.0f", b / 1e6 }')
ref_mbs=$(awk -v k="$ref_kbs" 'BEGIN { printf "%.0f", k * 1000 / 1e6 }')
printf '%-34s %9s MB/s %7s MB/s %8s\n' "sha256 (16 KiB updates)" "$ours_mbs" "$ref_mbs" \
  "$(ratio "$ref_mbs" "$ours_mbs")"

# 2. Decoding the same file, output discarded.
echo "making a ${size_mib} MiB sample from /usr/lib ..." >&2
find /usr/lib -type f -size +64k 2>/dev/null | LC_ALL=C sort | head -2000 |
  xargs cat 2>/dev/null | head -c "$((size_mib << 20))" >"$work/sample"
zstd -q -3 -T0 "$work/sample" -o "$work/sample.zst"
xz -T0 -6 --check=crc32 -c "$work/sample" >"$work/sample.xz"

for fmt in zstd xz; do
  case $fmt in
    zstd) in=$work/sample.zst ref="zstd -d -q -c '$in' >/dev/null" ;;
    xz) in=$work/sample.xz ref="xz -d -T1 -c '$in' >/dev/null" ;;
  esac
  ours="'$tool' decompress --max-size 64G -o - '$in' >/dev/null"
  t_ours=$(best_time "$ours")
  t_ref=$(best_time "$ref")
  printf '%-34s %10s s %10s s %8s\n' "$fmt decode ${size_mib} MiB" "$t_ours" "$t_ref" \
    "$(ratio "$t_ours" "$t_ref")"
done
