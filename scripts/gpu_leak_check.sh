#!/usr/bin/env bash
# The full-size PERF-009 point (7B fp32, 4096 positions, 4.29 GB of cache) run 1,000 times
# through run_point on the build's default execution space (the GPU in a CUDA build): every
# repetition allocates, fills, retrieves, verifies and frees the whole cache. Prints device
# memory in use (total - free) and host heap growth every 100 repetitions and a PASS/FAIL line;
# exit 1 on growth past the tolerances (tests/leak/kvsim_leak_check.cpp says why those).
# Usage: scripts/gpu_leak_check.sh [BUILD_DIR (default build-cuda)] [REPS (default 1000)]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build-cuda}; reps=${2:-1000}
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export OMP_PROC_BIND=${OMP_PROC_BIND:-false}
# One untimed fill and retrieve per repetition: the point's own warm-up and repetitions would
# only repeat the kernels, not the allocation this checks.
exec "$build/tests/kvsim_leak_check" "$root/experiments/perf009_extended_context.yaml" \
  --set run.warmup=0 --set run.repetitions=1 --reps "$reps" --every 100 --warmup 3
