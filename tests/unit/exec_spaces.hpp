#pragma once
// Every enabled Kokkos execution space: tests written once run on each (Kokkos' TEST_EXECSPACE
// habit), so the CPU CI and the GPU machine exercise the same test code.
#include <Kokkos_Core.hpp>
#include <tuple>

namespace kvsim::test {

using ExecSpaces = std::tuple<
#if defined(KOKKOS_ENABLE_CUDA)
    Kokkos::Cuda,
#endif
#if defined(KOKKOS_ENABLE_OPENMP)
    Kokkos::OpenMP,
#endif
    Kokkos::Serial>;

}  // namespace kvsim::test
