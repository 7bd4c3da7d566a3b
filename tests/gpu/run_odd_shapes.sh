#!/usr/bin/env bash
# The GPU test set of odd shapes (issue 13), with verification on: every config in tests/gpu/
# and every experiment in experiments/ at full size. A point whose retrieved data do not verify,
# or whose attention error is above its format's bound, fails its run (exit 1).
# Usage: tests/gpu/run_odd_shapes.sh BUILD_DIR OUT_DIR [CONFIG...]   (default: all of them)
# Prints one PASS/FAIL line per config and exits 1 if any failed.
set -uo pipefail
build=${1:?build dir}; out=${2:?output dir}; shift 2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kvsim="$build/framework/kvsim"
mkdir -p "$out"
configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
  configs=("$root"/tests/gpu/*.yaml "$root"/experiments/*.yaml "$root"/experiments/sweeps/gpu/*.yaml
           "$root"/experiments/mpi/sweep_one_rank_per_gpu.yaml)
fi
failed=0
for cfg in "${configs[@]}"; do
  name=$(basename "$cfg" .yaml)
  start=$SECONDS
  # retrieve.verify defaults to true; an experiment without retrieve still has its attention
  # errors held to their bounds.
  "$kvsim" run "$cfg" -o "$out/$name.h5" >"$out/$name.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    echo "PASS $name ($((SECONDS - start)) s)"
  else
    failed=1
    echo "FAIL $name (exit $rc, $((SECONDS - start)) s): $(grep -m1 -E 'error|failed' "$out/$name.log")"
  fi
done
exit $failed
