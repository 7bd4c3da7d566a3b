#!/usr/bin/env bash
# On a GPU node, one call: decode attention per kernel, KV heads and precision (7B, 4096
# positions, batch 1), then the tensor-core kernel's fp16 and int8 over a range of split counts,
# each as a markdown table.
# Usage: bench/gpu_kernels.sh BUILD_DIR OUT_DIR
set -uo pipefail
build=${1:?build dir}; out=${2:?output dir}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # root, kvsim, py; CUDA libraries on the path; $out made
exp="$root/experiments/decode_kernels_7b.yaml"
"$kvsim" run "$exp" -o "$out/kernels.h5" >"$out/kernels.log" 2>&1 || tail -3 "$out/kernels.log"
"$kvsim" run "$exp" --set sweep=null --set 'sweep={workload.decode.kernel: [mma], model.kv_heads: [32, 8], cache.dtype: [fp16, int8], workload.decode.splits: [4, 8, 16, 32, 64]}' \
  -o "$out/splits.h5" >"$out/splits.log" 2>&1 || tail -3 "$out/splits.log"
"$py" - "$out/kernels.h5" "$out/splits.h5" <<'PY'
import sys, h5py
for path in sys.argv[1:]:
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        print(f"{path}: {e}"); continue
    s = f["summary"]
    print(f"\n{path.split('/')[-1]}: {f.attrs['device']}, read-only {f.attrs['read_GBps']:.0f} GB/s")
    print("| kernel | kv heads | dtype | splits | attention ms/token | attention GB/s | of read bw | attn rel err |")
    print("|---|---|---|---|---|---|---|---|")
    for i in range(len(s["point"])):
        print(f"| {s['attention_kernel'][i].decode()} | {s['kv_heads'][i]} | {s['dtype'][i].decode()} | {s['attention_splits'][i]} | "
              f"{s['attention_ms'][i]:.3f} | {s['attention_GBps'][i]:.0f} | {s['attention_fraction_of_read'][i]:.0%} | "
              f"{s['attention_rel_err'][i]:.2e} |")
PY
