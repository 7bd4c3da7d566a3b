#!/usr/bin/env bash
# On a GPU node, from a build tree made elsewhere (e.g. carried build-cuda): the test suite on
# every backend the build enables, the probe check, the flash prefill check, the odd-shape GPU set (tests/gpu/), the
# PERF-009 experiment, and a cross-backend checksum point.
# Usage: scripts/gpu_suite.sh BUILD_DIR OUT_DIR
set -uo pipefail
build=${1:?build dir}; out=${2:?output dir}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$out"
# ctest files hold the absolute paths of the machine that configured them.
src_abs=$(sed -n 's/^# Source directory: //p' "$build/CTestTestfile.cmake")
if [ -n "$src_abs" ] && [ "$src_abs" != "$root" ] && [ ! -e "$src_abs" ]; then
  mkdir -p "$(dirname "$src_abs")" && ln -s "$root" "$src_abs"
fi
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export KVSIM_PYTHON=${KVSIM_PYTHON:-python3} OMP_PROC_BIND=false
kvsim="$build/framework/kvsim"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.mem --format=csv,noheader
"$kvsim" info --probe
# The probe's read ceiling against a plain block-sum of the same process (>= 98%).
"$build/tests/kvsim_probe_check" 1024 || echo "probe check: FAILED"
# The flash prefill kernel alone against float64 (odd shapes, GQA, head_dim 64 and 128).
"$build/tests/kvsim_prefill_flash_check" | grep -v "^Kokkos::OpenMP\|^  " || { echo "prefill flash check: FAILED"; rc_flash=1; }
ctest --test-dir "$build" --output-on-failure 2>&1 | tee "$out/ctest.log"
rc=${PIPESTATUS[0]}
[ "${rc_flash:-0}" -eq 0 ] || rc=1
# Odd shapes with verification on, and every experiment at full size (tests/gpu/).
"$root/tests/gpu/run_odd_shapes.sh" "$build" "$out/odd_shapes" 2>&1 | tee "$out/odd_shapes.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
"$kvsim" run "$root/tests/configs/good/small_wrap.yaml" -o "$out/small_wrap.h5" | grep -E "checksum"
for i in 1 2; do
  "$kvsim" run "$root/experiments/perf009_extended_context.yaml" -o "$out/perf009_run$i.h5" 2>&1 | tee -a "$out/perf009.log"
done
"$kvsim" run "$root/experiments/perf009_extended_context.yaml" --set workload.fill.positions=5000 \
  -o "$out/perf009_wrapped.h5" 2>&1 | tee -a "$out/perf009.log"
"$root/postprocess/kvsim-post" table "$out"/perf009_run1.h5 "$out"/perf009_run2.h5 "$out"/perf009_wrapped.h5 \
  --columns positions,valid_positions,fill_positions_per_s,fill_GBps,retrieve_ops_per_s,retrieve_GBps,retrieve_fraction_of_copy,kv_cache_bytes,device_memory_used_bytes,verified,checksum
for f in "$out"/perf009_run1.h5; do "$KVSIM_PYTHON" -c "import h5py,sys; f=h5py.File(sys.argv[1]); print('copy_GBps', f.attrs['copy_GBps']); print('fill_s', list(f['points/0/fill_seconds'][:])); print('retrieve_s', list(f['points/0/retrieve_seconds'][:]))" "$f"; done
exit $rc
