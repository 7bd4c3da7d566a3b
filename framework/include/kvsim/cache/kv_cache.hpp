#pragma once
// KVCache: the configurable cache. A batch of sequences, each with its own length, stored in one
// labelled allocation per component in the chosen precision and layout, with the chosen
// eviction policy deciding which positions stay. Appends read K/V from a staging buffer (what a
// model's projection produces) and encode on the way in; retrieves decode one layer of every
// sequence into dense fp32 or fp16 in logical (oldest-first) order.
//
// Kernels are functors (kvsim/kernels/); this class owns the Views and the host-side
// bookkeeping that needs no device round trip: every sequence's length is known up front.
#include <algorithm>
#include <string>
#include <vector>

#include "kvsim/attention/attention_kernel.hpp"
#include "kvsim/layout/cache_addressing.hpp"
#include "kvsim/cache/cache_design.hpp"
#include "kvsim/precision/codecs.hpp"
#include "kvsim/core/error.hpp"
#include "kvsim/cache/append_encode.hpp"
#include "kvsim/attention/decode_attention.hpp"
#include "kvsim/attention/decode_attention_lanes.hpp"
#include "kvsim/cache/gather_decode.hpp"
#include "kvsim/cache/generate_source.hpp"
#include "kvsim/policy/h2o_step.hpp"
#include "kvsim/layout/page_pool.hpp"
#include "kvsim/cache/verify_dense.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"

namespace kvsim {

// fp8 scale per (layer, K|V, kv_head): the synthetic values lie in [-1, 1), so 1/448 maps them
// onto E4M3's full range (a calibrated static scale, as vLLM's k_scale/v_scale).
inline constexpr float kFp8SyntheticScale = 1.0f / 448.0f;

template <class ExecSpace>
class KVCache {
 public:
  using execution_space = ExecSpace;
  using memory_space = MemSpaceOf<ExecSpace>;
  using stage_view = View1D<float, memory_space>;

