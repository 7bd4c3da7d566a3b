#include "experiment/experiment.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "platform/device_info.hpp"
#include "kvsim/core/error.hpp"
#include "platform/interrupt.hpp"
#include "kvsim/probe/stream.hpp"
#include "kvsim/cache/kv_cache.hpp"
#include "kvsim/attention/prefill_attention.hpp"
#include "kvsim/core/timing.hpp"

namespace kvsim {
namespace {

using Exec = DefaultExecSpace;
using Cache = KVCache<Exec>;

std::string gb(std::int64_t bytes) {
  std::ostringstream os;
  os.precision(3);
  os << std::fixed << double(bytes) / 1e9 << " GB";
  return os.str();
}

std::int64_t out_bytes(const ExperimentConfig& c) { return c.retrieve.output == "fp16" ? 2 : 4; }

// Positions of every sequence one staging buffer holds: the whole fill in bulk mode, else what
// run.stage_mb allows (a whole number of chunks in chunk mode).
std::int64_t stage_positions(const ExperimentConfig& c, std::int64_t bytes_per_position) {
  const std::int64_t longest = *std::max_element(c.lengths.begin(), c.lengths.end());
  if (c.fill.mode == "bulk") return longest;
  std::int64_t n = std::max<std::int64_t>(1, (c.run.stage_mb << 20) / bytes_per_position);
  if (c.fill.mode == "chunk") n = std::max<std::int64_t>(1, n / c.fill.chunk) * c.fill.chunk;
  return std::min(n, longest);
}

std::int64_t stage_bytes_per_position(const ExperimentConfig& c) {
  return c.model.layers * 2 * c.batch * c.model.kv_heads * c.model.head_dim * 4;
}

// Side of the square gemm probe: large enough to reach the device's gemm rate.
std::int64_t gemm_probe_size() { return std::is_same<DefaultMemSpace, HostMemSpace>::value ? 256 : 4096; }

}  // namespace

CacheDesign design_of(const ExperimentConfig& c) {
  CacheDesign d;
  d.layers = c.model.layers;
  d.heads = c.model.heads;
  d.kv_heads = c.model.kv_heads;
  d.head_dim = c.model.head_dim;
  d.batch = c.batch;
  d.max_positions = c.cache.max_positions;
  d.dtype = *codec::parse_dtype(c.cache.dtype);  // the config validator only lets known names through
  d.layout = *parse_layout(c.cache.layout);
  d.page_size = c.cache.page_size;
  d.pool_pages = c.cache.pool_pages;
  d.policy = *parse_policy(c.cache.policy);
  d.window = c.cache.window;
  d.sinks = c.cache.sinks;
  d.heavy = c.cache.heavy;
  d.recent = c.cache.recent;
  return d;
}

std::int64_t predicted_cache_bytes(const ExperimentConfig& c) { return memory_model(design_of(c), c.lengths).total_bytes(); }

std::int64_t predicted_device_bytes(const ExperimentConfig& c) {
  if (c.cache.max_positions == kMaxContext) return 0;
  const CacheDesign d = design_of(c);
  const std::int64_t longest = *std::max_element(c.lengths.begin(), c.lengths.end());
  const std::int64_t dense =
      c.retrieve.mode == "none" ? 0 : 2 * d.batch * std::min(d.capacity(), longest) * d.row_values() * out_bytes(c);
  const std::int64_t spp = stage_bytes_per_position(c);
  std::int64_t prefill = 0;
  if (c.prefill_chunk > 0) {
    const std::int64_t n = gemm_probe_size();
    prefill = PrefillAttention<Exec>::bytes(d, c.prefill_chunk, longest + c.decode_tokens) + 3 * n * n * 4;
  }
  return predicted_cache_bytes(c) + dense + stage_positions(c, spp) * spp + prefill;
}

void resolve_max_context(ExperimentConfig& c, std::int64_t free_bytes) {
  if (c.cache.max_positions != kMaxContext) return;
  const CacheDesign d = design_of(c);
  const std::int64_t row_store = codec::data_bytes(d.dtype, d.row_values()) + 2 * codec::group_scale_count(d.dtype, d.row_values());
  // Per slot of every sequence: the stored K and V of all layers (plus a page-table entry), and
  // the dense retrieve buffer's row; staging is a fixed budget.
  const std::int64_t per_slot = c.batch * (d.layers * 2 * row_store + 2 * d.row_values() * out_bytes(c) + 8);
  const std::int64_t fixed = std::min<std::int64_t>(c.run.stage_mb << 20, stage_bytes_per_position(c) * 4096) + (64 << 20);
  const std::int64_t usable = free_bytes - std::min<std::int64_t>(free_bytes / 20, std::int64_t(2) << 30) - fixed;
  std::int64_t cap = usable / per_slot;
  if (d.layout == LayoutKind::paged) cap = cap / d.page_size * d.page_size;
  if (cap < 1) throw InputError(c.source_file + ": cache.max_positions: max: not even one position fits in " + gb(free_bytes));
  c.cache.max_positions = std::min<std::int64_t>(cap, std::int64_t(1) << 31);
  if (c.cache.policy == "window") c.cache.window = c.cache.max_positions;
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

namespace {

// Accumulates ||got - exact||^2 and ||exact||^2 for one query of head_dim values, where exact is
// float64 softmax(q K^T / sqrt(d)) V of layer 0 over the unquantised source of one sequence
// (seed) and KV head at `positions`: the reference both attention accuracies are taken against.
void add_attention_error(std::uint64_t seed, std::int64_t kv_head, const std::vector<std::int64_t>& positions,
                         std::int64_t hd, const float* q, const float* got, double& err2, double& ref2) {
  const auto source = [&](synthetic::Tensor t, std::int64_t p, std::int64_t d) {
    return synthetic::value(seed, 0, t, std::uint64_t(p), std::uint32_t(kv_head), std::uint32_t(d));
  };
  std::vector<double> scores(positions.size()), o(std::size_t(hd), 0.0);
  double mx = -1e300;
  for (std::size_t i = 0; i < positions.size(); ++i) {
    double dot = 0;
    for (std::int64_t d = 0; d < hd; ++d) dot += double(q[d]) * source(synthetic::Tensor::K, positions[i], d);
    scores[i] = dot / std::sqrt(double(hd));
    mx = std::max(mx, scores[i]);
  }
  double sum = 0;
  for (auto& x : scores) sum += (x = std::exp(x - mx));
  for (std::size_t i = 0; i < positions.size(); ++i)
    for (std::int64_t d = 0; d < hd; ++d) o[std::size_t(d)] += scores[i] / sum * source(synthetic::Tensor::V, positions[i], d);
  for (std::int64_t d = 0; d < hd; ++d) {
    const double e = got[d] - o[std::size_t(d)];
    err2 += e * e;
    ref2 += o[std::size_t(d)] * o[std::size_t(d)];
  }
}

// Token generation after the prefill: per token an append of every layer, decode attention
// over every layer and an optional weight read, each phase fenced and timed. Context shards:
// only the last shard appends (the newest positions are its), and after each layer's attention
// the shards merge their outputs (log-sum-exp, through MPI), timed as communication.
class Decoder {
 public:
  Decoder(const ExperimentConfig& c, Cache& cache, std::int64_t prefill, const Group& group, std::int64_t context)
      : c_(c), cache_(cache), prefill_(prefill), group_(group), context_(context),
        appends_(group.shard() == group.shards() - 1) {
    if (c.decode_tokens == 0) return;
    const Exec exec;
    const std::int64_t n = c.decode_tokens;
    if (appends_) {
      stage_ = cache.make_stage(n);
      cache.generate_source(stage_, prefill, n);
    }
    q_len_ = c.batch * c.model.heads * c.model.head_dim;
    q_ = View1D<float>(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string("kvsim::decode::q")),
                       n * c.model.layers * q_len_);
    // Queries come from the same counter hash with their own seed: q[token][layer][seq][head][dim].
    Kokkos::parallel_for("kvsim::decode::make_q", RangePolicy<Exec>(exec, 0, std::int64_t(q_.extent(0)) / 4),
                         kernels::GenerateSource<DefaultMemSpace>{q_, synthetic::mix64(c.seed ^ 0x5155455259ULL),
                                                                  1, n * c.model.layers * c.batch, n * c.model.layers * c.batch,
                                                                  c.model.heads, c.model.head_dim / 4, 0});
    out_ = View1D<float>(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string("kvsim::decode::out")), q_len_);
    if (group_.sharded()) {
      lse_ = View1D<float>(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string("kvsim::decode::lse")),
                           c.batch * c.model.heads);
      host_out_ = Kokkos::create_mirror_view(out_);
      host_lse_ = Kokkos::create_mirror_view(lse_);
    }
    AttentionKernel kernel = AttentionKernel::automatic;
    parse_attention_kernel(c.decode_kernel, kernel);
    ws_ = cache.make_attention_workspace(c.decode_splits, kernel);
    if (c.model.weight_bytes > 0) {
      const std::int64_t n8 = std::max<std::int64_t>(1, c.model.weight_bytes / (8 * std::int64_t(sizeof(Float4))));
      weights_ = View1D<Float4>(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string("kvsim::decode::weights")), 8 * n8);
      Kokkos::parallel_for("kvsim::decode::init_weights", RangePolicy<Exec>(exec, 0, n8), kernels::StreamWrite<DefaultMemSpace>{weights_, n8});
      sink_ = Kokkos::View<double, DefaultMemSpace>("kvsim::decode::sink");
    }
  }

  // Generates every token; records the phase times when `timed`.
  void run(bool timed) {
    const Exec exec;
    double append = 0, attention = 0, comm = 0, weights = 0;
    bytes_ = 0;
    for (std::int64_t t = 0; t < c_.decode_tokens; ++t) {
      check_interrupt();
      if (appends_)
        append += time_fenced(exec, [&] { cache_.append(stage_, prefill_, prefill_ + t, prefill_ + t + 1); });
      bytes_ += c_.model.layers * (cache_.retrieve_read_bytes_per_layer() + 2 * q_len_ * std::int64_t(sizeof(float)));
      if (!group_.sharded()) {
        attention += time_fenced(exec, [&] {
          for (std::int64_t layer = 0; layer < c_.model.layers; ++layer) cache_.decode_attention(layer, query(t, layer), out_, ws_);
        });
      } else {
        for (std::int64_t layer = 0; layer < c_.model.layers; ++layer) {
          attention += time_fenced(exec, [&] { cache_.decode_attention(layer, query(t, layer), out_, ws_, lse_); });
          comm += time_fenced(exec, [&] { merge_shards(); });
        }
      }
      if (weights_.extent(0) > 0) {
        const std::int64_t n8 = std::int64_t(weights_.extent(0)) / 8;
        weights += time_fenced(exec, [&] {
          Kokkos::parallel_reduce("kvsim::decode::weights", RangePolicy<Exec>(exec, 0, n8),
                                  kernels::StreamRead<DefaultMemSpace>{weights_, n8}, sink_);
        });
      }
    }
    if (!timed) return;
    append_.push_back(append);
    attention_.push_back(attention + comm);
    comm_.push_back(comm);
    weights_s_.push_back(weights);
    total_.push_back(append + attention + comm + weights);
  }

  // Per-token figures; for shards each repetition's phase times are the slowest rank's and the
  // bytes are every rank's, so the bandwidth is the group's aggregate.
  void report(PointResult& r) {
    for (auto* v : {&append_, &attention_, &comm_, &weights_s_, &total_}) group_.max_each(*v);
    const std::int64_t bytes = group_.sum(bytes_);
    const double n = double(c_.decode_tokens);
    r.decode_seconds = total_;
    r.tokens_per_s = n / median(total_);
    r.append_ms = 1e3 * median(append_) / n;
    r.attention_ms = 1e3 * median(attention_) / n;
    r.attention_comm_ms = 1e3 * median(comm_) / n;
    r.weights_ms = 1e3 * median(weights_s_) / n;
    r.attention_bytes = std::int64_t(double(bytes) / n);
    r.attention_GBps = double(bytes) / median(attention_) / 1e9;
    r.append_seconds = append_;
    r.attention_seconds = attention_;
    r.weights_seconds = weights_s_;
    r.weights_GBps = r.weights_ms > 0 ? double(weights_.extent(0)) * sizeof(Float4) / (r.weights_ms * 1e-3) / 1e9 : 0.0;
    r.attention_rel_err = accuracy();
    r.attention_splits = ws_.splits;
    r.attention_kernel = attention_kernel_name(ws_.kernel);
  }

 private:
  View1D<const float> query(std::int64_t t, std::int64_t layer) const {
    const std::int64_t off = (t * c_.model.layers + layer) * q_len_;
    return Kokkos::subview(q_, Kokkos::make_pair(off, off + q_len_));
  }

  void merge_shards() {
    Kokkos::deep_copy(Exec(), host_out_, out_);
    Kokkos::deep_copy(Exec(), host_lse_, lse_);
    Exec().fence();
    group_.merge_attention(host_out_.data(), host_lse_.data(), c_.batch * c_.model.heads, c_.model.head_dim);
    Kokkos::deep_copy(Exec(), out_, host_out_);
  }

  // Layer 0 at the last token against float64 attention over the unquantised source: the
  // accuracy cost of the storage precision (fp32 storage leaves only fp32 arithmetic error).
  // The reference runs on the host: (seq, head) pairs in order while their positions add up to
  // at most 2^19 (at least one pair), so a million-position context costs seconds, not hours.
  double accuracy() {
    const std::int64_t t = c_.decode_tokens - 1;
    cache_.decode_attention(0, query(t, 0), out_, ws_, lse_);
    if (group_.sharded()) merge_shards();
    if (!group_.leader()) return -1;
    const auto out = Kokkos::create_mirror_view_and_copy(HostMemSpace(), out_);
    const auto q = Kokkos::create_mirror_view_and_copy(HostMemSpace(), View1D<const float>(query(t, 0)));
    const std::int64_t hd = c_.model.head_dim, heads = c_.model.heads, g = heads / c_.model.kv_heads;
    double err2 = 0, ref2 = 0;
    std::int64_t budget = std::int64_t(1) << 19;
    for (std::int64_t s = 0; s < c_.batch && budget > 0; ++s) {
      std::vector<std::int64_t> positions;
      if (group_.sharded()) {
        positions.resize(std::size_t(context_));
        for (std::int64_t i = 0; i < context_; ++i) positions[std::size_t(i)] = i;
      } else {
        positions = cache_.retained_positions(s);
      }
      const std::uint64_t seed = synthetic::sequence_seed(c_.seed, std::uint64_t(s));
      for (std::int64_t h = 0; h < heads && budget > 0; ++h) {
        budget -= std::int64_t(positions.size());
        const std::int64_t off = (s * heads + h) * hd;
        add_attention_error(seed, h / g, positions, hd, &q(off), &out(off), err2, ref2);
      }
    }
    return ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0;
  }

  const ExperimentConfig& c_;
  Cache& cache_;
  std::int64_t prefill_;
  const Group& group_;
  std::int64_t context_;  // positions of every sequence after the last token, over all shards
  bool appends_;
  Cache::stage_view stage_;
  View1D<float> q_, out_, lse_;
  View1D<float>::HostMirror host_out_, host_lse_;
  std::int64_t q_len_ = 0;
  Cache::AttentionWorkspace ws_;
  View1D<Float4> weights_;
  Kokkos::View<double, DefaultMemSpace> sink_;
  std::vector<double> append_, attention_, comm_, weights_s_, total_;
  std::int64_t bytes_ = 0;
};

