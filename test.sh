#!/usr/bin/env bash
# Set-up if needed, build, and run every test: Catch2 unit tests on every enabled Kokkos
# backend, CLI -> HDF5 -> Python integration, post-processing pytest, and the Kokkos 5.2.2
# forward-compatibility compile; then the unit and CLI tests again under ASan + UBSan.
# KVSIM_BACKEND=cuda builds the CUDA backend instead.
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

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer (CPU backend; set
# KVSIM_SANITIZE=0 to skip). Leaks are checked in the unit tests; the CLI tests run with leak
# detection off because OpenMPI's MPI_Init leaves its own allocations behind.
if [ "${KVSIM_SANITIZE:-1}" = 1 ] && [ "$backend" = cpu ]; then
  asan="$kvsim_root/build-asan"
  if [ ! -f "$asan/build.ninja" ]; then
    # -O1, as the sanitizers' own docs advise: the float64 references of the attention tests ran
    # 4x slower at -O0 (480 s a backend), most of CI's time, and -O1 keeps the reports exact.
    cmake -S "$kvsim_root" -B "$asan" -G Ninja -DKVSIM_BACKEND=cpu -DCMAKE_BUILD_TYPE=Debug \
      -DCMAKE_CXX_FLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
      -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >"$asan.configure.log" 2>&1 \
      || { cat "$asan.configure.log" >&2; exit 1; }
  fi
  cmake --build "$asan" -j "$(nproc)"
  ASAN_OPTIONS=detect_leaks=1 ctest --test-dir "$asan" -R '^unit\.' --output-on-failure
  ASAN_OPTIONS=detect_leaks=0 ctest --test-dir "$asan" -R '^integration\.' --output-on-failure
fi

# The config loader under libFuzzer (tests/fuzz/run_fuzz.sh, CPU backend): the committed corpus,
# then KVSIM_FUZZ_SECONDS of new inputs (default 60; 0 skips). A crash, leak or hang fails.
if [ "${KVSIM_FUZZ_SECONDS:-60}" != 0 ] && [ "$backend" = cpu ]; then
  tests/fuzz/run_fuzz.sh "${KVSIM_FUZZ_SECONDS:-60}"
fi