  KVCache(const ExecSpace& exec, const CacheDesign& design, std::uint64_t seed, std::vector<std::int64_t> lengths)
      : exec_(exec), d_(design), seed_(seed), lengths_(std::move(lengths)), map_(PolicyMap::of(design)) {
    KVSIM_REQUIRE(std::int64_t(lengths_.size()) == d_.batch, "one length per sequence expected, got ", lengths_.size(),
                  " for batch ", d_.batch);
    KVSIM_REQUIRE(d_.head_dim % codec::unit_values(d_.dtype) == 0, "head_dim ", d_.head_dim, " is not a multiple of ",
                  codec::unit_values(d_.dtype), " (", codec::name(d_.dtype), ")");
    KVSIM_REQUIRE(capacity() > 0, "empty cache");
    max_length_ = lengths_.empty() ? 0 : *std::max_element(lengths_.begin(), lengths_.end());
    totals_.assign(d_.batch, 0);
    if (d_.layout == LayoutKind::paged) {
      KVSIM_REQUIRE(d_.page_size > 0 && (d_.page_size & (d_.page_size - 1)) == 0, "page_size must be a power of two");
      pool_pages_ = d_.pool_pages > 0 ? d_.pool_pages : pages_needed();
      KVSIM_REQUIRE(pool_pages_ >= pages_needed(), "pool of ", pool_pages_, " pages cannot hold the batch (needs ",
                    pages_needed(), ")");
      while ((std::int64_t(1) << page_shift_) < d_.page_size) ++page_shift_;
    }
    const std::int64_t rows = d_.layout == LayoutKind::paged ? pool_pages_ * d_.page_size : d_.batch * capacity();
    const std::int64_t elements = d_.layers * 2 * rows * d_.row_values();
    auto wo = [&](const char* label) { return Kokkos::view_alloc(exec_, Kokkos::WithoutInitializing, std::string(label)); };
    // Every element is written before it is read (reads cover retained rows only).
    data_ = View1D<unsigned char, memory_space>(wo("kvsim::kv_cache::data"), codec::data_bytes(d_.dtype, elements));
    // Zeroed: the lane-group attention kernel stages scales in aligned pairs, so it also reads
    // the neighbour of a scale, which may belong to a row never written (compute-sanitizer
    // initcheck flagged those reads; their values are never used).
    group_scales_ = View1D<std::uint16_t, memory_space>(Kokkos::view_alloc(exec_, std::string("kvsim::kv_cache::group_scales")),
                                                        codec::group_scale_count(d_.dtype, elements));
    head_scales_ = View1D<float, memory_space>(wo("kvsim::kv_cache::head_scales"), d_.layers * 2 * d_.kv_heads);
    Kokkos::deep_copy(exec_, head_scales_, kFp8SyntheticScale);
    lengths_dev_ = View1D<std::int64_t, memory_space>(wo("kvsim::kv_cache::lengths"), d_.batch);
    totals_dev_ = View1D<std::int64_t, memory_space>(wo("kvsim::kv_cache::totals"), d_.batch);
    copy_to_device(lengths_, lengths_dev_);
    Kokkos::deep_copy(exec_, totals_dev_, std::int64_t(0));
    const std::int64_t pages_per_seq = d_.layout == LayoutKind::paged ? d_.pages_per_sequence() : 0;
    block_table_ = View2D<std::int32_t, memory_space>(std::string("kvsim::kv_cache::block_table"), d_.batch, pages_per_seq);
    free_stack_ = View1D<std::int32_t, memory_space>(wo("kvsim::kv_cache::free_pages"), pool_pages_);
    pages_held_ = View1D<std::int64_t, memory_space>(std::string("kvsim::kv_cache::pages_held"), d_.batch);
    stack_top_ = View1D<std::int64_t, memory_space>(std::string("kvsim::kv_cache::stack_top"), 1);
    if (pool_pages_ > 0) {
      Kokkos::parallel_for("kvsim::init_free_pages", RangePolicy<ExecSpace>(exec_, 0, pool_pages_),
                           kernels::InitFreeStack<memory_space>{free_stack_, pool_pages_});
      Kokkos::deep_copy(exec_, stack_top_, pool_pages_);
    }
    if (map_.table) {
      const std::int64_t c = capacity();
      order_[0] = View2D<std::int32_t, memory_space>(std::string("kvsim::h2o::order_a"), d_.batch, c);
      order_[1] = View2D<std::int32_t, memory_space>(std::string("kvsim::h2o::order_b"), d_.batch, c);
      slot_position_ = View2D<std::int64_t, memory_space>(std::string("kvsim::h2o::slot_position"), d_.batch, c);
      scores_ = View2D<float, memory_space>(std::string("kvsim::h2o::scores"), d_.batch, c);
      append_slot_ = View1D<std::int32_t, memory_space>(std::string("kvsim::h2o::append_slot"), d_.batch);
      evicted_ = View2D<std::int64_t, memory_space>(std::string("kvsim::h2o::evicted"), d_.batch,
                                                    std::max<std::int64_t>(1, max_length_ - c));
      evicted_count_ = View1D<std::int64_t, memory_space>(std::string("kvsim::h2o::evicted_count"), d_.batch);
    }
  }

  // A context shard holds positions [base, base + length) of its sequences: the source values,
  // verification and reported positions use absolute positions; slots and lengths stay local.
  // Only ring caches that never wrap are sharded (PolicyMap arithmetic is local).
  void set_position_base(std::int64_t base) {
    KVSIM_REQUIRE(frontier_ == 0, "the position base is set before the first append");
    KVSIM_REQUIRE(base == 0 || (!map_.table && map_.sinks == 0), "only ring caches take a position base");
    position_base_ = base;
  }
  std::int64_t position_base() const { return position_base_; }

  const CacheDesign& design() const { return d_; }
  std::uint64_t seed() const { return seed_; }
  const std::vector<std::int64_t>& lengths() const { return lengths_; }
  std::int64_t max_length() const { return max_length_; }
  std::int64_t capacity() const { return d_.capacity(); }
  std::int64_t total(std::int64_t seq) const { return totals_[seq]; }
  std::int64_t valid(std::int64_t seq) const { return map_.valid(totals_[seq]); }
  // Rows of the dense retrieve buffer per (K|V, seq): the most any sequence can hold.
  std::int64_t dense_rows() const { return std::min(capacity(), max_length_); }
  std::int64_t pool_pages() const { return pool_pages_; }
  std::int64_t rows_appended() const { return rows_appended_; }

  // Positions no longer held, over the batch.
  std::int64_t evicted_positions() const {
    std::int64_t n = 0;
    for (std::int64_t s = 0; s < d_.batch; ++s) n += totals_[s] - valid(s);
    return n;
  }

