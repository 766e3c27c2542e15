#!/bin/sh
# Regenerates the seed corpus of recipe_fuzzer in fuzz/corpus/recipe_fuzzer/:
# recipes in ukify's config format (the example of ukify.xml, a Talos-style
# two-architecture recipe) and the INI corners configparser has (comments,
# continuations, \r\n and \r, a section twice, blanks around '=').
#
#   fuzz/make_recipe_corpus.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/corpus/recipe_fuzzer"
mkdir -p "$out"
n=0
seed() {
  n=$((n + 1))
  printf '%b' "$1" >"$out/seed-$n"
}
seed '[UKI]\nLinux=/boot/vmlinuz-6.0.9-300.fc37.x86_64\nInitrd=early_cpio /some/path/initramfs-6.0.9-300.fc37.x86_64.img\nCmdline=quiet rw rhgb\n\n[PCRSignature:initrd]\nPhases=enter-initrd\nPCRPrivateKey=/home/user/src/systemd-main/tmp/tpm2-pcr-private-key-initrd.pem\nPCRPublicKey=/home/user/src/systemd-main/tmp/tpm2-pcr-public-key-initrd.pem\n\n[PCRSignature:system]\nPhases=enter-initrd:leave-initrd enter-initrd:leave-initrd:sysinit\n       enter-initrd:leave-initrd:sysinit:ready\nPCRPrivateKey=/home/user/src/systemd-main/tmp/tpm2-pcr-private-key-system.pem\nPCRPublicKey=/home/user/src/systemd-main/tmp/tpm2-pcr-public-key-system.pem\n'
seed '# Talos-style installer\n[UKI]\nCmdline=console=ttyS0\n        talos.platform=metal   # collapsed\nOSRelease=@os-release\nSBAT=@sbat.csv\nProfile=ID=main\nPCRBanks=sha256,sha384 sha512\nSecureBootPrivateKey=keys/db.key\nSecureBootCertificate=/etc/keys/db.crt\n\n[Arch:amd64]\nStub=stubs/linuxx64.efi.stub\nLinux=vmlinuz-amd64\nInitrd=initramfs-amd64.xz extra.cpio\nSystemdBoot=systemd-bootx64.efi\n\n[Arch:arm64]\nLinux=/boot/vmlinuz-arm64\nInitrd=\nSystemdBoot=systemd-bootaa64.efi\nCmdline=console=ttyAMA0\n\n[PCRSignature:talos]\nPCRPrivateKey=pcr.key\nPCRPublicKey=pcr.pub\nPhases=enter-initrd:leave-initrd,enter-initrd:leave-initrd:sysinit\n'
seed '[UKI]\nEFIArch=aa64\nLinux=k\nSystemdBoot=b\nCmdline=\nUname=6.1.0-28-arm64\nSigningProvider=pkcs11\nSecureBootPrivateKey=pkcs11:token=db\nSecureBootCertificate=db.crt\nSecureBootSigningTool=systemd-sbsign\nSignKernel=no\nSecureBootCertificateValidity=3650\n'
seed '# comment\n[UKI]\n  # indented comment\nCmdline=a#b c # comment\nUname=6.1\t# tab\n\nCmdline2=one\n  two\n\tthree\n\n  Initrd=a\n    b\n'
seed '[UKI]\r\nLinux=k\r\nCmdline=a\f\r  b\rUname=\v6.1\v\r\n[Arch:amd64]]\nLinux=k\n[UKI]\nStub = s = t\n'
seed '[Arch:riscv64]\nLinux=k\nSystemdBoot=b\nJoinProfile=p1.efi p2.efi\nSplash=s.bmp\nDeviceTree=d.dtb\nMicrocode=u.cpio\nPCRPKey=pub.pem\n[PCRSignature:a]\nPCRPrivateKey=a.key\nPhases=ready,shutdown:final\n'
echo "make_recipe_corpus.sh: $n seeds in $out"
