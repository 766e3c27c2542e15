#!/bin/sh
# Regenerates the seed corpus of image_source_fuzzer in
# fuzz/corpus/image_source_fuzzer/: small images made by umoci (one gzip
# layer, an entrypoint) and copied by skopeo into an oci-archive and a
# docker-archive; the same with an index of two platforms made with
# python3; and hostile archives (a member named "..", a member twice).
# Run it from anywhere: fuzz/make_image_source_corpus.sh
set -eu

for tool in umoci skopeo tar python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make_image_source_corpus.sh: $tool is required" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus/image_source_fuzzer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/tree/bin"
echo hi > "$work/tree/bin/x"
ln -s x "$work/tree/bin/y"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/layer.tar" -C "$work/tree" .
for arch in amd64 arm64; do
  umoci init --layout "$work/$arch"
  umoci new --image "$work/$arch:t"
  umoci config --image "$work/$arch:t" --config.entrypoint /bin/x --architecture $arch \
    --created 1970-01-01T00:00:00Z --history.created 1970-01-01T00:00:00Z
  umoci raw add-layer --image "$work/$arch:t" --history.created 1970-01-01T00:00:00Z "$work/layer.tar"
done
skopeo copy -q "oci:$work/amd64:t" "oci-archive:$out/seed-oci-archive.tar:t"
skopeo copy -q "oci:$work/amd64:t" "docker-archive:$out/seed-docker-archive.tar:x/y:z"
python3 - "$work/amd64" "$work/arm64" <<'PY'
import json, os, shutil, sys
a, b = sys.argv[1], sys.argv[2]
for n in os.listdir(b + '/blobs/sha256'):
    shutil.copy(b + '/blobs/sha256/' + n, a + '/blobs/sha256/' + n)
ma = json.load(open(a + '/index.json'))['manifests'][0]
mb = json.load(open(b + '/index.json'))['manifests'][0]
ma['platform'] = {'architecture': 'amd64', 'os': 'linux'}
mb['platform'] = {'architecture': 'arm64', 'os': 'linux'}
json.dump({'schemaVersion': 2, 'manifests': [ma, mb]}, open(a + '/index.json', 'w'))
PY
(cd "$work/amd64" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  -cf "$out/seed-two-platforms.tar" oci-layout index.json blobs)
python3 - "$out" <<'PY'
import io, sys, tarfile
out = sys.argv[1]
def add(t, name, data):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
with tarfile.open(out + '/seed-dotdot.tar', 'w', format=tarfile.USTAR_FORMAT) as t:
    add(t, 'oci-layout', b'{"imageLayoutVersion":"1.0.0"}')
    add(t, '../index.json', b'{"schemaVersion":2,"manifests":[]}')
with tarfile.open(out + '/seed-twice.tar', 'w', format=tarfile.USTAR_FORMAT) as t:
    add(t, 'oci-layout', b'{"imageLayoutVersion":"1.0.0"}')
    add(t, 'index.json', b'{"schemaVersion":2,"manifests":[]}')
    add(t, './index.json', b'{"schemaVersion":2,"manifests":[{}]}')
PY
ls -l "$out"
