#include "platform/bandwidth_probe.hpp"

#include <algorithm>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "kvsim/probe/stream.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"
#include "kvsim/core/timing.hpp"

namespace kvsim {
namespace {

using Exec = DefaultExecSpace;
using Mem = DefaultMemSpace;

struct StreamCopy {
  View1D<const Float4> src;
  View1D<Float4> dst;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const { dst(i) = src(i); }
};

// Bytes moved per second / 1e9 over the fastest of `reps` fenced runs after one warm-up.
template <class Fn>
double best_GBps(std::int64_t bytes_moved, int reps, const Exec& exec, Fn&& fn) {
  double best = 0;
  for (int r = 0; r <= reps; ++r) {
    const double t = time_fenced(exec, fn);
    if (r > 0 && t > 0) best = std::max(best, double(bytes_moved) / t / 1e9);
  }
  return best;
}

struct Buffers {
  View1D<Float4> a, b;
  View1D<float> sink;
  std::int64_t n4 = 0;
};

template <int U>
double block_read(const Buffers& buf, int reps, const Exec& exec) {
  const std::int64_t items = buf.n4 / U;  // n4 is a multiple of every variant's block
  return best_GBps(items * U * std::int64_t(sizeof(Float4)), reps, exec, [&] {
    Kokkos::parallel_for("kvsim::probe::block_read", RangePolicy<Exec>(exec, 0, items),
                         kernels::BlockRead<Mem, U>{buf.a, buf.sink});
  });
}

template <int U>
double block_write(const Buffers& buf, int reps, const Exec& exec) {
  const std::int64_t items = buf.n4 / U;  // n4 is a multiple of every variant's block
  return best_GBps(items * U * std::int64_t(sizeof(Float4)), reps, exec, [&] {
    Kokkos::parallel_for("kvsim::probe::block_write", RangePolicy<Exec>(exec, 0, items), kernels::BlockWrite<Mem, U>{buf.b});
  });
}

template <int U>
double block_copy(const Buffers& buf, int reps, const Exec& exec) {
  const std::int64_t items = buf.n4 / U;  // n4 is a multiple of every variant's block
  return best_GBps(2 * items * U * std::int64_t(sizeof(Float4)), reps, exec, [&] {
    Kokkos::parallel_for("kvsim::probe::block_copy", RangePolicy<Exec>(exec, 0, items),
                         kernels::BlockCopy<Mem, U>{buf.a, buf.b});
  });
}

}  // namespace

BandwidthProbe::BandwidthProbe(std::int64_t bytes) : bytes_(bytes) {}

CopyBandwidth BandwidthProbe::measure(int reps) {
  ProfilingRegion region("kvsim::copy_probe");
  const Exec exec;
  // A whole number of every variant's blocks (32 lanes x 16 vectors), so no variant needs a tail.
  constexpr std::int64_t quantum = 32 * 16;
  Buffers buf;
  buf.n4 = std::max<std::int64_t>(1, bytes_ / std::int64_t(sizeof(Float4)) / quantum) * quantum;
  // Allocated per probe, not held: a point's memory (max_positions: max) is not the probe's.
  buf.a = View1D<Float4>(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string("kvsim::copy_probe_src")), buf.n4);
  buf.b = View1D<Float4>(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string("kvsim::copy_probe_dst")), buf.n4);
  buf.sink = View1D<float>(Kokkos::view_alloc(exec, std::string("kvsim::copy_probe_sink")), 1);
  // Touch both buffers first: never time page faults or a copy of untouched memory.
  Kokkos::deep_copy(exec, buf.a, Float4{{1.5f, -2.0f, 0.25f, 3.0f}});
  Kokkos::deep_copy(exec, buf.b, Float4{{0.0f, 0.0f, 0.0f, 0.0f}});
  const std::int64_t vec = sizeof(Float4), n8 = buf.n4 / 8;
  double sum = 0;
  using Variant = std::function<double()>;
  const std::vector<Variant> copies{
      [&] {
        return best_GBps(2 * buf.n4 * vec, reps, exec, [&] {
          Kokkos::parallel_for("kvsim::stream_copy", RangePolicy<Exec>(exec, 0, buf.n4), StreamCopy{buf.a, buf.b});
        });
      },
      [&] { return block_copy<4>(buf, reps, exec); }, [&] { return block_copy<8>(buf, reps, exec); }};
  const std::vector<Variant> writes{
      [&] {
        return best_GBps(8 * n8 * vec, reps, exec, [&] {
          Kokkos::parallel_for("kvsim::stream_write", RangePolicy<Exec>(exec, 0, n8), kernels::StreamWrite<Mem>{buf.b, n8});
        });
      },
      [&] { return block_write<4>(buf, reps, exec); }, [&] { return block_write<8>(buf, reps, exec); }};
  const std::vector<Variant> reads{
      [&] {
        return best_GBps(8 * n8 * vec, reps, exec, [&] {
          Kokkos::parallel_reduce("kvsim::stream_read", RangePolicy<Exec>(exec, 0, n8), kernels::StreamRead<Mem>{buf.a, n8}, sum);
        });
      },
      [&] { return block_read<4>(buf, reps, exec); }, [&] { return block_read<8>(buf, reps, exec); },
      [&] { return block_read<16>(buf, reps, exec); }};
  // The first probe tries every variant; later ones only the fastest of each kind.
  const auto best = [&](const std::vector<Variant>& variants, int& winner) {
    if (winner >= 0) return variants[std::size_t(winner)]();
    double top = 0;
    for (std::size_t k = 0; k < variants.size(); ++k) {
      const double g = variants[k]();
      if (g > top) top = g, winner = int(k);
    }
    return top;
  };
  CopyBandwidth bw;
  bw.deep_copy_GBps = best_GBps(2 * buf.n4 * vec, reps, exec, [&] { Kokkos::deep_copy(exec, buf.b, buf.a); });
  bw.stream_copy_GBps = best(copies, copy_winner_);
  bw.write_GBps = best(writes, write_winner_);
  bw.read_GBps = best(reads, read_winner_);
  if (sum != sum) bw.read_GBps = 0;  // never happens; keeps `sum` observable
  return bw;
}

CopyBandwidth measure_copy_bandwidth(std::int64_t bytes, int reps) { return BandwidthProbe(bytes).measure(reps); }

std::string describe(const CopyBandwidth& bw) {
  std::ostringstream os;
  os.precision(4);
  os << "deep_copy " << bw.deep_copy_GBps << " GB/s, copy kernel " << bw.stream_copy_GBps
     << " GB/s (read + write), read-only " << bw.read_GBps << " GB/s, write-only " << bw.write_GBps << " GB/s";
  return os.str();
}

}  // namespace kvsim