  // Every byte the cache allocated: data, scales, page tables and policy tables.
  std::int64_t allocated_bytes() const {
    std::int64_t b = std::int64_t(data_.span()) + 2 * std::int64_t(group_scales_.span());
    if (codec::needs_head_scale(d_.dtype)) b += 4 * std::int64_t(head_scales_.span());
    b += 4 * std::int64_t(block_table_.span() + free_stack_.span());
    if (d_.layout == LayoutKind::paged) b += 8 * std::int64_t(pages_held_.span() + stack_top_.span());
    if (map_.table)
      b += std::int64_t(4 * (order_[0].span() + order_[1].span() + scores_.span() + append_slot_.span()) +
                        8 * (slot_position_.span() + evicted_.span() + evicted_count_.span()));
    return b;
  }

  // Stored bytes of one position of one sequence over all layers, K and V, scales included.
  std::int64_t bytes_per_position() const { return d_.layers * 2 * row_storage_bytes(); }
  std::int64_t row_storage_bytes() const {
    return codec::data_bytes(d_.dtype, d_.row_values()) + 2 * codec::group_scale_count(d_.dtype, d_.row_values());
  }

  // Forget every position: lengths restart at 0 and pages go back to the pool.
  void reset() {
    std::fill(totals_.begin(), totals_.end(), 0);
    Kokkos::deep_copy(exec_, totals_dev_, std::int64_t(0));
    frontier_ = 0;
    rows_appended_ = 0;
    if (d_.layout == LayoutKind::paged) release_pages();
    if (map_.table) Kokkos::deep_copy(exec_, evicted_count_, std::int64_t(0));
  }

  stage_view make_stage(std::int64_t positions) const {
    return stage_view(Kokkos::view_alloc(exec_, Kokkos::WithoutInitializing, std::string("kvsim::stage")),
                      d_.layers * 2 * d_.batch * positions * d_.row_values());
  }
  std::int64_t stage_bytes_per_position() const { return d_.layers * 2 * d_.batch * d_.row_values() * 4; }

  // Positions of every sequence a staging buffer holds (make_stage's argument).
  std::int64_t stage_capacity(const stage_view& stage) const {
    return std::int64_t(stage.extent(0)) / (d_.layers * 2 * d_.batch * d_.row_values());
  }

  // Synthetic source values of positions [begin, begin + n) of every sequence, laid out as
  // append() reads them: n may be less than the buffer's capacity (a fill's last stage).
  void generate_source(const stage_view& stage, std::int64_t begin, std::int64_t n) const {
    const std::int64_t stride = stage_capacity(stage);
    KVSIM_REQUIRE(n >= 0 && n <= stride, "staging buffer too small: ", n, " positions into ", stride);
    const std::int64_t work = d_.layers * 2 * d_.batch * n * d_.kv_heads * (d_.head_dim / 4);
    Kokkos::parallel_for("kvsim::generate_source", RangePolicy<ExecSpace>(exec_, 0, work),
                         kernels::GenerateSource<memory_space>{stage, seed_, d_.batch, n, stride, d_.kv_heads,
                                                               d_.head_dim / 4, position_base_ + begin});
  }

  // Appends positions [begin, end) of every sequence (each up to its own length). The staging
  // buffer, laid out by generate_source, holds positions from stage_begin at its own capacity's
  // stride. Positions go in order.
  void append(const stage_view& stage, std::int64_t stage_begin, std::int64_t begin, std::int64_t end) {
    const std::int64_t stage_n = stage_capacity(stage);
    KVSIM_REQUIRE(begin == frontier_, "positions must be appended in order: expected ", frontier_, ", got ", begin);
    KVSIM_REQUIRE(end > begin && begin >= stage_begin && end <= stage_begin + stage_n, "append range outside the stage");
    KVSIM_REQUIRE(!map_.table || end == begin + 1, "h2o appends one position per step");
    if (d_.layout == LayoutKind::paged) allocate_pages(end);
    if (map_.table) {
      kernels::H2OStep<ExecSpace> step{order_[cur_], order_[1 - cur_], slot_position_, scores_, append_slot_, evicted_,
                                       evicted_count_, lengths_dev_, begin, capacity(), d_.recent, seed_};
      Kokkos::parallel_for("kvsim::h2o_step", TeamPolicy<ExecSpace>(exec_, d_.batch, Kokkos::AUTO), step);
      cur_ = 1 - cur_;
    }
    const CacheAddressing<memory_space> addr = addressing();
    const PolicyMap map = map_;
    codec::dispatch(d_.dtype, [&](auto tag) {
      constexpr codec::DType D = decltype(tag)::value;
      with_lanes<D>([&](auto k, std::int64_t lanes) {
        kernels::AppendEncode<ExecSpace, D, decltype(k)::value> kernel{
            stage, stage_begin, stage_n, data_, group_scales_, head_scales_, addr, map, lengths_dev_, totals_dev_,
            append_slot_, begin, end, d_.batch, lanes};
        Kokkos::parallel_for("kvsim::append_encode",
                             light_weight(RangePolicy<ExecSpace>(exec_, 0, d_.layers * 2 * d_.batch * (end - begin) * lanes)),
                             kernel);
      });
    });
    for (std::int64_t s = 0; s < d_.batch; ++s) {
      const std::int64_t stop = std::min(end, lengths_[s]);
      if (stop <= begin) continue;
      // Rows written: all of [begin, stop) but those a later row of the launch overwrites
      // (see PolicyMap::kept_after), which lie in [max(begin, sinks), stop - ring).
      const std::int64_t skipped =
          map_.table ? 0 : std::max<std::int64_t>(0, (stop - map_.ring) - std::max(begin, map_.sinks));
      rows_appended_ += stop - begin - skipped;
      totals_[s] = std::max(totals_[s], stop);
    }
    frontier_ = end;
  }

