// workload:, parallel: and one whole point (config/keys.hpp declares their keys).
#include <algorithm>
#include <charconv>
#include <limits>
#include <type_traits>

#include "config/read_point.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"
#include "kvsim/core/synthetic.hpp"

namespace kvsim::config_detail {

namespace {

// A GPU-only kernel named in a host build: validate's note (LoadOptions::any_build).
void note_gpu_only(const LoadOptions& options, const std::string& key, const std::string& kernel) {
  const std::string note = key + ": '" + kernel + "' checked as a GPU build checks it; it needs a GPU build to run (this one runs on the host)";
  if (options.gpu_notes && std::find(options.gpu_notes->begin(), options.gpu_notes->end(), note) == options.gpu_notes->end())
    options.gpu_notes->push_back(note);
}

void read_decode(const MapReader& w, ExperimentConfig& c, const LoadOptions& options) {
  const Source& src = w.source();
  const MapReader dec = w.map("decode", keys_decode());
  read_keys_decode(dec, c);
  const AttentionKernel kernel = c.decode_kernel;
  const std::string kernel_name = attention_kernel_name(kernel);
  constexpr bool host_build = std::is_same<DefaultMemSpace, HostMemSpace>::value;
  const bool gpu = !host_build || options.any_build;
  const int bits = int(codec::data_bytes(c.cache.dtype, 8));
  const std::int64_t group = c.model.heads / c.model.kv_heads;
  if (host_build && gpu && !attention_kernel_covers(kernel, bits, c.model.head_dim, group, false) &&
      attention_kernel_covers(kernel, bits, c.model.head_dim, group, true))
    note_gpu_only(options, "workload.decode.kernel", kernel_name);
  if (!attention_kernel_covers(kernel, bits, c.model.head_dim, group, gpu))
    src.fail(dec.required("kernel"), "workload.decode.kernel",
             !gpu && kernel != AttentionKernel::serial
                 ? "'" + kernel_name + "' needs a GPU build; this one runs on the host (use auto or serial)"
                 : "'" + kernel_name + "' does not cover head_dim " + std::to_string(c.model.head_dim) + " of " +
                       codec::name(c.cache.dtype) + " with " + std::to_string(c.model.heads / c.model.kv_heads) +
                       " query heads per KV head");
  // Sequences of different lengths generate together (each token appends every sequence's next
  // position); h2o's step evicts at one position for the whole batch.
  if (w.has("lengths") && c.decode_tokens > 0 && c.cache.policy == PolicyKind::h2o)
    src.fail(w.required("lengths"), "workload.lengths",
             "policy h2o generates tokens over sequences of one length: give workload.fill.positions");
  if (c.cache.max_positions == kMaxContext)
    src.fail(dec.required("tokens"), "workload.decode.tokens", "needs an explicit cache.max_positions");
}

void read_prefill(const MapReader& w, ExperimentConfig& c, bool positions_given, const LoadOptions& options) {
  const Source& src = w.source();
  const MapReader pre = w.map("prefill", keys_prefill());
  read_keys_prefill(pre, c);
  const auto at = pre.required("chunk");
  if (w.has("lengths"))
    src.fail(at, "workload.prefill.chunk", "prefill attention runs sequences of one length: give workload.fill.positions, not workload.lengths");
  if (c.cache.max_positions == kMaxContext) src.fail(at, "workload.prefill.chunk", "needs an explicit cache.max_positions");
  const std::int64_t context = (positions_given ? c.fill.positions : c.cache.max_positions) + c.decode_tokens;
  const std::int64_t capacity = resolved_capacity(c);
  if (context > capacity)
    src.fail(at, "workload.prefill.chunk",
             "prefill attention needs the whole context in the cache: " + std::to_string(context) +
                 " positions (fill + decode) but the policy keeps " + std::to_string(capacity));
  if (c.retrieve.mode == RetrieveMode::none)
    src.fail(at, "workload.prefill.chunk", "prefill attention reads the dense retrieve: workload.retrieve.mode none turns it off");
  if (c.prefill_chunk > context)
    src.fail(at, "workload.prefill.chunk",
             "chunk " + std::to_string(c.prefill_chunk) + " is longer than the context (" + std::to_string(context) + ")");
  // The compute capability is only known on the device (PrefillAttention::resolve refuses there).
  constexpr bool host_build = std::is_same<DefaultMemSpace, HostMemSpace>::value;
  const bool gpu = !host_build || options.any_build;
  if (host_build && gpu && c.prefill_kernel == PrefillKernel::flash &&
      prefill_flash_covers(c.model.head_dim, c.model.heads, c.model.kv_heads, true))
    note_gpu_only(options, "workload.prefill.kernel", "flash");
  if (c.prefill_kernel == PrefillKernel::flash && !prefill_flash_covers(c.model.head_dim, c.model.heads, c.model.kv_heads, gpu))
    src.fail(pre.required("kernel"), "workload.prefill.kernel",
             !gpu ? "'flash' needs a GPU build; this one runs on the host (use auto or gemm)"
                  : "'flash' covers head_dim 64 and 128, not " + std::to_string(c.model.head_dim) + " (use auto or gemm)");
}

void read_lengths(const MapReader& w, ExperimentConfig& c) {
  const Source& src = w.source();
  const YAML::Node l = w.required("lengths");
  if (l.IsSequence()) {
    if (std::int64_t(l.size()) != c.batch)
      src.fail(l, "workload.lengths", "lists " + std::to_string(l.size()) + " lengths for batch " + std::to_string(c.batch));
    for (std::size_t i = 0; i < l.size(); ++i) {
      const YAML::Node v = l[i];
      const std::string key = "workload.lengths[" + std::to_string(i) + "]";
      std::int64_t n = 0;
      const std::string s = v.IsScalar() ? v.Scalar() : std::string();
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (!v.IsScalar() || v.Tag() == "!" || ec != std::errc() || end != s.data() + s.size() || n < 1 ||
          n > (std::int64_t(1) << 40))
        src.fail(v, key, "expected a positive integer, got " + describe(v));
      c.lengths.push_back(n);
    }
    c.lengths_spec = "list";
  } else {
    const MapReader d = w.map("lengths", keys_lengths());
    d.choice("distribution", {"uniform"});
    const std::int64_t lo = d.integer("min", 1, std::int64_t(1) << 40);
    const std::int64_t hi = d.integer("max", lo, std::int64_t(1) << 40);
    for (std::int64_t s = 0; s < c.batch; ++s)
      c.lengths.push_back(lo + std::int64_t(synthetic::mix64(c.seed ^ 0x4c454e475448ULL ^ std::uint64_t(s)) %
                                            std::uint64_t(hi - lo + 1)));
    c.lengths_spec = "uniform " + std::to_string(lo) + ".." + std::to_string(hi);
  }
}

}  // namespace

void read_workload(const MapReader& top, ExperimentConfig& c, const LoadOptions& options) {
  const Source& src = top.source();
  c.fill = FillSpec{};
  c.fill.positions = c.cache.max_positions;
  c.retrieve = RetrieveSpec{};
  bool positions_given = false;
  std::optional<MapReader> w;
  if (top.has("workload")) w.emplace(top.map("workload", keys_workload()));
  if (w && w->has("fill")) {
    const MapReader f = w->map("fill", keys_fill());
    read_keys_fill(f, c.fill, false, [&](const std::string& key) {
      if (key != "positions") return;
      positions_given = f.has("positions");
      if (positions_given) c.fill.positions = f.integer("positions", 1, std::int64_t(1) << 40);
    });
    if (f.has("chunk") && c.fill.mode != FillMode::chunk)
      src.fail(f.required("chunk"), "workload.fill.chunk", "only applies to fill.mode chunk");
    if (c.cache.policy == PolicyKind::h2o && c.fill.mode != FillMode::token)
      src.fail(f.required("mode"), "workload.fill.mode", "policy h2o evicts one position per step: use mode token");
  }
  if (w && w->has("retrieve")) {
    const MapReader r = w->map("retrieve", keys_retrieve());
    read_keys_retrieve(r, c.retrieve, false, [&](const std::string& key) {
      if (key != "verify") return;
      const bool retrieves = c.retrieve.mode != RetrieveMode::none;
      c.retrieve.verify = r.boolean("verify", retrieves);
      if (c.retrieve.verify && !retrieves)
        src.fail(r.required("verify"), "workload.retrieve.verify", "nothing is retrieved to verify with mode: none");
    });
  }
  if (w) read_keys_workload(*w, c);
  if (w && w->has("decode")) read_decode(*w, c, options);
  if (w && w->has("prefill")) read_prefill(*w, c, positions_given, options);
  c.lengths_follow_capacity = !positions_given && c.cache.max_positions == kMaxContext;
  if (w && w->has("lengths")) {
    if (positions_given)
      src.fail(w->required("lengths"), "workload.lengths", "give either workload.lengths or workload.fill.positions");
    read_lengths(*w, c);
    c.lengths_follow_capacity = false;
    c.fill.positions = *std::max_element(c.lengths.begin(), c.lengths.end());
  } else {
    c.lengths.assign(c.batch, c.fill.positions);
    c.lengths_spec = "fill.positions";
  }
}

void read_parallel(const MapReader& top, ExperimentConfig& c) {
  if (!top.has("parallel")) return;
  const Source& src = top.source();
  const MapReader par = top.map("parallel", keys_parallel());
  read_keys_parallel(par, c);
  if (!par.has("context_shards")) return;
  const YAML::Node at = par.required("context_shards");
  c.context_shards_origin = src.file + ":" + std::to_string(at.Mark().line + 1);
  if (const auto o = src.overrides.find("parallel.context_shards"); o != src.overrides.end()) c.context_shards_origin = o->second;
  if (c.context_shards == 1) return;
  const std::string key = "parallel.context_shards";
  if (c.cache.policy != PolicyKind::ring)
    src.fail(at, key, std::string("context shards split a ring cache that never wraps; cache.policy is ") + policy_name(c.cache.policy));
  if (c.cache.max_positions == kMaxContext) src.fail(at, key, "needs an explicit cache.max_positions");
  if (c.lengths_spec != "fill.positions") src.fail(at, key, "shards split sequences of one length: give workload.fill.positions, not workload.lengths");
  if (c.fill.positions + c.decode_tokens > c.cache.max_positions)
    src.fail(at, key, "the cache must hold the whole context: fill.positions + decode.tokens = " +
                          std::to_string(c.fill.positions + c.decode_tokens) + " > cache.max_positions = " +
                          std::to_string(c.cache.max_positions));
  if (c.fill.positions < c.context_shards)
    src.fail(at, key, std::to_string(c.context_shards) + " shards but only " + std::to_string(c.fill.positions) + " positions");
  if (c.prefill_chunk > 0) src.fail(at, key, "prefill attention is not sharded: drop workload.prefill");
}

ExperimentConfig read_point(const std::string& path, const YAML::Node& root, const Source& src, const LoadOptions& options) {
  const MapReader top(src, root, "", keys_top());
  ExperimentConfig c;
  c.source_file = path;
  read_keys_top(top, c, false, [&](const std::string& key) {
    if (key == "name") {
      if (!valid_name(c.name)) src.fail(top.required("name"), "name", "use letters, digits, '-', '_' and '.' only, got '" + clip(c.name) + "'");
    } else if (key == "model") {
      c.model = read_model(top, preset_search_path(path, options));
    } else if (key == "cache") {
      read_cache(top, c);
    } else if (key == "workload") {
      read_workload(top, c, options);
    } else if (key == "parallel") {
      read_parallel(top, c);
    } else if (key == "data") {
      if (top.has("data")) read_data(top, c);
    } else if (key == "run") {
      if (top.has("run")) read_keys_run(top.map("run", keys_run()), c.run);
    } else if (key == "output") {
      c.output = top.text("output", "results/" + c.name + ".h5");
      // Never meant in a path, and yaml-cpp keeps a carriage return that ends the file in a plain
      // scalar but writes it back unquoted, so to_yaml would not load back to the same path.
      if (std::any_of(c.output.begin(), c.output.end(), [](char ch) { return std::iscntrl(static_cast<unsigned char>(ch)); }))
        src.fail(top.required("output"), "output", "must not contain control characters, got '" + clip(c.output) + "'");
    }
  });

  check_data(top, c);
  if (c.cache.max_positions != kMaxContext) {
    // Elements of the largest allocation must fit comfortably in int64.
    const long double elements = static_cast<long double>(c.model.layers) * 2 * c.cache.max_positions * c.batch *
                                 c.model.kv_heads * c.model.head_dim;
    if (elements > static_cast<long double>(std::numeric_limits<std::int64_t>::max() / 8))
      src.fail(root["cache"]["max_positions"], "cache.max_positions", "cache of this size is not addressable");
    if (c.cache.layout == LayoutKind::paged && c.cache.pool_pages > 0) {
      std::int64_t need = 0;
      const std::int64_t cap = resolved_capacity(c);
      // Every sequence also holds the positions token generation appends.
      for (std::int64_t len : c.lengths)
        need += (std::min(len + c.decode_tokens, cap) + c.cache.page_size - 1) / c.cache.page_size;
      if (need > c.cache.pool_pages)
        src.fail(root["cache"]["pool_pages"], "cache.pool_pages",
                 "the batch needs " + std::to_string(need) + " pages of " + std::to_string(c.cache.page_size) +
                     " positions, the pool has " + std::to_string(c.cache.pool_pages));
    }
  }
  return c;
}

}  // namespace kvsim::config_detail
