#!/bin/sh
# Times PCR 11 prediction and inspection of a large UKI against the limits
# and the reference tool, on the same machine and input:
# - `ukikit measure --bank sha256` of a UKI with a SIZE_MIB .initrd, next to
#   `openssl dgst -sha256` of the file (the SHA-256 limit) and
#   `systemd-measure calculate --bank=sha256` over the same section files;
# - `ukiinspect --no-hash` on that UKI and on a 1 MiB one (headers only:
#   the time must not grow with the file);
# - `ukiinspect` with every digest (sections in the four PCR banks, the
#   Authenticode digest, the CheckSum) against `openssl dgst` of the file in
#   sha256, sha256, sha1, sha384 and sha512, one after the other; and
#   `ukikit measure` in the four banks against `openssl dgst` of the section
#   files in each bank (issue 17: both at most 0.6x, the digests spread
#   over the cores).
#
#   bench/compare_uki.sh [BUILD_DIR] [SIZE_MIB]
#
# Goals (issue 4): measure <= 1.10x openssl dgst; inspect --no-hash 200 MiB
# vs 1 MiB <= 1.2x. Issue 17: inspect and measure in four banks <= 0.6x. Needs scripts/fetch-inputs.sh and a Release build.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
[ -d "$build" ] && build=$(cd "$build" && pwd)
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
five=$(best_time "for a in sha256 sha256 sha1 sha384 sha512; do openssl dgst -\$a big.efi; done")
inspect=$(best_time "'$ukiinspect' big.efi")
printf '%-44s %9s %8s\n' "openssl dgst sha256,sha256,sha1,sha384,sha512" "$five" "1.00"
printf '%-44s %9s %8s  (goal <= 0.60)\n' "ukiinspect (4 banks, Authenticode)" "$inspect" \
  "$(ratio "$inspect" "$five")"
four=$(best_time "for a in sha1 sha256 sha384 sha512; do openssl dgst -\$a linux cmdline initrd; done")
measure4=$(best_time "'$ukikit' measure big.efi")
printf '%-44s %9s %8s\n' "openssl dgst of the sections, 4 banks" "$four" "1.00"
printf '%-44s %9s %8s  (goal <= 0.60)\n' "ukikit measure (4 banks)" "$measure4" \
  "$(ratio "$measure4" "$four")"
