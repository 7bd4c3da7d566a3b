#!/usr/bin/env bash
# [2/6] benchmark on a GPU node: the four design sweeps at full size, the PERF-009 point and a
# batch-1 token fill, then the ratios to the measured copy ceiling. One call, one card.
# Usage: bench/gpu_cache_designs.sh BUILD_DIR OUT_DIR
set -uo pipefail
build=${1:?build dir}; out=${2:?output dir}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # root, kvsim, py; CUDA libraries on the path; $out made
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
for s in precision layout policy context; do
  "$kvsim" run "$root/experiments/sweeps/gpu/$s.yaml" -o "$out/$s.h5" >"$out/$s.log" 2>&1 || { echo "FAILED: $s"; tail -3 "$out/$s.log"; }
done
"$kvsim" run "$root/experiments/perf009_extended_context.yaml" -o "$out/perf009.h5" >"$out/perf009.log" 2>&1 || tail -3 "$out/perf009.log"
"$kvsim" run "$root/experiments/perf009_extended_context.yaml" --set cache.dtype=fp16 -o "$out/token_fp16.h5" \
  >"$out/token_fp16.log" 2>&1 || tail -3 "$out/token_fp16.log"
"$py" "$root/bench/summarize.py" "$out"/precision.h5 "$out"/layout.h5 "$out"/policy.h5 "$out"/context.h5 \
  "$out"/perf009.h5 "$out"/token_fp16.h5 | tee "$out/summary.md"
