#!/usr/bin/env bash
# Builds the CUDA backend on a GPU node that has nvcc, cmake and the libraries but no network,
# from a Kokkos prefix made by `scripts/setup.sh cuda` elsewhere and carried along (the 2-core
# development machine needs ~40 minutes for this build; a 16-core node a few).
# Usage: scripts/gpu_build_on_node.sh KOKKOS_PREFIX SOURCE_DIR BUILD_DIR [CLI11_DIR] [ninja target...]
set -euo pipefail
prefix=$(cd "${1:?carried Kokkos prefix}" && pwd); src=${2:?source dir}; build=${3:?build dir}
cli11=${4:-}; shift $(( $# < 4 ? $# : 4 ))
export PATH=/usr/local/cuda/bin:$PATH
# Kokkos 3.4's installed config names the nvcc_wrapper of the tree it was built from.
wrapper=$(sed -n 's/^SET(Kokkos_CXX_COMPILER "\(.*\)")/\1/p' "$prefix/lib/cmake/Kokkos/KokkosConfigCommon.cmake")
if [ -n "$wrapper" ] && [ ! -x "$wrapper" ]; then mkdir -p "$(dirname "$wrapper")" && cp "$prefix/bin/nvcc_wrapper" "$wrapper"; fi
# CUDA libraries the prefix names under another layout of /usr/local/cuda (lib vs lib64).
for f in "$prefix"/lib/cmake/Kokkos*/*.cmake; do
  for lib in $(grep -oE '/usr/local/cuda/lib[^";) ]*\.so' "$f" | sort -u); do
    [ -e "$lib" ] || sed -i "s|$lib|${lib/\/lib\//\/lib64\/}|g" "$f"
  done
done
cmake -S "$src" -B "$build" -G Ninja -DKVSIM_BACKEND=cuda -DKVSIM_BUNDLED_KOKKOS="$prefix" \
  -DCMAKE_CXX_COMPILER="$prefix/bin/nvcc_wrapper" ${cli11:+-DCLI11_DIR="$cli11"}
cmake --build "$build" -j "$(nproc)" "$@"
