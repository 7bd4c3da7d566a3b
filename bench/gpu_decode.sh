#!/usr/bin/env bash
# [3/6] on a GPU node, one call: decode attention per precision (7B, 4096 positions, batch 1)
# with and without a 4.0 GB weight read per token, then the PyTorch peer table.
# Usage: bench/gpu_decode.sh BUILD_DIR OUT_DIR [--quick]
set -uo pipefail
build=${1:?build dir}; out=${2:?output dir}; shift 2
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # root, kvsim, py; CUDA libraries on the path; $out made
"$kvsim" run "$root/experiments/decode_7b.yaml" -o "$out/decode.h5" >"$out/decode.log" 2>&1 || tail -3 "$out/decode.log"
for d in fp16 int4; do
  "$kvsim" run "$root/experiments/decode_7b.yaml" --set sweep=null --set cache.dtype=$d \
    --set model.weight_bytes=4000000000 -o "$out/decode_weights_$d.h5" >"$out/decode_weights_$d.log" 2>&1 || tail -3 "$out/decode_weights_$d.log"
done
"$py" - "$out/decode.h5" "$out/decode_weights_fp16.h5" "$out/decode_weights_int4.h5" <<'PY'
import sys, h5py
for path in sys.argv[1:]:
    f = h5py.File(path, "r"); s = f["summary"]
    print(f"\n{path.split('/')[-1]}: {f.attrs['device']}, read-only {f.attrs['read_GBps']:.0f} GB/s")
    print("| dtype | tokens/s | append ms | attention ms | weights ms | attention GB/s | of read bw | attn rel err | B/position |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i in range(len(s["point"])):
        print(f"| {s['dtype'][i].decode()} | {s['tokens_per_s'][i]:.1f} | {s['append_ms'][i]:.3f} | {s['attention_ms'][i]:.3f} | "
              f"{s['weights_ms'][i]:.3f} | {s['attention_GBps'][i]:.0f} | {s['attention_fraction_of_read'][i]:.0%} | "
              f"{s['attention_rel_err'][i]:.2e} | {s['bytes_per_position'][i]:,} |")
PY
"$py" "$root/bench/peer_pytorch.py" "$kvsim" "$out/peer" "$@"
