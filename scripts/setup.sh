#!/usr/bin/env bash
# kvsim set-up: installs the Debian packages kvsim needs (only those missing) and builds
# Kokkos 3.4.01 + Kokkos Kernels 3.4.01 from Debian's trilinos 13.2.0 source package into a
# cached prefix per backend. A second run finds everything and returns in seconds.
#
#   scripts/setup.sh [cpu|cuda|kokkos5-headers|packages|all]...   (default: cpu)
#
# Environment:
#   KVSIM_DEPS_DIR   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/kvsim)
#   KVSIM_JOBS       parallel build jobs (default: nproc)
#   KVSIM_NO_APT=1   never call apt-get (fail instead if something is missing)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
deps=${KVSIM_DEPS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kvsim}
jobs=${KVSIM_JOBS:-$(nproc)}
patch_file="$root/scripts/patches/kokkos-3.4.01-cuda13-hopper.patch"
trilinos_version=13.2.0

log() { printf '[setup %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

apt_packages=(
  build-essential cmake ninja-build pkg-config patch dpkg-dev
  libyaml-cpp-dev libhdf5-dev hdf5-tools libopenmpi-dev openmpi-bin
  catch2 libcli11-dev
  slurmctld slurmd slurm-client munge
  clang libclang-rt-dev libomp-dev
  python3 python3-h5py python3-numpy python3-pandas python3-matplotlib python3-pytest
  python3-setuptools python3-wheel python3-venv python3-pip
)

# A private apt configuration derived at run time from the machine's own sources, so the
# repository never names a mirror. $1: directory, $2: Types line, $3: optional suite override.
private_apt_dir() {
  local dir=$1 types=$2 suite=${3:-}
  local src=/etc/apt/sources.list.d/debian.sources
  [ -r "$src" ] || die "cannot read $src to derive a deb-src list"
  mkdir -p "$dir/sources" "$dir/lists/partial" "$dir/cache/archives/partial"
  if [ -n "$suite" ]; then
    # keep only the main archive stanza (the first), with the suite replaced
    awk -v t="$types" -v s="$suite" 'BEGIN{RS="";ORS="\n\n"} NR==1{
        gsub(/Types:[^\n]*/, "Types: " t); gsub(/Suites:[^\n]*/, "Suites: " s); print }' \
      "$src" >"$dir/sources/debian.sources"
  else
    sed "s/^Types:.*/Types: $types/" "$src" >"$dir/sources/debian.sources"
  fi
}

apt_private() {
  local dir=$1; shift
  apt-get -q -o APT::Sandbox::User=root -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$dir/sources" \
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" \
    -o Dir::State::status=/dev/null "$@"
}

ensure_packages() {
  local missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "${KVSIM_NO_APT:-0}" = 1 ] && die "missing packages and KVSIM_NO_APT=1: ${missing[*]}"
  log "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get -q update >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -q install -y --no-install-recommends "${missing[@]}" >/dev/null
}

