#pragma once
// The device's own copy ceiling, measured in the run it is compared with.
#include <cstdint>

namespace kvsim {

struct CopyBandwidth {
  double deep_copy_GBps = 0;    // Kokkos::deep_copy (cudaMemcpy on the GPU)
  double stream_copy_GBps = 0;  // a STREAM-style parallel Float4 copy kernel
  double read_GBps = 0;         // a read-only Float4 sum, 8 loads in flight per item
  double write_GBps = 0;        // a write-only Float4 kernel
  // The ceiling that fractions are taken against: the faster of the two. On Kokkos 3.4 host
  // backends deep_copy runs on one thread, so it alone would understate the machine.
  double ceiling() const { return deep_copy_GBps > stream_copy_GBps ? deep_copy_GBps : stream_copy_GBps; }
};

// The floor for a kernel that reads `read` bytes and writes `written` bytes: the longer of the
// two at the measured read-only and write-only rates (no kernel moving them can be faster, even
// if reads and writes overlap perfectly).
inline double roofline_seconds(const CopyBandwidth& bw, double read, double written) {
  const double r = bw.read_GBps > 0 ? read / (bw.read_GBps * 1e9) : 0.0;
  const double w = bw.write_GBps > 0 ? written / (bw.write_GBps * 1e9) : 0.0;
  return r > w ? r : w;
}

// Bytes read + written per second / 1e9, median of `reps` copies of `bytes` after a warm-up.
// Requires Kokkos to be initialised.
CopyBandwidth measure_copy_bandwidth(std::int64_t bytes, int reps);

}  // namespace kvsim
