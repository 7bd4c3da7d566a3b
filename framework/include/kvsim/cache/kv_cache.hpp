#pragma once
// KVCache: the configurable cache. A batch of sequences, each with its own length, stored in one
// labelled allocation per component (memory_model.hpp) in the chosen precision and layout, with
// the chosen eviction policy deciding which positions stay. Appends read K/V from a staging
// buffer (what a model's projection produces) and encode on the way in; retrieves decode one
// layer of every sequence into dense fp32 or fp16 in logical (oldest-first) order.
//
// Kernels are functors (cache/, attention/); this class owns the Views and the host-side
// bookkeeping that needs no device round trip: every sequence's length is known up front.
//
// Appends go by step: sequence s receives its position p at step starts[s] + p (by default
// every sequence starts at step 0, so steps are positions). A batch of different lengths that
// generates tokens together starts its shorter sequences later, so that every sequence's next
// position is appended at the same step: the decode's token t is step longest + t for all.
#include <algorithm>
#include <string>
#include <vector>

#include "kvsim/attention/decode_launch.hpp"
#include "kvsim/cache/append_encode.hpp"
#include "kvsim/cache/gather_decode.hpp"
#include "kvsim/cache/generate_source.hpp"
#include "kvsim/cache/memory_model.hpp"
#include "kvsim/cache/verify_dense.hpp"
#include "kvsim/core/synthetic.hpp"
#include "kvsim/layout/page_pool.hpp"
#include "kvsim/policy/h2o.hpp"

namespace kvsim {

template <class ExecSpace>
class KVCache {
 public:
  using execution_space = ExecSpace;
  using memory_space = MemSpaceOf<ExecSpace>;
  using stage_view = View1D<float, memory_space>;
  using AttentionWorkspace = kvsim::AttentionWorkspace<memory_space>;

