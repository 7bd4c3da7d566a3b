#pragma once
// Token generation after the prefill: per token an append of every layer, decode attention
// over every layer and an optional weight read, each phase fenced and timed. The layers'
// attention launches of a token are recorded once as a launch graph and replayed
// (workload.decode.launch: graph) or launched one by one (eager). Context shards:
// only the last shard appends (the newest positions are its), and after each layer's attention
// the shards merge their outputs (log-sum-exp, through MPI), timed as communication.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "experiment/attention_quality.hpp"
#include "experiment/references.hpp"
#include "kvsim/cache/kv_cache.hpp"
#include "kvsim/core/launch_graph.hpp"
#include "kvsim/core/synthetic.hpp"
#include "kvsim/core/timing.hpp"
#include "kvsim/probe/stream.hpp"
#include "experiment/experiment.hpp"
#include "platform/interrupt.hpp"
#include "sweep/parallel.hpp"

namespace kvsim {

template <class Exec>
class Decoder {
 public:
  using Mem = MemSpaceOf<Exec>;
  using Cache = KVCache<Exec>;

  Decoder(const Exec& exec, const ExperimentConfig& c, Cache& cache, std::int64_t prefill, const Group& group,
          std::int64_t context)
      : exec_(exec), c_(c), data_(cache.design().data), cache_(cache), prefill_(prefill), group_(group), context_(context),
        appends_(group.shard() == group.shards() - 1),
        // Shards merge through MPI between layers, so their launches cannot form one graph.
        graphs_(c.decode_launch == LaunchMode::graph && LaunchGraph<Exec>::native && !group.sharded()
                    ? std::size_t(c.decode_tokens)
                    : 0) {
    if (c.decode_tokens == 0) return;
    const std::int64_t n = c.decode_tokens;
    if (appends_) {
      stage_ = cache.make_stage(n);
      cache.generate_source(stage_, prefill, n);
    }
    q_len_ = c.batch * c.model.heads * c.model.head_dim;
    q_ = View1D<float, Mem>(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string("kvsim::decode::q")),
                            n * c.model.layers * q_len_);
    // Uniform data: queries come from the same counter hash with their own seed; structured:
    // from the keys' attention directions; recorded: the table's. q[token][layer][seq][head][dim].
    if (data_.has_queries())
      Kokkos::parallel_for("kvsim::decode::make_q", RangePolicy<Exec>(exec, 0, std::int64_t(q_.extent(0))),
                           kernels::GenerateQueries<Mem>{q_, data_, c.seed, c.model.layers, c.batch, c.model.heads,
                                                         c.model.heads / c.model.kv_heads, c.model.head_dim,
                                                         context - n, cache.starts_dev()});
    else
      Kokkos::parallel_for("kvsim::decode::make_q", RangePolicy<Exec>(exec, 0, std::int64_t(q_.extent(0)) / 4),
                           kernels::GenerateSource<Mem>{q_, synthetic::mix64(c.seed ^ 0x5155455259ULL), 1,
                                                        n * c.model.layers * c.batch, n * c.model.layers * c.batch,
                                                        c.model.heads, c.model.head_dim / 4, 0, {}});
    out_ = View1D<float, Mem>(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string("kvsim::decode::out")), q_len_);
    if (group_.sharded()) {
      lse_ = View1D<float, Mem>(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string("kvsim::decode::lse")),
                                c.batch * c.model.heads);
      host_out_ = Kokkos::create_mirror_view(out_);
      host_lse_ = Kokkos::create_mirror_view(lse_);
    }
    ws_ = cache.make_attention_workspace(c.decode_splits, c.decode_kernel);
    if (c.model.weight_bytes > 0) {
      const std::int64_t n8 = std::max<std::int64_t>(1, c.model.weight_bytes / (8 * std::int64_t(sizeof(Float4))));
      weights_ = View1D<Float4, Mem>(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string("kvsim::decode::weights")),
                                     8 * n8);
      Kokkos::parallel_for("kvsim::decode::init_weights", RangePolicy<Exec>(exec, 0, n8), kernels::StreamWrite<Mem>{weights_, n8});
      sink_ = Kokkos::View<double, Mem>("kvsim::decode::sink");
    }
  }

  // Generates every token; records the phase times when `timed`.
  void run(bool timed) {
    ProfilingRegion region("kvsim::decode");  // as fill, retrieve and prefill have theirs
    double append = 0, attention = 0, comm = 0, weights = 0;
    bytes_ = 0;
    for (std::int64_t t = 0; t < c_.decode_tokens; ++t) {
      check_interrupt();
      if (appends_)
        append += time_fenced(exec_, [&] { cache_.append(stage_, prefill_, prefill_ + t, prefill_ + t + 1); });
      bytes_ += c_.model.layers * (cache_.retrieve_read_bytes_per_layer() + 2 * q_len_ * std::int64_t(sizeof(float)));
      if (!graphs_.empty()) {
        // Recorded at the token's first run: what the launches bake in (the kernel instance for
        // the cache's state at this token, the query's address) is the same in every repetition.
        auto& graph = graphs_[std::size_t(t)];
        if (!graph.recorded()) graph.record(exec_, [this, t] { attend_all_layers(t); });
        attention += time_fenced(exec_, [&] { graph.replay(exec_); });
      } else if (!group_.sharded()) {
        attention += time_fenced(exec_, [&] { attend_all_layers(t); });
      } else {
        for (std::int64_t layer = 0; layer < c_.model.layers; ++layer) {
          attention += time_fenced(exec_, [&] { cache_.decode_attention(layer, query(t, layer), out_, ws_, lse_); });
          comm += time_fenced(exec_, [&] { merge_shards(); });
        }
      }
      if (weights_.extent(0) > 0) {
        const std::int64_t n8 = std::int64_t(weights_.extent(0)) / 8;
        weights += time_fenced(exec_, [&] {
          Kokkos::parallel_reduce("kvsim::decode::weights", RangePolicy<Exec>(exec_, 0, n8),
                                  kernels::StreamRead<Mem>{weights_, n8}, sink_);
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

  // This rank's phase times, one per timed repetition (reduce_over_group makes each the
  // slowest rank's).
  void record(PointResult& r) const {
    r.decode_seconds = total_;
    r.append_seconds = append_;
    r.attention_seconds = attention_;
    r.weights_seconds = weights_s_;
  }

  // Per-token figures from the group's series in `r`; the bytes are every rank's, so the
  // bandwidth is the group's aggregate. Collective over the group (the accuracy merges shards).
  void derive(PointResult& r) {
    group_.max_each(comm_);
    const std::int64_t bytes = group_.sum(bytes_);
    const double n = double(c_.decode_tokens);
    r.tokens_per_s = n / median(r.decode_seconds);
    r.append_ms = 1e3 * median(r.append_seconds) / n;
    r.attention_ms = 1e3 * median(r.attention_seconds) / n;
    r.attention_comm_ms = 1e3 * median(comm_) / n;
    r.weights_ms = 1e3 * median(r.weights_seconds) / n;
    r.attention_bytes = std::int64_t(double(bytes) / n);
    r.attention_GBps = double(bytes) / median(r.attention_seconds) / 1e9;
    r.weights_GBps = r.weights_ms > 0 ? double(weights_.extent(0)) * sizeof(Float4) / (r.weights_ms * 1e-3) / 1e9 : 0.0;
    quality(r);
    r.attention_splits = ws_.splits;
    r.attention_kernel = attention_kernel_name(ws_.kernel);
    r.decode_launch = launch_mode_name(graphs_.empty() ? LaunchMode::eager : LaunchMode::graph);
  }

 private:
  View1D<const float, Mem> query(std::int64_t t, std::int64_t layer) const {
    const std::int64_t off = (t * c_.model.layers + layer) * q_len_;
    return Kokkos::subview(q_, Kokkos::make_pair(off, off + q_len_));
  }

  // A replayed graph must compute what its launches compute one by one: the last layer's
  // output of token t, bit for bit (the kernels' split merge runs in a fixed order).
  void check_replay(std::int64_t t) {
    graphs_[std::size_t(t)].replay(exec_);
    const auto replayed = Kokkos::create_mirror_view_and_copy(HostMemSpace(), out_);
    const std::int64_t last = c_.model.layers - 1;
    cache_.decode_attention(last, query(t, last), out_, ws_);
    const auto eager = Kokkos::create_mirror_view_and_copy(HostMemSpace(), out_);
    KVSIM_REQUIRE(std::memcmp(replayed.data(), eager.data(), eager.span() * sizeof(float)) == 0,
                  "decode: the launch graph's output differs from the same launches run one by one (kernel ",
                  attention_kernel_name(ws_.kernel), ", layer ", last, ", token ", t, ")");
  }

  void attend_all_layers(std::int64_t t) {
    for (std::int64_t layer = 0; layer < c_.model.layers; ++layer) cache_.decode_attention(layer, query(t, layer), out_, ws_);
  }

  void merge_shards() {
    Kokkos::deep_copy(exec_, host_out_, out_);
    Kokkos::deep_copy(exec_, host_lse_, lse_);
    exec_.fence();
    group_.merge_attention(host_out_.data(), host_lse_.data(), c_.batch * c_.model.heads, c_.model.head_dim);
    Kokkos::deep_copy(exec_, out_, host_out_);
  }

  // Every layer at the last token against float64 attention over every position of the
  // unquantised source (attention_quality.hpp): the accuracy cost of the storage precision
  // (fp32 storage leaves only fp32 arithmetic error) and of the eviction policy. The reference
  // runs on the host threads: per layer, (seq, head) pairs in order while their contexts add up
  // to a share of 2^20 positions (at least 2^15, and at least one pair), so a million-position
  // context costs seconds.
  void quality(PointResult& r) {
    const std::int64_t t = c_.decode_tokens - 1;
    if (!graphs_.empty()) check_replay(t);
    const std::int64_t hd = c_.model.head_dim, heads = c_.model.heads, g = heads / c_.model.kv_heads;
    AttentionQuality all;
    NextInputQuality all_next;
    const DataSource host_data = data_.on_host();
    // Recorded data with each layer's o_proj and residual: the next-input error, which needs
    // every head of a sequence (the first sequence is always whole).
    const std::int64_t hidden = host_data.recorded_hidden, width = heads * hd;
    // The same (sequence, head) pairs in every layer: in order while the budget lasts.
    ReferenceQueries rq;
    std::int64_t budget = std::max<std::int64_t>(std::int64_t(1) << 15, (std::int64_t(1) << 20) / c_.model.layers);
    for (std::int64_t s = 0; s < c_.batch && budget > 0; ++s) {
      std::vector<std::int64_t> held;
      std::int64_t context = context_;
      if (group_.sharded()) {
        held.resize(std::size_t(context_));
        for (std::int64_t i = 0; i < context_; ++i) held[std::size_t(i)] = i;
      } else {
        held = cache_.retained_positions(s);
        std::sort(held.begin(), held.end());
        context = cache_.total(s);
      }
      rq.seeds.push_back(synthetic::sequence_seed(c_.seed, std::uint64_t(s)));
      rq.contexts.push_back(context);
      rq.held.push_back(std::move(held));
      for (std::int64_t h = 0; h < heads && (budget > 0 || (hidden > 0 && s == 0)); ++h) {
        budget -= context;
        rq.seqs.push_back(s);
        rq.heads.push_back(h);
      }
    }
    std::vector<double> exact(hidden > 0 ? rq.seqs.size() * std::size_t(hd) : 0);
    for (std::int64_t layer = 0; layer < c_.model.layers; ++layer) {
      cache_.decode_attention(layer, query(t, layer), out_, ws_, lse_);
      if (group_.sharded()) merge_shards();
      if (!group_.leader()) continue;
      const auto out = Kokkos::create_mirror_view_and_copy(HostMemSpace(), out_);
      const auto q = Kokkos::create_mirror_view_and_copy(HostMemSpace(), View1D<const float, Mem>(query(t, layer)));
      AttentionQuality lq;
      add_attention_queries(host_data, layer, g, heads, hd, rq, q.data(), out.data(), lq, hidden > 0 ? exact.data() : nullptr);
      all.add(lq);
      r.attention_rel_err_per_layer.push_back(lq.rel_err());
      r.attention_mass_kept_per_layer.push_back(lq.mass_kept());
      r.attention_topk_recall_per_layer.push_back(lq.topk_recall());
      r.attention_top_mass_per_layer.push_back(lq.top_mass_mean());
      if (hidden == 0) continue;
      NextInputQuality ln;
      // Query i with head heads - 1 closes a whole sequence, whose heads are queries i - heads + 1 .. i.
      for (std::size_t i = 0; i < rq.seqs.size(); ++i) {
        if (rq.heads[i] != heads - 1) continue;
        const std::int64_t s = rq.seqs[i];
        // The query of the last token sits at position context - 1: its row's hidden values.
        const std::int64_t row = (rq.contexts[std::size_t(s)] - 1) % host_data.recorded_rows;
        add_next_input_quality(host_data.recorded_o_proj_host + layer * hidden * width,
                               host_data.recorded_residual_host + (layer * host_data.recorded_rows + row) * hidden, hidden, width,
                               &out(s * width), &exact[(i + 1 - std::size_t(heads)) * std::size_t(hd)], ln);
      }
      r.next_input_rel_err_per_layer.push_back(ln.rel_err());
      all_next.add(ln);
    }
    if (!group_.leader()) return;
    r.attention_rel_err = all.rel_err();
    r.attention_mass_kept = all.mass_kept();
    r.attention_topk_recall = all.topk_recall();
    r.attention_top_mass = all.top_mass_mean();
    if (hidden > 0) r.next_input_rel_err = all_next.rel_err();
  }

  Exec exec_;
  const ExperimentConfig& c_;
  DataSource data_;  // the cache's (a recorded table in the cache's memory space)
  Cache& cache_;
  std::int64_t prefill_;
  const Group& group_;
  std::int64_t context_;  // positions of every sequence after the last token, over all shards
  bool appends_;
  typename Cache::stage_view stage_;
  View1D<float, Mem> q_, out_, lse_;
  typename View1D<float, Mem>::HostMirror host_out_, host_lse_;
  std::int64_t q_len_ = 0;
  typename Cache::AttentionWorkspace ws_;
  View1D<Float4, Mem> weights_;
  Kokkos::View<double, Mem> sink_;
  std::vector<LaunchGraph<Exec>> graphs_;  // one per token; empty: eager
  std::vector<double> append_, attention_, comm_, weights_s_, total_;
  std::int64_t bytes_ = 0;
};

}  // namespace kvsim
