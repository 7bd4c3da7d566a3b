#!/usr/bin/env bash
# Issue #15's peer benchmark, one call on a GPU node: kvsim decode (eager and CUDA-graph launch)
# and chunked prefill against PyTorch SDPA (default, FLASH, CUDNN; eager and graph-replayed) and
# the project's split-K Triton flash-decoding kernel, every output checked against a float32
# reference, with the Triton block-sum read ceiling of the same call (bench/peers.py says how).
# Writes OUT_DIR/peers.md (tables + goals), peers.csv, peers.json, peers.log, kvsim configs/HDF5.
# Usage: bench/gpu_peers.sh BUILD_DIR OUT_DIR [--quick] [more bench/peers.py options]
#   --quick: 4,096 positions, fp16, 32 and 8 KV heads, batch 1, one paged point, one prefill (~2 min)
#   full run: about 5-6 minutes on an H200 (--budget-s caps the peers' part; default 330 s)
set -uo pipefail
build=${1:?build dir}; out=${2:?output dir}; shift 2
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # root, kvsim, py; CUDA libraries on the path; $out made
nvidia-smi --query-gpu=name,memory.total,memory.used,clocks.max.memory,driver_version --format=csv,noheader 2>/dev/null \
  || echo "nvidia-smi: not available"
[ -x "$kvsim" ] || echo "warning: $kvsim is not an executable: the kvsim columns will read n/a"
"$py" -c 'import torch, triton, h5py; print(f"torch {torch.__version__}, triton {triton.__version__}, h5py {h5py.__version__}")' \
  || { echo "error: $py lacks torch, triton or h5py"; exit 1; }
start=$(date +%s)
"$py" "$root/bench/peers.py" --kvsim "$kvsim" --out "$out" "$@"
rc=$?
echo "bench/peers.py exit $rc after $(( $(date +%s) - start )) s; tables in $out/peers.md"
exit $rc