# Kokkos + Kokkos Kernels sources, patched. Stamped by the patch's hash so a changed patch
# re-extracts.
ensure_sources() {
  local patch_sum; patch_sum=$(sha256sum "$patch_file" | cut -c1-16)
  src_dir="$deps/src/trilinos-$trilinos_version"
  if [ -f "$src_dir/.kvsim-patched-$patch_sum" ]; then return 0; fi
  local tarball
  tarball=$(ls "$deps"/apt-src/trilinos_${trilinos_version}.orig.tar.* 2>/dev/null | head -n1 || true)
  if [ -z "$tarball" ]; then
    log "downloading trilinos $trilinos_version source package from Debian"
    private_apt_dir "$deps/apt-src" deb-src
    apt_private "$deps/apt-src" update >/dev/null
    (cd "$deps/apt-src" && apt_private "$deps/apt-src" source --download-only trilinos >/dev/null)
    tarball=$(ls "$deps"/apt-src/trilinos_${trilinos_version}.orig.tar.* 2>/dev/null | head -n1 || true)
    [ -n "$tarball" ] || die "trilinos ${trilinos_version} orig tarball not found after download"
  fi
  log "extracting Kokkos and Kokkos Kernels from $(basename "$tarball")"
  rm -rf "$src_dir" "$deps/src/extract"
  mkdir -p "$deps/src/extract"
  tar -C "$deps/src/extract" -xf "$tarball" --wildcards '*/packages/kokkos/*' '*/packages/kokkos-kernels/*'
  mv "$deps/src/extract"/* "$src_dir"
  rmdir "$deps/src/extract"
  (cd "$src_dir" && patch -p0 --forward --quiet <"$patch_file") || die "applying $patch_file failed"
  touch "$src_dir/.kvsim-patched-$patch_sum"
}

# $1: backend (cpu|cuda). Installs Kokkos and Kokkos Kernels into $deps/install/$1.
build_kokkos() {
  local backend=$1
  local prefix="$deps/install/$backend"
  # Rebuild when what goes into the build changes: the patch's bytes and this recipe (not the
  # checkout's path, nor edits elsewhere in this script such as the package list).
  local stamp_key; stamp_key=$({ cat "$patch_file"; declare -f build_kokkos; } | sha256sum | cut -c1-16)
  if [ -f "$prefix/.kvsim-built-$stamp_key" ]; then return 0; fi
  ensure_sources
  local bdir="$deps/build/$backend"
  local common=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix"
                -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_EXTENSIONS=OFF -DBUILD_SHARED_LIBS=OFF
                -DCMAKE_POSITION_INDEPENDENT_CODE=ON)
  local kokkos_opts=(-DKokkos_ENABLE_SERIAL=ON -DKokkos_ENABLE_OPENMP=ON)
  local kk_opts=(-DKokkosKernels_ENABLE_TESTS=OFF -DKokkosKernels_ENABLE_EXAMPLES=OFF
                 -DKokkosKernels_INST_DOUBLE=OFF -DKokkosKernels_INST_FLOAT=OFF
                 -DKokkosKernels_INST_COMPLEX_DOUBLE=OFF -DKokkosKernels_INST_COMPLEX_FLOAT=OFF
                 -DKokkosKernels_INST_ORDINAL_INT=OFF -DKokkosKernels_INST_OFFSET_SIZE_T=OFF
                 -DKokkosKernels_INST_OFFSET_INT=OFF -DKokkosKernels_INST_LAYOUTLEFT=OFF)
  local cxx=${CXX:-g++}
  if [ "$backend" = cuda ]; then
    command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || die "cuda backend needs nvcc"
    export PATH="/usr/local/cuda/bin:$PATH"
    cxx="$src_dir/packages/kokkos/bin/nvcc_wrapper"
    kokkos_opts+=(-DKokkos_ENABLE_CUDA=ON -DKokkos_ENABLE_CUDA_LAMBDA=ON -DKokkos_ARCH_HOPPER90=ON)
    kk_opts+=(-DKokkosKernels_ENABLE_TPL_CUBLAS=ON)
  fi
  log "building Kokkos ($backend) into $prefix"
  rm -rf "$bdir" "$prefix"
  cmake -S "$src_dir/packages/kokkos" -B "$bdir/kokkos" "${common[@]}" -DCMAKE_CXX_COMPILER="$cxx" \
    "${kokkos_opts[@]}" >"$deps/build-$backend-kokkos.log" 2>&1 || die "Kokkos configure failed: $deps/build-$backend-kokkos.log"
  cmake --build "$bdir/kokkos" -j "$jobs" >>"$deps/build-$backend-kokkos.log" 2>&1 || die "Kokkos build failed: $deps/build-$backend-kokkos.log"
  cmake --install "$bdir/kokkos" >>"$deps/build-$backend-kokkos.log" 2>&1
  log "building Kokkos Kernels ($backend)"
  cmake -S "$src_dir/packages/kokkos-kernels" -B "$bdir/kokkos-kernels" "${common[@]}" -DCMAKE_CXX_COMPILER="$cxx" \
    -DKokkos_ROOT="$prefix" "${kk_opts[@]}" >"$deps/build-$backend-kk.log" 2>&1 || die "Kokkos Kernels configure failed: $deps/build-$backend-kk.log"
  cmake --build "$bdir/kokkos-kernels" -j "$jobs" >>"$deps/build-$backend-kk.log" 2>&1 || die "Kokkos Kernels build failed: $deps/build-$backend-kk.log"
  cmake --install "$bdir/kokkos-kernels" >>"$deps/build-$backend-kk.log" 2>&1
  rm -rf "$bdir"
  touch "$prefix/.kvsim-built-$stamp_key"
  log "Kokkos ($backend) ready"
}

# Headers of Debian's libkokkos-dev 5.2.2 (unstable) for the forward-compatibility syntax check.
ensure_kokkos5_headers() {
  local dir="$deps/kokkos5"
  if [ -f "$dir/.kvsim-ready" ]; then return 0; fi
  log "downloading libkokkos-dev (unstable) headers for the Kokkos 5 syntax check"
  rm -rf "$dir"; mkdir -p "$dir"
  private_apt_dir "$dir/apt" deb sid
  apt_private "$dir/apt" update >/dev/null
  (cd "$dir" && apt_private "$dir/apt" download libkokkos-dev >/dev/null) || die "libkokkos-dev download failed"
  local deb; deb=$(ls "$dir"/libkokkos-dev_*.deb | head -n1)
  dpkg-deb -x "$deb" "$dir/root"
  [ -f "$dir/root/usr/include/kokkos/Kokkos_Core.hpp" ] || die "Kokkos_Core.hpp missing from $deb"
  basename "$deb" >"$dir/.kvsim-ready"
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(cpu)
for t in "${targets[@]}"; do
  case "$t" in
    packages) ensure_packages ;;
    cpu) ensure_packages; build_kokkos cpu ;;
    cuda) ensure_packages; build_kokkos cuda ;;
    kokkos5-headers) ensure_kokkos5_headers ;;
    all) ensure_packages; build_kokkos cpu; ensure_kokkos5_headers ;;
    *) die "unknown target '$t' (cpu|cuda|kokkos5-headers|packages|all)" ;;
  esac
done
printf '%s\n' "$deps"
