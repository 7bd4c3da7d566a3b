#pragma once
// Every config key, declared once. Each mapping of the YAML is one list; each line of a list is
//   X(field, type, key, read, lo, hi, init, emit, dflt, applies, doc)
//   field    the struct member (declared by this line: config.hpp expands the lists)
//   type     config_type::<type> (key_types.hpp): i64 u64 text flag positions lengths mapping,
//            or a choice: dtype out_dtype layout policy fill_mode retrieve_mode kernel launch
//            prefill_kernel;
//            for read = section: the struct the mapping fills
//   key      the YAML key
//   read     req: must be given (model keys: unless a preset gives them); opt: `init` when
//            absent; custom: read by the section's code (config/read_*.cpp), which also holds
//            the cross-field rules; section: a mapping filling its own struct; inline: a mapping
//            whose keys live in the enclosing struct; raw: documented here, read by hand
//   lo, hi   the range of an integer (custom keys: the widest; their code narrows it)
//   init     the field's initial value, and the default of an `opt` key
//   emit     when the resolved config (to_yaml) writes the key: an expression of `c` (the
//            ExperimentConfig) and `v` (this field; not for mappings)
//   dflt     the default as docs state it ("": `init`, or "required")
//   applies  when the key applies, as docs state it (a key outside it is refused by the code)
//   doc      one line for docs/config-schema.md
// The order of a list is the order of "allowed:" in messages, of reading, and of to_yaml.
// Adding a key is one line here (plus the code that uses the value).

#define KVSIM_KEYS_top(X)                                                                                        \
  X(name, text, "name", req, 0, 0, {}, true, "", "", "the experiment's name: letters, digits, '-', '_' and '.'") \
  X(seed, u64, "seed", opt, 0, 0, 0, true, "", "", "seeds the synthetic K/V values and uniform lengths")         \
  X(data, DataSpec, "data", section, 0, 0, {}, c.data.kind != DataKind::uniform, "kind: uniform", "",                \
    "the K, V and query values (docs/data.md)")                                                                    \
  X(model, ModelShape, "model", section, 0, 0, {}, true, "", "", "a preset, or all four shape keys")             \
  X(cache, CacheSpec, "cache", section, 0, 0, {}, true, "", "", "the cache design")                              \
  X(workload, none, "workload", inline, 0, 0, {}, true, "", "", "what is filled, retrieved, decoded")            \
  X(parallel, none, "parallel", inline, 0, 0, {}, c.context_shards > 1, "", "", "how ranks split a point")       \
  X(run, RunSpec, "run", section, 0, 0, {}, true, "", "", "repetitions and probe sizes")                         \
  X(output, text, "output", custom, 0, 0, {}, true, "results/NAME.h5", "", "the result file; `kvsim run -o` overrides") \
  X(sweep, mapping, "sweep", raw, 0, 0, {}, false, "none", "", "dotted keys to lists: one point per combination") \
  X(zip, mapping, "zip", raw, 0, 0, {}, false, "none", "", "dotted keys to equal-length lists, paired: one more sweep axis")

// docs/data.md gives each default's source. Every key but kind and file applies to kind: structured only.
#define KVSIM_KEYS_data(X)                                                                                            \
  X(kind, data_kind, "kind", opt, 0, 0, DataKind::uniform, true, "", "",                                            \
    "uniform: a counter hash in [-1, 1); structured: outlier channels, RoPE, sinks, heavy hitters; recorded: data.file") \
  X(file, text, "file", opt, 0, 0, {}, c.data.kind == DataKind::recorded, "required", "kind: recorded",           \
    "HDF5 file of a model's K, V and queries, /layer_<l>/{k,v,q,positions}, tiled over the context")              \
  X(outlier_channels, i64, "outlier_channels", opt, 0, 4096, 4, true, "", "kind: structured",                      \
    "key dims (an even number, below head_dim) scaled by outlier_scale")                                           \
  X(outlier_scale, i64, "outlier_scale", opt, 1, 1000, 15, true, "", "kind: structured", "outlier channels' scale over the others") \
  X(rope_base, i64, "rope_base", opt, 2, std::int64_t(1) << 31, 10000, true, "", "kind: structured",               \
    "RoPE theta base (Llama 3: 500000)")                                                                            \
  X(sinks, i64, "sinks", opt, 0, 1 << 20, 4, true, "", "kind: structured", "first positions every query attends to") \
  X(sink_logit, i64, "sink_logit", opt, 0, 60, 8, true, "", "kind: structured", "a sink's score above an ordinary position's") \
  X(heavy_every, i64, "heavy_every", opt, 1, 1 << 20, 32, true, "", "kind: structured",                          \
    "one heavy-hitter position per block of this many")                                                            \
  X(heavy_logit, i64, "heavy_logit", opt, 0, 60, 6, true, "", "kind: structured",                                  \
    "a heavy hitter's largest score above an ordinary position's (its smallest: half)")                            \
  X(temperature_pct, i64, "temperature_pct", opt, 1, 100000, 100, true, "", "kind: structured",                    \
    "softmax temperature in percent: every score is divided by it / 100")                                         \
  X(query_noise_pct, i64, "query_noise_pct", opt, 0, 1000, 50, true, "", "kind: structured",                       \
    "per-query noise in the scores, percent of an ordinary position's spread")

