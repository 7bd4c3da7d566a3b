#pragma once
// How a token's per-layer launches reach the GPU (workload.decode.launch). Launched one by one,
// each layer pays the host's launch path (Kokkos' policy set-up and cudaLaunchKernel, about
// 20 us on an H200 node) and the GPU idles between short kernels; a serving engine records the
// launches of a step once and replays them as one CUDA graph, which is what `graph` measures.
// LaunchGraph records a sequence of launches on an execution space instance and replays it:
// on CUDA by capturing the instance's stream into a cudaGraph, elsewhere by running the
// launches again (host backends have no graphs; their launches cost no device idle time).
#include <array>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>

#include <Kokkos_Core.hpp>

#include "kvsim/core/error.hpp"

#include "kvsim/core/enum_list.hpp"

namespace kvsim {

// The modes, declared once: (enumerator, name) in the order of LaunchMode's values.
#define KVSIM_LAUNCH_MODES(X) X(eager, "eager") X(graph, "graph")

KVSIM_NAMED_ENUM(LaunchMode, KVSIM_LAUNCH_MODES, all_launch_modes, launch_mode_name)

// Host backends (and any space without a graph implementation): replay runs the launches again.
template <class ExecSpace>
class LaunchGraph {
 public:
  static constexpr bool native = false;  // whether replay is one graph launch

  template <class Launches>
  void record(const ExecSpace&, Launches&& launches) {
    launches_ = std::forward<Launches>(launches);
  }
  bool recorded() const { return bool(launches_); }
  void replay(const ExecSpace&) const { launches_(); }

 private:
  std::function<void()> launches_;
};

#if defined(KOKKOS_ENABLE_CUDA)
// The instance's stream is captured (relaxed mode: Kokkos' launch path queries function
// attributes and occupancy, which are not stream work) and the graph instantiated once; the
// instance must own a stream of its own (ExecInstance), since the legacy default stream cannot
// be captured. Kernel arguments are baked in at capture: whatever changes between replays
// (valid positions, the H2O table, the arrivals counters) must be read from device memory by
// the kernels, as the decode kernels do.
template <>
class LaunchGraph<Kokkos::Cuda> {
 public:
  static constexpr bool native = true;

  LaunchGraph() = default;
  LaunchGraph(const LaunchGraph&) = delete;
  LaunchGraph& operator=(const LaunchGraph&) = delete;
  LaunchGraph(LaunchGraph&& o) noexcept : graph_(std::exchange(o.graph_, nullptr)), exec_(std::exchange(o.exec_, nullptr)) {}
  LaunchGraph& operator=(LaunchGraph&& o) noexcept {
    if (this != &o) {
      release();
      graph_ = std::exchange(o.graph_, nullptr);
      exec_ = std::exchange(o.exec_, nullptr);
    }
    return *this;
  }
  ~LaunchGraph() { release(); }

  template <class Launches>
  void record(const Kokkos::Cuda& space, Launches&& launches) {
    release();
    const cudaStream_t stream = space.cuda_stream();
    KVSIM_REQUIRE(stream != nullptr, "CUDA graph: the execution space instance has no stream of its own to capture");
    space.fence();  // nothing of earlier work may join the capture
    KVSIM_CUDA_REQUIRE(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed), "CUDA graph: begin capture");
    try {
      launches();
    } catch (...) {
      cudaGraph_t partial = nullptr;
      cudaStreamEndCapture(stream, &partial);
      if (partial) cudaGraphDestroy(partial);
      throw;
    }
    KVSIM_CUDA_REQUIRE(cudaStreamEndCapture(stream, &graph_), "CUDA graph: end capture");
    KVSIM_CUDA_REQUIRE(cudaGraphInstantiate(&exec_, graph_, 0), "CUDA graph: instantiate");
  }
  bool recorded() const { return exec_ != nullptr; }
  void replay(const Kokkos::Cuda& space) const {
    KVSIM_CUDA_REQUIRE(cudaGraphLaunch(exec_, space.cuda_stream()), "CUDA graph: launch");
  }

 private:
  void release() {
    if (exec_) cudaGraphExecDestroy(exec_);
    if (graph_) cudaGraphDestroy(graph_);
    exec_ = nullptr;
    graph_ = nullptr;
  }
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};
#endif

}  // namespace kvsim
