#!/usr/bin/env bash
# `make chaos`: the chaos scenarios in two pytest sessions side by side, each with its own
# emulators and artifacts folder (test-artifacts/chaos-1, chaos-2). The scenarios mostly wait
# (backoffs, a minute of faults, settling), so two at a time take little more than the longer half.
# Each session's output is printed when both are done; the exit status fails if either failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
groups=("tests/chaos/test_chaos.py"
        "tests/chaos/test_chaos_drift.py tests/chaos/test_chaos_notifications.py tests/chaos/test_chaos_snapshot.py")
pids=()
for i in "${!groups[@]}"; do
  n=$((i + 1))
  mkdir -p "test-artifacts/chaos-$n"
  # shellcheck disable=SC2086  # the group is a list of files
  TEST_ARTIFACTS="$PWD/test-artifacts/chaos-$n" "$PY" -m pytest -m chaos ${groups[$i]} \
    > "test-artifacts/chaos-$n/pytest.out" 2>&1 &
  pids+=($!)
done
trap 'kill -INT "${pids[@]}" 2>/dev/null; wait' INT TERM
status=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || status=1
done
for i in "${!groups[@]}"; do
  echo "=== chaos session $((i + 1)): ${groups[$i]}"
  cat "test-artifacts/chaos-$((i + 1))/pytest.out"
done
exit $status
