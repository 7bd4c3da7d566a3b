#include "kvsim/experiment.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "kvsim/device_info.hpp"
#include "kvsim/error.hpp"
#include "kvsim/kernels/verify_dense.hpp"
#include "kvsim/streaming_kv_cache.hpp"
#include "kvsim/synthetic.hpp"
#include "kvsim/timing.hpp"

namespace kvsim {
namespace {

using Exec = DefaultExecSpace;
using Cache = StreamingKVCache<Exec>;

CacheShape shape_of(const ExperimentConfig& c) {
  return CacheShape{c.model.layers, c.model.kv_heads, c.model.head_dim, c.cache.max_positions};
}

std::string gb(std::int64_t bytes) {
  std::ostringstream os;
  os.precision(3);
  os << std::fixed << double(bytes) / 1e9 << " GB";
  return os.str();
}

// Host twin of the device check: a strided sample of a dense layer recomputed on the host.
std::uint64_t host_spot_check(const Cache& cache, const Cache::dense_view& dense, std::int64_t layer) {
  const auto host = Kokkos::create_mirror_view_and_copy(HostMemSpace(), dense);
  const CacheShape& s = cache.shape();
  const std::int64_t valid = cache.valid_positions();
  const std::int64_t n = 2 * valid * s.row_elements();
  const std::int64_t stride = std::max<std::int64_t>(1, n / 65536) | 1;  // odd: visits every dim and head
  std::uint64_t bad = 0;
  for (std::int64_t i = 0; i < n; i += stride) {
    const std::int64_t dim = i % s.head_dim;
    const std::int64_t head = (i / s.head_dim) % s.kv_heads;
    const std::int64_t p = (i / s.row_elements()) % valid;
    const std::int64_t kv = i / (s.row_elements() * valid);
    const float expected = synthetic::value(cache.seed(), std::uint32_t(layer), synthetic::Tensor(kv),
                                            std::uint64_t(cache.first_position() + p), std::uint32_t(head),
                                            std::uint32_t(dim));
    const float got = host(kv, p, head, dim);
    bad += (std::memcmp(&got, &expected, sizeof got) != 0);
  }
  return bad;
}

}  // namespace

std::int64_t predicted_device_bytes(const ExperimentConfig& c) {
  const CacheShape s = shape_of(c);
  const std::int64_t cache = s.elements() * std::int64_t(sizeof(float));
  const std::int64_t dense = 2 * s.max_positions * s.row_elements() * std::int64_t(sizeof(float));
  return cache + dense;
}

void check_fits_device(const ExperimentConfig& c) {
  const DeviceInfo dev = query_device();
  const std::int64_t needed = predicted_device_bytes(c);
  // Leave headroom for the runtime's own allocations.
  const std::int64_t usable = dev.free_bytes - std::min<std::int64_t>(dev.free_bytes / 20, std::int64_t(1) << 30);
  if (dev.free_bytes > 0 && needed > usable) {
    throw InputError(c.source_file + ": cache.max_positions: the point needs " + gb(needed) +
                     " (cache + retrieve buffer) but " + dev.name + " has " + gb(dev.free_bytes) + " available");
  }
}

PointResult run_point(const ExperimentConfig& c, std::int64_t point, double copy_GBps) {
  ProfilingRegion region("kvsim::point");
  const Exec exec;
  PointResult r;
  r.point = point;
  r.config = c;

  Cache cache(exec, shape_of(c), c.seed);
  auto dense = cache.make_dense_buffer("kvsim::retrieve_buffer");
  r.kv_cache_bytes = cache.allocated_bytes();
  r.device_memory_used_bytes = device_memory_used_bytes();

  const std::int64_t reps = c.run.warmup + c.run.repetitions;
  {
    ProfilingRegion fill_region("kvsim::fill");
    for (std::int64_t rep = 0; rep < reps; ++rep) {
      cache.reset();
      const double t = time_fenced(exec, [&] {
        for (std::int64_t p = 0; p < c.fill.positions; ++p) cache.append_synthetic_token();
      });
      if (rep >= c.run.warmup) r.fill_seconds.push_back(t);
    }
  }
  r.valid_positions = cache.valid_positions();
  r.fill_bytes = c.fill.positions * cache.bytes_per_position();

  {
    ProfilingRegion retrieve_region("kvsim::retrieve");
    for (std::int64_t rep = 0; rep < reps; ++rep) {
      const double t = time_fenced(exec, [&] {
        for (std::int64_t layer = 0; layer < c.model.layers; ++layer) cache.retrieve_layer(layer, dense);
      });
      if (rep >= c.run.warmup) r.retrieve_seconds.push_back(t);
    }
  }
  r.retrieve_bytes = c.model.layers * cache.retrieve_bytes_per_layer();

  const double fill_t = median(r.fill_seconds);
  const double retrieve_t = median(r.retrieve_seconds);
  r.fill_positions_per_s = double(c.fill.positions) / fill_t;
  r.fill_GBps = double(r.fill_bytes) / fill_t / 1e9;
  r.retrieve_ops_per_s = double(c.model.layers) / retrieve_t;
  r.retrieve_GBps = double(r.retrieve_bytes) / retrieve_t / 1e9;
  r.retrieve_fraction_of_copy = copy_GBps > 0 ? r.retrieve_GBps / copy_GBps : 0.0;

  if (c.retrieve.verify) {
    ProfilingRegion verify_region("kvsim::verify");
    const std::int64_t valid = cache.valid_positions();
    const CacheShape& s = cache.shape();
    for (std::int64_t layer = 0; layer < s.layers; ++layer) {
      // Poison first: an element the gather skipped cannot pass by holding last layer's value.
      Kokkos::deep_copy(exec, dense, std::numeric_limits<float>::quiet_NaN());
      cache.retrieve_layer(layer, dense);
      kernels::VerifyDenseLayer<Cache::memory_space> verify{dense, c.seed, layer, valid,
                                                            std::uint64_t(cache.first_position()), s.kv_heads,
                                                            s.head_dim};
      kernels::VerifyTally tally;
      Kokkos::parallel_reduce("kvsim::verify_layer", RangePolicy<Exec>(exec, 0, 2 * valid * s.row_elements()), verify,
                              tally);
      exec.fence();
      r.mismatches += tally.mismatches;
      r.checksum += tally.checksum;
      if (layer == 0 || layer == s.layers - 1) r.mismatches += host_spot_check(cache, dense, layer);
    }
    if (r.mismatches != 0) {
      throw RuntimeError("verification failed: " + std::to_string(r.mismatches) +
                         " retrieved elements differ from the synthetic values (point " + std::to_string(point) + ")");
    }
    r.verified = true;
  }
  return r;
}

}  // namespace kvsim
