#pragma once
// The device's own copy ceiling, measured in the run it is compared with.
#include <cstdint>

namespace kvsim {

struct CopyBandwidth {
  double deep_copy_GBps = 0;    // Kokkos::deep_copy (cudaMemcpy on the GPU)
  double stream_copy_GBps = 0;  // a STREAM-style parallel Float4 copy kernel
  // The ceiling that fractions are taken against: the faster of the two. On Kokkos 3.4 host
  // backends deep_copy runs on one thread, so it alone would understate the machine.
  double ceiling() const { return deep_copy_GBps > stream_copy_GBps ? deep_copy_GBps : stream_copy_GBps; }
};

// Bytes read + written per second / 1e9, median of `reps` copies of `bytes` after a warm-up.
// Requires Kokkos to be initialised.
CopyBandwidth measure_copy_bandwidth(std::int64_t bytes, int reps);

}  // namespace kvsim
