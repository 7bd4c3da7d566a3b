// model: and cache: (config/keys.hpp declares their keys).
#include <algorithm>
#include <filesystem>

#include "config/read_point.hpp"
#include "kvsim/core/synthetic.hpp"

namespace kvsim::config_detail {

namespace fs = std::filesystem;

ModelShape read_model(const MapReader& top, const std::vector<std::string>& preset_dirs) {
  const MapReader m = top.map("model", keys_model());
  ModelShape shape;
  if (m.has("preset")) {
    shape.preset = m.text("preset");
    if (!valid_name(shape.preset))
      m.source().fail(m.required("preset"), "model.preset", "preset names use letters, digits, '-', '_' and '.'");
    std::string found;
    std::vector<std::string> known;
    for (const auto& dir : preset_dirs) {
      const fs::path candidate = fs::path(dir) / (shape.preset + ".yaml");
      std::error_code ec;
      if (found.empty() && fs::is_regular_file(candidate, ec)) found = candidate.string();
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.path().extension() == ".yaml") known.push_back(entry.path().stem().string());
      }
    }
    if (found.empty()) {
      std::sort(known.begin(), known.end());
      known.erase(std::unique(known.begin(), known.end()), known.end());
      m.source().fail(m.required("preset"), "model.preset",
                      "unknown preset '" + clip(shape.preset) + "'; known: " + (known.empty() ? "none found in " + join(preset_dirs) : join(known)));
    }
    Source preset_src{found, {}};
    const YAML::Node doc = parse_yaml_text(found, read_config_text(found));
    // A preset file holds the model keys but `preset`, and its name and description.
    std::vector<std::string> preset_keys = keys_model();
    preset_keys.erase(std::find(preset_keys.begin(), preset_keys.end(), "preset"));
    preset_keys.insert(preset_keys.end(), {"name", "description"});
    const MapReader p(preset_src, doc, "", preset_keys);
    if (p.has("name") && p.text("name") != shape.preset)
      preset_src.fail(p.required("name"), "name", "preset file name says '" + p.text("name") + "' but is stored as '" + shape.preset + ".yaml'");
    read_keys_model(p, shape);
    read_keys_model(m, shape, true);  // inline keys refine a preset
  } else {
    read_keys_model(m, shape);
  }
  const YAML::Node at = m.node();
  if (shape.kv_heads > shape.heads)
    m.source().fail(at, "model.kv_heads", "must not exceed model.heads (" + std::to_string(shape.heads) + "), got " + std::to_string(shape.kv_heads));
  if (shape.heads % shape.kv_heads != 0)
    m.source().fail(at, "model.kv_heads", "must divide model.heads (" + std::to_string(shape.heads) + "), got " + std::to_string(shape.kv_heads));
  if (shape.head_dim % 4 != 0)
    m.source().fail(at, "model.head_dim", "must be a multiple of 4 (16-byte vector access), got " + std::to_string(shape.head_dim));
  return shape;
}