  template <class Out>
  View1D<Out, memory_space> make_dense(const std::string& label) const {
    return View1D<Out, memory_space>(Kokkos::view_alloc(exec_, Kokkos::WithoutInitializing, label),
                                     2 * d_.batch * dense_rows() * d_.row_values());
  }

  // One retrieve op: layer `layer` of every sequence, dense, oldest first.
  template <class Out>
  void retrieve_layer(std::int64_t layer, const View1D<Out, memory_space>& out) const {
    KVSIM_REQUIRE(layer >= 0 && layer < d_.layers, "layer ", layer, " out of range");
    KVSIM_REQUIRE(std::int64_t(out.extent(0)) >= 2 * d_.batch * dense_rows() * d_.row_values(), "dense buffer too small");
    if (dense_rows() == 0) return;
    codec::dispatch(d_.dtype, [&](auto tag) {
      constexpr codec::DType D = decltype(tag)::value;
      with_gather_lanes<D>([&](auto k, std::int64_t lanes) {
        kernels::GatherDecode<ExecSpace, D, Out, decltype(k)::value> kernel{stored(), out, layer, d_.batch, dense_rows(), lanes};
        Kokkos::parallel_for("kvsim::gather_decode", light_weight(RangePolicy<ExecSpace>(exec_, 0, 2 * d_.batch * dense_rows() * lanes)),
                             kernel);
      });
    });
  }

  // Bytes one retrieve op moves: stored rows (with scales and page-table entries) read, dense
  // rows written, K and V, every sequence.
  template <class Out>
  std::int64_t retrieve_bytes_per_layer() const {
    std::int64_t rows = 0;
    for (std::int64_t s = 0; s < d_.batch; ++s) rows += valid(s);
    const std::int64_t per_row = row_storage_bytes() + (d_.layout == LayoutKind::paged ? 4 : 0) +
                                 d_.row_values() * std::int64_t(sizeof(Out));
    return 2 * rows * per_row;
  }

  // Stored rows (with scales and page-table entries) one retrieve op reads.
  std::int64_t retrieve_read_bytes_per_layer() const {
    std::int64_t rows = 0;
    for (std::int64_t s = 0; s < d_.batch; ++s) rows += valid(s);
    return 2 * rows * (row_storage_bytes() + (d_.layout == LayoutKind::paged ? 4 : 0));
  }
  std::int64_t fill_read_bytes() const { return rows_appended_ * d_.layers * 2 * d_.row_values() * 4; }

  // Bytes one fill moved: staging rows read and stored rows written.
  std::int64_t fill_bytes() const { return rows_appended_ * d_.layers * 2 * (d_.row_values() * 4 + row_storage_bytes()); }

  // Compares a retrieved layer with the recomputed source (see kernels/verify_dense.hpp).
  template <class Out>
  kernels::VerifyTally verify_layer(std::int64_t layer, const View1D<Out, memory_space>& dense) const {
    const std::int64_t units = d_.head_dim / codec::unit_values(d_.dtype);
    const std::int64_t work = 2 * d_.batch * dense_rows() * d_.kv_heads * units;
    kernels::VerifyTally tally;
    codec::dispatch(d_.dtype, [&](auto tag) {
      constexpr codec::DType D = decltype(tag)::value;
      kernels::VerifyDense<memory_space, D, Out> k{dense,        head_scales_, map_,     totals_dev_,  order_[cur_],
                                                   slot_position_, seed_,      layer,    d_.batch,     dense_rows(),
                                                   d_.kv_heads,  d_.head_dim, position_base_};
      Kokkos::parallel_reduce("kvsim::verify_layer", RangePolicy<ExecSpace>(exec_, 0, work), k, tally);
    });
    exec_.fence();
    return tally;
  }

