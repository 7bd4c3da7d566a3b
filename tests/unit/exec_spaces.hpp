#pragma once
// Every enabled Kokkos execution space: tests written once run on each (Kokkos' TEST_EXECSPACE
// habit), so the CPU CI and the GPU machine exercise the same test code.
#include <Kokkos_Core.hpp>
#include <tuple>
#include <utility>

namespace kvsim::test {

#if defined(KOKKOS_ENABLE_CUDA)
using CudaSpaces = std::tuple<Kokkos::Cuda>;
#else
using CudaSpaces = std::tuple<>;
#endif
#if defined(KOKKOS_ENABLE_OPENMP)
using OpenMPSpaces = std::tuple<Kokkos::OpenMP>;
#else
using OpenMPSpaces = std::tuple<>;
#endif
#if defined(KOKKOS_ENABLE_SERIAL)
using SerialSpaces = std::tuple<Kokkos::Serial>;
#else
using SerialSpaces = std::tuple<>;
#endif

using ExecSpaces =
    decltype(std::tuple_cat(std::declval<CudaSpaces>(), std::declval<OpenMPSpaces>(), std::declval<SerialSpaces>()));
static_assert(std::tuple_size<ExecSpaces>::value > 0, "no Kokkos execution space enabled");

}  // namespace kvsim::test