// Square fp32 gemm rate of this device: the ceiling prefill attention is held against.
double gemm_probe_TFLOPs(std::int64_t n, std::int64_t reps) {
  const Exec exec;
  using M = Kokkos::View<float**, Layout, DefaultMemSpace>;
  M a(Kokkos::view_alloc(exec, std::string("kvsim::gemm_probe::a")), n, n), b(Kokkos::view_alloc(exec, std::string("kvsim::gemm_probe::b")), n, n),
      c(Kokkos::view_alloc(exec, std::string("kvsim::gemm_probe::c")), n, n);
  Kokkos::deep_copy(exec, a, 0.5f);
  Kokkos::deep_copy(exec, b, 0.25f);
  std::vector<double> t;
  for (std::int64_t i = 0; i <= reps; ++i) {
    const double s = time_fenced(exec, [&] { KokkosBlas::gemm("N", "N", 1.0f, a, b, 0.0f, c); });
    if (i > 0) t.push_back(s);  // the first call pays cuBLAS's set-up
  }
  return 2.0 * double(n) * double(n) * double(n) / median(t) / 1e12;
}

// Chunked prefill attention of the last `prefill_chunk` positions after the fill: each layer is
// retrieved (untimed: retrieve has its own figures), then attention runs on it (timed).
template <class Out>
void run_prefill(const ExperimentConfig& c, Cache& cache, const View1D<Out>& dense, PointResult& r) {
  ProfilingRegion region("kvsim::prefill");
  const Exec exec;
  const std::int64_t context = cache.valid(0);
  PrefillAttention<Exec> pf(exec, design_of(c), c.prefill_chunk, context);
  const auto q = pf.queries();
  const View1D<float> q1(q.data(), q.span());
  Kokkos::parallel_for("kvsim::prefill::make_q", RangePolicy<Exec>(exec, 0, std::int64_t(q.span()) / 4),
                       kernels::GenerateSource<DefaultMemSpace>{q1, synthetic::mix64(c.seed ^ 0x5052454649ULL), 1,
                                                                c.batch * c.model.heads, c.batch * c.model.heads, 1,
                                                                c.model.head_dim / 4, context - c.prefill_chunk});
  std::vector<double> seconds;
  for (std::int64_t rep = 0; rep < c.run.warmup + c.run.repetitions; ++rep) {
    check_interrupt();
    double t = 0;
    for (std::int64_t layer = 0; layer < c.model.layers; ++layer) {
      check_interrupt();
      cache.retrieve_layer(layer, dense);
      t += time_fenced(exec, [&] { pf.run_layer(dense, cache.dense_rows()); });
    }
    if (rep >= c.run.warmup) seconds.push_back(t);
  }
  r.prefill_ms = 1e3 * median(seconds);
  r.prefill_TFLOPs = pf.flops_per_layer() * double(c.model.layers) / median(seconds) / 1e12;
  r.prefill_seconds = seconds;
  r.gemm_TFLOPs = gemm_probe_TFLOPs(gemm_probe_size(), 3);

  // Accuracy: layer 0, sequence 0, the chunk's last row of every head against float64 over the
  // unquantised source (positions 0 .. context-1, nothing evicted).
  cache.retrieve_layer(0, dense);
  pf.run_layer(dense, cache.dense_rows());
  const auto ho = Kokkos::create_mirror_view_and_copy(HostMemSpace(), pf.output());
  const auto hq = Kokkos::create_mirror_view_and_copy(HostMemSpace(), q);
  const std::int64_t hd = c.model.head_dim, g = c.model.heads / c.model.kv_heads, last = c.prefill_chunk - 1;
  const std::uint64_t seed = synthetic::sequence_seed(c.seed, 0);
  std::vector<std::int64_t> positions(static_cast<std::size_t>(context));
  for (std::int64_t i = 0; i < context; ++i) positions[std::size_t(i)] = i;
  double err2 = 0, ref2 = 0;
  for (std::int64_t h = 0; h < c.model.heads; ++h)
    add_attention_error(seed, h / g, positions, hd, &hq(0, h, last, 0), &ho(0, h, last, 0), err2, ref2);
  r.prefill_rel_err = ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0;
}

