#pragma once
// An execution space instance a point runs on. On CUDA it owns a stream of its own: the
// default instance's legacy stream cannot be captured into a graph (LaunchGraph). The stream is
// created blocking with respect to the legacy stream, so work anyone queues on the default
// instance still orders with it. Host spaces use their default instance.
#include <Kokkos_Core.hpp>

#include "kvsim/core/error.hpp"

namespace kvsim {

template <class ExecSpace>
class ExecInstance {
 public:
  const ExecSpace& space() const { return space_; }

 private:
  ExecSpace space_;
};

#if defined(KOKKOS_ENABLE_CUDA)
template <>
class ExecInstance<Kokkos::Cuda> {
 public:
  ExecInstance() : stream_(), space_(stream_.stream) {}
  ExecInstance(const ExecInstance&) = delete;
  ExecInstance& operator=(const ExecInstance&) = delete;
  ~ExecInstance() { space_.fence(); }
  const Kokkos::Cuda& space() const { return space_; }

 private:
  // Declared before the space so that it is destroyed after it (members go in reverse order):
  // the space's last work must drain before its stream goes.
  struct Stream {
    cudaStream_t stream = nullptr;
    Stream() {
      KVSIM_CUDA_REQUIRE(cudaStreamCreate(&stream), "cannot create a CUDA stream");
    }
    ~Stream() {
      if (stream) cudaStreamDestroy(stream);
    }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
  } stream_;
  Kokkos::Cuda space_;
};
#endif

}  // namespace kvsim
