#!/bin/sh
# Regenerates the seed corpus of verify_fuzzer in fuzz/corpus/verify_fuzzer/:
# small installer images made by the ukikit tool itself. UKIs are `ukikit
# build` of the 2 KiB EFI application of fuzz/corpus/pe_fuzzer (as the stub;
# its machine field patched to arm64 for the arm64 ones) with a few-byte
# kernel and initrd, signed with the keys of fuzz/verify_fuzzer.keys.pem
# (db; revoked, which the fuzzer's dbx lists; a key made for the run, which
# it does not trust) and a .pcrsig by the PCR key; systemd-boot is the same
# application signed by `ukikit sign`. `ukikit image base` and `ukikit image
# assemble` write the images: two architectures passing, and each failure of
# the gate's matrix (another key, dbx, unsigned systemd-boot, a .pcrsig for
# another key, the arm64 UKI under amd64, no artifacts layer), the
# legacy-signed and legacy layouts, gzip and zstd layers, a docker-archive.
# Each image is a seed twice: raw (flag byte 0x04, then the archive), and
# built (its layers, which the fuzzer wraps in an oci-archive again; see
# verify_fuzzer.cpp for the header).
#
#   fuzz/make_verify_corpus.sh PATH/TO/ukikit
set -eu

ukikit=${1:?usage: make_verify_corpus.sh PATH/TO/ukikit}
for tool in objcopy od openssl python3 dd; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make_verify_corpus.sh: $tool is required" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
ukikit=$(cd "$(dirname "$ukikit")" && pwd)/$(basename "$ukikit")
out=$here/corpus/verify_fuzzer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C SOURCE_DATE_EPOCH=0
mkdir -p "$out"
# Kept: regression-* (inputs that once failed) and min-* (the corpus a
# fuzzing run grew, minimized with -merge=1).
find "$out" -type f ! -name 'regression-*' ! -name 'min-*' -delete
cd "$work"

# The n-th PEM block of the keys file.
pem() {
  awk -v want="$1" '/-----BEGIN/ { n++ } n == want { print } /-----END/ && n == want { exit }' \
    "$here/verify_fuzzer.keys.pem" >"$2"
}
pem 1 db.key; pem 2 db.crt; pem 3 revoked.key; pem 4 revoked.crt; pem 5 pcr.key; pem 6 pcr.pub
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj /CN=other \
  -keyout other.key -out other.crt 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out pcr-other.key 2>/dev/null
openssl pkey -in pcr-other.key -pubout -out pcr-other.pub

# The EFI application with 1 KiB file alignment (header room for the UKI's
# section table), and a copy claiming IMAGE_FILE_MACHINE_ARM64 (0xaa64, at
# e_lfanew + 4).
objcopy --file-alignment 0x400 --target=efi-app-x86_64 "$here/corpus/pe_fuzzer/tiny-stripped.efi" \
  app-amd64.efi
cp app-amd64.efi app-arm64.efi
lfanew=$(od -An -tu4 -j60 -N4 app-amd64.efi | tr -d ' ')
printf '\144\252' | dd of=app-arm64.efi bs=1 seek=$((lfanew + 4)) conv=notrunc 2>/dev/null
printf 'KERNEL' >linux
printf 'INITRD' >initrd
printf 'ID=talos\nNAME="Talos"\n' >os-release

# uki ARCH SIGNER OUT [extra build options]
uki() {
  arch=$1 signer=$2 o=$3
  shift 3
  "$ukikit" build --stub "app-$arch.efi" --linux linux --initrd initrd --os-release @os-release \
    --cmdline talos.platform=metal --pcr-private-key pcr.key \
    --signing-key "$signer.key" --signing-cert "$signer.crt" -o "$o" "$@"
}
uki amd64 db uki-amd64.efi
uki arm64 db uki-arm64.efi
uki amd64 revoked uki-amd64-revoked.efi
uki amd64 other uki-amd64-other.efi
uki amd64 db uki-amd64-pcrpkey-other.efi --pcrpkey pcr-other.pub
for arch in amd64 arm64; do
  "$ukikit" sign --key db.key --cert db.crt --output "boot-$arch.efi" "app-$arch.efi"
done

mkdir -p root/usr/bin
printf '#!/bin/sh\necho installer\n' >root/usr/bin/installer
"$ukikit" image base root --output oci-archive:base.tar --arch amd64 --arch arm64 \
  --entrypoint /usr/bin/installer --layer-compression none >/dev/null

