# Spack recipe for kvsim. Use it from this checkout as a repository of its own:
#   spack repo add packaging/spack
#   spack install kvsim                          # OpenMP host build
#   spack install kvsim +cuda cuda_arch=90 +mpi  # H100/H200
# tests/packaging/check_spack_package.py loads this file against a stub of the Spack API
# (no Spack needed) and checks its variants, dependencies and CMake arguments.

from spack.package import *


class Kvsim(CMakePackage, CudaPackage):
    """Kokkos-based simulator for transformer KV caches: fills, retrieves and decodes caches of
    real model shapes on GPUs or CPUs from YAML experiment configs, and writes HDF5 metrics."""

    homepage = "https://github.com/kvsim/kvsim"
    git = "https://github.com/kvsim/kvsim.git"

    maintainers("kvsim")
    license("UNKNOWN")

    version("main", branch="main")

    variant("mpi", default=True, description="Sweep points over MPI ranks and shard contexts (parallel:)")
    variant("tests", default=False, description="Build the Catch2 unit tests and the ctest suite")
    # cuda and cuda_arch come from CudaPackage.

    depends_on("cmake@3.19:", type="build")
    depends_on("ninja", type="build")
    depends_on("cli11", type="build")
    depends_on("catch2@2", type="build", when="+tests")

    depends_on("kokkos@3.4:")
    depends_on("kokkos-kernels@3.4:")
    depends_on("kokkos +openmp", when="~cuda")
    depends_on("kokkos +cuda +wrapper", when="+cuda")
    depends_on("kokkos-kernels +cuda", when="+cuda")
    for arch in CudaPackage.cuda_arch_values:
        depends_on(f"kokkos cuda_arch={arch}", when=f"+cuda cuda_arch={arch}")
    conflicts("+cuda", when="cuda_arch=none", msg="+cuda needs cuda_arch (e.g. cuda_arch=90 for H100/H200)")

    depends_on("yaml-cpp@0.6:")
    depends_on("hdf5 ~mpi", when="~mpi")
    depends_on("hdf5 +mpi", when="+mpi")
    # The driver always links MPI (one rank without mpirun); ~mpi only keeps hdf5 serial.
    depends_on("mpi")

    generator("ninja")

    def cmake_args(self):
        spec = self.spec
        args = [
            self.define("Kokkos_ROOT", spec["kokkos"].prefix),
            self.define("KokkosKernels_ROOT", spec["kokkos-kernels"].prefix),
            self.define_from_variant("KVSIM_ENABLE_TESTS", "tests"),
            self.define("KVSIM_BACKEND", "cuda" if spec.satisfies("+cuda") else "cpu"),
        ]
        if spec.satisfies("+cuda"):
            # Kokkos 3.x/4.x CUDA builds compile through Kokkos' nvcc_wrapper.
            args.append(self.define("CMAKE_CXX_COMPILER", spec["kokkos"].kokkos_cxx))
        return args