#define KVSIM_KEYS_model(X)                                                                                           \
  X(preset, text, "preset", custom, 0, 0, {}, !v.empty(), "none", "", "configs/models/NAME.yaml; keys beside it refine it") \
  X(layers, i64, "layers", req, 1, synthetic::max_layers - 1, 0, true, "", "", "transformer layers")                \
  X(heads, i64, "heads", req, 1, synthetic::max_heads - 1, 0, true, "", "", "query heads")                          \
  X(kv_heads, i64, "kv_heads", req, 1, synthetic::max_heads - 1, 0, true, "", "", "K/V heads; divides heads")       \
  X(head_dim, i64, "head_dim", req, 4, 4096, 0, true, "", "", "a multiple of 4 and of the dtype's unit")            \
  X(sliding_window, i64, "sliding_window", opt, 0, kMaxPositions, 0, v > 0 || !c.model.preset.empty(), "", "",      \
    "the model's attention window (0: none); window's default")                                                    \
  X(weight_bytes, i64, "weight_bytes", opt, 0, std::int64_t(1) << 44, 0, v > 0 || !c.model.preset.empty(), "", "",  \
    "weights read once per generated token (0: none)")

#define KVSIM_KEYS_cache(X)                                                                                           \
  X(max_positions, positions, "max_positions", custom, 1, kMaxPositions, 0, true, "required", "",                   \
    "slots per sequence, or max: the largest that fits the device (policy ring, or window without window)")         \
  X(dtype, dtype, "dtype", req, 0, 0, codec::DType::fp32, true, "", "", "storage precision")                        \
  X(layout, layout, "layout", opt, 0, 0, LayoutKind::contiguous, true, "", "", "storage order of the rows")         \
  X(page_size, i64, "page_size", opt, 1, 1 << 16, 16, c.cache.layout == LayoutKind::paged, "", "layout: paged",     \
    "positions per page, a power of two")                                                                          \
  X(pool_pages, i64, "pool_pages", opt, 1, std::int64_t(1) << 31, 0, c.cache.layout == LayoutKind::paged && v > 0,  \
    "what the batch needs", "layout: paged", "pages in the shared pool")                                           \
  X(policy, policy, "policy", opt, 0, 0, PolicyKind::ring, true, "", "", "eviction policy")                         \
  X(window, i64, "window", custom, 1, kMaxPositions, 0,                                                            \
    (c.cache.policy == PolicyKind::window && v > 0) || c.cache.policy == PolicyKind::sinks,                        \
    "window: model.sliding_window or max_positions; sinks: max_positions - sinks", "policy: window, sinks",        \
    "recent positions kept")                                                                                       \
  X(sinks, i64, "sinks", custom, 1, kMaxPositions - 1, 0, c.cache.policy == PolicyKind::sinks, "required",          \
    "policy: sinks", "first positions kept for good; < window, sinks + window <= max_positions")                   \
  X(heavy, i64, "heavy", custom, 1, kMaxPositions, 0, c.cache.policy == PolicyKind::h2o, "max_positions - recent",   \
    "policy: h2o", "heavy-hitter slots")                                                                           \
  X(recent, i64, "recent", custom, 1, kMaxPositions, 0, c.cache.policy == PolicyKind::h2o, "max_positions / 2",     \
    "policy: h2o", "recent positions never evicted")

#define KVSIM_KEYS_workload(X)                                                                                        \
  X(batch, i64, "batch", opt, 1, kMaxBatch, 1, true, "", "", "sequences filled together")                             \
  X(lengths, lengths, "lengths", custom, 1, std::int64_t(1) << 40, {}, c.lengths_spec != "fill.positions",          \
    "fill.positions each", "instead of fill.positions", "one length per sequence, or a mapping (workload.lengths.*)") \
  X(fill, FillSpec, "fill", section, 0, 0, {}, true, "", "", "how the cache is filled")                             \
  X(retrieve, RetrieveSpec, "retrieve", section, 0, 0, {}, true, "", "", "the dense retrieve after the fill")       \
  X(decode, none, "decode", inline, 0, 0, {}, c.decode_tokens > 0, "", "", "token generation after the fill")       \
  X(prefill, none, "prefill", inline, 0, 0, {}, c.prefill_chunk > 0, "", "", "chunked prefill attention")

#define KVSIM_KEYS_lengths(X)                                                                                         \
  X(distribution, text, "distribution", raw, 0, 0, {}, false, "required", "lengths as a mapping", "uniform")        \
  X(min, i64, "min", raw, 1, std::int64_t(1) << 40, 0, false, "required", "lengths as a mapping", "shortest length") \
  X(max, i64, "max", raw, 1, std::int64_t(1) << 40, 0, false, "required", "lengths as a mapping", "longest length, >= min")