template <class Out>
PointResult run_point_typed(const ExperimentConfig& global, std::int64_t point, const CopyBandwidth& bw, const Group& group) {
  ProfilingRegion region("kvsim::point");
  const Exec exec;
  PointResult r;
  r.point = point;
  r.config = global;
  r.shards = group.shards();
  // This rank's part: all of the point, or one shard of every sequence's positions.
  const ExperimentConfig c = group.sharded() ? shard_config(global, group.shard(), group.shards()) : global;
  const bool appends_decode = group.shard() == group.shards() - 1;

  std::vector<std::int64_t> lengths = c.lengths;  // what the cache will have held: prefill + decode
  if (appends_decode)
    for (auto& len : lengths) len += c.decode_tokens;
  Cache cache(exec, design_of(c), c.seed, lengths);
  if (group.sharded()) cache.set_position_base(shard_range(global, group.shard(), group.shards()).begin);
  const bool retrieves = c.retrieve.mode != "none";
  auto dense = retrieves ? cache.make_dense<Out>("kvsim::retrieve_buffer") : View1D<Out>();
  const std::int64_t n_stage = stage_positions(c, cache.stage_bytes_per_position());
  auto stage = cache.make_stage(n_stage);
  r.capacity = cache.capacity();
  r.kv_cache_bytes = group.sum(cache.allocated_bytes());
  r.per_rank_cache_bytes = group.max(cache.allocated_bytes());
  r.bytes_per_position = cache.bytes_per_position();
  r.device_memory_used_bytes = group.max(device_memory_used_bytes());
  const std::int64_t longest = *std::max_element(c.lengths.begin(), c.lengths.end());  // the prefill
  const std::int64_t context = global.fill.positions + global.decode_tokens;
  Decoder decoder(c, cache, longest, group, context);

  const std::int64_t reps = c.run.warmup + c.run.repetitions;
  {
    ProfilingRegion fill_region("kvsim::fill");
    for (std::int64_t rep = 0; rep < reps; ++rep) {
      check_interrupt();
      cache.reset();
      double seconds = 0;
      for (std::int64_t t0 = 0; t0 < longest; t0 += n_stage) {
        check_interrupt();  // per stage: a long repetition must not outlive a scheduler's grace period
        const std::int64_t n = std::min(n_stage, longest - t0);
        cache.generate_source(stage, t0, n);  // the model's K/V projection: not the cache's cost
        seconds += time_fenced(exec, [&] {
          if (c.fill.mode == "token") {
            for (std::int64_t p = t0; p < t0 + n; ++p) cache.append(stage, t0, p, p + 1);
          } else if (c.fill.mode == "chunk") {
            for (std::int64_t p = t0; p < t0 + n; p += c.fill.chunk)
              cache.append(stage, t0, p, std::min(p + c.fill.chunk, t0 + n));
          } else {
            cache.append(stage, t0, t0, t0 + n);
          }
        });
      }
      if (rep >= c.run.warmup) r.fill_seconds.push_back(seconds);
      if (c.decode_tokens > 0) decoder.run(rep >= c.run.warmup);
    }
  }
  group.max_each(r.fill_seconds);  // shards fill at once: a repetition lasts as long as the slowest
  if (c.decode_tokens > 0) decoder.report(r);
  for (auto len : lengths) r.appended_positions += len;
  for (std::int64_t s = 0; s < c.batch; ++s) r.valid_positions += cache.valid(s);
  r.appended_positions = group.sum(r.appended_positions);
  r.valid_positions = group.sum(r.valid_positions);
  r.evicted_positions = group.sum(cache.evicted_positions());
  r.fill_bytes = group.sum(cache.fill_bytes());
  r.fill_read_bytes = group.sum(cache.fill_read_bytes());
  const double fill_t = median(r.fill_seconds);
  r.fill_positions_per_s = double(r.appended_positions) / fill_t;
  r.fill_GBps = double(r.fill_bytes) / fill_t / 1e9;
  for (std::int64_t s = 0; s < c.batch && c.cache.policy == "h2o"; ++s) r.h2o_evicted.push_back(cache.h2o_evicted(s));
  if (!retrieves) {
    apply_ceilings(r, bw);
    return r;
  }

  {
    ProfilingRegion retrieve_region("kvsim::retrieve");
    for (std::int64_t rep = 0; rep < reps; ++rep) {
      check_interrupt();
      const double t = time_fenced(exec, [&] {
        for (std::int64_t layer = 0; layer < c.model.layers; ++layer) cache.retrieve_layer(layer, dense);
      });
      if (rep >= c.run.warmup) r.retrieve_seconds.push_back(t);
    }
  }
  group.max_each(r.retrieve_seconds);
  r.retrieve_bytes = group.sum(c.model.layers * cache.template retrieve_bytes_per_layer<Out>());
  r.retrieve_read_bytes = group.sum(c.model.layers * cache.retrieve_read_bytes_per_layer());
  const double retrieve_t = median(r.retrieve_seconds);
  r.retrieve_ops_per_s = double(c.model.layers) / retrieve_t;
  r.retrieve_GBps = double(r.retrieve_bytes) / retrieve_t / 1e9;

  if (c.retrieve.verify) {
    ProfilingRegion verify_region("kvsim::verify");
    double err2 = 0, ref2 = 0;
    for (std::int64_t layer = 0; layer < c.model.layers; ++layer) {
      // Poison first: an element the gather skipped cannot pass by holding last layer's value.
      Kokkos::deep_copy(exec, dense, kernels::poison_value<Out>());
      cache.retrieve_layer(layer, dense);
      const kernels::VerifyTally t = cache.verify_layer(layer, dense);
      r.mismatches += t.mismatches;
      r.checksum += t.checksum;
      err2 += t.err2;
      ref2 += t.ref2;
      r.recon_max_abs = std::max(r.recon_max_abs, t.max_abs);
    }
    // Checksum terms carry absolute positions: the shards' sum is the one-rank checksum.
    r.mismatches = std::uint64_t(group.sum(std::int64_t(r.mismatches)));
    r.checksum = group.sum_u64(r.checksum);
    err2 = group.sum(err2);
    ref2 = group.sum(ref2);
    r.recon_max_abs = group.max(r.recon_max_abs);
    r.recon_rel_l2 = ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0;
    if (r.mismatches != 0) {
      throw RuntimeError("verification failed: " + std::to_string(r.mismatches) +
                         " retrieved values differ from the encoded synthetic source (point " + std::to_string(point) + ")");
    }
    r.verified = true;
  }
  if (c.prefill_chunk > 0) run_prefill(c, cache, dense, r);
  check_error_bounds(c, r, point);
  apply_ceilings(r, bw);
  return r;
}

}  // namespace