  // Scratch of decode attention: one partial (max, sum, weighted V) per (seq, head, split).
  struct AttentionWorkspace {
    kernels::AttentionPartials<memory_space> partials;
    View1D<int, memory_space> arrivals;  // GPU kernels: teams finished per (seq, kv_head)
    std::int64_t splits = 1;
    std::int64_t align = 1;  // split boundaries fall on whole steps of the kernel
    AttentionKernel kernel = AttentionKernel::serial;
    int team_size = 0;  // GPU kernels
    int lanes = 0;      // threads along head_dim per row
  };

  // The kernel `want` resolves to for this cache on this backend (automatic: lane groups where
  // the shape allows, else tiled, else serial; host backends run the serial kernel).
  AttentionKernel resolve_attention_kernel(AttentionKernel want) const {
    const std::int64_t g = d_.query_heads() / d_.kv_heads;
    const int bits = int(codec::data_bytes(d_.dtype, 8));
    const auto covers = [&](AttentionKernel k) { return attention_kernel_covers(k, bits, d_.head_dim, g, !on_host); };
    if (want == AttentionKernel::automatic)
      for (AttentionKernel k : {AttentionKernel::lane_groups, AttentionKernel::tiled, AttentionKernel::serial})
        if (covers(k)) return k;
    KVSIM_REQUIRE(covers(want), "decode attention kernel '", attention_kernel_name(want), "' ",
                  on_host && want != AttentionKernel::serial && want != AttentionKernel::automatic
                      ? std::string("needs a GPU build (this one runs on the host)")
                          : "does not cover head_dim " + std::to_string(d_.head_dim) + " of " + codec::name(d_.dtype) +
                                " with " + std::to_string(g) + " query heads per KV head");
    return want;
  }

