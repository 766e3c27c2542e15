#!/usr/bin/env bash
# Boots a UKI (or any EFI program, or a whole ESP directory) in QEMU with
# OVMF, on the serial console, with a hard time bound; the boot tests
# (tests/boot/) run every boot through it, and it works the same by hand:
#
#   scripts/boot-uki.sh [OPTIONS] UKI|ESP-DIR MODE
#
# UKI is put on a scratch ESP as EFI/BOOT/BOOTX64.EFI (BOOTAA64.EFI); an ESP-DIR is copied
# and used as it is. MODE:
#   plain           OVMF without Secure Boot (OVMF_CODE_4M.fd)
#   secureboot      OVMF's Secure Boot build (OVMF_CODE_4M.secboot.fd, SMM),
#                   with the variable store of --vars (keys enrolled: Secure
#                   Boot enforcing; without --vars: setup mode, not enforcing)
#   tpm             plain, with a swtpm TPM 2.0 (sha1 and sha256 banks)
#   secureboot-tpm  secureboot with the TPM
#   arm64           an arm64 UKI (EFI/BOOT/BOOTAA64.EFI) in qemu-system-aarch64
#                   (machine virt) with AAVMF, no Secure Boot, always TCG
# Options:
#   --vars FILE      variable store to start from (copied, never written);
#                    default: the ovmf package's OVMF_VARS_4M.fd (no keys)
#   --save-vars FILE keep the variable store as the boot left it (enrolling)
#   --log FILE       the serial log (default: a file in a kept scratch directory)
#   --expect TEXT    the line that means "booted" (default UKIKIT-BOOT-DONE;
#                    empty: none, run until QEMU exits or the bound)
#   --timeout SEC    the bound (default 60 with KVM, 180 without); QEMU is
#                    killed there
#   --quiet          do not print the log's tail on failure
# Exit status: 0 the --expect line was seen (or, with --expect '', QEMU
# exited by itself); 1 it was not (bound reached, or QEMU exited without
# it); 3 the firmware refused the image (its "Access Denied" / "Security
# Violation" is on the console and the --expect line is not); 2 usage or
# setup error; 77 QEMU, OVMF or swtpm is missing outside CI (in CI, with
# CI=true or UKIKIT_REQUIRE_INPUTS=1, that is status 2: nothing may skip).
# KVM is used when /dev/kvm can be opened and works (BOOT_UKI_ACCEL=tcg:
# never), else TCG. QEMU and swtpm run in their own process groups and are
# killed on every way out of this script.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

vars="" save_vars="" log="" expect=UKIKIT-BOOT-DONE timeout="" quiet=0
positional=()
while [ $# -gt 0 ]; do
  case $1 in
  --vars) vars=$2; shift 2 ;;
  --save-vars) save_vars=$2; shift 2 ;;
  --log) log=$2; shift 2 ;;
  --expect) expect=$2; shift 2 ;;
  --timeout) timeout=$2; shift 2 ;;
  --quiet) quiet=1; shift ;;
  -h | --help) usage ;;
  --) shift; positional+=("$@"); break ;;
  -*) echo "boot-uki: unknown option $1" >&2; usage ;;
  *) positional+=("$1"); shift ;;
  esac
done
set -- "${positional[@]}"
[ $# -eq 2 ] || usage
target=$1 mode=$2
case $mode in
plain | secureboot | tpm | secureboot-tpm | arm64) ;;
*) echo "boot-uki: unknown mode $mode (plain, secureboot, tpm, secureboot-tpm, arm64)" >&2; exit 2 ;;
esac
[ -e "$target" ] || { echo "boot-uki: no such file: $target" >&2; exit 2; }

ci_run() { [ "${CI:-}" = true ] || [ "${UKIKIT_REQUIRE_INPUTS:-}" = 1 ]; }
missing() {
  if ci_run; then
    echo "boot-uki: missing: $* (required in CI; scripts/setup.sh installs it)" >&2
    exit 2
  fi
  echo "boot-uki: missing: $* (skipped; scripts/setup.sh installs it)" >&2
  exit 77
}

