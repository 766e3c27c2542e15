#!/bin/sh
# Times `ukikit image verify` of a two-architecture installer image against
# reading its blobs with the reference tools, on the same machine, run and
# inputs, and prints ratios of wall time (ukikit / reference; lower is
# better) and ukikit's peak resident memory.
#
#   bench/compare_image.sh [BUILD_DIR] [UKI_MIB]
#
# Goals (issue 15):
# - verify of the gzip image <= 1.10 x the sum of `gzip -dc` of its layers
#   and `openssl dgst -sha256` of its blobs; the zstd image likewise
#   against `zstd -dc`;
# - peak memory under 128 MiB whatever the image size.
# Each UKI is a signed UKI of UKI_MIB (default 170) MiB: the architecture's
# stub and kernel, an incompressible initrd, a .pcrsig for its own .pcrpkey;
# beside the architecture's signed systemd-boot. Needs
# scripts/fetch-inputs.sh and a Release build:
# cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DUKIKIT_BUILD_TOOLS=ON
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
uki_mib=${2:-170}
[ -d "$build" ] && build=$(cd "$build" && pwd)
tool=$build/tools/ukikit
runs=${UKIKIT_BENCH_RUNS:-3}
[ -x "$tool" ] || { echo "compare_image: $tool not built (Release build in $build)" >&2; exit 2; }
for t in gzip zstd openssl python3 /usr/bin/time; do
  command -v "$t" >/dev/null 2>&1 || { echo "compare_image: $t is required" >&2; exit 2; }
done
inputs=${UKIKIT_INPUTS:-$("$root/scripts/fetch-inputs.sh")}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work"
. "$root/bench/lib.sh"

echo "making two signed ${uki_mib} MiB UKIs and an installer image (gzip, zstd) ..." >&2
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=db -keyout db.key \
  -out db.crt 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out pcr.key 2>/dev/null
openssl pkey -in pcr.key -pubout -out pcr.pub
for arch in amd64 arm64; do
  if [ "$arch" = amd64 ]; then
    stub=linuxx64.efi.stub linux=vmlinuz boot=systemd-bootx64.efi
  else
    stub=linuxaa64.efi.stub linux=vmlinuz-arm64 boot=systemd-bootaa64.efi
  fi
  kernel_kib=$(($(wc -c <"$inputs/$linux") >> 10))
  head -c "$(((uki_mib << 20) - (kernel_kib << 10) - (200 << 10)))" /dev/urandom >"initrd-$arch"
  "$tool" build --stub "$inputs/$stub" --linux "$inputs/$linux" --initrd "initrd-$arch" \
    --cmdline "quiet console=ttyS0" --no-os-release --pcrpkey pcr.pub --pcr-private-key pcr.key \
    --pcr-banks sha256 --signing-key db.key --signing-cert db.crt -o "uki-$arch.efi" >/dev/null
  cp "$inputs/$boot" "boot-$arch.efi"
  "$tool" sign --key db.key --cert db.crt "boot-$arch.efi" >/dev/null
  rm -f "initrd-$arch"
done
mkdir -p base-tree/bin
printf '#!/bin/sh\n' >base-tree/bin/installer
"$tool" image base base-tree -o base:v1 --arch amd64 --arch arm64 >/dev/null
for c in gzip zstd; do
  "$tool" image assemble --base base:v1 -o "out-$c" --layer-compression "$c" \
    --arch amd64 --uki uki-amd64.efi --boot boot-amd64.efi \
    --arch arm64 --uki uki-arm64.efi --boot boot-arm64.efi >/dev/null
done
rm -f uki-*.efi boot-*.efi

verify() { echo "'$tool' image verify --cert db.crt out-$1"; }
# The layers of every manifest (each blob once), decompressed; every blob hashed.
reference() { # $1: compression
  layers=$(python3 - "out-$1" <<'EOF'
import json, os, sys
d = sys.argv[1]
blob = lambda dg: os.path.join(d, "blobs", *dg.split(":"))
seen = []
def walk(desc):
    j = json.load(open(blob(desc["digest"])))
    for m in j.get("manifests", []):
        walk(m)
    for l in j.get("layers", []):
        if l["digest"] not in seen:
            seen.append(l["digest"])
for m in json.load(open(os.path.join(d, "index.json")))["manifests"]:
    walk(m)
print(" ".join(blob(x) for x in seen))
EOF
)
  echo "for l in $layers; do $1 -dc \"\$l\" >/dev/null; done; openssl dgst -sha256 out-$1/blobs/sha256/* >/dev/null"
}

# The gate must pass before its time means anything.
for c in gzip zstd; do
  sh -c "$(verify "$c")" >"verify-$c.txt" ||
    { echo "compare_image: verify of the $c image failed:" >&2; cat "verify-$c.txt" >&2; exit 1; }
done
cat out-gzip/blobs/sha256/* >/dev/null # warm the page cache
cat out-zstd/blobs/sha256/* >/dev/null

t_ours_gz=$(best_time "$(verify gzip)")
t_ref_gz=$(best_time "$(reference gzip)")
t_ours_zst=$(best_time "$(verify zstd)")
t_ref_zst=$(best_time "$(reference zstd)")
mem_gz=$(peak_kib "$(verify gzip)")
mem_zst=$(peak_kib "$(verify zstd)")

printf 'two architectures, signed UKIs of %s MiB each; best of %s runs\n' "$uki_mib" "$runs"
printf '%-58s %9s %9s %7s %7s\n' "what" "ukikit" "reference" "ratio" "goal"
row() { printf '%-58s %8ss %8ss %7s %7s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")" "$4"; }
row "image verify (gzip) vs gzip -dc layers, openssl dgst blobs" "$t_ours_gz" "$t_ref_gz" "<=1.10"
row "image verify (zstd) vs zstd -dc layers, openssl dgst blobs" "$t_ours_zst" "$t_ref_zst" "<=1.10"
printf 'peak memory of image verify: gzip %s MiB, zstd %s MiB (goal: < 128 MiB)\n' \
  "$((mem_gz >> 10))" "$((mem_zst >> 10))"