#define KVSIM_KEYS_fill(X)                                                                                            \
  X(mode, fill_mode, "mode", opt, 0, 0, FillMode::token, true, "", "",                                             \
    "token: one position of every layer and sequence per launch; chunk: `chunk` per launch; bulk: all at once")     \
  X(positions, i64, "positions", custom, 1, std::int64_t(1) << 40, 0,                                              \
    c.lengths_spec == "fill.positions" && !c.lengths_follow_capacity, "cache.max_positions",                       \
    "without workload.lengths", "every sequence's length")                                                         \
  X(chunk, i64, "chunk", opt, 1, 1 << 20, 256, c.fill.mode == FillMode::chunk, "", "mode: chunk", "positions per launch")

#define KVSIM_KEYS_retrieve(X)                                                                                        \
  X(mode, retrieve_mode, "mode", opt, 0, 0, RetrieveMode::per_layer, true, "", "",                                 \
    "per_layer: one op = one layer's K and V for every sequence, oldest first; none")                              \
  X(output, out_dtype, "output", opt, 0, 0, codec::DType::fp32, true, "", "", "the dense buffer's precision")       \
  X(verify, flag, "verify", custom, 0, 0, true, true, "true unless mode: none", "",                                \
    "check every retrieved value against the generator")

#define KVSIM_KEYS_decode(X)                                                                                          \
  X(decode_tokens, i64, "tokens", req, 1, 1 << 24, 0, true, "", "explicit max_positions; h2o: equal lengths",      \
    "tokens generated: one append of every sequence and layer + decode attention each")                           \
  X(decode_splits, i64, "splits", opt, 0, 1 << 16, 0, v > 0, "", "",                                                \
    "splits of the longest sequence's positions, each as long (0: kvsim picks)")                                   \
  X(decode_kernel, kernel, "kernel", opt, 0, 0, AttentionKernel::automatic, v != AttentionKernel::automatic, "", "", \
    "decode-attention kernel (mma, lane_groups, tiled: GPU builds)")                                                     \
  X(decode_launch, launch, "launch", opt, 0, 0, LaunchMode::graph, v != LaunchMode::graph, "", "",                 \
    "graph: a token's layers replayed from one CUDA graph (GPU builds); eager: launched one by one")

#define KVSIM_KEYS_prefill(X)                                                                                         \
  X(prefill_chunk, i64, "chunk", req, 1, std::int64_t(1) << 31, 0, true, "",                                       \
    "equal lengths, whole context cached, retrieve on", "causal attention of the last `chunk` positions, every layer") \
  X(prefill_kernel, prefill_kernel, "kernel", opt, 0, 0, PrefillKernel::automatic, v != PrefillKernel::automatic, "", "",  \
    "prefill-attention kernel: flash (fp16 tensor cores, fp32 sums; CUDA sm_80+, head_dim 64 or 128) or gemm (fp32 reference)")

#define KVSIM_KEYS_parallel(X)                                                                                        \
  X(context_shards, i64, "context_shards", opt, 1, 1 << 16, 1, true, "", "policy: ring",                           \
    "ranks that split every sequence's positions")

#define KVSIM_KEYS_run(X)                                                                                             \
  X(warmup, i64, "warmup", opt, 0, 1000, 1, true, "", "", "untimed repetitions first")                              \
  X(repetitions, i64, "repetitions", opt, 1, 100000, 5, true, "", "", "timed repetitions, median reported")         \
  X(copy_probe_mb, i64, "copy_probe_mb", opt, 1, 65536, 1024, true, "", "", "size of the copy bandwidth probe (MiB)") \
  X(stage_mb, i64, "stage_mb", opt, 1, 1 << 20, 512, true, "", "", "staging budget of token and chunk fills (MiB)")

// The mappings: X(list, struct the keys fill, dotted path, that struct from `c`, the key to_yaml
// writes last or nullptr). Result files store to_yaml's text, so its order stays what it was
// before this table: workload.retrieve after decode and prefill.
#define KVSIM_CONFIG_SECTIONS(X)                                       \
  X(top, ExperimentConfig, "", c, nullptr)                             \
  X(data, DataSpec, "data", c.data, nullptr)                           \
  X(model, ModelShape, "model", c.model, nullptr)                      \
  X(cache, CacheSpec, "cache", c.cache, nullptr)                       \
  X(workload, ExperimentConfig, "workload", c, "retrieve")             \
  X(lengths, ExperimentConfig, "workload.lengths", c, nullptr)         \
  X(fill, FillSpec, "workload.fill", c.fill, nullptr)                  \
  X(retrieve, RetrieveSpec, "workload.retrieve", c.retrieve, nullptr)  \
  X(decode, ExperimentConfig, "workload.decode", c, nullptr)           \
  X(prefill, ExperimentConfig, "workload.prefill", c, nullptr)         \
  X(parallel, ExperimentConfig, "parallel", c, nullptr)                \
  X(run, RunSpec, "run", c.run, nullptr)