ovmf=${OVMF_DIR:-/usr/share/OVMF}
if [ "$mode" = arm64 ]; then
  qemu=$(command -v qemu-system-aarch64 || true)
  [ -n "$qemu" ] || missing "qemu-system-aarch64 (package qemu-system-arm)"
  aavmf=${AAVMF_DIR:-/usr/share/AAVMF}
  code=$aavmf/AAVMF_CODE.fd
  [ -f "$code" ] || missing "$code (package qemu-efi-aarch64)"
  [ -n "$vars" ] || vars=$aavmf/AAVMF_VARS.fd
  [ -f "$vars" ] || missing "$vars (package qemu-efi-aarch64)"
else
  qemu=$(command -v qemu-system-x86_64 || true)
  [ -n "$qemu" ] || missing "qemu-system-x86_64 (package qemu-system-x86)"
  case $mode in
  secureboot*) code=$ovmf/OVMF_CODE_4M.secboot.fd ;;
  *) code=$ovmf/OVMF_CODE_4M.fd ;;
  esac
  [ -f "$code" ] || missing "$code (package ovmf)"
  [ -n "$vars" ] || vars=$ovmf/OVMF_VARS_4M.fd
  [ -f "$vars" ] || missing "$vars (package ovmf)"
fi
case $mode in
*tpm) command -v swtpm >/dev/null 2>&1 || missing "swtpm (package swtpm)" ;;
esac

kvm=0
if [ "${BOOT_UKI_ACCEL:-}" = tcg ] || [ "$mode" = arm64 ]; then :
elif [ -c /dev/kvm ] && { : <>/dev/kvm; } 2>/dev/null; then kvm=1; fi
timeout_given=1
[ -n "$timeout" ] || { timeout_given=0; [ "$kvm" = 1 ] && timeout=60 || timeout=180; }

work=$(mktemp -d "${TMPDIR:-/tmp}/boot-uki.XXXXXX")
[ -n "$log" ] || log=$work/serial.log
: >"$log"
qemu_pid="" tpm_pid=""
# stop PID: end the process group PID leads (SIGTERM, then SIGKILL after 2 s)
# and reap its leader.
stop() {
  kill -TERM -- "-$1" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
# shellcheck disable=SC2317 # run by the trap
cleanup() {
  local pid
  for pid in $qemu_pid $tpm_pid; do stop "$pid"; done
  qemu_pid="" tpm_pid=""
  # The serial log stays (it is the test's artifact); the rest goes.
  if [ "$log" = "$work/serial.log" ]; then
    find "$work" -mindepth 1 -maxdepth 1 ! -name serial.log -exec rm -rf {} +
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The ESP: a directory QEMU presents as a FAT disk (vvfat).
esp=$work/esp
fill_esp() {
  if [ -d "$target" ]; then
    mkdir -p "$esp"
    cp -R "$target/." "$esp/"
  else
    mkdir -p "$esp/EFI/BOOT"
    if [ "$mode" = arm64 ]; then
      cp "$target" "$esp/EFI/BOOT/BOOTAA64.EFI"
    else
      cp "$target" "$esp/EFI/BOOT/BOOTX64.EFI"
    fi
  fi
}
fill_esp
cp "$vars" "$work/vars.fd"

args=(-nodefaults -no-user-config -display none -no-reboot -m 768
  -serial "file:$log" -net none
  -drive "if=pflash,format=raw,unit=0,readonly=on,file=$code"
  -drive "if=pflash,format=raw,unit=1,file=$work/vars.fd")
# shellcheck disable=SC2054 # commas inside QEMU's option values
case $mode in
arm64) args+=(-machine virt -cpu max -drive "if=none,id=esp,format=raw,file=fat:rw:$esp"
  -device virtio-blk-pci,drive=esp) ;;
secureboot*) args+=(-vga none -drive "format=raw,file=fat:rw:$esp"
  -machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on) ;;
*) args+=(-vga none -drive "format=raw,file=fat:rw:$esp" -machine q35) ;;
esac

# start_tpm: a fresh swtpm (PCRs at zero) for the next QEMU. --terminate:
# swtpm exits when QEMU goes away.
start_tpm() {
  [ -z "$tpm_pid" ] || stop "$tpm_pid"
  rm -rf "$work/tpm"
  mkdir -p "$work/tpm"
  setsid swtpm socket --tpm2 --tpmstate "dir=$work/tpm" --terminate \
    --ctrl "type=unixio,path=$work/tpm/sock" --log "file=$work/tpm/log" \
    </dev/null >/dev/null 2>&1 &
  tpm_pid=$!
  for _ in $(seq 100); do [ -S "$work/tpm/sock" ] && break; sleep 0.05; done
  [ -S "$work/tpm/sock" ] || { echo "boot-uki: swtpm did not start" >&2; exit 2; }
}
if [[ $mode == *tpm ]]; then
  # shellcheck disable=SC2054
  args+=(-chardev "socket,id=chrtpm,path=$work/tpm/sock"
    -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0)
