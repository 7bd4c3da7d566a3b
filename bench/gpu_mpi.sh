#!/usr/bin/env bash
# [5/6] on a multi-GPU node, one rank per GPU (OpenMPI). Usage:
#   bench/gpu_mpi.sh BUILD_DIR OUT_DIR sweep N      sweep mode on 1 and on N ranks: wall time, same rows
#   bench/gpu_mpi.sh BUILD_DIR OUT_DIR shards N [POSITIONS]   one 7B int8 context over N GPUs
set -uo pipefail
build=${1:?build dir}; out=${2:?output dir}; mode=${3:?sweep or shards}; n=${4:?ranks}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} OMP_PROC_BIND=false OMP_NUM_THREADS=4
py=${KVSIM_PYTHON:-python3}
kvsim="$build/framework/kvsim"
mpirun=(mpirun --allow-run-as-root --bind-to none -x LD_LIBRARY_PATH -x OMP_PROC_BIND -x OMP_NUM_THREADS)
mkdir -p "$out"
case "$mode" in
  sweep)
    cfg="$root/experiments/mpi/sweep_one_rank_per_gpu.yaml"
    for r in 1 "$n"; do
      start=$(date +%s.%N)
      "${mpirun[@]}" -np "$r" "$kvsim" run "$cfg" -o "$out/sweep_np$r.h5" >"$out/sweep_np$r.log" 2>&1 || tail -5 "$out/sweep_np$r.log"
      echo "sweep on $r rank(s): $(python3 -c "import sys,time; print(round(time.time()-float(sys.argv[1]),1))" "$start") s wall"
    done
    "$py" - "$out/sweep_np1.h5" "$out/sweep_np$n.h5" <<'PY'
import sys, h5py, collections
a, b = (h5py.File(p, "r") for p in sys.argv[1:])
def rows(f):
    s = f["summary"]
    return {int(p): (s["dtype"][i], s["layout"][i], s["checksum"][i], s["valid_positions"][i], round(float(s["attention_rel_err"][i]), 6))
            for i, p in enumerate(s["point"])}
ra, rb = rows(a), rows(b)
print("points", len(ra), len(rb), "identical content:", ra == rb, "complete:", a.attrs["complete"], b.attrs["complete"])
print("points per rank:", dict(collections.Counter(int(r) for r in b["summary"]["rank"])))
PY
    ;;
  shards)
    positions=${5:-524288}
    cfg="$root/experiments/mpi/context_shards_7b_int8.yaml"
    tag="shards${n}_${positions}"
    "${mpirun[@]}" -np "$n" "$kvsim" run "$cfg" --set parallel.context_shards="$n" \
      --set workload.fill.positions="$positions" --set cache.max_positions=$((positions + 16)) \
      -o "$out/$tag.h5" 2>&1 | tee "$out/$tag.log" | grep -vE "^\s*$" | tail -12
    "$py" - "$out/$tag.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r"); s = f["summary"]
g = lambda k: s[k][0]
print(f"{f.attrs['device']} x {f.attrs['mpi_ranks']} ranks; rank 0 read-only {f.attrs['read_GBps']:.0f} GB/s")
print("| positions | shards | per-rank cache GB | total cache GB | fill GB/s (sum) | attention ms/token | merge ms/token | aggregate GB/s | of combined read bw | rel err vs float64 |")
print("|---|---|---|---|---|---|---|---|---|---|")
print(f"| {g('valid_positions'):,} | {g('context_shards')} | {g('per_rank_cache_bytes')/1e9:.1f} | {g('kv_cache_bytes')/1e9:.1f} | "
      f"{g('fill_GBps'):.0f} | {g('attention_ms'):.2f} | {g('attention_comm_ms'):.3f} | {g('attention_GBps'):.0f} | "
      f"{g('attention_fraction_of_read'):.1%} | {g('attention_rel_err'):.2e} |")
PY
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