  KVCache(const ExecSpace& exec, const CacheDesign& design, std::uint64_t seed, std::vector<std::int64_t> lengths,
          std::vector<std::int64_t> starts = {})
      : exec_(exec), d_(design), seed_(seed), lengths_(std::move(lengths)), starts_(std::move(starts)),
        map_(PolicyMap::of(design)) {
    KVSIM_REQUIRE(std::int64_t(lengths_.size()) == d_.batch, "one length per sequence expected, got ", lengths_.size(),
                  " for batch ", d_.batch);
    if (starts_.empty()) starts_.assign(std::size_t(d_.batch), 0);
    KVSIM_REQUIRE(std::int64_t(starts_.size()) == d_.batch, "one start step per sequence expected, got ", starts_.size(),
                  " for batch ", d_.batch);
    for (std::int64_t s = 0; s < d_.batch; ++s) {
      KVSIM_REQUIRE(starts_[s] >= 0, "sequence ", s, " starts at step ", starts_[s]);
      // The h2o step evicts at one position for the whole batch.
      KVSIM_REQUIRE(!map_.table || starts_[s] == 0, "h2o appends every sequence from step 0");
      steps_ = std::max(steps_, starts_[s] + lengths_[s]);
    }
    KVSIM_REQUIRE(d_.head_dim % codec::unit_values(d_.dtype) == 0, "head_dim ", d_.head_dim, " is not a multiple of ",
                  codec::unit_values(d_.dtype), " (", codec::name(d_.dtype), ")");
    KVSIM_REQUIRE(capacity() > 0, "empty cache");
    const MemoryModel m = memory_model(d_, lengths_);
    max_length_ = m.max_length;
    pool_pages_ = m.pool_pages;
    page_shift_ = m.page_shift;
    totals_.assign(d_.batch, 0);
    auto wo = [&](const Allocation& a) { return Kokkos::view_alloc(exec_, Kokkos::WithoutInitializing, std::string(a.label)); };
    // Every element is written before it is read (reads cover retained rows only).
    data_ = View1D<unsigned char, memory_space>(wo(m.data), m.data.elements());
    // Zeroed: the lane-group attention kernel stages scales in aligned pairs, so it also reads
    // the neighbour of a scale, which may belong to a row never written (compute-sanitizer
    // initcheck flagged those reads; their values are never used).
    group_scales_ = View1D<std::uint16_t, memory_space>(Kokkos::view_alloc(exec_, std::string(m.group_scales.label)),
                                                        m.group_scales.elements());
    head_scales_ = View1D<float, memory_space>(wo(m.head_scales), m.head_scales.elements());
    if (d_.data.kind != DataKind::uniform) {
      // fp8's static per-head scale maps the data's bound onto E4M3's range (kFp8SyntheticScale
      // is that for uniform data, bound 1).
      auto scales = Kokkos::create_mirror_view(head_scales_);
      for (std::size_t i = 0; i < scales.extent(0); ++i) scales(i) = float(d_.data.abs_bound(int((i / std::size_t(d_.kv_heads)) % 2)) / 448.0);
      Kokkos::deep_copy(exec_, head_scales_, scales);
      exec_.fence();
    } else {
      Kokkos::deep_copy(exec_, head_scales_, kFp8SyntheticScale);
    }
    lengths_dev_ = View1D<std::int64_t, memory_space>(wo(m.lengths), m.lengths.elements());
    totals_dev_ = View1D<std::int64_t, memory_space>(wo(m.totals), m.totals.elements());
    std::vector<std::int64_t> lengths_starts = lengths_;
    lengths_starts.insert(lengths_starts.end(), starts_.begin(), starts_.end());
    copy_to_device(exec_, lengths_starts, lengths_dev_);
    Kokkos::deep_copy(exec_, totals_dev_, std::int64_t(0));
    pages_.allocate(exec_, m);
    if (map_.table) h2o_.allocate(d_.batch, capacity(), m.h2o_evicted.extent1);
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
  const std::vector<std::int64_t>& starts() const { return starts_; }
  // starts() on the device, for kernels that place a step's position per sequence.
  View1D<std::int64_t, memory_space> starts_dev() const { return part(lengths_dev_, d_.batch, 2 * d_.batch); }
  std::int64_t max_length() const { return max_length_; }
  // Append steps that fill every sequence: the last sequence's start plus its length.
  std::int64_t steps() const { return steps_; }
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

  // Every byte the cache allocated: data, scales, page tables and policy tables, summed from
  // the Views themselves (the tests hold it to memory_model's total).
  std::int64_t allocated_bytes() const {
    const std::int64_t b = std::int64_t(data_.span()) + 2 * std::int64_t(group_scales_.span()) +
                           (codec::needs_head_scale(d_.dtype) ? 4 * std::int64_t(head_scales_.span()) : 0);
    return b + pages_.bytes(layout_is_paged(d_.layout)) + (map_.table ? h2o_.bytes() : 0);
  }

  // Stored bytes of one position of one sequence over all layers, K and V, scales included.
  std::int64_t bytes_per_position() const { return d_.layers * 2 * row_storage_bytes(); }
  std::int64_t row_storage_bytes() const { return kvsim::row_storage_bytes(d_); }

  // Forget every position: lengths restart at 0 and pages go back to the pool.
  void reset() {
    std::fill(totals_.begin(), totals_.end(), 0);
    Kokkos::deep_copy(exec_, totals_dev_, std::int64_t(0));
    frontier_ = 0;
    rows_appended_ = 0;
    if (layout_is_paged(d_.layout)) pages_.release(exec_, d_.batch);
    if (map_.table) h2o_.reset(exec_);
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
                                                               d_.head_dim / 4, position_base_ + begin, starts_dev(),
                                                               d_.data});
  }