// The attention error a correct kernel stays within on the synthetic data (uniform in [-1, 1),
// rms = amax / sqrt(3)): a few times the storage format's error relative to the rms, plus the
// fp16 rounding of a dense fp16 retrieve buffer (prefill reads it), plus fp32 arithmetic over
// long sums. A wrong kernel is off by O(1); a chunk-fill bug gave 6.3% on fp32 storage.
double attention_error_bound(const ExperimentConfig& c, bool reads_dense) {
  const double fp16_dense = reads_dense && c.retrieve.output == "fp16" ? 0x1p-11 : 0.0;
  return 4.0 * std::sqrt(3.0) * (codec::error_bound(*codec::parse_dtype(c.cache.dtype)) + fp16_dense) + 1e-4;
}

// A reported error above its format's bound fails the point, as a verification failure does.
void check_error_bounds(const ExperimentConfig& c, const PointResult& r, std::int64_t point) {
  const auto check = [&](const char* what, double err, bool reads_dense) {
    const double bound = attention_error_bound(c, reads_dense);
    if (err > bound || std::isnan(err)) {
      std::ostringstream os;
      os << "verification failed: " << what << " relative error " << err << " against float64 is above the bound " << bound
         << " of " << c.cache.dtype << " storage (point " << point << ")";
      throw RuntimeError(os.str());
    }
  };
  if (r.attention_rel_err >= 0) check("decode attention", r.attention_rel_err, false);
  if (r.prefill_rel_err >= 0) check("prefill attention", r.prefill_rel_err, true);
}

