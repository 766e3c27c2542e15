#!/bin/sh
# Times `ukikit initrd list` and `ukikit initrd create` against the reference
# tools on the same machine, the same run and the same input, and prints
# ratios of wall time (ukikit / reference; 1.00 = equal, lower is better).
#
#   bench/compare_initrd.sh [BUILD_DIR] [SIZE_MIB]
#
# Goals (issue 5), on a SIZE_MIB (default 200) tree of files from /usr:
# - listing its zstd initramfs <= 1.05 x `zstd -dc >/dev/null`, shown side by
#   side with `zstd -dc | cpio -t` and `bsdcpio -t`;
# - creating it at zstd -3 with 2 threads <= 1.0 x
#   `find | sort | cpio -o -H newc | zstd -3 -T2`;
# - listing it as `xz -T0` compresses it (several blocks) <= 1.1 x
#   `xz -T2 -dc` (issue 17).
# Build first: cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release
set -eu

build=${1:-build/release}
size_mib=${2:-200}
tool=$build/tools/ukikit
runs=${UKIKIT_BENCH_RUNS:-3}
[ -x "$tool" ] || { echo "compare_initrd: $tool not built (Release build in $build)" >&2; exit 2; }
for t in zstd xz cpio bsdcpio; do
  command -v "$t" >/dev/null 2>&1 || { echo "compare_initrd: $t is required" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

. "$(dirname "$0")/lib.sh"

# A tree like an initramfs: the first SIZE_MIB of files under /usr, in many
# directories, copied with their layout.
echo "making a ${size_mib} MiB tree from /usr ..." >&2
mkdir "$work/tree"
find /usr/lib /usr/share /usr/bin -xdev -type f -size -4M 2>/dev/null | LC_ALL=C sort |
  awk -v limit="$((size_mib << 20))" '{ cmd = "stat -c %s \"" $0 "\""; cmd | getline s; close(cmd);
      total += s; if (total > limit) exit; print }' >"$work/files"
(cd / && cpio -pdm --quiet "$work/tree" <"$work/files")
files=$(wc -l <"$work/files")

ref_create="cd '$work/tree' && find . | LC_ALL=C sort | cpio -o -H newc --quiet | zstd -q -3 -T2 >'$work/ref.zst'"
ours_create="'$tool' initrd create '$work/tree' --compress zstd --level 3 --threads 2 -o '$work/ours.zst'"
t_ref_create=$(best_time "$ref_create")
t_ours_create=$(best_time "$ours_create")

in=$work/ours.zst
t_zstd=$(best_time "zstd -dc '$in' >/dev/null")
t_ours=$(best_time "'$tool' initrd list '$in' >/dev/null")
t_cpio=$(best_time "zstd -dc '$in' | cpio -t --quiet >/dev/null")
t_bsd=$(best_time "bsdcpio -it <'$in' >/dev/null")

# The listing must be the same before its time means anything.
"$tool" initrd list "$in" >"$work/ours.txt"
zstd -dc "$in" | cpio -t --quiet >"$work/ref.txt"
cmp -s "$work/ours.txt" "$work/ref.txt" || { echo "compare_initrd: listings differ" >&2; exit 1; }

# An xz initramfs as `xz -T0` writes it: blocks of 3 x the dictionary with
# their sizes in the headers, which list decodes on both cores (issue 17).
(cd "$work/tree" && find . | LC_ALL=C sort | cpio -o -H newc --quiet |
  xz -T0 -6 --check=crc32 >"$work/ref.xz")
blocks=$(xz --robot -l "$work/ref.xz" | awk '$1 == "totals" { print $3 }')
"$tool" initrd list "$work/ref.xz" >"$work/ours_xz.txt"
xz -dc "$work/ref.xz" | cpio -t --quiet >"$work/ref_xz.txt"
cmp -s "$work/ours_xz.txt" "$work/ref_xz.txt" || { echo "compare_initrd: xz listings differ" >&2; exit 1; }
t_xz2=$(best_time "xz -T2 -dc '$work/ref.xz' >/dev/null")
t_ours_xz=$(best_time "'$tool' initrd list '$work/ref.xz' >/dev/null")

printf '%s files, %s MiB; best of %s runs\n' "$files" "$size_mib" "$runs"
printf '%-44s %9s %9s %7s\n' "what" "ukikit" "reference" "ratio"
printf '%-44s %8ss %8ss %7s\n' "list zstd initramfs vs zstd -dc >/dev/null" "$t_ours" "$t_zstd" \
  "$(ratio "$t_ours" "$t_zstd")"
printf '%-44s %8ss %8ss %7s\n' "list vs zstd -dc | cpio -t" "$t_ours" "$t_cpio" \
  "$(ratio "$t_ours" "$t_cpio")"
printf '%-44s %8ss %8ss %7s\n' "list vs bsdcpio -t" "$t_ours" "$t_bsd" "$(ratio "$t_ours" "$t_bsd")"
printf '%-44s %8ss %8ss %7s\n' "list xz initramfs ($blocks blocks) vs xz -T2 -dc" "$t_ours_xz" \
  "$t_xz2" "$(ratio "$t_ours_xz" "$t_xz2")"
printf '%-44s %8ss %8ss %7s\n' "create zstd -3 -T2 vs find|cpio|zstd" "$t_ours_create" \
  "$t_ref_create" "$(ratio "$t_ours_create" "$t_ref_create")"