  // splits_hint > 0 fixes the number of splits per sequence (benchmarks); 0 picks it.
  AttentionWorkspace make_attention_workspace(std::int64_t splits_hint = 0,
                                              AttentionKernel want = AttentionKernel::automatic) const {
    AttentionWorkspace ws;
    ws.kernel = resolve_attention_kernel(want);
    const std::int64_t heads = d_.query_heads(), g = heads / d_.kv_heads;
    const std::int64_t rows = std::max<std::int64_t>(1, dense_rows());
    const std::int64_t sms = std::max<std::int64_t>(1, ExecSpace().concurrency() / 2048);
    std::int64_t auto_splits;
    if (ws.kernel != AttentionKernel::serial) {
      std::int64_t tile = 1, teams_per_sm = 2;
      codec::dispatch(d_.dtype, [&](auto tag) {
        constexpr codec::DType D = decltype(tag)::value;
        with_group(g, [&](auto gc) {
          constexpr int G = decltype(gc)::value;
          if (ws.kernel == AttentionKernel::lane_groups) {
            using Shape = kernels::LaneGroupShape<D, G>;
            ws.lanes = int(d_.head_dim / Shape::W);
            ws.team_size = Shape::team;
            tile = std::int64_t(Shape::U) * (ws.team_size / ws.lanes);
            // Measured (H200, 7B, 4,096 positions, batch 1): two 128-thread teams a
            // multiprocessor (8 splits) beat 12, 16 and 32 splits: each team's pipeline fill and
            // epilogue is a fixed latency that shorter splits do not amortise.
            teams_per_sm = 2;
          } else {
            ws.lanes = int(d_.head_dim / 8);
            ws.team_size = int(ws.lanes * (256 / ws.lanes));
            tile = std::int64_t(kernels::TileRows<D, G>::value) * (ws.team_size / ws.lanes);
          }
        });
      });
      ws.align = tile;
      // Whole waves of teams over the batch: one wave, or for long contexts up to four, about
      // 512 positions a team, since one team's walk is latency-bound but every split adds a
      // partial to write and merge. Never a fraction of a wave: some multiprocessors would hold
      // one team more than others and set the time (H200, 7B fp16, 4,096 positions: 8 splits
      // 0.83 ms a token, 9 splits 0.90-0.95 ms). Measured (docs/perf-notes.md): at 4,096
      // positions one wave beat 2 and 4; at 262,144 positions a GPU (H200, tiled kernel) 33
      // splits 82 ms a token, 9 splits 139 ms, 512 splits 102 ms. Never a split shorter than
      // one step.
      const std::int64_t one_wave = std::max<std::int64_t>(1, sms * teams_per_sm / (d_.batch * d_.kv_heads));
      const std::int64_t waves = std::clamp<std::int64_t>(rows / 512 / one_wave, 1, 4);
      auto_splits = std::clamp<std::int64_t>(waves * one_wave, 1, (rows + tile - 1) / tile);
    } else {
      KVSIM_REQUIRE(d_.head_dim <= kernels::kMaxHeadDimSerial, "decode attention supports head_dim up to ",
                    kernels::kMaxHeadDimSerial, " on this backend, got ", d_.head_dim);
      const std::int64_t threads = ExecSpace().concurrency();
      auto_splits = std::clamp<std::int64_t>((4 * threads + d_.batch * heads - 1) / (d_.batch * heads), 1,
                                             std::max<std::int64_t>(1, rows / 16));
    }
    KVSIM_REQUIRE(splits_hint >= 0, "attention splits must be >= 0, got ", splits_hint);
    ws.splits = splits_hint > 0 ? splits_hint : auto_splits;
    // The GPU kernels' last team keeps two floats per split and query head of its group in
    // scratch: at most 32 KB of them.
    if (ws.team_size > 0) ws.splits = std::min<std::int64_t>(ws.splits, (8192 / g - 1) / 2);
    const std::int64_t n = d_.batch * heads * ws.splits;
    auto wo = [&](const char* label) { return Kokkos::view_alloc(exec_, Kokkos::WithoutInitializing, std::string(label)); };
    ws.partials = {View1D<float, memory_space>(wo("kvsim::attention::m"), n),
                   View1D<float, memory_space>(wo("kvsim::attention::l"), n),
                   View1D<float, memory_space>(wo("kvsim::attention::acc"), n * d_.head_dim), ws.splits};
    // Zeroed once; the last team of every (seq, kv_head) sets its counter back to 0.
    ws.arrivals = View1D<int, memory_space>(Kokkos::view_alloc(exec_, std::string("kvsim::attention::arrivals")),
                                            d_.batch * d_.kv_heads);
    return ws;
  }

  // softmax(q K^T / sqrt(head_dim)) V of every sequence and query head over layer `layer`, in
  // place: q and out are [seq][head][head_dim] fp32. If given, lse [seq][head] receives the log
  // of each softmax denominator (with its max), which is what merging context shards needs.
  void decode_attention(std::int64_t layer, const View1D<const float, memory_space>& q,
                        const View1D<float, memory_space>& out, const AttentionWorkspace& ws,
                        const View1D<float, memory_space>& lse = {}) const {
    const std::int64_t heads = d_.query_heads();
    KVSIM_REQUIRE(std::int64_t(q.extent(0)) == d_.batch * heads * d_.head_dim && out.extent(0) == q.extent(0),
                  "query/output buffers have the wrong size");
    KVSIM_REQUIRE(lse.extent(0) == 0 || std::int64_t(lse.extent(0)) == d_.batch * heads, "lse buffer has the wrong size");
    const kernels::AttentionInputs<memory_space> in{stored(), q,        layer,   heads, ws.splits,
                                                    1.0f / std::sqrt(float(d_.head_dim)), ws.align};
    codec::dispatch(d_.dtype, [&](auto tag) {
      constexpr codec::DType D = decltype(tag)::value;
      if (ws.kernel != AttentionKernel::serial) {
        launch_gpu<D>(in, ws, out, lse, heads / d_.kv_heads);
      } else {
        Kokkos::parallel_for("kvsim::decode_attention", light_weight(RangePolicy<ExecSpace>(exec_, 0, d_.batch * heads * ws.splits)),
                             kernels::DecodeAttentionSerial<ExecSpace, D>{in, ws.partials});
        Kokkos::parallel_for("kvsim::attention_merge", light_weight(RangePolicy<ExecSpace>(exec_, 0, d_.batch * heads * d_.head_dim)),
                             kernels::MergePartials<memory_space>{ws.partials, out, d_.head_dim, lse});
      }
    });
  }