  // Appends steps [begin, end): positions [begin - start, end - start) of every sequence, each
  // up to its own length. The staging buffer, laid out by generate_source, holds steps from
  // stage_begin at its own capacity's stride. Steps go in order.
  void append(const stage_view& stage, std::int64_t stage_begin, std::int64_t begin, std::int64_t end) {
    const std::int64_t stage_n = stage_capacity(stage);
    KVSIM_REQUIRE(begin == frontier_, "steps must be appended in order: expected ", frontier_, ", got ", begin);
    KVSIM_REQUIRE(end > begin && begin >= stage_begin && end <= stage_begin + stage_n, "append range outside the stage");
    KVSIM_REQUIRE(!map_.table || end == begin + 1, "h2o appends one position per step");
    if (layout_is_paged(d_.layout)) pages_.grow(exec_, d_, lengths_, starts_, lengths_view(), starts_dev(), frontier_, end);
    if (map_.table) h2o_.step(exec_, lengths_view(), begin, capacity(), d_.recent, seed_, d_.data);
    const CacheAddressing<memory_space> addr = addressing();
    const PolicyMap map = map_;
    codec::dispatch(d_.dtype, [&](auto tag) {
      constexpr codec::DType D = decltype(tag)::value;
      with_append_lanes<ExecSpace, D>(d_.row_values(), [&](auto k, std::int64_t lanes) {
        kernels::AppendEncode<ExecSpace, D, decltype(k)::value> kernel{
            stage, stage_begin, stage_n, data_, group_scales_, head_scales_, addr, map, lengths_view(), starts_dev(),
            totals_view(), longest_view(), h2o_.append_slot, begin, end, d_.batch, lanes};
        Kokkos::parallel_for("kvsim::append_encode",
                             light_weight(RangePolicy<ExecSpace>(exec_, 0, d_.layers * 2 * d_.batch * (end - begin) * lanes)),
                             kernel);
      });
    });
    for (std::int64_t s = 0; s < d_.batch; ++s) {
      // This sequence's positions [from, stop).
      const std::int64_t stop = std::min(end - starts_[s], lengths_[s]);
      const std::int64_t from = std::max<std::int64_t>(0, begin - starts_[s]);
      if (stop <= from) continue;
      // Rows written: all of [from, stop) but those a later row of the launch overwrites
      // (see PolicyMap::kept_after), which lie in [max(from, sinks), stop - ring).
      const std::int64_t skipped =
          map_.table ? 0 : std::max<std::int64_t>(0, (stop - map_.ring) - std::max(from, map_.sinks));
      rows_appended_ += stop - from - skipped;
      totals_[s] = std::max(totals_[s], stop);
    }
    frontier_ = end;
  }

  template <class Out>
  View1D<Out, memory_space> make_dense(const std::string& label) const {
    return View1D<Out, memory_space>(Kokkos::view_alloc(exec_, Kokkos::WithoutInitializing, label),
                                     dense_values(d_, max_length_));
  }

