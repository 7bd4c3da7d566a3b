# Sourced by bench/gpu_*.sh once they have set `build` (a CUDA build tree) and `out`: the
# repository root, the kvsim binary, the Python, the CUDA libraries on the loader's path, and
# the output folder made.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} OMP_PROC_BIND=false
py=${KVSIM_PYTHON:-python3}
kvsim="$build/framework/kvsim"
mkdir -p "$out"
