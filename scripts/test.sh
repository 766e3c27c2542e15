#!/usr/bin/env bash
# The whole test suite; CI runs it through .ci/run. As root on Debian 12,
# from the top of a clone: ./scripts/test.sh
#
# Phases (each runs even when an earlier one failed; the script exits
# non-zero when any failed, after a summary with timings):
#   setup  scripts/setup.sh installs the Debian packages, and
#          scripts/fetch-inputs.sh unpacks the third-party inputs that some
#          tests need, which are then required (UKIKIT_REQUIRE_INPUTS=1);
#          the script stops here on error
#   asan   g++, AddressSanitizer + UndefinedBehaviorSanitizer, -Werror on our
#          code, build/asan: build everything but the benchmarks and run
#          ctest (unit tests, fuzz corpus replays, consumer tests). Skipped
#          and disabled tests are counted apart from passed ones and named;
#          in CI (CI=true, or UKIKIT_REQUIRE_INPUTS=1 as this script sets
#          once the inputs are fetched) any such test fails the phase, since
#          there every tool and input a test needs must be present
#   fuzz   clang++, libFuzzer + ASan + UBSan, build/fuzz: build each fuzz
#          target and run it for $UKIKIT_FUZZ_SECONDS (default 20) seconds on
#          a scratch copy of its seed corpus, with its dictionary
#   bench  g++ Release, build/release: build the benchmarks and run each
#          once, briefly, as a smoke test
#
# Environment: UKIKIT_FUZZ_SECONDS (fuzz time per target), UKIKIT_JOBS
# (parallel jobs, default nproc), UKIKIT_BENCH_RUN=0 (build the benchmarks
# but do not run them), ASAN_OPTIONS / UBSAN_OPTIONS (defaults below).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
invoked_from=$PWD
cd "$root"
jobs=${UKIKIT_JOBS:-$(nproc 2>/dev/null || echo 2)}
results=$root/build/test-results

# Sanitizer options for everything this script runs: leaks are errors, and
# UBSan stops at the first finding with a stack trace.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

banner() { printf '\n==> %s\n' "$*"; }

# Counts for the closing line: record_counts PHASE PASSED FAILED [SKIPPED]
record_counts() { printf '%s %s %s\n' "$2" "$3" "${4:-0}" >"$results/$1.counts"; }

# Whether this is a CI run, where no test may skip: every tool and input a
# test needs is installed by setup.sh and fetch-inputs.sh.
ci_run() { [ "${CI:-}" = true ] || [ "${UKIKIT_REQUIRE_INPUTS:-}" = 1 ]; }

# stdin: a ctest log; stdout: the tests that did not run, one per line as
# ctest names them ("NN - name (Skipped)", "(Disabled)", "(Not Run)"). ctest
# lists skipped and disabled tests under "The following tests did not run:"
# and tests it could not start among the failed ones, as "(Not Run)".
ctest_not_run() {
  awk '/^The following tests did not run:/ { list = "did not run"; next }
       /^The following tests FAILED:/ { list = "failed"; next }
       list != "" && /^[[:space:]]+[0-9]+ - / {
         if (list == "did not run" || /\(Not Run\)$/) { sub(/^[[:space:]]+/, ""); print }
         next
       }
       { list = "" }'
}

# ---- phase: asan -------------------------------------------------------------
phase_asan() {
  banner "asan: configure (g++, -fsanitize=address,undefined, -Werror, build/asan)"
  cmake -S . -B build/asan -G Ninja \
    -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DUKIKIT_SANITIZE=address,undefined -DUKIKIT_WERROR=ON \
    -DUKIKIT_BUILD_TOOLS=ON -DUKIKIT_BUILD_TESTS=ON -DUKIKIT_BUILD_FUZZERS=ON \
    -DUKIKIT_LIBFUZZER=OFF -DUKIKIT_BUILD_BENCHMARKS=OFF
  banner "asan: build (-j$jobs)"
  cmake --build build/asan -j "$jobs"
  banner "asan: ctest"
  local status=0
  ctest --test-dir build/asan --output-on-failure --no-tests=error -j "$jobs" 2>&1 | tee build/asan/ctest.log ||
    status=$?
  count_ctest_log asan build/asan/ctest.log || status=1
  return "$status"
}

