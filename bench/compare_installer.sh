#!/bin/sh
# Times `ukikit image assemble` of a two-architecture installer image
# against the shell pipeline that makes the same artifacts layers, on the
# same machine, run and inputs, and prints ratios of wall time (ukikit /
# reference; lower is better) and ukikit's peak memory.
#
#   bench/compare_installer.sh [BUILD_DIR] [UKI_MIB]
#
# Goals (issue 15):
# - assemble (gzip) <= 1.0 x, for each architecture,
#   `tar --sort=name --mtime=@0 -c usr/install/<arch> | gzip -n` plus
#   `sha256sum` of the result;
# - with --layer-compression zstd, likewise against `zstd -3`, using both
#   cores (ukikit makes the two architectures' layers at once).
# The UKIs are UKI_MIB (default 170) of already-compressed data each (a
# zstd stream of files under /usr, as a UKI's kernel and initramfs are
# compressed), beside a 100 KiB systemd-boot.
# Build first: cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release
set -eu

build=${1:-build/release}
uki_mib=${2:-170}
tool=$build/tools/ukikit
runs=${UKIKIT_BENCH_RUNS:-3}
[ -x "$tool" ] || { echo "compare_installer: $tool not built (Release build in $build)" >&2; exit 2; }
for t in tar gzip zstd sha256sum python3; do
  command -v "$t" >/dev/null 2>&1 || { echo "compare_installer: $t is required" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

. "$(dirname "$0")/lib.sh"

echo "making two ${uki_mib} MiB UKIs and an installer-base ..." >&2
for arch in amd64 arm64; do
  mkdir -p "$work/tree-$arch/usr/install/$arch"
  dir="$work/tree-$arch/usr/install/$arch"
  # Different bytes per architecture: files of /usr in another order.
  order=$([ "$arch" = amd64 ] && echo sort || echo "sort -r")
  find /usr/lib /usr/share -xdev -type f -size -4M 2>/dev/null | LC_ALL=C $order |
    tar -cf - -T - 2>/dev/null | zstd -q -3 -c | head -c "$((uki_mib << 20))" >"$dir/vmlinuz.efi"
  head -c 102400 "$dir/vmlinuz.efi" >"$dir/systemd-boot.efi"
  chmod 0644 "$dir/vmlinuz.efi" "$dir/systemd-boot.efi"
done
mkdir -p "$work/base-tree/bin"
printf '#!/bin/sh\n' >"$work/base-tree/bin/installer"
"$tool" image base "$work/base-tree" -o "$work/base:v1" --arch amd64 --arch arm64 >/dev/null

assemble() { # $1: compression
  echo "'$tool' image assemble --base '$work/base:v1' -o '$work/out-$1' --layer-compression $1 \
    --arch amd64 --uki '$work/tree-amd64/usr/install/amd64/vmlinuz.efi' \
      --boot '$work/tree-amd64/usr/install/amd64/systemd-boot.efi' \
    --arch arm64 --uki '$work/tree-arm64/usr/install/arm64/vmlinuz.efi' \
      --boot '$work/tree-arm64/usr/install/arm64/systemd-boot.efi'"
}
reference() { # $1: compressor command
  echo "for a in amd64 arm64; do tar -C '$work/tree-'\$a --sort=name --mtime=@0 --owner=0 \
    --group=0 --numeric-owner -cf - usr/install/\$a/systemd-boot.efi usr/install/\$a/vmlinuz.efi \
    | $1 >'$work/ref-'\$a && sha256sum '$work/ref-'\$a; done"
}

# The layers must list the same before their times mean anything.
sh -c "$(assemble gzip) --json" >"$work/ours.json"
sh -c "$(reference 'gzip -n -6')" >/dev/null
i=0
for a in amd64 arm64; do
  layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["images"][int(sys.argv[2])]["artifacts"]["digest"][7:])' \
    "$work/ours.json" "$i")
  gzip -dc "$work/out-gzip/blobs/sha256/$layer" | tar --numeric-owner -tvf - >"$work/ours-$a.txt"
  gzip -dc "$work/ref-$a" | tar --numeric-owner -tvf - >"$work/ref-$a.txt"
  cmp -s "$work/ours-$a.txt" "$work/ref-$a.txt" ||
    { echo "compare_installer: the $a artifacts layers list differently" >&2; exit 1; }
  i=$((i + 1))
done

t_ours_gz=$(best_time "$(assemble gzip)")
t_ref_gz=$(best_time "$(reference 'gzip -n -6')")
t_ours_zst=$(best_time "$(assemble zstd)")
t_ref_zst=$(best_time "$(reference 'zstd -q -3 -c')")
mem_gz=$(peak_kib "$(assemble gzip)")

printf 'two architectures, UKIs of %s MiB each; best of %s runs\n' "$uki_mib" "$runs"
printf '%-52s %9s %9s %7s %7s\n' "what" "ukikit" "reference" "ratio" "goal"
row() { printf '%-52s %8ss %8ss %7s %7s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")" "$4"; }
row "assemble gzip vs tar --sort=name | gzip -n, sha256sum" "$t_ours_gz" "$t_ref_gz" "<=1.00"
row "assemble zstd vs tar --sort=name | zstd -3, sha256sum" "$t_ours_zst" "$t_ref_zst" "<=1.00"
printf 'peak memory of assemble (gzip): %s MiB\n' "$((mem_gz >> 10))"