fi

# start_qemu kvm|tcg
start_qemu() {
  local how=(-accel tcg)
  [[ $mode != *tpm ]] || start_tpm
  [ "$1" = kvm ] && how=(-accel kvm -smp 2)
  echo "boot-uki: $mode, $1, bound ${timeout}s, serial log $log" >&2
  # timeout(1) bounds QEMU even if this script is killed with SIGKILL (a
  # ctest TIMEOUT): a few seconds after our own bound it kills QEMU itself.
  setsid timeout -s KILL $((timeout + 10)) "$qemu" "${args[@]}" "${how[@]}" \
    </dev/null >"$work/qemu.out" 2>&1 &
  qemu_pid=$!
}
# A /dev/kvm that opens is not always one that runs OVMF (nested
# virtualization without some CPU features): QEMU then stops with "KVM
# internal error" or aborts setting an MSR. Seen within the first seconds,
# that falls back to TCG once.
kvm_broken='KVM internal error|failed to set MSR|kvm_buf_set_msrs|failed to initialize kvm|not supported by this hypervisor'
accel=tcg
[ "$kvm" = 1 ] && accel=kvm
start_qemu "$accel"

refused='Access Denied|Security Violation'
status=1
start=$SECONDS
while :; do
  if [ "$accel" = kvm ] && grep -qE "$kvm_broken" "$work/qemu.out"; then
    echo "boot-uki: KVM does not work here ($(grep -E "$kvm_broken" "$work/qemu.out" | head -n 1)); TCG" >&2
    stop "$qemu_pid"
    accel=tcg
    [ "$timeout_given" = 1 ] || timeout=180
    cp "$vars" "$work/vars.fd"
    rm -rf "$esp" && mkdir -p "$esp" && fill_esp
    : >"$log"
    start=$SECONDS
    start_qemu tcg
    continue
  fi
  if [ -n "$expect" ] && grep -aqF -- "$expect" "$log"; then
    status=0
    # Give the guest a moment to power off by itself.
    for _ in $(seq 50); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.1; done
    break
  fi
  if ! kill -0 "$qemu_pid" 2>/dev/null; then
    rc=0
    wait "$qemu_pid" || rc=$?
    qemu_pid=""
    if [ -n "$expect" ] && grep -aqF -- "$expect" "$log"; then status=0
    elif [ -z "$expect" ] && [ "$rc" = 0 ]; then status=0
    elif grep -aqE "$refused" "$log"; then status=3
    else status=1; fi
    [ "$rc" = 0 ] || { echo "boot-uki: QEMU exited with status $rc:" >&2; tail -n 5 "$work/qemu.out" >&2; }
    break
  fi
  if grep -aqE "$refused" "$log"; then
    # The firmware gives up on the image: let it print the rest, then stop.
    sleep 1
    status=3
    break
  fi
  if [ $((SECONDS - start)) -ge "$timeout" ]; then
    echo "boot-uki: bound of ${timeout}s reached; QEMU killed" >&2
    status=1
    break
  fi
  sleep 0.2
done

case $status in
0) echo "boot-uki: booted ($((SECONDS - start))s)" >&2 ;;
3) echo "boot-uki: the firmware refused the image ($((SECONDS - start))s): $(grep -aE "$refused" "$log" | head -n 1 | tr -d '\r')" >&2 ;;
*) echo "boot-uki: did not boot ($((SECONDS - start))s)" >&2 ;;
esac
if [ "$status" != 0 ] && [ "$quiet" = 0 ]; then
  echo "boot-uki: last lines of $log:" >&2
  tail -n 25 "$log" | tr -d '\r' | sed 's/^/  | /' >&2
fi
if [ -n "$save_vars" ]; then
  # QEMU must be gone before its variable store is read.
  [ -z "$qemu_pid" ] || stop "$qemu_pid"
  qemu_pid=""
  cp "$work/vars.fd" "$save_vars"
fi
exit "$status"