  // H2O state, for reports and tests.
  View2D<float, memory_space> scores() const { return scores_; }
  std::vector<std::int64_t> retained_positions(std::int64_t seq) const {
    std::vector<std::int64_t> out(valid(seq));
    if (!map_.table) {
      for (std::int64_t i = 0; i < valid(seq); ++i) out[i] = position_base_ + map_.position_of_logical(i, totals_[seq]);
      return out;
    }
    auto order = Kokkos::create_mirror_view_and_copy(HostMemSpace(), order_[cur_]);
    auto pos = Kokkos::create_mirror_view_and_copy(HostMemSpace(), slot_position_);
    for (std::int64_t i = 0; i < valid(seq); ++i) out[i] = pos(seq, order(seq, i));
    return out;
  }
  std::vector<std::int64_t> h2o_evicted(std::int64_t seq) const {
    if (!map_.table) return {};
    auto ev = Kokkos::create_mirror_view_and_copy(HostMemSpace(), evicted_);
    auto n = Kokkos::create_mirror_view_and_copy(HostMemSpace(), evicted_count_);
    return std::vector<std::int64_t>(&ev(seq, 0), &ev(seq, 0) + n(seq));
  }

 private:
  StoredCache<memory_space> stored() const {
    return StoredCache<memory_space>{data_, group_scales_, head_scales_, addressing(), map_, totals_dev_, order_[cur_]};
  }

  CacheAddressing<memory_space> addressing() const {
    return CacheAddressing<memory_space>{d_.batch,   d_.kv_heads, d_.head_dim,
                                         capacity(), page_shift_, d_.layout == LayoutKind::paged ? d_.pages_per_sequence() : 0,
                                         pool_pages_, int(d_.layout), block_table_};
  }

  // Calls fn(integral_constant G) for a query-head group size of 1, 2, 4 or 8.
  template <class Fn>
  static void with_group(std::int64_t g, Fn&& fn) {
    switch (g) {
      case 1: fn(std::integral_constant<int, 1>{}); break;
      case 2: fn(std::integral_constant<int, 2>{}); break;
      case 4: fn(std::integral_constant<int, 4>{}); break;
      default: fn(std::integral_constant<int, 8>{}); break;
    }
  }

  template <codec::DType D>
  void launch_gpu(const kernels::AttentionInputs<memory_space>& in, const AttentionWorkspace& ws,
                  const View1D<float, memory_space>& out, const View1D<float, memory_space>& lse, std::int64_t g) const {
    // Rows at a fixed stride from slot 0, in logical order: not paged, no H2O table, no
    // sequence past its capacity.
    bool direct = d_.layout != LayoutKind::paged && !map_.table;
    for (std::int64_t s = 0; s < d_.batch; ++s) direct = direct && totals_[s] <= capacity();
    with_group(g, [&](auto gc) {
      constexpr int G = decltype(gc)::value;
      if (ws.kernel == AttentionKernel::lane_groups) {
        if (direct) launch_team_kernel<kernels::DecodeAttentionLanes<ExecSpace, D, G, true>>(in, ws, out, lse);
        else launch_team_kernel<kernels::DecodeAttentionLanes<ExecSpace, D, G, false>>(in, ws, out, lse);
      } else {
        if (direct) launch_team_kernel<kernels::DecodeAttentionTiled<ExecSpace, D, G, true>>(in, ws, out, lse);
        else launch_team_kernel<kernels::DecodeAttentionTiled<ExecSpace, D, G, false>>(in, ws, out, lse);
      }
    });
  }

  template <class Kernel>
  void launch_team_kernel(const kernels::AttentionInputs<memory_space>& in, const AttentionWorkspace& ws,
                          const View1D<float, memory_space>& out, const View1D<float, memory_space>& lse) const {
    auto policy = light_weight(typename Kernel::Policy(exec_, d_.batch * d_.kv_heads * ws.splits, ws.team_size));
    policy.set_scratch_size(0, Kokkos::PerTeam(Kernel::scratch_bytes(ws.team_size, ws.lanes, d_.head_dim, ws.splits)));
    const Kernel kernel{in, kernels::SplitMerge<memory_space>(ws.partials, ws.arrivals, out, lse), ws.lanes};
    Kokkos::parallel_for("kvsim::decode_attention", policy, kernel);
  }

  // Host backends want one row per work item; GPUs want many lanes per row.
  static constexpr bool on_host = std::is_same<memory_space, Kokkos::HostSpace>::value;

