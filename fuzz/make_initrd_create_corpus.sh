#!/bin/sh
# Regenerates the seed corpus of initrd_create_fuzzer in
# fuzz/corpus/initrd_create_fuzzer/: gen_init_cpio lists (usr/gen_init_cpio.c)
# whose relative locations name the files the fuzzer puts in its base
# directory (a, empty, sub/f, fifo): the kernel's default list
# (usr/default_cpio_list), one line of each type with hard links, comments
# and odd spacing, a list written the way usr/gen_initramfs.sh lists a tree
# (find and stat over a small tree, locations rewritten to the fuzzer's
# files), and lines each refused for one reason.
#
#   fuzz/make_initrd_create_corpus.sh
set -eu

for tool in find stat sort; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make_initrd_create_corpus.sh: $tool is required" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus/initrd_create_fuzzer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C
mkdir -p "$out"
# Kept: regression-* (inputs that once failed) and min-* (the corpus a
# fuzzing run grew, minimized with -merge=1).
find "$out" -type f ! -name 'regression-*' ! -name 'min-*' -delete
cd "$work"

# usr/default_cpio_list
cat >"$out/default-cpio-list" <<'LIST'
# SPDX-License-Identifier: GPL-2.0-only
# This is a very simple, default initramfs

dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /root 0700 0 0
LIST

printf '%s\n' \
  '# every type, with hard links' \
  'dir /bin 0755 0 0' \
  'file /bin/a a 0755 0 0 /bin/b /sbin/c' \
  'file /init sub/f 0755 0 0' \
  'file /etc/empty empty 0644 1000 1000' \
  'slink /bin/sh a 0777 0 0' \
  'nod /dev/sda 0660 0 6 b 8 0' \
  'pipe /run/initctl 0600 0 0' \
  'sock /run/sock 0755 0 0' \
  '  # an indented comment' \
  "	dir	/tabbed	0700	0	0	" \
  'dir /crlf 0755 0 0' >"$out/every-type"
printf 'dir /crlf 0755 0 0\r\nfile deep/er/name a 0644 0 0\r\n' >"$out/crlf-and-parents"

# As usr/gen_initramfs.sh lists a directory: one line per find result,
# with the mode and owner stat gives; file locations point at the
# fuzzer's own files.
mkdir -p tree/bin tree/etc
printf 'x' >tree/etc/passwd
printf 'x' >tree/init
ln -s ../init tree/bin/sh
mkfifo tree/fifo
chmod 755 tree tree/bin tree/etc tree/init
chmod 644 tree/etc/passwd tree/fifo
(cd tree && find . -mindepth 1 | sort) | while read -r p; do
  name=${p#.}
  mode=$(stat -c %a "tree/$p")
  case $(stat -c %F "tree/$p") in
  directory) echo "dir $name $mode 0 0" ;;
  'regular file') echo "file $name a $mode 0 0" ;;
  'symbolic link') echo "slink $name $(readlink "tree/$p") $mode 0 0" ;;
  fifo) echo "pipe $name $mode 0 0" ;;
  esac
done >"$out/gen-initramfs-tree"

# Refused: one reason per file.
printf 'link /x a 0644 0 0\n' >"$out/refused-unknown-type"
printf 'file /x a 0644 0\n' >"$out/refused-too-few-fields"
printf 'dir /x 0999 0 0\n' >"$out/refused-mode"
printf 'nod /x 0600 0 0 b 4096 0\n' >"$out/refused-device-number"
printf 'file /x sub 0644 0 0\n' >"$out/refused-not-regular"
printf 'file /x fifo 0644 0 0\n' >"$out/refused-fifo"
printf 'file /x missing 0644 0 0\n' >"$out/refused-missing"
printf 'dir / 0755 0 0\n' >"$out/refused-empty-name"
ls -l "$out" >&2
