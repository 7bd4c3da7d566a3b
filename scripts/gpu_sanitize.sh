#!/usr/bin/env bash
# [6/6] on a GPU node: NVIDIA compute-sanitizer over every kvsim kernel, from a carried build.
#   memcheck (with leak check): the unit tests of every area on every backend (the Cuda part
#     is what the tool sees) and one CLI point that runs the bandwidth probes, token, chunk and
#     bulk fills, retrieve, verify, decode attention with token generation, prefill attention
#     (KokkosBlas gemm) and the gemm probe;
#   racecheck and synccheck: the kernels that share scratch memory or a team barrier (decode
#     attention, H2O's step, prefill softmax).
# Usage: scripts/gpu_sanitize.sh BUILD_DIR OUT_DIR
set -uo pipefail
build=${1:?build dir}; out=${2:?output dir}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} OMP_PROC_BIND=false
cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
mkdir -p "$out"
status=0
run() {  # NAME TOOL ARGS...
  local name=$1 tool=$2; shift 2
  if "$cs" --tool "$tool" --error-exitcode 99 --print-limit 20 "$@" >"$out/$name.log" 2>&1; then
    echo "$name: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|LEAK SUMMARY' "$out/$name.log" | tr '\n' ' ')"
  else
    status=1
    echo "$name: FAILED"; grep -E "=========|FAILED|error" "$out/$name.log" | head -20
  fi
}
tests="$build/tests/kvsim_unit_tests"
run memcheck_unit memcheck --leak-check full "$tests"
# Kokkos 3.4's parallel_reduce draws racecheck warnings inside its own shared-memory reduction
# (kokkos/kokkos#4482; fixed upstream by #4855, #6236, #6630): racecheck fails this script on an
# error, or on a hazard reported in any kernel that is not a Kokkos ParallelReduce.
racecheck() {  # NAME FILTER
  local log="$out/$1.log"
  "$cs" --tool racecheck --print-limit 10000 "$tests" "$2" >"$log" 2>&1
  local errors others
  errors=$(sed -n 's/.*RACECHECK SUMMARY: .*(\([0-9]*\) errors.*/\1/p' "$log")
  others=$(grep "Race reported" "$log" | grep -vc "ParallelReduce<" || true)
  if [ "${errors:-1}" != 0 ] || [ "$others" != 0 ]; then
    status=1; echo "$1: FAILED ($errors errors, $others hazards outside Kokkos reductions)"; grep -m5 "Race reported" "$log"
  else
    echo "$1: $(grep 'RACECHECK SUMMARY' "$log") (warnings, if any, inside Kokkos ParallelReduce only)"
  fi
}
racecheck racecheck_attention "[attention],[prefill]"
racecheck racecheck_h2o "[cache]"
run synccheck_attention synccheck "$tests" "[attention]"
cat >"$out/sanitize_point.yaml" <<'YAML'
name: sanitize_point
model: {layers: 2, heads: 8, kv_heads: 2, head_dim: 128}
cache: {max_positions: 700, dtype: int8, layout: paged, page_size: 16}
workload:
  fill: {positions: 600}
  decode: {tokens: 4}
  prefill: {chunk: 64}
run: {warmup: 1, repetitions: 1, copy_probe_mb: 16}
zip:
  cache.dtype: [fp32, fp16, int4]
  workload.fill.mode: [token, chunk, bulk]
YAML
run memcheck_cli memcheck --leak-check full "$build/framework/kvsim" run "$out/sanitize_point.yaml" -o "$out/sanitize_point.h5"
exit $status
