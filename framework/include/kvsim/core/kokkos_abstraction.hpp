#pragma once
// One place for the Kokkos spaces and View types kvsim uses (Parthenon's kokkos_abstraction
// habit). Code written against these aliases builds on Kokkos 3.4 and 4.x/5.x alike.
#include <Kokkos_Core.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kvsim {

using DefaultExecSpace = Kokkos::DefaultExecutionSpace;
using DefaultMemSpace = DefaultExecSpace::memory_space;
using HostExecSpace = Kokkos::DefaultHostExecutionSpace;
using HostMemSpace = Kokkos::HostSpace;

// Every View that meets the host or HDF5 is LayoutRight: its bytes are C order.
using Layout = Kokkos::LayoutRight;

template <class T, class MemSpace = DefaultMemSpace>
using View1D = Kokkos::View<T*, Layout, MemSpace>;
template <class T, class MemSpace = DefaultMemSpace>
using View2D = Kokkos::View<T**, Layout, MemSpace>;
template <class T, class MemSpace = DefaultMemSpace>
using View4D = Kokkos::View<T****, Layout, MemSpace>;
template <class T, class MemSpace = DefaultMemSpace>
using View5D = Kokkos::View<T*****, Layout, MemSpace>;

template <class T>
using HostView1D = View1D<T, HostMemSpace>;

template <class ExecSpace>
using RangePolicy = Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<std::int64_t>>;
template <class ExecSpace>
using TeamPolicy = Kokkos::TeamPolicy<ExecSpace>;

// A 16-byte value: copies of it compile to one 128-bit load/store on the GPU, which is what
// reaches HBM bandwidth (scalar float loops stall at about a quarter of it).
struct alignas(16) Float4 {
  float v[4];
};

// For kernels launched many times back to back (per layer, per token): the functor travels as
// a kernel argument. Without the hint, Kokkos 3.4 puts a functor of 512 bytes or more in
// constant memory and, before each such launch, waits on the host for the previous one to
// finish (cudaEventSynchronize), so 32 per-layer launches ran one after another with a host
// round trip between them.
template <class Policy>
auto light_weight(const Policy& policy) {
  return Kokkos::Experimental::require(policy, Kokkos::Experimental::WorkItemProperty::HintLightWeight);
}

// Memory that ExecSpace can touch directly.
template <class ExecSpace>
using MemSpaceOf = typename ExecSpace::memory_space;

// Copies a host vector into a device View of the same length. From pageable host memory the
// copy is staged before deep_copy returns, so the mirror may go away without a fence.
template <class ExecSpace, class T, class MemSpace>
void copy_to_device(const ExecSpace& exec, const std::vector<T>& host, const View1D<T, MemSpace>& dev) {
  auto mirror = Kokkos::create_mirror_view(dev);
  for (std::size_t i = 0; i < host.size(); ++i) mirror(i) = host[i];
  Kokkos::deep_copy(exec, dev, mirror);
}

// Allocation helper: every allocation carries a kvsim:: label.
inline auto alloc_label(const char* label) { return Kokkos::view_alloc(std::string(label)); }

}  // namespace kvsim
