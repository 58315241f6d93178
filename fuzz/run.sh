#!/usr/bin/env bash
# Fuzzes each target (all, or those named) for SECONDS (default 600), one at
# a time at the lowest priority, and prints one line of figures per target
# (the table of docs/fuzzing.md). New inputs go to $WORK/<target>/ (default
# fuzz/work, ignored), seeded from fuzz/corpus/<target>/; a crash stops that
# target and leaves its input in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
work="${WORK:-$PWD/work}"

# No sanitizer: the code under test is safe Rust, so ASan would only halve
# the executions; debug assertions (-a) keep overflow checks on.
cargo +nightly fuzz build -s none -a

printf '%-16s %8s %12s %8s %10s %s\n' target seconds executions exec/s corpus result
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  dict=()
  [ -f "dicts/$t.dict" ] && dict=("-dict=dicts/$t.dict")
  log="$work/$t.log"
  if nice -n 19 cargo +nightly fuzz run -s none -a "$t" "$work/$t" "corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 "${dict[@]}" >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see $log)"
  fi
  # libFuzzer's last status line and its closing "Done N runs in S second(s)".
  read -r runs secs < <(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 \2/p' "$log") || true
  corpus=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-16s %8s %12s %8s %10s %s\n' "$t" "${secs:-?}" "${runs:-?}" \
    "$(( ${runs:-0} / (${secs:-1} > 0 ? ${secs:-1} : 1) ))" "${corpus:-?}" "$result"
done
