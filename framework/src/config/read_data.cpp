// The `data:` mapping (docs/data.md): which values a point runs on, and the structured kind's
// parameters, which apply to it alone.
#include "config/read_point.hpp"
#include "experiment/recorded_data.hpp"
#include "kvsim/core/error.hpp"

namespace kvsim {
namespace config_detail {

void read_data(const MapReader& top, ExperimentConfig& c) {
  const MapReader data = top.map("data", keys_data());
  read_keys_data(data, c.data, false, {});
  for (const std::string& key : keys_data()) {
    if (key == "kind" || !data.has(key)) continue;
    const DataKind applies = key == "file" ? DataKind::recorded : DataKind::structured;
    if (c.data.kind != applies)
      data.source().fail(data.required(key), "data." + key, std::string("only applies to data.kind: ") + data_kind_name(applies));
  }
  if (c.data.kind == DataKind::recorded && c.data.file.empty())
    data.source().fail(data.has("file") ? data.required("file") : data.node(), "data.file", "required for data.kind: recorded");
}

// After the model is known: the outlier channels are whole RoPE pairs of a head; a recorded
// file has the model's shape.
void check_data(const MapReader& top, const ExperimentConfig& c) {
  if (c.data.kind == DataKind::uniform || !top.has("data")) return;
  const MapReader data = top.map("data", keys_data());
  if (c.data.kind == DataKind::recorded) {
    try {
      read_recorded(c.data.file, c.model, false);
    } catch (const InputError& e) {
      data.source().fail(data.required("file"), "data.file", e.what());
    }
    return;
  }
  const std::int64_t n = c.data.outlier_channels;
  if (n % 2 != 0 || n >= c.model.head_dim)
    data.source().fail(data.has("outlier_channels") ? data.required("outlier_channels") : data.node(), "data.outlier_channels",
                       "must be even and below model.head_dim (" + std::to_string(c.model.head_dim) + "), got " + std::to_string(n));
}

}  // namespace config_detail

DataSource data_source(const ExperimentConfig& c) {
  DataSource d;
  d.kind = c.data.kind;
  d.head_dim = std::int32_t(c.model.head_dim);
  d.outlier_channels = std::int32_t(c.data.outlier_channels);
  d.outlier_scale = float(c.data.outlier_scale);
  d.rope_base = float(c.data.rope_base);
  d.sinks = std::int32_t(c.data.sinks);
  d.sink_logit = float(c.data.sink_logit);
  d.heavy_every = std::int32_t(c.data.heavy_every);
  d.heavy_logit = float(c.data.heavy_logit);
  d.temperature = float(c.data.temperature_pct) / 100.0f;
  d.query_noise = float(c.data.query_noise_pct) / 100.0f;
  d.recorded_heads = std::int32_t(c.model.heads);
  d.recorded_kv_heads = std::int32_t(c.model.kv_heads);
  return d;
}

}  // namespace kvsim
