#!/bin/sh
# Times PCR 11 prediction and inspection of a large UKI against the limits
# and the reference tool, on the same machine and input:
# - `ukikit measure --bank sha256` of a UKI with a SIZE_MIB .initrd, next to
#   `openssl dgst -sha256` of the file (the SHA-256 limit) and
#   `systemd-measure calculate --bank=sha256` over the same section files;
# - `ukiinspect --no-hash` on that UKI and on a 1 MiB one (headers only:
#   the time must not grow with the file).
#
#   bench/compare_uki.sh [BUILD_DIR] [SIZE_MIB]
#
# Goals (issue 4): measure <= 1.10x openssl dgst; inspect --no-hash 200 MiB
# vs 1 MiB <= 1.2x. Needs scripts/fetch-inputs.sh and a Release build.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
size_mib=${2:-200}
runs=${UKIKIT_BENCH_RUNS:-5}
ukikit=$build/tools/ukikit
ukiinspect=$build/tools/ukiinspect
for f in "$ukikit" "$ukiinspect"; do
  [ -x "$f" ] || { echo "compare_uki: $f not built" >&2; exit 2; }
done
inputs=$("$root/scripts/fetch-inputs.sh")
. "$root/bench/lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work"

echo "making UKIs with ${size_mib} MiB and 1 MiB initrds ..." >&2
head -c "$((size_mib << 20))" /dev/urandom >big.initrd
head -c 1048576 /dev/urandom >small.initrd
for size in big small; do
  "$ukikit" build --stub "$inputs/linuxx64.efi.stub" --linux "$inputs/vmlinuz" --initrd "$size.initrd" \
    --cmdline quiet --no-os-release -o "$size.efi" 2>/dev/null
done
for s in linux cmdline initrd; do objcopy --dump-section ".$s=$s" big.efi junk.efi; done
cat big.efi >/dev/null

dgst=$(best_time "openssl dgst -sha256 big.efi")
measure=$(best_time "'$ukikit' measure --bank sha256 --phases=enter-initrd big.efi")
printf '%-44s %9s %8s\n' "what (${size_mib} MiB UKI)" "seconds" "ratio"
printf '%-44s %9s %8s\n' "openssl dgst -sha256 (the limit)" "$dgst" "1.00"
printf '%-44s %9s %8s\n' "ukikit measure --bank sha256" "$measure" "$(ratio "$measure" "$dgst")"
if [ -x /lib/systemd/systemd-measure ]; then
  sdm=$(best_time "/lib/systemd/systemd-measure calculate --bank=sha256 --phase=enter-initrd --linux=linux --cmdline=cmdline --initrd=initrd")
  printf '%-44s %9s %8s\n' "systemd-measure calculate --bank=sha256" "$sdm" "$(ratio "$sdm" "$dgst")"
fi
big=$(best_time "'$ukiinspect' --no-hash big.efi")
small=$(best_time "'$ukiinspect' --no-hash small.efi")
printf '%-44s %9s %8s\n' "ukiinspect --no-hash, 1 MiB UKI" "$small" "1.00"
printf '%-44s %9s %8s\n' "ukiinspect --no-hash, ${size_mib} MiB UKI" "$big" "$(ratio "$big" "$small")"
