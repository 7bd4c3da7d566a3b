# Shared by run.sh and test.sh: set-up, configure and build one backend.
# Usage: source scripts/common.sh; kvsim_build BACKEND  (sets KVSIM_BUILD_DIR)

kvsim_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# A Python that has h5py and pandas: Debian's /usr/bin/python3 after set-up, unless the user
# chose one.
kvsim_pick_python() {
  if [ -n "${KVSIM_PYTHON:-}" ]; then return 0; fi
  for py in /usr/bin/python3 python3; do
    if "$py" -c 'import h5py, pandas' >/dev/null 2>&1; then KVSIM_PYTHON=$py; export KVSIM_PYTHON; return 0; fi
  done
  echo "error: no python3 with h5py and pandas found (run scripts/setup.sh packages)" >&2
  return 1
}

kvsim_build() {
  local backend=$1
  "$kvsim_root/scripts/setup.sh" "$backend" >/dev/null
  KVSIM_BUILD_DIR="$kvsim_root/build-$backend"
  if [ ! -f "$KVSIM_BUILD_DIR/build.ninja" ]; then
    cmake -S "$kvsim_root" -B "$KVSIM_BUILD_DIR" -G Ninja -DKVSIM_BACKEND="$backend" >"$KVSIM_BUILD_DIR.configure.log" 2>&1 \
      || { cat "$KVSIM_BUILD_DIR.configure.log" >&2; return 1; }
  fi
  cmake --build "$KVSIM_BUILD_DIR" -j "$(nproc)"
  export OMP_PROC_BIND=${OMP_PROC_BIND:-false}
}
