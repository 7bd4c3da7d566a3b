#!/usr/bin/env bash
# On a GPU node, one call: the [3/7] goals measured at 32k positions (decode per precision,
# decode per eviction policy) and the batch-1 token fill, as markdown tables of ratios.
# Usage: bench/gpu_designs_32k.sh BUILD_DIR OUT_DIR
set -uo pipefail
build=${1:?build dir}; out=${2:?output dir}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # root, kvsim, py; CUDA libraries on the path; $out made
for s in decode_32k policy_32k; do
  "$kvsim" run "$root/experiments/sweeps/gpu/$s.yaml" -o "$out/$s.h5" >"$out/$s.log" 2>&1 || { echo "FAILED: $s"; tail -3 "$out/$s.log"; }
done
"$kvsim" run "$root/experiments/perf009_extended_context.yaml" --set cache.dtype=fp16 -o "$out/token_fill.h5" \
  >"$out/token_fill.log" 2>&1 || tail -3 "$out/token_fill.log"
"$py" - "$out/decode_32k.h5" "$out/policy_32k.h5" "$out/token_fill.h5" <<'PY'
import sys, h5py
import numpy as np

def summary(path):
    f = h5py.File(path, "r")
    s = f["summary"]
    return f, {c: s[c][()] for c in s}

f, s = summary(sys.argv[1])
print(f"\ndecode at 32k: {f.attrs['device']}, read-only {f.attrs['read_GBps']:.0f} GB/s")
print("| kv heads | dtype | attention ms/token [min-max] | x fp16 | attention GB/s | of read bw | B/position | attn rel err |")
print("|---|---|---|---|---|---|---|---|")
for i in range(len(s["point"])):
    base = [j for j in range(len(s["point"])) if s["kv_heads"][j] == s["kv_heads"][i] and s["dtype"][j] == b"fp16"][0]
    print(f"| {s['kv_heads'][i]} | {s['dtype'][i].decode()} | {s['attention_ms'][i]:.3f} [{s['attention_ms_min'][i]:.3f}-{s['attention_ms_max'][i]:.3f}] | "
          f"{s['attention_ms'][base] / s['attention_ms'][i]:.2f} | {s['attention_GBps'][i]:.0f} | {s['attention_fraction_of_read'][i]:.0%} | "
          f"{s['bytes_per_position'][i]:,} | {s['attention_rel_err'][i]:.2e} |")
f, s = summary(sys.argv[2])
print(f"\ndecode per policy, 32,768 positions fed: {f.attrs['device']}")
print("| policy | positions held | attention ms/token [min-max] | x ring | held / ring's | us per 1k positions held | mass kept |")
print("|---|---|---|---|---|---|---|")
ring = [j for j in range(len(s["point"])) if s["policy"][j] == b"ring"][0]
for i in range(len(s["point"])):
    held = s["valid_positions"][i]
    print(f"| {s['policy'][i].decode()} | {held:,} | {s['attention_ms'][i]:.3f} [{s['attention_ms_min'][i]:.3f}-{s['attention_ms_max'][i]:.3f}] | "
          f"{s['attention_ms'][ring] / s['attention_ms'][i]:.2f} | {held / s['valid_positions'][ring]:.3f} | "
          f"{1e6 * s['attention_ms'][i] / 1e3 / (held / 1e3):.2f} | {s['attention_mass_kept'][i]:.3f} |")
f, s = summary(sys.argv[3])
print(f"\ntoken fill, batch 1 ({s['dtype'][0].decode()}, {s['positions'][0]:,} positions): "
      f"{s['fill_positions_per_s'][0]:,.0f} positions/s [{s['fill_positions_per_s_min'][0]:,.0f}-{s['fill_positions_per_s_max'][0]:,.0f}]")
PY
