#!/usr/bin/env bash
# Two builds of kvsim on one GPU in one call: the same experiments through each, in alternating
# order (A B, then B A, so neither always runs on a warmer device), then B/A per point and
# metric with kvsim-post compare (a regression must be significant over the repetitions) and
# the golden checksums of every point, which must be equal.
# Usage: bench/gpu_compare_builds.sh A_KVSIM B_KVSIM OUT_DIR [EXPERIMENT.yaml...]
# (default: decode_7b and the fill/retrieve sweeps of experiments/sweeps/gpu/)
set -uo pipefail
a=${1:?baseline kvsim binary}; b=${2:?candidate kvsim binary}; out=${3:?output dir}; shift 3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} OMP_PROC_BIND=false
export KVSIM_PYTHON=${KVSIM_PYTHON:-python3}
# Both builds read this tree's model presets (a build carried from elsewhere looks for its own).
export KVSIM_PRESET_DIR=${KVSIM_PRESET_DIR:-$root/configs/models}
exps=("$@")
[ ${#exps[@]} -gt 0 ] || exps=("$root/experiments/decode_7b.yaml" "$root"/experiments/sweeps/gpu/{precision,layout,policy}.yaml)
mkdir -p "$out"
rc=0
n=0
for exp in "${exps[@]}"; do
  name=$(basename "$exp" .yaml)
  order=(A B); [ $((n % 2)) -eq 1 ] && order=(B A)
  for which in "${order[@]}"; do
    bin=$a; [ "$which" = B ] && bin=$b
    "$bin" run "$exp" -o "$out/$name.$which.h5" >"$out/$name.$which.log" 2>&1 || { echo "$name ($which) failed:"; tail -3 "$out/$name.$which.log"; rc=1; }
  done
  n=$((n + 1))
  echo "## $name: B/A (A = $a, B = $b)"
  "$root/postprocess/kvsim-post" compare "$out/$name.A.h5" "$out/$name.B.h5" --allow-different \
    --metric fill_GBps,retrieve_GBps,tokens_per_s,attention_ms,append_ms || echo "(compare exit $?)"
  "$KVSIM_PYTHON" - "$out/$name.A.h5" "$out/$name.B.h5" <<'PY' || rc=1
import sys, h5py
a, b = (h5py.File(p, "r")["summary"] for p in sys.argv[1:])
ca, cb = list(a["checksum"][:]), list(b["checksum"][:])
same = ca == cb and list(a["verified"][:]) == list(b["verified"][:])
print(f"checksums: {len(ca)} points, {'identical' if same else 'DIFFERENT'}: {[hex(int(x)) for x in cb]}")
sys.exit(0 if same else 1)
PY
done
exit $rc
