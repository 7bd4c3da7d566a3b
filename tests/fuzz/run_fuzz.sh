#!/usr/bin/env bash
# Builds the libFuzzer target over the config loader (clang++, ASan + UBSan) in build-fuzz/ and
# runs it: every input of the committed corpus first, then new inputs for SECONDS (0: the corpus
# only). Exits non-zero on a crash, sanitizer report, leak, timeout or out-of-memory; the input
# that caused it is left in build-fuzz/artifacts/ (replay: build-fuzz/fuzz_config FILE).
#
#   tests/fuzz/run_fuzz.sh [SECONDS]     (default 60)
#   tests/fuzz/run_fuzz.sh --merge       minimise committed corpus + build-fuzz/corpus into
#                                        tests/fuzz/corpus (review and commit the result)
#
# Environment: KVSIM_FUZZ_BUILD (build directory, default build-fuzz), CXX_FUZZ (default clang++),
# KVSIM_DEPS_DIR as for scripts/setup.sh (the loader's headers include Kokkos').
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$root/tests/fuzz"
build=${KVSIM_FUZZ_BUILD:-$root/build-fuzz}
cxx=${CXX_FUZZ:-clang++}
mode=run seconds=60
case "${1:-}" in
  --merge) mode=merge ;;
  "") ;;
  *[!0-9]*) echo "usage: $0 [SECONDS | --merge]" >&2; exit 2 ;;
  *) seconds=$1 ;;
esac

command -v "$cxx" >/dev/null || { echo "run_fuzz: $cxx not found (scripts/setup.sh packages installs clang)" >&2; exit 1; }
# Headers only: src/config/*.cpp reach Kokkos_Core.hpp through error.hpp and the codec headers, and
# calls nothing compiled in Kokkos, so the target needs no Kokkos library. The loader opens a
# recorded data file (data.kind: recorded) to check its shape: recorded_data.cpp, the HDF5
# writer it reads with, and HDF5.
deps=$("$root/scripts/setup.sh" cpu | tail -n1)
mkdir -p "$build/corpus" "$build/artifacts"
echo "run_fuzz: building $build/fuzz_config" >&2
# -fopenmp: Kokkos' OpenMP backend header insists on it; nothing here runs in parallel.
nice -n 10 "$cxx" -std=c++17 -g -O1 -fno-omit-frame-pointer -fopenmp \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$root/framework/include" -I"$root/framework/src" -isystem "$deps/install/cpu/include" \
  -DKVSIM_FUZZ_PRESET_DIR="\"$root/configs/models\"" \
  -isystem /usr/include/hdf5/serial \
  "$here/fuzz_config.cpp" "$root"/framework/src/config/*.cpp "$root/framework/src/experiment/recorded_data.cpp" \
  "$root/framework/src/output/hdf5_writer.cpp" \
  -lyaml-cpp -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5 -o "$build/fuzz_config.new"
mv "$build/fuzz_config.new" "$build/fuzz_config"

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
# One process, one worker: the machine is shared; -timeout catches hangs, -rss_limit_mb blow-ups.
flags=(-dict="$here/yaml.dict" -max_len=4096 -timeout=10 -rss_limit_mb=2048
       -artifact_prefix="$build/artifacts/" -print_final_stats=1)
cd "$build"
if [ "$mode" = merge ]; then
  rm -rf corpus.merged && mkdir corpus.merged
  nice -n 10 ./fuzz_config "${flags[@]}" -merge=1 corpus.merged "$here/corpus" corpus
  rm -rf "$here/corpus" && mv corpus.merged "$here/corpus"
  echo "run_fuzz: $(ls "$here/corpus" | wc -l) files in tests/fuzz/corpus" >&2
  exit 0
fi
if [ "$seconds" = 0 ]; then
  args=(-runs=0 "$here/corpus")
else
  # New inputs go to build-fuzz/corpus (the first directory), never into the committed one.
  args=(-max_total_time="$seconds" corpus "$here/corpus")
fi
echo "run_fuzz: replaying tests/fuzz/corpus, then fuzzing for ${seconds}s (log: $build/fuzz.log)" >&2
if ! nice -n 10 ./fuzz_config "${flags[@]}" "${args[@]}" >fuzz.log 2>&1; then
  tail -n 60 fuzz.log >&2
  echo "run_fuzz: FAILED; the input is in $build/artifacts/" >&2
  exit 1
fi
grep -a -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::' fuzz.log >&2
