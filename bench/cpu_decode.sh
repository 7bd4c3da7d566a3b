#!/usr/bin/env bash
# Host decode attention against the same run's read bandwidth and PyTorch on the same CPU, in
# one call: ROUNDS rounds, each one kvsim sweep over every precision (experiments/decode_7b.yaml,
# batch 1, CONTEXT positions, TOKENS tokens, 3 repetitions: its read_GBps probe is the same
# run's) and one PyTorch run (bench/cpu_peer_torch.py, the same threads). CPU timings on a
# shared VM swing 2x between runs, so rounds alternate the two and the table gives medians over
# rounds. With BASE_BINARY, each round also runs that kvsim first (e.g. the previous commit).
# Usage: bench/cpu_decode.sh BUILD_DIR OUT_DIR [CONTEXT=4096] [ROUNDS=3] [TOKENS=4] [BASE_BINARY]
set -euo pipefail
build=${1:?build dir}; out=${2:?output dir}
context=${3:-4096}; rounds=${4:-3}; tokens=${5:-4}; base=${6:-}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${KVSIM_PYTHON:-/usr/bin/python3}
export OMP_PROC_BIND=${OMP_PROC_BIND:-false}
threads=${OMP_NUM_THREADS:-$(nproc)}
mkdir -p "$out"
sweep() {  # BINARY OUT.h5
  "$1" run "$root/experiments/decode_7b.yaml" -o "$2" --set "workload.fill.positions=$context" \
    --set "cache.max_positions=$((context + tokens))" --set "workload.decode.tokens=$tokens" \
    --set run.repetitions=3 --set run.warmup=1 --set workload.retrieve.verify=false >"${2%.h5}.log" 2>&1 \
    || { tail -3 "${2%.h5}.log" >&2; return 1; }
}
# SUMMARY_ONLY=1: print the table of the files already in OUT_DIR.
for r in $(if [ "${SUMMARY_ONLY:-0}" = 1 ]; then :; else seq 1 "$rounds"; fi); do
  if [ -n "$base" ]; then sweep "$base" "$out/base_$r.h5"; fi
  sweep "$build/framework/kvsim" "$out/kvsim_$r.h5"
  "$py" "$root/bench/cpu_peer_torch.py" "$context" 5 "$threads" >"$out/torch_$r.json"
done
"$py" - "$out" "$rounds" "$context" "$tokens" "$threads" "$base" <<'PY'
import glob, json, os, statistics, sys
import h5py
out, rounds, context, tokens, threads, base = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
med = statistics.median

def runs(prefix):
    rows = {}  # dtype -> list of (attention_ms, attention_GBps, read_GBps, fraction, kernel)
    for r in range(1, rounds + 1):
        with h5py.File(os.path.join(out, f"{prefix}_{r}.h5"), "r") as f:
            s = f["summary"]
            for i in range(len(s["point"])):
                rows.setdefault(s["dtype"][i].decode(), []).append(
                    # The fraction from the two rates: the column is n/a where a noisy probe
                    # read less than the attention did.
                    (float(s["attention_ms"][i]), float(s["attention_GBps"][i]), float(f.attrs["read_GBps"]),
                     float(s["attention_GBps"][i]) / float(f.attrs["read_GBps"]), float(s["attention_rel_err"][i])))
    return rows

kv = runs("kvsim")
old = runs("base") if base else {}
torch = [json.load(open(os.path.join(out, f"torch_{r}.json"))) for r in range(1, rounds + 1)]
def torch_ms(name):
    xs = [t[name] for t in torch if isinstance(t.get(name), float)]
    return med(xs) if xs else None
peer = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
t32 = torch_ms("float32")
print(f"7B decode attention, batch 1, {context} positions, {tokens} tokens x 3 repetitions, {threads} threads, "
      f"torch {torch[0]['torch']}; medians over {rounds} rounds (range in brackets)")
for name in ("float32", "bfloat16", "float16"):
    if torch_ms(name) is None:
        print(f"- torch {name}: {torch[0].get(name)}")
hdr = "| dtype | kvsim ms/token | attention GB/s | read GB/s (same run) | of read (per round) | rel err |"
hdr += " before ms/token | speed-up |" if base else ""
hdr += " torch same dtype ms | torch/kvsim | torch fp32 ms | torch fp32/kvsim |"
print(hdr)
print("|" + "---|" * (hdr.count("|") - 1))
rng = lambda xs: f"{med(xs):.1f} [{min(xs):.1f}-{max(xs):.1f}]"
for d, xs in kv.items():
    ms = [x[0] for x in xs]
    line = (f"| {d} | {rng(ms)} | {med([x[1] for x in xs]):.1f} | {med([x[2] for x in xs]):.1f} | "
            f"{med([x[3] for x in xs]):.0%} ({', '.join(f'{x[3]:.0%}' for x in xs)}) | {med([x[4] for x in xs]):.1e} |")
    if base:
        b = [x[0] for x in old.get(d, [])]
        line += f" {rng(b)} | {med(b) / med(ms):.1f}x |" if b else " - | - |"
    tp = torch_ms(peer[d]) if d in peer else None
    line += f" {tp:.1f} | {tp / med(ms):.2f} |" if tp else " - | - |"
    line += f" {t32:.1f} | {t32 / med(ms):.2f} |" if t32 else " - | - |"
    print(line)
PY
