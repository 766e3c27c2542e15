# shellcheck shell=bash disable=SC2034
# Sourced by the boot tests (tests/boot/*.sh): paths, the ukikit tool,
# skip-or-fail for what is missing, and boot helpers. Environment (set by
# tests/CMakeLists.txt): UKIKIT_BIN (the ukikit tool), BOOT_WORK (the
# directory the fixtures fill and the tests share), UKIKIT_INPUTS (the
# third-party inputs, default build/inputs).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
boot_uki=$root/scripts/boot-uki.sh
name=$(basename "$0" .sh)
: "${BOOT_WORK:?BOOT_WORK is not set (run the boot tests through ctest -L boot)}"
: "${UKIKIT_BIN:?UKIKIT_BIN is not set}"
ukikit=$UKIKIT_BIN
inputs=${UKIKIT_INPUTS:-${UKIKIT_DEFAULT_INPUTS:-$root/build/inputs}}
logs=$BOOT_WORK/logs
mkdir -p "$logs"

ci_run() { [ "${CI:-}" = true ] || [ "${UKIKIT_REQUIRE_INPUTS:-}" = 1 ]; }
fail() {
  echo "$name: FAILED: $*" >&2
  exit 1
}
# need WHAT CONDITION...: skip (77) without it, fail in CI.
need() {
  local what=$1
  shift
  "$@" && return 0
  if ci_run; then fail "missing: $what (required in CI; scripts/setup.sh, scripts/fetch-inputs.sh)"; fi
  echo "$name: skipped: missing $what" >&2
  exit 77
}
need_file() { need "$1" test -e "$1"; }
need_tool() { need "$1 (on PATH)" command -v "$1" >/dev/null 2>&1; }

# What every boot test needs.
need_file "$inputs/linuxx64.efi.stub"
need_file "$inputs/vmlinuz"
need_file /usr/share/OVMF/OVMF_CODE_4M.fd
need_file /usr/share/OVMF/OVMF_CODE_4M.secboot.fd
need_tool qemu-system-x86_64

# boot UKI|ESP MODE [boot-uki.sh options...]: boot it, the serial log at
# $logs/$name.<n>.log; sets boot_status (boot-uki.sh's exit status) and
# boot_log. Status 77/2 (missing tool or setup error) fails or skips here.
boot_n=0
boot() {
  local target=$1 mode=$2
  shift 2
  boot_n=$((boot_n + 1))
  boot_log=$logs/$name.$boot_n.log
  boot_status=0
  "$boot_uki" --log "$boot_log" "$@" "$target" "$mode" || boot_status=$?
  case $boot_status in
  77) need "what boot-uki.sh named above" false ;;
  2) fail "boot-uki.sh could not boot $target (setup error, see above)" ;;
  esac
}
# The value the guest printed for a UKIKIT-* key in the last boot's log.
guest() {
  local line
  line=$(grep -a "^$1 " "$boot_log" | tr -d '\r' | head -n 1)
  printf '%s\n' "${line#"$1 "}"
}
# expect_booted WHAT: the last boot reached the marker.
expect_booted() {
  [ "$boot_status" = 0 ] || fail "$1 did not boot (boot-uki.sh status $boot_status; log $boot_log)"
  grep -aq '^UKIKIT-BOOT-MARKER' "$boot_log" || fail "$1: no marker in $boot_log"
}
# expect_refused WHAT: the firmware refused it, and the marker is not there.
expect_refused() {
  if grep -aq '^UKIKIT-BOOT-MARKER' "$boot_log"; then fail "$1 booted (log $boot_log)"; fi
  [ "$boot_status" = 3 ] ||
    fail "$1: no refusal by the firmware on the console (boot-uki.sh status $boot_status; log $boot_log)"
}