  // One retrieve op: layer `layer` of every sequence, dense, oldest first.
  template <class Out>
  void retrieve_layer(std::int64_t layer, const View1D<Out, memory_space>& out) const {
    KVSIM_REQUIRE(layer >= 0 && layer < d_.layers, "layer ", layer, " out of range");
    KVSIM_REQUIRE(std::int64_t(out.extent(0)) >= dense_values(d_, max_length_), "dense buffer too small");
    if (dense_rows() == 0) return;
    codec::dispatch(d_.dtype, [&](auto tag) {
      constexpr codec::DType D = decltype(tag)::value;
      with_gather_lanes<ExecSpace, D>(d_.row_values(), [&](auto k, std::int64_t lanes) {
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
    return retrieve_read_bytes_per_layer() + 2 * valid_rows() * d_.row_values() * std::int64_t(sizeof(Out));
  }

  // Stored rows (with scales and page-table entries) one retrieve op reads.
  std::int64_t retrieve_read_bytes_per_layer() const {
    return 2 * valid_rows() * (row_storage_bytes() + (layout_is_paged(d_.layout) ? 4 : 0));
  }
  std::int64_t fill_read_bytes() const { return rows_appended_ * d_.layers * 2 * d_.row_values() * 4; }

  // Bytes one fill moved: staging rows read and stored rows written.
  std::int64_t fill_bytes() const { return rows_appended_ * d_.layers * 2 * (d_.row_values() * 4 + row_storage_bytes()); }

  // Compares a retrieved layer with the recomputed source (see cache/verify_dense.hpp).
  template <class Out>
  kernels::VerifyTally verify_layer(std::int64_t layer, const View1D<Out, memory_space>& dense) const {
    const std::int64_t units = d_.head_dim / codec::unit_values(d_.dtype);
    const std::int64_t work = 2 * d_.batch * dense_rows() * d_.kv_heads * units;
    kernels::VerifyTally tally;
    codec::dispatch(d_.dtype, [&](auto tag) {
      constexpr codec::DType D = decltype(tag)::value;
      kernels::VerifyDense<memory_space, D, Out> k{dense,        head_scales_, map_,     totals_view(), h2o_.order[h2o_.cur],
                                                   h2o_.slot_position, seed_,  layer,    d_.batch,     dense_rows(),
                                                   d_.kv_heads,  d_.head_dim, position_base_, d_.data};
      Kokkos::parallel_reduce("kvsim::verify_layer", RangePolicy<ExecSpace>(exec_, 0, work), k, tally);
    });
    exec_.fence();
    return tally;
  }

  // Decode attention (attention/decode_plan.hpp, decode_launch.hpp) over this cache.
  AttentionKernel resolve_attention_kernel(AttentionKernel want) const {
    return kvsim::resolve_attention_kernel(d_, want, std::is_same<memory_space, Kokkos::HostSpace>::value,
                                           mma::device_has_mma<ExecSpace>());
  }
  AttentionWorkspace make_attention_workspace(std::int64_t splits_hint = 0,
                                              AttentionKernel want = AttentionKernel::automatic) const {
    return kvsim::make_attention_workspace(exec_, d_, dense_rows(), splits_hint, want);
  }
  void decode_attention(std::int64_t layer, const View1D<const float, memory_space>& q,
                        const View1D<float, memory_space>& out, const AttentionWorkspace& ws,
                        const View1D<float, memory_space>& lse = {}) const {
    // Rows in logical order (no H2O table, no sequence past its capacity): at a fixed stride
    // from slot 0, or in the block table's pages.
    bool in_order = !map_.table;
    for (std::int64_t s = 0; s < d_.batch; ++s) in_order = in_order && totals_[s] <= capacity();
    using kernels::RowWalk;
    const RowWalk walk = !in_order ? RowWalk::general : layout_is_paged(d_.layout) ? RowWalk::paged : RowWalk::direct;
    kvsim::decode_attention(exec_, d_, stored(), walk, layer, q, out, ws, lse);
  }

  // H2O state, for reports and tests.
  View2D<float, memory_space> scores() const { return h2o_.scores; }
  std::vector<std::int64_t> retained_positions(std::int64_t seq) const {
    if (map_.table) return h2o_.retained(seq, valid(seq));
    std::vector<std::int64_t> out(valid(seq));
    for (std::int64_t i = 0; i < valid(seq); ++i) out[i] = position_base_ + map_.position_of_logical(i, totals_[seq]);
    return out;
  }
  std::vector<std::int64_t> h2o_evicted(std::int64_t seq) const {
    return map_.table ? h2o_.evicted_of(seq) : std::vector<std::int64_t>{};
  }

  // What the attention and gather kernels read of the cache (tests read its device scalars).
  StoredCache<memory_space> stored() const {
    return StoredCache<memory_space>{data_, group_scales_, head_scales_, addressing(), map_, totals_view(), h2o_.order[h2o_.cur],
                                     longest_view()};
  }

 private:
  // lengths_dev_ holds the lengths, then the starts; totals_dev_ the totals, then their largest.
  View1D<std::int64_t, memory_space> lengths_view() const { return part(lengths_dev_, 0, d_.batch); }
  View1D<std::int64_t, memory_space> totals_view() const { return part(totals_dev_, 0, d_.batch); }
  View1D<std::int64_t, memory_space> longest_view() const { return part(totals_dev_, d_.batch, d_.batch + 1); }
  static View1D<std::int64_t, memory_space> part(const View1D<std::int64_t, memory_space>& v, std::int64_t a, std::int64_t b) {
    return Kokkos::subview(v, Kokkos::make_pair(a, b));
  }
  CacheAddressing<memory_space> addressing() const {
    return CacheAddressing<memory_space>::make(d_, page_shift_, pool_pages_, pages_.block_table);
  }
  std::int64_t valid_rows() const {
    std::int64_t rows = 0;
    for (std::int64_t s = 0; s < d_.batch; ++s) rows += valid(s);
    return rows;
  }

  ExecSpace exec_;
  CacheDesign d_;
  std::uint64_t seed_;
  std::int64_t position_base_ = 0;
  std::vector<std::int64_t> lengths_;
  std::vector<std::int64_t> starts_;  // the step of every sequence's position 0
  std::int64_t steps_ = 0;
  PolicyMap map_;
  std::int64_t max_length_ = 0;
  std::vector<std::int64_t> totals_;  // host copy; the append kernel keeps totals_dev_ in step
  std::int64_t frontier_ = 0;
  std::int64_t rows_appended_ = 0;
  std::int64_t pool_pages_ = 0;  // paged
  std::int64_t page_shift_ = 0;

  View1D<unsigned char, memory_space> data_;
  View1D<std::uint16_t, memory_space> group_scales_;
  View1D<float, memory_space> head_scales_;
  View1D<std::int64_t, memory_space> lengths_dev_, totals_dev_;
  PagePool<ExecSpace> pages_;
  policy::H2OState<ExecSpace> h2o_;
};

}  // namespace kvsim
