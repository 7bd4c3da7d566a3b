#!/usr/bin/env bash
# Prefill attention on a GPU node, one call: the flash kernel's standalone float64 check, then
# kvsim runs of the 7B prefill (experiments/prefill_7b.yaml, fp16) at chunk 512 over 4,104 and
# 2,048 over 32,768 positions, 32 and 8 KV heads, with the flash kernel, and the gemm reference
# at 512 over 4,104; a table of prefill_kernel, prefill_ms, prefill_TFLOPs (the full chunk x
# context block, as before the flash kernel) and prefill_rel_err.
# Usage: bench/gpu_prefill.sh BUILD_DIR OUT_DIR
set -uo pipefail
build=${1:?build dir}; out=${2:?output dir}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # root, kvsim, py; CUDA libraries on the path; $out made
"$build/tests/kvsim_prefill_flash_check" 2>&1 | grep -v "^Kokkos::OpenMP\|^  " | tee "$out/flash_check.log"
files=()
run() {  # name kernel chunk context kv_heads
  local f="$out/prefill_$1.h5"
  "$kvsim" run "$root/experiments/prefill_7b.yaml" --set workload.prefill.kernel=$2 --set workload.prefill.chunk=$3 \
    --set workload.fill.positions=$4 --set cache.max_positions=$4 --set model.kv_heads=$5 -o "$f" >"$out/prefill_$1.log" 2>&1 \
    && files+=("$f") || { echo "prefill_$1 failed:"; tail -3 "$out/prefill_$1.log"; }
}
run flash_512_4104_kv32 flash 512 4104 32
run flash_512_4104_kv8 flash 512 4104 8
run flash_2048_32768_kv32 flash 2048 32768 32
run flash_2048_32768_kv8 flash 2048 32768 8
run gemm_512_4104_kv32 gemm 512 4104 32
[ ${#files[@]} -gt 0 ] && "$py" - "${files[@]}" <<'PY'
import sys, h5py
print("| kernel | chunk | context | kv_heads | prefill_ms | prefill_TFLOPs | prefill_rel_err |")
print("|---|---|---|---|---|---|---|")
for path in sys.argv[1:]:
    s = h5py.File(path, "r")["summary"]
    for i in range(len(s["point"])):
        print(f"| {s['prefill_kernel'][i].decode()} | {s['prefill_chunk'][i]} | {s['valid_positions'][i]} | {s['kv_heads'][i]} | "
              f"{s['prefill_ms'][i]:.3f} | {s['prefill_TFLOPs'][i]:.1f} | {s['prefill_rel_err'][i]:.2e} |")
PY