namespace {

#define KVSIM_COPY_TO_DESIGN(field, ...) d.field = k.field;
CacheDesign design_of_cache(const CacheSpec& k) {
  CacheDesign d;
  KVSIM_KEYS_cache(KVSIM_COPY_TO_DESIGN)
  return d;
}
#undef KVSIM_COPY_TO_DESIGN

// The capacity rule is the cache's (CacheDesign::capacity); the config asks it, never re-derives it.
std::int64_t policy_capacity(const CacheSpec& k, std::int64_t max_positions) {
  CacheDesign d = design_of_cache(k);
  d.max_positions = max_positions;
  return d.capacity();
}

// The per-policy sizes (window, sinks, heavy, recent): their defaults and bounds depend on
// max_positions and on each other.
void read_policy_sizes(const MapReader& cache, ExperimentConfig& c) {
  const Source& src = cache.source();
  CacheSpec& k = c.cache;
  const std::string policy = policy_name(k.policy);
  // Each policy's keys come from its file (policy/<name>.hpp): any other policy refuses them.
  for (PolicyKind p : all_policies())
    for (std::string_view key_view : policy_keys(p)) {
      const std::string key(key_view);
      if (cache.has(key) && !policy_uses_key(k.policy, key))
        src.fail(cache.required(key), "cache." + key, "does not apply to policy " + policy);
    }
  const bool is_max = k.max_positions == kMaxContext;
  if (is_max && k.policy != PolicyKind::ring && !(k.policy == PolicyKind::window && !cache.has("window")))
    src.fail(cache.required("max_positions"), "cache.max_positions", "'max' works with policy ring, or window without an explicit window");
  const std::int64_t cap = is_max ? kMaxPositions : k.max_positions;
  const auto bounded = [&](const char* key, std::int64_t lo, std::int64_t fallback) {
    return cache.integer(key, lo, cap, fallback);
  };
  if (k.policy == PolicyKind::window) {
    const std::int64_t dflt = c.model.sliding_window > 0 && c.model.sliding_window <= cap ? c.model.sliding_window : cap;
    k.window = is_max ? 0 : bounded("window", 1, dflt);
  } else if (k.policy == PolicyKind::sinks) {
    k.sinks = cache.integer("sinks", 1, cap - 1);
    k.window = bounded("window", 1, cap - k.sinks);
    if (k.sinks >= k.window)
      src.fail(cache.required("sinks"), "cache.sinks", "must be smaller than cache.window (" + std::to_string(k.window) + ")");
    if (policy_capacity(k, cap) > cap)
      src.fail(cache.node(), "cache.window", "sinks + window (" + std::to_string(policy_capacity(k, cap)) +
                                                 ") exceed cache.max_positions (" + std::to_string(cap) + ")");
  } else if (k.policy == PolicyKind::h2o) {
    k.recent = bounded("recent", 1, std::max<std::int64_t>(1, cap / 2));
    k.heavy = bounded("heavy", 1, cap - k.recent);
    if (k.heavy < 1)
      src.fail(cache.node(), "cache.heavy", "h2o needs at least one heavy-hitter slot (max_positions > recent)");
    if (policy_capacity(k, cap) > cap)
      src.fail(cache.node(), "cache.heavy", "heavy + recent (" + std::to_string(policy_capacity(k, cap)) +
                                                ") exceed cache.max_positions (" + std::to_string(cap) + ")");
  }
}

}  // namespace

void read_cache(const MapReader& top, ExperimentConfig& c) {
  const MapReader cache = top.map("cache", keys_cache());
  const Source& src = cache.source();
  CacheSpec& k = c.cache;
  read_keys_cache(cache, k, false, [&](const std::string& key) {
    if (key == "max_positions") {
      const YAML::Node mp = cache.required("max_positions");
      if (mp.IsScalar() && mp.Tag() != "!" && mp.Scalar() == "max") {
        k.max_positions = kMaxContext;
      } else {
        k.max_positions = cache.integer("max_positions", 1, kMaxPositions);
      }
    } else if (key == "page_size") {
      if (k.page_size & (k.page_size - 1))
        src.fail(cache.required("page_size"), "cache.page_size", "must be a power of two, got " + std::to_string(k.page_size));
      if (cache.has("page_size") && k.layout != LayoutKind::paged)
        src.fail(cache.required("page_size"), "cache.page_size", "only applies to layout: paged");
    } else if (key == "pool_pages") {
      if (cache.has("pool_pages") && k.layout != LayoutKind::paged)
        src.fail(cache.required("pool_pages"), "cache.pool_pages", "only applies to layout: paged");
    } else if (key == "policy") {
      // A codec unit (16 bytes of storage; a 32-value scale group for int8/int4) never spans heads.
      const int unit = codec::unit_values(k.dtype);
      if (c.model.head_dim % unit != 0)
        src.fail(cache.required("dtype"), "cache.dtype",
                 std::string(codec::name(k.dtype)) + " stores head_dim in units of " + std::to_string(unit) +
                     " values, but head_dim is " + std::to_string(c.model.head_dim));
    }
  });
  read_policy_sizes(cache, c);
}

std::int64_t resolved_capacity(const ExperimentConfig& c) { return policy_capacity(c.cache, c.cache.max_positions); }

}  // namespace kvsim::config_detail

namespace kvsim {

CacheDesign cache_design(const ExperimentConfig& c) {
  CacheDesign d = config_detail::design_of_cache(c.cache);
  d.data = data_source(c);
  d.layers = c.model.layers;
  d.heads = c.model.heads;
  d.kv_heads = c.model.kv_heads;
  d.head_dim = c.model.head_dim;
  d.batch = c.batch;
  return d;
}

}  // namespace kvsim
