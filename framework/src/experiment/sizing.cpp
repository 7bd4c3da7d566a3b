#include "experiment/experiment.hpp"

#include <algorithm>
#include <sstream>

#include "experiment/prefill_phase.hpp"
#include "experiment/staging.hpp"
#include "kvsim/attention/prefill_attention.hpp"
#include "kvsim/cache/memory_model.hpp"
#include "kvsim/core/error.hpp"
#include "platform/device_info.hpp"

namespace kvsim {
namespace {

using Exec = DefaultExecSpace;

std::string gb(std::int64_t bytes) {
  std::ostringstream os;
  os.precision(3);
  os << std::fixed << double(bytes) / 1e9 << " GB";
  return os.str();
}

std::int64_t out_bytes(const ExperimentConfig& c) { return c.retrieve.output == codec::DType::fp16 ? 2 : 4; }

}  // namespace

std::int64_t stage_positions(const ExperimentConfig& c, std::int64_t bytes_per_position) {
  const std::int64_t longest = *std::max_element(c.lengths.begin(), c.lengths.end());
  if (c.fill.mode == FillMode::bulk) return longest;
  std::int64_t n = std::max<std::int64_t>(1, (c.run.stage_mb << 20) / bytes_per_position);
  if (c.fill.mode == FillMode::chunk) n = std::max<std::int64_t>(1, n / c.fill.chunk) * c.fill.chunk;
  return std::min(n, longest);
}

std::int64_t stage_bytes_per_position(const ExperimentConfig& c) {
  return c.model.layers * 2 * c.batch * c.model.kv_heads * c.model.head_dim * 4;
}

CacheDesign design_of(const ExperimentConfig& c) { return cache_design(c); }

std::int64_t predicted_cache_bytes(const ExperimentConfig& c) { return memory_model(design_of(c), c.lengths).total_bytes(); }

std::int64_t predicted_device_bytes(const ExperimentConfig& c) {
  if (c.cache.max_positions == kMaxContext) return 0;
  const CacheDesign d = design_of(c);
  const std::int64_t longest = *std::max_element(c.lengths.begin(), c.lengths.end());
  const std::int64_t dense =
      c.retrieve.mode == RetrieveMode::none ? 0 : dense_values(d, longest) * out_bytes(c);
  const std::int64_t spp = stage_bytes_per_position(c);
  std::int64_t prefill = 0;
  if (c.prefill_chunk > 0) {
    const std::int64_t n = gemm_probe_size<Exec>();
    // auto's choice is the device's (PrefillAttention::resolve), unknown here: the gemm's larger
    // buffers unless flash is asked for.
    const PrefillKernel k = c.prefill_kernel == PrefillKernel::flash ? PrefillKernel::flash : PrefillKernel::gemm;
    prefill = PrefillAttention<Exec>::bytes(d, c.prefill_chunk, longest + c.decode_tokens, k) + 3 * n * n * 4;
  }
  return predicted_cache_bytes(c) + dense + stage_positions(c, spp) * spp + prefill;
}

void resolve_max_context(ExperimentConfig& c, std::int64_t free_bytes) {
  if (c.cache.max_positions != kMaxContext) return;
  const CacheDesign d = design_of(c);
  const std::int64_t row_store = row_storage_bytes(d);
  // Per slot of every sequence: the stored K and V of all layers (plus a page-table entry), and
  // the dense retrieve buffer's row; staging is a fixed budget.
  const std::int64_t per_slot = c.batch * (d.layers * 2 * row_store + 2 * d.row_values() * out_bytes(c) + 8);
  const std::int64_t fixed = std::min<std::int64_t>(c.run.stage_mb << 20, stage_bytes_per_position(c) * 4096) + (64 << 20);
  const std::int64_t usable = free_bytes - std::min<std::int64_t>(free_bytes / 20, std::int64_t(2) << 30) - fixed;
  std::int64_t cap = usable / per_slot;
  if (d.layout == LayoutKind::paged) cap = cap / d.page_size * d.page_size;
  if (cap < 1) throw InputError(c.source_file + ": cache.max_positions: max: not even one position fits in " + gb(free_bytes));
  c.cache.max_positions = std::min<std::int64_t>(cap, std::int64_t(1) << 31);
  if (c.cache.policy == PolicyKind::window) c.cache.window = c.cache.max_positions;
  if (c.lengths_follow_capacity) {
    c.fill.positions = c.cache.max_positions;
    c.lengths.assign(c.batch, c.fill.positions);
  }
}

void check_fits_device(const ExperimentConfig& c) {
  const DeviceInfo dev = query_device();
  const std::int64_t needed = predicted_device_bytes(c);
  // Leave headroom for the runtime's own allocations.
  const std::int64_t usable = dev.free_bytes - std::min<std::int64_t>(dev.free_bytes / 20, std::int64_t(1) << 30);
  if (dev.free_bytes > 0 && needed > usable) {
    throw InputError(c.source_file + ": cache.max_positions: the point needs " + gb(needed) +
                     " (cache + retrieve buffer + staging) but " + dev.name + " has " + gb(dev.free_bytes) + " available");
  }
}

}  // namespace kvsim
