# Shared by the bench/compare_*.sh scripts (sourced, POSIX sh).

# best_time CMD: the best wall time in seconds of `sh -c CMD` over $runs runs
# (default 3); a failing command stops the script.
best_time() {
  _best=""
  _i=0
  while [ "$_i" -lt "${runs:-3}" ]; do
    _start=$(date +%s%N)
    sh -c "$1" >/dev/null 2>&1 || { echo "bench: failed: $1" >&2; exit 1; }
    _end=$(date +%s%N)
    _t=$((_end - _start))
    if [ -z "$_best" ] || [ "$_t" -lt "$_best" ]; then _best=$_t; fi
    _i=$((_i + 1))
  done
  awk -v ns="$_best" 'BEGIN { printf "%.3f", ns / 1e9 }'
}

# ratio A B: A / B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# peak_kib CMD: the peak resident memory of CMD in KiB (GNU time).
peak_kib() { /usr/bin/time -f %M sh -c "exec $1" 2>&1 >/dev/null | tail -n 1; }