# count_ctest_log PHASE LOG: the counts of a ctest log for the closing line,
# and the tests that did not run, by name; non-zero when a test failed, when
# the log has no summary line, or in CI when any test did not run. ctest's
# summary line, "NN% tests passed, F tests failed out of T", counts a
# skipped test as passed and leaves disabled ones out of T.
count_ctest_log() {
  local phase=$1 log=$2 status=0 line passed=0 failed=0 skipped=0 not_run
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" |
    tail -n 1 || true)
  not_run=$(ctest_not_run <"$log")
  if [ -n "$line" ]; then
    failed=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
    passed=$(($(echo "$line" | sed -E 's/.* failed out of ([0-9]+).*/\1/') - failed))
    echo "$line" >"$results/$phase.ctest"
  else
    echo "$phase: ctest printed no summary line (no tests?)" >&2
    status=1
  fi
  if [ -n "$not_run" ]; then
    # "(Not Run)" ones are already among the failed, skipped ones among the
    # passed.
    skipped=$(grep -cv '(Not Run)$' <<<"$not_run" || true)
    passed=$((passed - $(grep -c '(Skipped)$' <<<"$not_run" || true)))
    printf '%s\n' "$not_run" >"$results/$phase.not-run"
    if ci_run; then
      echo "$phase: $(wc -l <<<"$not_run") tests did not run; in CI every test must run" \
        "(a missing tool or input fails and is named under UKIKIT_REQUIRE_INPUTS=1):" >&2
      sed 's/^/  /' "$results/$phase.not-run" >&2
      status=1
    else
      echo "$phase: tests that did not run (allowed outside CI):"
      sed 's/^/  /' "$results/$phase.not-run"
    fi
  fi
  record_counts "$phase" "$passed" "$failed" "$skipped"
  echo "$phase: $passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ] || status=1
  return "$status"
}

# ---- phase: fuzz -------------------------------------------------------------
# stdin: a fuzzer's log; stdout: its sanitizer or libFuzzer report (from the
# first error line, at most ${1:-80} lines), or its last 40 lines.
sanitizer_report() {
  local log max=${1:-80}
  log=$(cat)
  if grep -qE '==[0-9]+==ERROR|runtime error:|ERROR: libFuzzer' <<<"$log"; then
    printf '%s\n' "$log" |
      awk '/==[0-9]+==ERROR|runtime error:|ERROR: libFuzzer/ { p = 1 } p' | head -n "$max" || true
  else
    printf '%s\n' "$log" | tail -n 40 || true
  fi
}

