#!/bin/sh
# Times `ukikit layer list` and `ukikit layer create` against the reference
# tools on the same machine, the same run and the same input, and prints
# ratios of wall time (ukikit / reference; 1.00 = equal, lower is better).
#
#   bench/compare_layer.sh [BUILD_DIR] [TREE_MIB] [LAYER_MIB]
#
# Goals (issue 14):
# - listing a LAYER_MIB (default 1024) raw tar layer of files from /usr
#   <= 0.5 x GNU `tar -tf` (shown beside bsdtar -tf);
# - listing the gzip layer of a TREE_MIB (default 200) tree
#   <= 1.05 x `gzip -dc >/dev/null`;
# - creating that gzip layer at level 6 <= 1.0 x
#   `tar --sort=name -c | gzip -n -6` (two processes, so two cores).
# Build first: cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release
set -eu

build=${1:-build/release}
tree_mib=${2:-200}
layer_mib=${3:-1024}
tool=$build/tools/ukikit
runs=${UKIKIT_BENCH_RUNS:-3}
[ -x "$tool" ] || { echo "compare_layer: $tool not built (Release build in $build)" >&2; exit 2; }
for t in tar bsdtar gzip; do
  command -v "$t" >/dev/null 2>&1 || { echo "compare_layer: $t is required" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

. "$(dirname "$0")/lib.sh"

# The first MIB of files under /usr, sorted, as a list relative to /.
usr_files() {
  find /usr/lib /usr/share /usr/bin -xdev -type f -size -4M 2>/dev/null | LC_ALL=C sort |
    awk -v limit="$(($1 << 20))" '{ cmd = "stat -c %s \"" $0 "\""; cmd | getline s; close(cmd);
        total += s; if (total > limit) exit; print substr($0, 2) }'
}

# A tree like an installer's artifacts: the first TREE_MIB of /usr, copied.
echo "making a ${tree_mib} MiB tree and a ${layer_mib} MiB layer from /usr ..." >&2
usr_files "$tree_mib" >"$work/tree-files"
mkdir "$work/tree"
tar -C / -cf - -T "$work/tree-files" | tar -C "$work/tree" -xf -
files=$(wc -l <"$work/tree-files")
# A large raw layer, written by GNU tar straight from /usr.
usr_files "$layer_mib" >"$work/layer-files"
tar -C / --sort=name -cf "$work/big.tar" -T "$work/layer-files"
entries=$(tar -tf "$work/big.tar" | wc -l)
big_mib=$(($(stat -c %s "$work/big.tar") >> 20))

# Create: the same tree, gzip -6, deterministic on both sides.
ref_create="tar -C '$work/tree' --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - . | gzip -n -6 >'$work/ref.tar.gz'"
ours_create="'$tool' layer create '$work/tree' --compress gzip --level 6 -o '$work/ours.tar.gz'"
t_ref_create=$(best_time "$ref_create")
t_ours_create=$(best_time "$ours_create")
gzip -t "$work/ours.tar.gz"

# The listings must be the same before their times mean anything.
"$tool" layer list "$work/big.tar" >"$work/ours.txt"
LC_ALL=C tar -tf "$work/big.tar" >"$work/ref.txt"
cmp -s "$work/ours.txt" "$work/ref.txt" || { echo "compare_layer: listings differ" >&2; exit 1; }
"$tool" layer list "$work/ours.tar.gz" >"$work/ours-gz.txt"
LC_ALL=C tar -tzf "$work/ours.tar.gz" >"$work/ref-gz.txt"
cmp -s "$work/ours-gz.txt" "$work/ref-gz.txt" || { echo "compare_layer: gzip listings differ" >&2; exit 1; }

t_ours_list=$(best_time "'$tool' layer list '$work/big.tar' >/dev/null")
t_tar_list=$(best_time "tar -tf '$work/big.tar' >/dev/null")
t_bsd_list=$(best_time "bsdtar -tf '$work/big.tar' >/dev/null")
t_ours_gz=$(best_time "'$tool' layer list '$work/ours.tar.gz' >/dev/null")
t_gzip=$(best_time "gzip -dc '$work/ours.tar.gz' >/dev/null")
t_tar_gz=$(best_time "tar -tzf '$work/ours.tar.gz' >/dev/null")

printf 'tree: %s files, %s MiB; raw layer: %s entries, %s MiB; best of %s runs\n' \
  "$files" "$tree_mib" "$entries" "$big_mib" "$runs"
printf '%-46s %9s %9s %7s %7s\n' "what" "ukikit" "reference" "ratio" "goal"
row() { printf '%-46s %8ss %8ss %7s %7s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")" "$4"; }
row "list raw layer vs tar -tf" "$t_ours_list" "$t_tar_list" "<=0.50"
row "list raw layer vs bsdtar -tf" "$t_ours_list" "$t_bsd_list" ""
row "list gzip layer vs gzip -dc >/dev/null" "$t_ours_gz" "$t_gzip" "<=1.05"
row "list gzip layer vs tar -tzf" "$t_ours_gz" "$t_tar_gz" ""
row "create gzip -6 vs tar --sort=name | gzip -n -6" "$t_ours_create" "$t_ref_create" "<=1.00"
printf 'sizes: ukikit %s bytes, reference %s bytes\n' "$(stat -c %s "$work/ours.tar.gz")" \
  "$(stat -c %s "$work/ref.tar.gz")"
