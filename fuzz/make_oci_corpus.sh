#!/bin/sh
# Regenerates the seed corpus of oci_fuzzer in fuzz/corpus/oci_fuzzer/:
#  - the image-spec v1.1.1 examples (tests/data/oci/spec: manifest, index,
#    config, descriptors, artifacts, the empty descriptor);
#  - what umoci and skopeo write for a small image: the OCI layout's
#    oci-layout and index.json, manifests and configs (umoci), the same copied by skopeo,
#    the Docker v2 schema 2 manifest of `skopeo copy --format v2s2 dir:`,
#    and the config of a docker-archive;
#  - a few hand-written edge cases (a Docker config with nulls, a digest,
#    unknown fields).
# Every seed is small and, apart from the tools' timestamps, deterministic.
#   fuzz/make_oci_corpus.sh
set -eu

for tool in umoci skopeo tar python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make_oci_corpus.sh: $tool is required" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
out="$here/corpus/oci_fuzzer"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C

mkdir -p "$out" # kept: regression-* and min-*
find "$out" -type f ! -name 'regression-*' ! -name 'min-*' -delete
for f in "$here"/../tests/data/oci/spec/*.json; do cp "$f" "$out/spec-$(basename "$f")"; done

cd "$work"
mkdir src && printf 'hello\n' >src/x && tar -cf some.tar -C src x
{
  umoci init --layout L
  umoci new --image L:t
  umoci config --image L:t --config.entrypoint /bin/x --architecture arm64 \
    --config.label a=b --config.env X=1 --config.exposedports 80/tcp --config.volume /data
  umoci raw add-layer --image L:t some.tar
  skopeo copy oci:L:t oci:L2:t
  skopeo copy --format v2s2 oci:L:t dir:D
  skopeo copy oci:L:t docker-archive:A.tar:x:y
} >/dev/null 2>&1
mkdir AX && tar -xf A.tar -C AX
cat L/index.json >"$out/umoci-index.json"
cat L/oci-layout >"$out/umoci-oci-layout.json"
cat L2/index.json >"$out/skopeo-index.json"
cat D/manifest.json >"$out/skopeo-docker-v2s2-manifest.json"
n=0
for f in L/blobs/sha256/* AX/*.json; do
  case "$f" in AX/manifest.json) continue ;; esac
  python3 -c 'import json,sys; json.load(open(sys.argv[1],"rb"))' "$f" 2>/dev/null || continue
  n=$((n + 1))
  cat "$f" >"$out/tool-$n.json"
done

printf '%s' '{"architecture":"amd64","os":"linux","config":{"Hostname":"","Cmd":null,"Labels":null,"ExposedPorts":{"22/tcp":{}}},"container_config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[]},"docker_version":"24.0.7"}' >"$out/docker-config-nulls.json"
printf '%s' 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' >"$out/digest.txt"
printf '%s' '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha512:'"$(printf x | sha512sum | cut -c1-128)"'","size":1,"x-future":[1.5,{"a":null}]}],"x-top":"\ud83d\udce6"}' >"$out/index-unknown-fields.json"
ls -l "$out" >&2
