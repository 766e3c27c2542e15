#!/bin/sh
# Regenerates the seed corpora of uki_fuzzer, os_release_fuzzer, sbat_fuzzer
# and kernel_fuzzer in fuzz/corpus/<target>/, from real inputs and real tools:
# this machine's os-release, the .sbat of Debian's systemd-stub and
# systemd-boot (objcopy --dump-section), x86 bzImages built from the setup
# header layout of Documentation/arch/x86/boot.rst, EFI zboot images whose payloads gzip, xz, zstd and lzma compressed, and
# UKIs assembled the pre-ukify way with objcopy --add-section (duplicate
# names, which objcopy refuses to add, are made with --rename-section) on the
# 2 KiB EFI application of fuzz/corpus/pe_fuzzer and on the Debian stub.
#
#   fuzz/make_uki_corpus.sh [INPUTS]   (INPUTS: scripts/fetch-inputs.sh's directory,
#                                       default build/inputs; seeds that need it are
#                                       skipped without it)
set -eu

for tool in objcopy gzip xz zstd lzma od dd; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make_uki_corpus.sh: $tool is required" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
inputs=${1:-$here/../build/inputs}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C SOURCE_DATE_EPOCH=0
cd "$work"

# Kept: regression-* (inputs that once failed) and min-* (the corpus a
# fuzzing run grew, minimized with -merge=1).
reset() {
  mkdir -p "$here/corpus/$1"
  find "$here/corpus/$1" -type f ! -name 'regression-*' ! -name 'min-*' -delete
}
# Little-endian u32, and writing one into a file at an offset.
le32() { for i in 0 1 2 3; do printf "\\$(printf %03o $(( ($1 >> (8 * i)) & 255 )))"; done; }
patch32() { le32 "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }
# objcopy rewrites its input when given no output file: always name one.
dump_section() { cp "$1" in.efi && objcopy --dump-section "$2=$3" in.efi scratch.efi; }

# ---- text sections ---------------------------------------------------------------
reset os_release_fuzzer
cat /etc/os-release >"$here/corpus/os_release_fuzzer/this-machine"
cat >"$here/corpus/os_release_fuzzer/quoting" <<'TEXT'
# a comment

PLAIN=debian
DOUBLE="Debian GNU/Linux 12 (bookworm)"
SINGLE='single \ quoted $HOME `x` "y"'
ESCAPES="dollar \$ backtick \` quote \" backslash \\ end"
EMPTY=
COMMENTED="x" # a trailing comment
   INDENTED=yes
VERSION_ID=3.18.4
REASSIGNED=1
REASSIGNED=2
TEXT
printf 'ID=factory-reset\nTITLE="Reset Device to Factory Defaults"\n' >"$here/corpus/os_release_fuzzer/profile"
printf 'ID=debian\nVERSION_ID="12"\n\0' >"$here/corpus/os_release_fuzzer/trailing-nul"
printf 'ID="deb"ian\r\nNAME="a\\qb"\nX=a\\ b\n' >"$here/corpus/os_release_fuzzer/tolerated"
printf 'ID="unterminated\nB=$HOME\n' >"$here/corpus/os_release_fuzzer/malformed"

reset sbat_fuzzer
printf 'sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\nuki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n\0' \
  >"$here/corpus/sbat_fuzzer/ukify-merged"
printf '\357\273\277sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\r\n\nsystemd,1,a,b,c,d,extra\nsystemd,2,a,b,c,d\n' \
  >"$here/corpus/sbat_fuzzer/tolerated"
printf 'sbat,1,SBAT Version,sbat,1,https://x\nsystemd,0,a,,c\n' >"$here/corpus/sbat_fuzzer/malformed"
# shim ends a row at CR as well as at LF: two rows on one line.
printf 'sbat,1,SBAT Version,sbat,1,https://x\rsystemd,1,a,b,c,d\r\nsystemd,2,a,b,c,d\n' \
  >"$here/corpus/sbat_fuzzer/cr-ends-rows"
for name in linuxx64.efi.stub systemd-bootx64.efi; do
  [ -f "$inputs/$name" ] && dump_section "$inputs/$name" .sbat "$here/corpus/sbat_fuzzer/$name.sbat"
done

# ---- kernels -----------------------------------------------------------------------
# A small stand-in for a decompressed kernel: a format string, then the banner.
{
  printf 'Linux version %%s (%%s@%%s) (%%s) %%s\n\0'
  head -c 1024 /dev/zero | tr '\0' 'x'
  printf 'Linux version 6.6.0-seed+ (builder@host) (gcc (GCC) 13.2.0, GNU ld 2.41) #1 SMP PREEMPT\n\0'
  head -c 512 /dev/zero
} >Image
gzip -9 -n -c Image >Image.gzip
xz --check=crc32 -c Image >Image.xzkern
zstd -q -19 -c Image >Image.zstd22
lzma -9 -c Image >Image.lzma

# EFI zboot (zboot-header.S): "MZ", "zimg", payload offset and size, two
# reserved words, the compression type (32 bytes), LINUX_PE_MAGIC, PE offset.
zboot() {
  size=$(wc -c <"Image.$1")
  { printf 'MZ\0\0zimg'; le32 64; le32 "$size"; le32 0; le32 0
    printf '%s' "$1"; head -c $((32 - ${#1})) /dev/zero
    le32 2173838285; le32 0
    cat "Image.$1"; } >"$2"
}
reset kernel_fuzzer
for type in gzip xzkern zstd22 lzma; do zboot "$type" "$here/corpus/kernel_fuzzer/zboot-$type"; done
cp "$here/corpus/kernel_fuzzer/zboot-gzip" zboot.linux

# arm64 Image: text_offset 0x80000, image_size, flags 0xa (LE, 4K), "ARM\x64" at 0x38.
{ printf 'MZ\0\0'; le32 0; le32 524288; le32 0; le32 8192; le32 0; le32 10; le32 0
  head -c 24 /dev/zero; printf 'ARM\144'; le32 64; cat Image; } >"$here/corpus/kernel_fuzzer/arm64-image"

# x86 bzImage (Documentation/arch/x86/boot.rst): a boot sector and one setup
# sector (setup_sects 1), the setup header at 0x1f1 with boot_flag 0xaa55,
# "HdrS", boot protocol 2.15, kernel_version pointing at a version string
# in the setup code, and payload_offset/payload_length naming the
# compressed Image after the protected-mode code's first 64 bytes. It
# starts with "MZ" and e_lfanew pointing at "PE\0\0", as EFI-stub kernels do.
# shellcheck disable=SC2059 # $3 is a printf format: its escapes are the bytes
patch() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }
patch16() { le32 "$3" | head -c 2 | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }
bzimage() {
  head -c 1024 /dev/zero >"$2"
  patch "$2" 0 'MZ'
  patch32 "$2" 60 128               # e_lfanew
  patch "$2" 128 'PE\0\0'
  patch "$2" 497 '\001'             # 0x1f1 setup_sects
  patch16 "$2" 510 43605            # 0x1fe boot_flag 0xaa55
  patch "$2" 512 '\353\146HdrS'      # 0x200 jump, 0x202 header
  patch16 "$2" 518 527              # 0x206 version 0x20f
  patch16 "$2" 526 256              # 0x20e kernel_version: 0x100 + 0x200
  patch32 "$2" 584 64               # 0x248 payload_offset
  patch32 "$2" 588 "$(wc -c <"Image.$1")" # 0x24c payload_length
  patch "$2" 768 '6.6.0-seed+ (builder@host) #1 SMP PREEMPT\0'
  head -c 64 /dev/zero >>"$2"
  cat "Image.$1" >>"$2"
}
bzimage gzip "$here/corpus/kernel_fuzzer/bzimage-gzip"
bzimage zstd22 "$here/corpus/kernel_fuzzer/bzimage-zstd"

# (No seeds cut from Debian's kernel or stub: third-party binaries are never
# committed; the unit tests read those from scripts/fetch-inputs.sh.)

# ---- UKIs ----------------------------------------------------------------------------
printf 'quiet console=ttyS0 "quoted word" -- init\n' >cmdline
printf 'quiet systemd.unit=factory-reset.target' >cmdline.factory
printf '6.6.0-seed+\n' >uname
printf 'ID=regular\nTITLE="Regular boot"\n' >profile.0
printf 'ID=factory-reset\nTITLE="Reset Device to Factory Defaults"\n' >profile.1
cp "$here/corpus/sbat_fuzzer/ukify-merged" sbat
# add PE OUT NAME=FILE@VMA…: one objcopy --add-section per argument.
add() {
  in=$1 out=$2; shift 2
  set -- "$@"
  args=""
  for spec; do
    name=${spec%%=*} rest=${spec#*=}
    args="$args --add-section $name=${rest%@*} --change-section-vma $name=${rest#*@}"
  done
  # -p keeps the input's TimeDateStamp (otherwise objcopy writes the time of day).
  # shellcheck disable=SC2086
  objcopy -p $args "$in" "$out"
}
reset uki_fuzzer
tiny=$here/corpus/pe_fuzzer/tiny-stripped.efi
printf 'PRETTY_NAME="ukikit seed"\nNAME="ukikit"\nID=ukikit\nVERSION_ID="1"\n' >osrel
add "$tiny" "$here/corpus/uki_fuzzer/tiny-uki.efi" \
  .osrel=osrel@0x10000 .cmdline=cmdline@0x11000 .uname=uname@0x12000 .sbat=sbat@0x13000 \
  .linux=zboot.linux@0x14000
add "$tiny" multi.efi \
  .osrel=osrel@0x10000 .cmdline=cmdline@0x11000 .linux=zboot.linux@0x12000 \
  .profile=profile.0@0x13000 .prof1=profile.1@0x14000 .cmd1=cmdline.factory@0x15000 \
  .cmd2=cmdline@0x16000
objcopy -p --rename-section .prof1=.profile --rename-section .cmd1=.cmdline \
  --rename-section .cmd2=.cmdline multi.efi "$here/corpus/uki_fuzzer/tiny-multi-profile.efi"
add "$tiny" "$here/corpus/uki_fuzzer/tiny-addon.efi" .cmdline=cmdline@0x10000
cp cmdline "$here/corpus/uki_fuzzer/cmdline.txt"
cp uname "$here/corpus/uki_fuzzer/uname.txt"

for target in uki_fuzzer os_release_fuzzer sbat_fuzzer kernel_fuzzer; do
  ls -l "$here/corpus/$target" >&2
done