  // The retrieve's split of a row into lanes: K steps of V values per work item, K * V = 32
  // when the row divides evenly.
  template <codec::DType D, class Fn>
  void with_gather_lanes(Fn&& fn) const {
    constexpr int v = kernels::gather_values<D>;
    const std::int64_t steps = d_.row_values() / v;
    if (on_host) {
      fn(std::integral_constant<int, 0>{}, std::int64_t(1));
    } else if (steps % (32 / v) == 0) {
      fn(std::integral_constant<int, 32 / v>{}, steps / (32 / v));
    } else {
      fn(std::integral_constant<int, 1>{}, steps);
    }
  }

  // Calls fn(integral_constant K, lanes per row): each work item takes K codec units of a row,
  // K as large as keeps 32 decoded values in registers, when the row divides evenly.
  template <codec::DType D, class Fn>
  void with_lanes(Fn&& fn) const {
    constexpr int unit = codec::Codec<D>::unit;
    constexpr int kmax = unit >= 32 ? 1 : 32 / unit;
    const std::int64_t units = d_.row_values() / unit;
    if (on_host) {
      fn(std::integral_constant<int, 0>{}, std::int64_t(1));
    } else if (units % kmax == 0) {
      fn(std::integral_constant<int, kmax>{}, units / kmax);
    } else {
      fn(std::integral_constant<int, 1>{}, units);
    }
  }

  std::int64_t pages_for(std::int64_t seq, std::int64_t upto) const {
    const std::int64_t slots = std::min({upto, lengths_[seq], capacity()});
    return (slots + d_.page_size - 1) / d_.page_size;
  }
  std::int64_t pages_needed() const {
    std::int64_t n = 0;
    for (std::int64_t s = 0; s < d_.batch; ++s) n += pages_for(s, max_length_);
    return n;
  }

  template <class T>
  void copy_to_device(const std::vector<T>& host, const View1D<T, memory_space>& dev) const {
    auto mirror = Kokkos::create_mirror_view(dev);
    for (std::size_t i = 0; i < host.size(); ++i) mirror(i) = host[i];
    // From pageable host memory the copy is staged before deep_copy returns, so the mirror may
    // go away without a fence.
    Kokkos::deep_copy(exec_, dev, mirror);
  }

  // Gives every sequence the pages its slots up to position `end` need, in one launch.
  void allocate_pages(std::int64_t end) {
    bool grows = false;  // launch only when some sequence crosses into a new page
    for (std::int64_t s = 0; s < d_.batch && !grows; ++s) grows = pages_for(s, end) > pages_for(s, frontier_);
    if (!grows) return;
    Kokkos::parallel_for("kvsim::allocate_pages", RangePolicy<ExecSpace>(exec_, 0, 1),
                         kernels::AllocatePages<memory_space>{block_table_, free_stack_, pages_held_, stack_top_,
                                                              lengths_dev_, end, capacity(), d_.page_size, d_.batch});
  }

  void release_pages() {
    Kokkos::parallel_for("kvsim::release_pages", RangePolicy<ExecSpace>(exec_, 0, 1),
                         kernels::ReleasePages<memory_space>{block_table_, free_stack_, pages_held_, stack_top_, d_.batch});
  }

  ExecSpace exec_;
  CacheDesign d_;
  std::uint64_t seed_;
  std::int64_t position_base_ = 0;
  std::vector<std::int64_t> lengths_;
  PolicyMap map_;
  std::int64_t max_length_ = 0;
  std::vector<std::int64_t> totals_;  // host copy; the append kernel keeps totals_dev_ in step
  std::int64_t frontier_ = 0;
  std::int64_t rows_appended_ = 0;

  View1D<unsigned char, memory_space> data_;
  View1D<std::uint16_t, memory_space> group_scales_;
  View1D<float, memory_space> head_scales_;
  View1D<std::int64_t, memory_space> lengths_dev_, totals_dev_;

  // paged
  std::int64_t pool_pages_ = 0;
  std::int64_t page_shift_ = 0;
  View2D<std::int32_t, memory_space> block_table_;
  View1D<std::int32_t, memory_space> free_stack_;
  View1D<std::int64_t, memory_space> pages_held_;  // [seq]
  View1D<std::int64_t, memory_space> stack_top_;   // [1]

  // h2o
  View2D<std::int32_t, memory_space> order_[2];
  int cur_ = 0;
  View2D<std::int64_t, memory_space> slot_position_;
  View2D<float, memory_space> scores_;
  View1D<std::int32_t, memory_space> append_slot_;
  View2D<std::int64_t, memory_space> evicted_;
  View1D<std::int64_t, memory_space> evicted_count_;
};

}  // namespace kvsim
