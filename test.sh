#!/usr/bin/env bash
# Set-up if needed, build, and run every test: Catch2 unit tests on every enabled Kokkos
# backend, CLI -> HDF5 -> Python integration, post-processing pytest, and the Kokkos 5.2.2
# forward-compatibility compile. KVSIM_BACKEND=cuda builds the CUDA backend instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/common.sh
backend=${KVSIM_BACKEND:-cpu}
kvsim_build "$backend"
kvsim_pick_python
# CI must exercise the Kokkos 5 check, not skip it: fetch its headers now.
if [ "${KVSIM_SKIP_KOKKOS5:-0}" != 1 ]; then
  scripts/setup.sh kokkos5-headers >/dev/null
  export KVSIM_REQUIRE_KOKKOS5=1
fi
ctest --test-dir "$KVSIM_BUILD_DIR" --output-on-failure