phase_fuzz() {
  local seconds=${UKIKIT_FUZZ_SECONDS:-20}
  banner "fuzz: configure (clang++, -fsanitize=fuzzer,address,undefined, build/fuzz)"
  CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DUKIKIT_SANITIZE=address,undefined -DUKIKIT_LIBFUZZER=ON -DUKIKIT_BUILD_FUZZERS=ON \
    -DUKIKIT_BUILD_TOOLS=OFF -DUKIKIT_BUILD_TESTS=OFF -DUKIKIT_BUILD_BENCHMARKS=OFF \
    -DUKIKIT_INSTALL=OFF
  banner "fuzz: build (-j$jobs)"
  cmake --build build/fuzz -j "$jobs"

  local sources=() src
  for src in fuzz/*_fuzzer.cpp; do
    [ -e "$src" ] && sources+=("$src")
  done
  if [ "${#sources[@]}" -eq 0 ]; then
    echo "fuzz: no fuzz/*_fuzzer.cpp yet; nothing to run"
    record_counts fuzz 0 0
    return 0
  fi

  local name bin run passed=0 failed=0 rc start
  for src in "${sources[@]}"; do
    name=$(basename "$src" .cpp)
    bin=$root/build/fuzz/fuzz/$name
    banner "fuzz: $name for ${seconds}s"
    if [ ! -x "$bin" ]; then
      echo "fuzz: $src exists but $bin was not built (add ukikit_add_fuzzer($name) to fuzz/CMakeLists.txt)" >&2
      failed=$((failed + 1))
      continue
    fi
    # Work on a scratch copy of the seed corpus, from a scratch directory, so
    # new inputs and crash artifacts never land in the source tree.
    run=$root/build/fuzz/run/$name
    rm -rf "$run"
    mkdir -p "$run/corpus"
    if [ -d "fuzz/corpus/$name" ]; then
      cp -R "fuzz/corpus/$name/." "$run/corpus/"
    else
      echo "fuzz: warning: no seed corpus fuzz/corpus/$name/"
    fi
    local args=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 -print_final_stats=1
      -artifact_prefix="$run/")
    if [ -f "fuzz/$name.dict" ]; then
      args+=(-dict="$root/fuzz/$name.dict")
    fi
    start=$SECONDS
    rc=0
    (cd "$run" && "$bin" "${args[@]}" corpus >"$run/log" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
      passed=$((passed + 1))
      echo "fuzz: $name ok in $((SECONDS - start))s:" \
        "$(grep -E '^stat::number_of_executed_units' "$run/log" | awk '{print $2}') runs," \
        "$(find "$run/corpus" -type f | wc -l) corpus files" \
        "(seed $(find "fuzz/corpus/$name" -type f 2>/dev/null | wc -l))," \
        "peak rss $(grep -E '^stat::peak_rss_mb' "$run/log" | awk '{print $2}') MB"
    else
      failed=$((failed + 1))
      echo "fuzz: $name FAILED (exit $rc); the report from $run/log:" >&2
      sanitizer_report <"$run/log" >&2
      local artifact
      for artifact in "$run"/crash-* "$run"/leak-* "$run"/timeout-* "$run"/oom-* "$run"/slow-unit-*; do
        [ -e "$artifact" ] || continue
        echo "fuzz: artifact $artifact" >&2
        echo "fuzz: reproduce: ASAN_OPTIONS=fast_unwind_on_malloc=0 $bin $artifact" >&2
      done
      # Allocation stacks through libraries built without frame pointers
      # (libcrypto, ...) are cut short by the fast unwinder: replay the
      # first artifact once with the slow one, for a leak's full stack.
      for artifact in "$run"/crash-* "$run"/leak-*; do
        [ -e "$artifact" ] || continue
        echo "fuzz: $name replayed on $(basename "$artifact") with full stacks:" >&2
        ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0" "$bin" "$artifact" 2>&1 |
          sanitizer_report 30 >&2 || true
        break
      done
    fi
  done
  record_counts fuzz "$passed" "$failed"
  echo "fuzz: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# ---- phase: bench ------------------------------------------------------------
phase_bench() {
  banner "bench: configure (g++ Release, build/release)"
  # scripts/quickstart.sh configures build/release the same way, less the
  # benchmarks, so the two share the tool objects.
  cmake -S . -B build/release -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
    -DUKIKIT_BUILD_TOOLS=ON -DUKIKIT_BUILD_TESTS=OFF -DUKIKIT_BUILD_FUZZERS=OFF \
    -DUKIKIT_BUILD_BENCHMARKS=ON
  banner "bench: build the benchmarks (-j$jobs)"
  # Only bench/: the asan phase already builds the tools, and quickstart
  # builds them in Release.
  cmake --build build/release -j "$jobs" --target bench/all

  if [ "${UKIKIT_BENCH_RUN:-1}" = 0 ]; then
    echo "bench: built; not run (UKIKIT_BENCH_RUN=0)"
    return 0
  fi
  # One short run of every benchmark: each checks its result before timing,
  # so this catches a benchmark that no longer computes the right thing.
  # These timings mean nothing; bench/ has the real comparison.
  local bin status=0 log
  for bin in build/release/bench/*; do
    if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then continue; fi
    banner "bench: $(basename "$bin") --benchmark_min_time=0.01 (smoke run)"
    log=build/release/$(basename "$bin").smoke.log
    if ! "$bin" --benchmark_min_time=0.01 2>&1 | tee "$log"; then
      echo "bench: $(basename "$bin") exited non-zero" >&2
      status=1
    elif grep -q 'ERROR OCCURRED' "$log"; then
      echo "bench: $(basename "$bin") reported an error (see above)" >&2
      status=1
    fi
  done
  return "$status"
}

# A phase runs in its own shell, so that `set -e` holds inside it.
if [ "${1:-}" = "--phase" ]; then
  "phase_$2"
  exit
fi
# Count a ctest log of your own as the asan phase does:
#   ctest --test-dir build/dev 2>&1 | tee ctest.log; scripts/test.sh --ctest-log ctest.log
# (with CI=true or UKIKIT_REQUIRE_INPUTS=1, a test that did not run fails it).
if [ "${1:-}" = "--ctest-log" ]; then
  : "${2:?usage: scripts/test.sh --ctest-log LOG}"
  results=$(mktemp -d)
  trap 'rm -rf "$results"' EXIT
  case $2 in
  /*) count_ctest_log ctest "$2" ;;
  *) count_ctest_log ctest "$invoked_from/$2" ;;
  esac
  exit
fi

# ---- main --------------------------------------------------------------------
total_start=$SECONDS
summary=()
failed_phases=()

banner "setup: Debian packages (scripts/setup.sh)"
start=$SECONDS
sh scripts/setup.sh
# The real third-party inputs some tests use (systemd-stub, the signed
# Debian kernel, ...). Here they are required: a test that lacks one fails
# instead of skipping. apt's package lists may be missing or stale on a
# machine where setup.sh had nothing to install: refresh them and retry once.
if [ -f scripts/fetch-inputs.sh ]; then
  banner "setup: third-party test inputs (scripts/fetch-inputs.sh)"
  if ! inputs=$(sh scripts/fetch-inputs.sh); then
    echo "setup: fetching inputs failed; apt-get update and retry"
    apt-get update -qq
    inputs=$(sh scripts/fetch-inputs.sh)
  fi
  export UKIKIT_INPUTS="$inputs" UKIKIT_REQUIRE_INPUTS=1
  echo "setup: inputs in $UKIKIT_INPUTS"
fi
summary+=("$(printf '  %-6s %-7s %5ss' setup ok $((SECONDS - start)))")

rm -rf "$results"
mkdir -p "$results"
for phase in asan fuzz bench; do
  start=$SECONDS
  if bash "$root/scripts/test.sh" --phase "$phase"; then
    status=ok
  else
    status=FAILED
    failed_phases+=("$phase")
  fi
  summary+=("$(printf '  %-6s %-7s %5ss' "$phase" "$status" $((SECONDS - start)))")
done

banner "summary"
printf '%s\n' "${summary[@]}"
printf '  %-6s %-7s %5ss\n' total "" $((SECONDS - total_start))
[ -f "$results/asan.ctest" ] && echo "  ctest: $(cat "$results/asan.ctest")"
if [ -s "$results/asan.not-run" ]; then
  echo "  did not run:"
  sed 's/^/    /' "$results/asan.not-run"
fi

passed=0
failed=0
skipped=0
for f in "$results"/*.counts; do
  [ -f "$f" ] || continue
  read -r p q k <"$f"
  passed=$((passed + p))
  failed=$((failed + q))
  skipped=$((skipped + ${k:-0}))
done
if [ "${#failed_phases[@]}" -gt 0 ]; then
  echo "test.sh: FAILED: ${failed_phases[*]}"
  # Count a failed phase that ran no test as one failure.
  [ "$failed" -gt 0 ] || failed=${#failed_phases[@]}
  echo "tests: $passed passed, $failed failed, $skipped skipped"
  exit 1
fi
echo "test.sh: all phases passed"
echo "tests: $passed passed, $failed failed, $skipped skipped"
