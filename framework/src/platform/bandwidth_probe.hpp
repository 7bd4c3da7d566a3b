#pragma once
// The device's own bandwidth ceilings, measured in the run they are compared with. A ceiling
// must be one no kernel beats: each figure is the best of several access patterns and of its
// repetitions (a fraction of a ceiling above 1 means the ceiling was measured too low, and is
// reported as a measurement error, never as a result).
#include <cstdint>
#include <string>

namespace kvsim {

struct CopyBandwidth {
  double deep_copy_GBps = 0;    // Kokkos::deep_copy (cudaMemcpy on the GPU), read + write
  double stream_copy_GBps = 0;  // the best parallel Float4 copy kernel, read + write
  double read_GBps = 0;         // the best read-only Float4 kernel (block sums, reductions)
  double write_GBps = 0;        // the best write-only Float4 kernel
  // The ceiling copy fractions are taken against: the faster of the two. On Kokkos 3.4 host
  // backends deep_copy runs on one thread, so it alone would understate the machine.
  double ceiling() const { return deep_copy_GBps > stream_copy_GBps ? deep_copy_GBps : stream_copy_GBps; }
  // Re-probes around each point keep the best figure seen: a probe disturbed by a neighbour
  // (a shared node, a clock ramp) reads low, never high.
  void keep_max(const CopyBandwidth& o) {
    const auto m = [](double& a, double b) { a = b > a ? b : a; };
    m(deep_copy_GBps, o.deep_copy_GBps);
    m(stream_copy_GBps, o.stream_copy_GBps);
    m(read_GBps, o.read_GBps);
    m(write_GBps, o.write_GBps);
  }
};

// The floor for a kernel that reads `read` bytes and writes `written` bytes: the longer of the
// two at the measured read-only and write-only rates (no kernel moving them can be faster, even
// if reads and writes overlap perfectly).
inline double roofline_seconds(const CopyBandwidth& bw, double read, double written) {
  const double r = bw.read_GBps > 0 ? read / (bw.read_GBps * 1e9) : 0.0;
  const double w = bw.write_GBps > 0 ? written / (bw.write_GBps * 1e9) : 0.0;
  return r > w ? r : w;
}

// Probes buffers of `bytes` (make them several times the last-level cache): each variant `reps`
// times after a warm-up, each figure the fastest repetition of the fastest variant. The first
// measure() tries every variant; later ones (the re-probes around each point) only the winners.
// Requires Kokkos to be initialised.
class BandwidthProbe {
 public:
  explicit BandwidthProbe(std::int64_t bytes);
  CopyBandwidth measure(int reps);

 private:
  std::int64_t bytes_;
  int copy_winner_ = -1, write_winner_ = -1, read_winner_ = -1;
};

// One probe with every variant.
CopyBandwidth measure_copy_bandwidth(std::int64_t bytes, int reps);

// The four figures in one line, as `kvsim info --probe` and the run print them.
std::string describe(const CopyBandwidth& bw);

}  // namespace kvsim