# assemble COMPRESSION [options]: an image on the base.
assemble() {
  compression=$1
  shift
  "$ukikit" image assemble --base oci-archive:base.tar --layer-compression "$compression" "$@" >/dev/null
}
both="--arch amd64 --uki uki-amd64.efi --boot boot-amd64.efi --arch arm64 --uki uki-arm64.efi --boot boot-arm64.efi"
# shellcheck disable=SC2086
assemble none --output oci-archive:two.tar $both
# shellcheck disable=SC2086
assemble gzip --output oci-archive:two-gzip.tar $both
# shellcheck disable=SC2086
assemble zstd --output oci-archive:two-zstd.tar $both
assemble none --output docker-archive:arm64-docker.tar --arch arm64 --uki uki-arm64.efi --boot boot-arm64.efi
assemble none --output oci-archive:revoked.tar --arch amd64 --uki uki-amd64-revoked.efi --boot boot-amd64.efi
assemble none --output oci-archive:other-key.tar --arch amd64 --uki uki-amd64-other.efi --boot boot-amd64.efi
assemble none --output oci-archive:unsigned-boot.tar --arch amd64 --uki uki-amd64.efi --boot app-amd64.efi
assemble none --output oci-archive:pcrsig-other.tar --arch amd64 --uki uki-amd64-pcrpkey-other.efi --boot boot-amd64.efi
assemble none --output oci-archive:arm64-under-amd64.tar --arch amd64 --uki uki-arm64.efi --boot boot-amd64.efi
assemble none --output oci-archive:legacy-signed.tar --layout legacy-signed --arch amd64 --uki uki-amd64.efi --boot boot-amd64.efi
assemble none --output oci-archive:legacy.tar --layout legacy --arch amd64 --kernel linux --initramfs initrd
cp base.tar no-artifacts.tar

python3 - "$out" <<'PY'
import hashlib, io, json, sys, tarfile
out = sys.argv[1]

def members(path):
    with tarfile.open(path) as tf:
        return {m.name.lstrip('./'): tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}

def blob(files, digest):
    return files['blobs/sha256/' + digest.split(':')[1]]

ARCHS = ['amd64', 'arm64', 'riscv64', 'arm', '386', 's390x']

def built(files):
    """Each image's architecture and layers, from an oci-archive."""
    index = json.loads(files['index.json'])
    entries = index['manifests']
    while entries and entries[0]['mediaType'].endswith('index.v1+json'):
        entries = json.loads(blob(files, entries[0]['digest']))['manifests']
    images = []
    for e in entries:
        m = json.loads(blob(files, e['digest']))
        arch = e.get('platform', {}).get('architecture') or json.loads(blob(files, m['config']['digest']))['architecture']
        images.append((arch, [blob(files, l['digest']) for l in m['layers']]))
    return images

def seed_built(name, images, flags=0):
    assert 1 <= len(images) <= 2
    head = bytes([flags | (len(images) - 1)])
    layers = []
    for arch, ls in images:
        assert 1 <= len(ls) <= 4
        head += bytes([ARCHS.index(arch), len(ls) - 1])
        layers += ls
    for l in layers[:-1]:
        head += len(l).to_bytes(3, 'big')
    open(out + '/built-' + name, 'wb').write(head + b''.join(layers))

for name in ['two', 'two-gzip', 'two-zstd', 'arm64-docker', 'revoked', 'other-key', 'unsigned-boot',
             'pcrsig-other', 'arm64-under-amd64', 'legacy-signed', 'legacy', 'no-artifacts']:
    raw = open(name + '.tar', 'rb').read()
    open(out + '/raw-' + name, 'wb').write(b'\x04' + raw)
    if name == 'arm64-docker':
        continue
    seed_built(name, built(members(name + '.tar')))

two = built(members('two.tar'))
seed_built('two-pcrpkey', two, 0x20)            # --pcrpkey: the seeds' PCR key
seed_built('two-no-dbx', two, 0x40)
seed_built('two-wrong-diff-id', two, 0x10)
seed_built('two-no-platform', two, 0x08)
seed_built('two-same-arch', [two[0], two[0]])   # one platform twice
seed_built('riscv64', [('riscv64', two[0][1])]) # amd64's layers: nothing in usr/install/riscv64
seed_built('pcrsig-other-pcrpkey', built(members('pcrsig-other.tar')), 0x20)
# A layer that replaces the UKI with a symlink to systemd-boot, and one whose
# whiteout removes it.
def tar_of(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tf:
        for kind, name, arg in entries:
            ti = tarfile.TarInfo(name)
            data = None
            if kind == 'f':
                data = arg
                ti.size = len(data)
            elif kind == 'l':
                ti.type, ti.linkname = tarfile.SYMTYPE, arg
            elif kind == 'h':
                ti.type, ti.linkname = tarfile.LNKTYPE, arg
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()
amd = two[0]
seed_built('uki-symlink', [('amd64', amd[1] + [tar_of([('l', 'usr/install/amd64/vmlinuz.efi', 'systemd-boot.efi')])])])
seed_built('uki-whiteout', [('amd64', amd[1] + [tar_of([('f', 'usr/install/amd64/.wh.vmlinuz.efi', b'')])])])
seed_built('uki-hardlink', [('amd64', amd[1] + [tar_of([('h', 'usr/install/amd64/vmlinuz.efi', 'usr/bin/installer')])])])
PY
