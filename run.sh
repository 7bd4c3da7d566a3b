#!/usr/bin/env bash
# Set-up if needed, build the CPU backend, run the PERF-009 extended-context experiment, and
# print its summary table and result file. Extra arguments go to `kvsim run` (e.g. --set ...).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/common.sh
backend=${KVSIM_BACKEND:-cpu}
kvsim_build "$backend" >/dev/null
kvsim_pick_python
config=experiments/perf009_extended_context.yaml
out=${KVSIM_OUTPUT:-results/perf009_extended_context.h5}
mkdir -p "$(dirname "$out")"  # kvsim creates no directories
"$KVSIM_BUILD_DIR/framework/kvsim" run "$config" -o "$out" "$@"
echo
postprocess/kvsim-post table "$out" --columns positions,dtype,layout,fill_positions_per_s,fill_GBps,retrieve_ops_per_s,retrieve_GBps,retrieve_fraction_of_copy,kv_cache_bytes,verified
echo
echo "HDF5: $out"