void apply_ceilings(PointResult& r, const CopyBandwidth& bw) {
  const auto of = [](double x, double ceiling) { return ceiling > 0 ? x / ceiling : 0.0; };
  if (!r.fill_seconds.empty()) {
    const double t = median(r.fill_seconds);
    r.fill_fraction_of_copy = of(r.fill_GBps, bw.ceiling());
    r.fill_fraction_of_roofline = roofline_seconds(bw, double(r.fill_read_bytes), double(r.fill_bytes - r.fill_read_bytes)) / t;
  }
  if (!r.retrieve_seconds.empty()) {
    const double t = median(r.retrieve_seconds);
    r.retrieve_fraction_of_copy = of(r.retrieve_GBps, bw.ceiling());
    r.retrieve_fraction_of_roofline =
        roofline_seconds(bw, double(r.retrieve_read_bytes), double(r.retrieve_bytes - r.retrieve_read_bytes)) / t;
  }
  if (!r.attention_seconds.empty()) r.attention_fraction_of_read = of(r.attention_GBps, bw.read_GBps);
  if (!r.prefill_seconds.empty()) r.prefill_fraction_of_gemm = of(r.prefill_TFLOPs, r.gemm_TFLOPs);
  static const std::pair<const char*, double PointResult::*> fractions[] = {
      {"fill_fraction_of_copy", &PointResult::fill_fraction_of_copy},
      {"fill_fraction_of_roofline", &PointResult::fill_fraction_of_roofline},
      {"retrieve_fraction_of_copy", &PointResult::retrieve_fraction_of_copy},
      {"retrieve_fraction_of_roofline", &PointResult::retrieve_fraction_of_roofline},
      {"attention_fraction_of_read", &PointResult::attention_fraction_of_read},
      {"prefill_fraction_of_gemm", &PointResult::prefill_fraction_of_gemm}};
  r.ceiling_exceeded.clear();
  for (const auto& [name, member] : fractions) {
    double& f = r.*member;
    if (!(f > 1.0)) continue;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s%s=%.3f", r.ceiling_exceeded.empty() ? "" : ";", name, f);
    r.ceiling_exceeded += buf;
    f = std::numeric_limits<double>::quiet_NaN();
  }
}

