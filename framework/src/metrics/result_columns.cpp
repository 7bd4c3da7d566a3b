#include "metrics/result_columns.hpp"

#include "metrics/timed_metrics.hpp"

namespace kvsim {

namespace {
using I = std::int64_t;
using P = PointResult;

std::string sweep_label(const P& r) {
  std::string s;
  for (const auto& [k, v] : r.config.sweep) s += (s.empty() ? "" : ",") + k + "=" + v;
  return s;
}

// The timed metrics' own medians are here in schema order; their _min/_max follow the table.
std::vector<Column<double>> make_real_columns() {
  std::vector<Column<double>> v{
      {"fill_positions_per_s", "positions/s", "higher", [](const P& r) { return r.fill_positions_per_s; }},
      {"fill_GBps", "GB/s", "higher", [](const P& r) { return r.fill_GBps; }},
      {"fill_fraction_of_copy", "1", "higher", [](const P& r) { return r.fill_fraction_of_copy; }},
      {"retrieve_ops_per_s", "ops/s", "higher", [](const P& r) { return r.retrieve_ops_per_s; }},
      {"retrieve_GBps", "GB/s", "higher", [](const P& r) { return r.retrieve_GBps; }},
      {"retrieve_fraction_of_copy", "1", "higher", [](const P& r) { return r.retrieve_fraction_of_copy; }},
      {"fill_fraction_of_roofline", "1", "higher", [](const P& r) { return r.fill_fraction_of_roofline; }},
      {"retrieve_fraction_of_roofline", "1", "higher", [](const P& r) { return r.retrieve_fraction_of_roofline; }},
      {"recon_rel_l2", "1", "lower", [](const P& r) { return r.recon_rel_l2; }},
      {"recon_max_abs", "1", "lower", [](const P& r) { return r.recon_max_abs; }},
      {"tokens_per_s", "tokens/s", "higher", [](const P& r) { return r.tokens_per_s; }},
      {"append_ms", "ms/token", "lower", [](const P& r) { return r.append_ms; }},
      {"attention_ms", "ms/token", "lower", [](const P& r) { return r.attention_ms; }},
      {"weights_ms", "ms/token", "lower", [](const P& r) { return r.weights_ms; }},
      {"attention_GBps", "GB/s", "higher", [](const P& r) { return r.attention_GBps; }},
      {"attention_fraction_of_read", "1", "higher", [](const P& r) { return r.attention_fraction_of_read; }},
      {"weights_GBps", "GB/s", "higher", [](const P& r) { return r.weights_GBps; }},
      {"attention_rel_err", "1", "lower", [](const P& r) { return r.attention_rel_err; }},
      {"attention_comm_ms", "ms/token", "lower", [](const P& r) { return r.attention_comm_ms; }},
      {"prefill_ms", "ms/chunk", "lower", [](const P& r) { return r.prefill_ms; }},
      {"prefill_TFLOPs", "TFLOP/s", "higher", [](const P& r) { return r.prefill_TFLOPs; }},
      {"gemm_TFLOPs", "TFLOP/s", "none", [](const P& r) { return r.gemm_TFLOPs; }},
      {"prefill_fraction_of_gemm", "1", "higher", [](const P& r) { return r.prefill_fraction_of_gemm; }},
      {"prefill_rel_err", "1", "lower", [](const P& r) { return r.prefill_rel_err; }},
      {"fill_spread", "1", "lower", [](const P& r) { return spread_of(r.fill_seconds); }},
      {"retrieve_spread", "1", "lower", [](const P& r) { return spread_of(r.retrieve_seconds); }},
      {"decode_spread", "1", "lower", [](const P& r) { return spread_of(r.decode_seconds); }},
      {"prefill_spread", "1", "lower", [](const P& r) { return spread_of(r.prefill_seconds); }},
  };
  for (const TimedMetric& m : timed_metrics()) {
    const char* better = m.rate ? "higher" : "lower";
    v.push_back({std::string(m.name) + "_min", m.units, better, [m](const P& r) { return timed_range(m, r).min; }});
    v.push_back({std::string(m.name) + "_max", m.units, better, [m](const P& r) { return timed_range(m, r).max; }});
  }
  return v;
}

template <class T>
const Column<T>* find(const std::vector<Column<T>>& cols, const std::string& name) {
  for (const auto& c : cols)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace

const std::vector<Column<I>>& int_columns() {
  static const std::vector<Column<I>> v{
      {"point", "1", "none", [](const P& r) { return r.point; }},
      {"positions", "positions", "none", [](const P& r) { return r.config.fill.positions; }},
      {"max_positions", "positions", "none", [](const P& r) { return r.config.cache.max_positions; }},
      {"capacity", "positions", "none", [](const P& r) { return r.capacity; }},
      {"batch", "sequences", "none", [](const P& r) { return r.config.batch; }},
      {"appended_positions", "positions", "none", [](const P& r) { return r.appended_positions; }},
      {"valid_positions", "positions", "none", [](const P& r) { return r.valid_positions; }},
      {"evicted_positions", "positions", "none", [](const P& r) { return r.evicted_positions; }},
      {"layers", "1", "none", [](const P& r) { return r.config.model.layers; }},
      {"heads", "1", "none", [](const P& r) { return r.config.model.heads; }},
      {"kv_heads", "1", "none", [](const P& r) { return r.config.model.kv_heads; }},
      {"head_dim", "1", "none", [](const P& r) { return r.config.model.head_dim; }},
      {"page_size", "positions", "none", [](const P& r) { return r.config.cache.layout == LayoutKind::paged ? r.config.cache.page_size : I(0); }},
      {"chunk", "positions", "none", [](const P& r) { return r.config.fill.mode == FillMode::chunk ? r.config.fill.chunk : I(0); }},
      {"kv_cache_bytes", "bytes", "lower", [](const P& r) { return r.kv_cache_bytes; }},
      {"bytes_per_position", "bytes", "lower", [](const P& r) { return r.bytes_per_position; }},
      {"device_memory_used_bytes", "bytes", "lower", [](const P& r) { return r.device_memory_used_bytes; }},
      {"fill_bytes", "bytes", "none", [](const P& r) { return r.fill_bytes; }},
      {"retrieve_bytes", "bytes", "none", [](const P& r) { return r.retrieve_bytes; }},
      {"fill_read_bytes", "bytes", "none", [](const P& r) { return r.fill_read_bytes; }},
      {"retrieve_read_bytes", "bytes", "none", [](const P& r) { return r.retrieve_read_bytes; }},
      {"verified", "1", "higher", [](const P& r) { return I(r.verified ? 1 : 0); }},
      {"decode_tokens", "tokens", "none", [](const P& r) { return r.config.decode_tokens; }},
      {"attention_bytes", "bytes", "none", [](const P& r) { return r.attention_bytes; }},
      {"attention_splits", "1", "none", [](const P& r) { return r.attention_splits; }},
      {"prefill_chunk", "positions", "none", [](const P& r) { return r.config.prefill_chunk; }},
      {"rank", "1", "none", [](const P& r) { return r.rank; }},
      {"context_shards", "1", "none", [](const P& r) { return r.shards; }},
      {"per_rank_cache_bytes", "bytes", "lower", [](const P& r) { return r.per_rank_cache_bytes; }},
      {"weight_bytes", "bytes", "none", [](const P& r) { return r.config.model.weight_bytes; }},
  };
  return v;
}

const std::vector<Column<double>>& real_columns() {
  static const std::vector<Column<double>> v = make_real_columns();
  return v;
}

const std::vector<Column<std::string>>& text_columns() {
  static const std::vector<Column<std::string>> v{
      {"dtype", "", "none", [](const P& r) { return std::string(codec::name(r.config.cache.dtype)); }},
      {"layout", "", "none", [](const P& r) { return std::string(layout_name(r.config.cache.layout)); }},
      {"policy", "", "none", [](const P& r) { return std::string(policy_name(r.config.cache.policy)); }},
      {"fill_mode", "", "none", [](const P& r) { return std::string(fill_mode_name(r.config.fill.mode)); }},
      {"retrieve_output", "", "none", [](const P& r) { return std::string(codec::name(r.config.retrieve.output)); }},
      {"lengths", "", "none", [](const P& r) { return r.config.lengths_spec; }},
      {"attention_kernel", "", "none", [](const P& r) { return r.attention_kernel; }},
      {"sweep", "", "none", sweep_label},
      {"ceiling_exceeded", "", "none", [](const P& r) { return r.ceiling_exceeded; }},
  };
  return v;
}

std::string units_of(const std::string& name) {
  if (const auto* c = find(int_columns(), name)) return c->units;
  if (const auto* c = find(real_columns(), name)) return c->units;
  return "";
}

std::string better_of(const std::string& name) {
  if (const auto* c = find(int_columns(), name)) return c->better;
  if (const auto* c = find(real_columns(), name)) return c->better;
  if (const auto* c = find(text_columns(), name)) return c->better;
  return "none";
}

}  // namespace kvsim