ShardRange shard_range(const ExperimentConfig& c, int shard, int shards) {
  const std::int64_t n = c.fill.positions, base = n / shards, extra = n % shards;
  ShardRange s;
  s.begin = shard * base + std::min<std::int64_t>(shard, extra);
  s.end = s.begin + base + (shard < extra ? 1 : 0);
  return s;
}

ExperimentConfig shard_config(const ExperimentConfig& c, int shard, int shards) {
  ExperimentConfig s = c;
  const ShardRange range = shard_range(c, shard, shards);
  s.fill.positions = range.end - range.begin;
  s.lengths.assign(std::size_t(c.batch), s.fill.positions);
  // The last shard receives the generated tokens.
  s.cache.max_positions = s.fill.positions + (shard == shards - 1 ? c.decode_tokens : 0);
  if (s.fill.mode == "chunk") s.fill.chunk = std::min(s.fill.chunk, std::max<std::int64_t>(1, s.fill.positions));
  return s;
}

PointResult run_point(const ExperimentConfig& c, std::int64_t point, const CopyBandwidth& bw, const Group& group) {
  if (c.retrieve.output == "fp16") return run_point_typed<std::uint16_t>(c, point, bw, group);
  return run_point_typed<float>(c, point, bw, group);
}

}  // namespace kvsim
