"""Writers for schema-conformant kvsim files and for each kind of bad input.

The expected values live here so tests compare the loaded data against exactly
what was written.
"""

import os
import shutil
import zlib

import h5py
import numpy as np

STR = h5py.string_dtype()  # variable-length UTF-8, as kvsim writes

CONFIG_YAML = "model:\n  layers: 32\n  kv_heads: 8\n  head_dim: 128\ncache:\n  policy: ring\n"

ROOT = {
    "kvsim_schema": np.int64(1),
    "kvsim_version": "0.1.0",
    "git_sha": "3f2a9c1e-dirty",
    "backend": "Cuda",
    "device": "NVIDIA H100 80GB HBM3",
    "kokkos_version": "3.4.1",
    "config": CONFIG_YAML,
    "config_file": "/home/jörg/configs/llama-8b.yaml",  # non-ASCII on purpose
    "command_line": "kvsim run --config llama-8b.yaml --out r.h5",
    "created": "2026-11-27T12:00:00Z",
    "finished": "2026-11-27T12:03:41Z",
    "copy_GBps": np.float64(2876.5432109),
    "complete": np.int64(1),
}

# column -> (values, dtype, units), in schema order
SUMMARY = {
    "point": ([0, 1], np.int64, "1"),
    "positions": ([4096, 16384], np.int64, "positions"),
    "max_positions": ([8192, 8192], np.int64, "positions"),
    "valid_positions": ([4096, 8192], np.int64, "positions"),
    "layers": ([32, 32], np.int64, "1"),
    "heads": ([32, 32], np.int64, "1"),
    "kv_heads": ([8, 8], np.int64, "1"),
    "head_dim": ([128, 128], np.int64, "1"),
    "dtype": (["fp32", "fp32"], STR, ""),
    "layout": (["contiguous", "contiguous"], STR, ""),
    "policy": (["ring", "ring"], STR, ""),
    "fill_positions_per_s": ([2335912.734, 2410003.5], np.float64, "positions/s"),
    "fill_GBps": ([612.3456789, 631.7662], np.float64, "GB/s"),
    "retrieve_ops_per_s": ([18244.25, 9311.0625], np.float64, "ops/s"),
    "retrieve_GBps": ([2403.918, 2441.2207], np.float64, "GB/s"),
    "retrieve_fraction_of_copy": ([0.8357, 0.84866], np.float64, "1"),
    "kv_cache_bytes": ([2147483648, 2147483648], np.int64, "bytes"),
    "device_memory_used_bytes": ([3019898880, 3021996032], np.int64, "bytes"),
    "verified": ([1, 1], np.int64, "1"),
    "checksum": ([0xD1B54A32D192ED03, 0x0123456789ABCDEF], np.uint64, "1"),
}

POINTS = {
    0: {"fill_seconds": [0.0017535, 0.0017541, 0.0017529], "retrieve_seconds": [0.0017540, 0.0017561, 0.0017533]},
    1: {"fill_seconds": [0.0067985, 0.0068001, 0.0067990], "retrieve_seconds": [0.0034369, 0.0034358, 0.0034371]},
}


def write_valid(path):
    return write_kvsim(path, SUMMARY, ROOT, POINTS)


def _write_root_and_summary(f, root, summary_columns, better=None):
    """Root attributes, and /summary columns with `units` (and `better`, given better(name))."""
    for name, value in root.items():
        if isinstance(value, str):
            f.attrs.create(name, value, dtype=STR)
        else:
            f.attrs[name] = value
    summary = f.create_group("summary")
    for name, (values, dtype, units) in summary_columns.items():
        ds = summary.create_dataset(name, data=np.array(values, dtype=dtype))
        ds.attrs.create("units", units, dtype=STR)
        if better is not None:
            ds.attrs.create("better", better(name), dtype=STR)


def write_kvsim(path, summary_columns, root=ROOT, points=POINTS):
    """A kvsim file with these /summary columns ({name: (values, dtype, units)}) and root attributes."""
    with h5py.File(path, "w") as f:
        _write_root_and_summary(f, root, summary_columns)
        for n, arrays in points.items():
            group = f.create_group(f"points/{n}")
            # Each point's own configuration, as kvsim writes it: `compare` pairs points by it.
            rows = len(summary_columns["point"][0]) if "point" in summary_columns else 0
            config = point_yaml(summary_columns, n) if n < rows else CONFIG_YAML
            group.attrs.create("config", config, dtype=STR)
            group.attrs["warmup"] = np.int64(2)
            group.attrs["repetitions"] = np.int64(3)
            for name, values in arrays.items():
                group.create_dataset(name, data=np.array(values)).attrs.create("units", "s", dtype=STR)
    return path


def _edited(path, edit):
    write_valid(path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _truncated(path):
    full = write_valid(path.with_name("full.h5"))
    path.write_bytes(full.read_bytes()[:1000])
    return path


def _unrelated_hdf5(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("temperature", data=np.arange(10.0))
    return path


def _unequal_columns(f):
    del f["summary/fill_GBps"]
    f["summary"].create_dataset("fill_GBps", data=np.array([1.0, 2.0, 3.0])).attrs.create("units", "GB/s", dtype=STR)


def _dir(path):
    path.mkdir()
    return path


def _copy_of_self(path):
    shutil.copy(__file__, path)  # some text file: not HDF5 at all
    return path


# name -> (builder(path) -> path, word the one-line message must contain)
BAD_FILES = {
    "missing": (lambda p: p, "no such file"),
    "directory": (_dir, "directory"),
    "not_hdf5": (_copy_of_self, "not an HDF5 file"),
    "truncated": (_truncated, "truncated"),
    "unrelated_hdf5": (_unrelated_hdf5, "not a kvsim result file"),
    "no_schema_attr": (lambda p: _edited(p, lambda f: f.attrs.__delitem__("kvsim_schema")), "not a kvsim result file"),
    "no_summary": (lambda p: _edited(p, lambda f: f.__delitem__("summary")), "not a kvsim result file"),
    # A schema-2 file always has its checksum line: without it, it is damaged (or forged).
    "schema_2_unsealed": (lambda p: _edited(p, lambda f: f.attrs.__setitem__("kvsim_schema", np.int64(2))), "damaged result file"),
    "schema_9": (lambda p: _edited(p, lambda f: f.attrs.__setitem__("kvsim_schema", np.int64(9))), "unsupported kvsim schema version 9"),
    "incomplete": (lambda p: _edited(p, lambda f: f.attrs.__setitem__("complete", np.int64(0))), "incomplete"),
    "unequal_columns": (lambda p: _edited(p, _unequal_columns), "most have 2 rows; 'fill_GBps' has 3"),
    "no_units": (lambda p: _edited(p, lambda f: f["summary/policy"].attrs.__delitem__("units")), "'policy' has no 'units'"),
}


# A decode sweep with everything the report plots: two designs (fp16 contiguous, int8 paged)
# at three context lengths, token generation after the fill, and the root bandwidths.
FULL_ROOT = dict(ROOT, read_GBps=np.float64(2950.25), write_GBps=np.float64(2712.5),
                 deep_copy_GBps=np.float64(2876.5432109), stream_copy_GBps=np.float64(2501.75))
FULL_SUMMARY = {
    "point": ([0, 1, 2, 3, 4, 5], np.int64, "1"),
    "positions": ([4096, 8192, 16384, 4096, 8192, 16384], np.int64, "positions"),
    "max_positions": ([4096, 8192, 16384, 4096, 8192, 16384], np.int64, "positions"),
    "valid_positions": ([4096, 8192, 16384, 4096, 8192, 16384], np.int64, "positions"),
    "batch": ([1] * 6, np.int64, "sequences"),
    "layers": ([32] * 6, np.int64, "1"),
    "heads": ([32] * 6, np.int64, "1"),
    "kv_heads": ([8] * 6, np.int64, "1"),
    "head_dim": ([128] * 6, np.int64, "1"),
    "page_size": ([0, 0, 0, 16, 16, 16], np.int64, "positions"),
    "dtype": (["fp16"] * 3 + ["int8"] * 3, STR, ""),
    "layout": (["contiguous"] * 3 + ["paged"] * 3, STR, ""),
    "policy": (["ring"] * 6, STR, ""),
    "fill_mode": (["chunk"] * 6, STR, ""),
    "retrieve_output": (["fp32"] * 6, STR, ""),
    "fill_GBps": ([2101.5, 2230.25, 2290.125, 1650.75, 1710.5, 1744.0], np.float64, "GB/s"),
    "fill_fraction_of_copy": ([0.7306, 0.7753, 0.7961, 0.5739, 0.5946, 0.6063], np.float64, "1"),
    "retrieve_GBps": ([1850.5, 2340.75, 2660.0, 1520.25, 1905.5, 2180.75], np.float64, "GB/s"),
    "retrieve_fraction_of_copy": ([0.6433, 0.8137, 0.9247, 0.5285, 0.6624, 0.7581], np.float64, "1"),
    "recon_rel_l2": ([1.846e-4] * 3 + [3.764e-3] * 3, np.float64, "1"),
    "kv_cache_bytes": ([536870912, 1073741824, 2147483648, 285216768, 570425344, 1140850688], np.int64, "bytes"),
    "bytes_per_position": ([131072] * 3 + [69632] * 3, np.int64, "bytes"),
    "verified": ([1] * 6, np.int64, "1"),
    "decode_tokens": ([64] * 6, np.int64, "tokens"),
    "tokens_per_s": ([412.5, 298.25, 190.0, 455.75, 351.5, 240.25], np.float64, "tokens/s"),
    "append_ms": ([0.0125, 0.0131, 0.0138, 0.0142, 0.0147, 0.0151], np.float64, "ms/token"),
    "attention_ms": ([1.2, 2.3, 4.2, 0.9, 1.7, 3.1], np.float64, "ms/token"),
    "weights_ms": ([1.21, 1.04, 1.05, 1.28, 1.13, 1.05], np.float64, "ms/token"),
    "attention_rel_err": ([1.916e-4] * 3 + [4.046e-3] * 3, np.float64, "1"),
}
DECODE_COLUMNS = ("decode_tokens", "tokens_per_s", "append_ms", "attention_ms", "weights_ms", "attention_rel_err")

# A prefill-only sweep at one context length (precisions at 4096 positions), point 0 exact (fp32).
FLAT_SUMMARY = {name: column for name, column in FULL_SUMMARY.items() if name not in DECODE_COLUMNS}
FLAT_SUMMARY.update({
    "positions": ([4096] * 6, np.int64, "positions"),
    "max_positions": ([4096] * 6, np.int64, "positions"),
    "valid_positions": ([4096] * 6, np.int64, "positions"),
    "dtype": (["fp32", "fp16", "fp16", "int8", "int8", "int8"], STR, ""),
    "recon_rel_l2": ([0.0, 1.846e-4, 1.846e-4, 3.764e-3, 3.764e-3, 3.764e-3], np.float64, "1"),
    "bytes_per_position": ([262144, 131072, 131072, 69632, 69632, 69632], np.int64, "bytes"),
})


def column(summary, name):
    return summary[name][0]


def changed(summary, name, values=None, scale=None, rows=None):
    """A copy of summary with column `name` replaced by values, or scaled (only `rows` if given)."""
    out = dict(summary)
    old, dtype, units = summary[name]
    if values is None:
        values = [v * scale if rows is None or i in rows else v for i, v in enumerate(old)]
    out[name] = (values, dtype, units)
    return out


def with_units(summary, name, units):
    out = dict(summary)
    out[name] = summary[name][:2] + (units,)
    return out


def write_full(path, summary=FULL_SUMMARY, root=FULL_ROOT, complete=1):
    points = {n: POINTS[n % 2] for n in range(len(summary.get("point", ([],))[0]))}
    return write_kvsim(path, summary, dict(root, complete=np.int64(complete)), points)


def write_flat(path):
    return write_full(path, FLAT_SUMMARY)


# Plot file -> (x label, y label) that the report makes from FULL_SUMMARY: every plot.
FULL_PLOTS = {
    "fill_GBps_vs_positions.png": ("context length [positions]", "fill bandwidth [GB/s]"),
    "retrieve_GBps_vs_positions.png": ("context length [positions]", "retrieve bandwidth [GB/s]"),
    "tokens_per_s_vs_positions.png": ("context length [positions]", "decode throughput [tokens/s]"),
    "kv_cache_bytes_vs_positions.png": ("context length [positions]", "KV-cache size"),  # MB on the ticks
    "bandwidth_achieved_vs_copy.png": ("point", "bandwidth [GB/s]"),
    "decode_ms_per_token_by_phase.png": ("point", "decode time [ms/token]"),
    "attention_rel_err_vs_bytes_per_position.png": ("stored bytes per position", "attention relative error"),
}


# ---------------------------------------------------------------------------------------------
# Schema 2 (docs/hdf5-schema.md, /work/contract.md): a 512-byte user block with the CRC-32 line,
# `_min`/`_max` and `*_spread` columns, per-repetition series behind every timed metric,
# a `better` attribute on every column, NaN fractions with `ceiling_exceeded`.
#
# The repetitions are drawn first (seeded), and every summary number is computed from them the
# way kvsim does: a rate is (constant work) / median seconds, a time the median itself. So a
# file that is "20% slower" is slower in its repetitions too, not only in its summary.

USERBLOCK = 512

# Timed metric -> (series, "rate" or "time", phase whose *_spread it shares); what C++ writes.
V2_TIMED = {
    "fill_positions_per_s": ("fill_seconds", "rate", "fill"),
    "fill_GBps": ("fill_seconds", "rate", "fill"),
    "retrieve_ops_per_s": ("retrieve_seconds", "rate", "retrieve"),
    "retrieve_GBps": ("retrieve_seconds", "rate", "retrieve"),
    "tokens_per_s": ("decode_seconds", "rate", "decode"),
    "append_ms": ("append_seconds", "time", "decode"),
    "attention_ms": ("attention_seconds", "time", "decode"),
    "weights_ms": ("weights_seconds", "time", "decode"),
}
V2_FRACTIONS = {"fill_fraction_of_copy": "fill_GBps", "retrieve_fraction_of_copy": "retrieve_GBps"}
V2_ROOT = dict(FULL_ROOT, kvsim_schema=np.int64(2), config_hash="0f3c5e7a9b1d2f40")
V2_TEXT = {"dtype", "layout", "policy", "fill_mode", "retrieve_output", "ceiling_exceeded"}


def seal(path):
    """Write the contract's checksum line into the user block of a file h5py wrote with
    userblock_size=512: CRC-32 and length of everything after the user block."""
    data = path.read_bytes()
    body = data[USERBLOCK:]
    line = f"kvsim-result crc32={zlib.crc32(body):08x} length={len(body)}\n".encode("ascii")
    assert data[:USERBLOCK] == bytes(USERBLOCK)  # h5py leaves the user block zeroed
    with open(path, "r+b") as f:
        f.write(line)
    return path


def _yaml(value, indent=0):
    """Block YAML of nested dicts of scalars (as yaml-cpp writes it): no PyYAML needed here."""
    pad = "  " * indent
    out = []
    for key, v in value.items():
        if isinstance(v, dict):
            out.append(f"{pad}{key}:\n{_yaml(v, indent + 1)}")
        else:
            out.append(f"{pad}{key}: {v}")
    return "\n".join(out)


def point_yaml(summary, i, name="decode_sweep", output="results/run.h5", repetitions=7):
    """The resolved YAML of point i, made from its summary row (what defines the point), plus
    the keys that do not: name, run and output."""
    def get(column, default=None):
        return summary[column][0][i] if column in summary else default

    cache = {"max_positions": get("max_positions", 4096), "dtype": get("dtype", "fp16"),
             "layout": get("layout", "contiguous")}
    if cache["layout"] == "paged":
        cache["page_size"] = get("page_size", 16)
    cache["policy"] = get("policy", "ring")
    fill = {"mode": get("fill_mode", "chunk"), "positions": get("positions", 4096)}
    if fill["mode"] == "chunk":
        fill["chunk"] = get("chunk", 256)
    workload = {"batch": get("batch", 1), "fill": fill}
    if get("decode_tokens", 0):
        workload["decode"] = {"tokens": get("decode_tokens")}
    workload["retrieve"] = {"mode": "dense", "output": get("retrieve_output", "fp32"), "verify": "true"}
    config = {"name": name, "seed": 1,
              "model": {"layers": get("layers", 32), "heads": get("heads", 32), "kv_heads": get("kv_heads", 8),
                        "head_dim": get("head_dim", 128)},
              "cache": cache, "workload": workload,
              "run": {"warmup": 2, "repetitions": repetitions, "copy_probe_mb": 256, "stage_mb": 64},
              "output": output}
    return _yaml(config) + "\n"


def _better(column):
    if column in V2_TIMED:
        return V2_TIMED[column][1] == "rate" and "higher" or "lower"
    if column.endswith(("_fraction_of_copy", "_GBps", "_per_s")):
        return "higher"
    if column.endswith(("_rel_err", "_rel_l2", "_bytes")) and column != "bytes_per_position":
        return "lower"
    return "none"


def v2_run(seed=0, slowdown=1.0, noise=0.08, repetitions=7, summary=FULL_SUMMARY, root=V2_ROOT,
           name="decode_sweep", output="results/run.h5", rep_overrides=None, slow_rows=None, slow_series=None):
    """(summary columns, root, points, configs) of a schema-2 file: repetitions drawn from a
    lognormal of width `noise` around fixed per-point times, times `slowdown` (1.2 = 20% slower)
    in the rows `slow_rows` and series `slow_series` (default: all)."""
    rng = np.random.default_rng(seed)
    n = len(summary["point"][0])
    out = {k: v for k, v in summary.items()}
    points = {i: {} for i in range(n)}
    for i in range(n):
        for series in sorted({s for s, _, _ in V2_TIMED.values()}):
            reps = (rep_overrides or {}).get(series, repetitions)
            base = 0.001 * (1 + i) * (1 + len(series) % 5)
            slow = slowdown if (slow_rows is None or i in slow_rows) and (slow_series is None or series in slow_series) else 1.0
            points[i][series] = base * slow * np.exp(rng.normal(0.0, noise, reps))
    for metric, (series, kind, phase) in V2_TIMED.items():
        if metric not in summary:
            continue
        values, lows, highs = [], [], []
        for i in range(n):
            s = points[i][series]
            base = 0.001 * (1 + i) * (1 + len(series) % 5)  # the noise-free time of the original value
            original = summary[metric][0][i]
            if kind == "rate":
                work = original * base
                values.append(work / np.median(s)); lows.append(work / s.max()); highs.append(work / s.min())
            else:
                per = original / base
                values.append(per * np.median(s)); lows.append(per * s.min()); highs.append(per * s.max())
        units = summary[metric][2]
        out[metric] = (values, np.float64, units)
        out[f"{metric}_min"] = (lows, np.float64, units)
        out[f"{metric}_max"] = (highs, np.float64, units)
    for phase in ("fill", "retrieve", "decode"):
        out[f"{phase}_spread"] = ([float(points[i][f"{phase}_seconds"].max() / points[i][f"{phase}_seconds"].min())
                                   for i in range(n)], np.float64, "1")
    exceeded = [[] for _ in range(n)]
    for fraction, rate in V2_FRACTIONS.items():
        values = []
        for i in range(n):
            value = out[rate][0][i] / float(root["copy_GBps"])
            if value > 1.0:
                exceeded[i].append(f"{fraction}={value:.4g}")
                value = float("nan")
            values.append(value)
        out[fraction] = (values, np.float64, "1")
    out["ceiling_exceeded"] = ([";".join(e) for e in exceeded], STR, "")
    configs = {i: point_yaml(out, i, name, output, repetitions) for i in range(n)}
    return out, root, points, configs


def write_v2(path, run=None, sealed=True, **kwargs):
    """A schema-2 file (v2_run(**kwargs) unless run is given), sealed with its checksum line."""
    summary, root, points, configs = run or v2_run(output=str(path), **kwargs)
    with h5py.File(path, "w", userblock_size=USERBLOCK) as f:
        _write_root_and_summary(f, root, summary, _better)
        for i, arrays in points.items():
            g = f.create_group(f"points/{i}")
            g.attrs.create("config", configs[i], dtype=STR)
            g.attrs.create("config_unresolved", configs[i], dtype=STR)
            g.attrs["warmup"] = np.int64(2)
            g.attrs["repetitions"] = np.int64(len(arrays["fill_seconds"]))
            for name, values in arrays.items():
                g.create_dataset(name, data=np.asarray(values, dtype=np.float64)).attrs.create("units", "s", dtype=STR)
    return seal(path) if sealed else path


def damaged(path, edit, **kwargs):
    """A sealed schema-2 file, then its bytes changed by edit(bytes) -> bytes."""
    good = write_v2(path.with_name("good_" + path.name), **kwargs)
    path.write_bytes(edit(good.read_bytes()))
    return path


def flip_middle(data):
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 16]) + data[middle + 16:]


def v2_edited(path, edit, **kwargs):
    """A schema-2 file changed with h5py (edit(f)), then sealed again: well-formed but odd content."""
    write_v2(path, sealed=False, **kwargs)
    with h5py.File(path, "r+") as f:
        edit(f)
    return seal(path)


def _replace(f, name, data, units="GB/s"):
    del f[name]
    f.create_dataset(name, data=data).attrs.create("units", units, dtype=STR)


def _fifo(path):
    os.mkfifo(path)
    return path


# Schema-2 bad input: name -> (builder(path) -> path, words the one-line message must contain).
V2_BAD_FILES = {
    "fifo": (_fifo, ["not a regular file", "FIFO"]),
    "zero_length": (lambda p: p.write_bytes(b"") or p, ["empty file"]),
    "truncated": (lambda p: damaged(p, lambda d: d[:len(d) * 2 // 3]), ["damaged result file", "checksum mismatch", "length"]),
    "flipped_middle": (lambda p: damaged(p, flip_middle), ["damaged result file", "checksum mismatch", "crc32"]),
    "checksum_line_garbled": (lambda p: damaged(p, lambda d: b"kvsim-result crc32=zzz" + d[22:]), ["damaged result file", "malformed"]),
    "checksum_line_missing": (lambda p: write_v2(p, sealed=False), ["damaged result file", "no checksum line"]),
    "string_metric": (lambda p: v2_edited(p, lambda f: _replace(f, "summary/fill_GBps", np.array(["fast"] * 6, dtype=object), "GB/s")),
                      ["'fill_GBps'", "text", "numbers"]),
    "two_d_column": (lambda p: v2_edited(p, lambda f: _replace(f, "summary/retrieve_GBps", np.ones((6, 2)))), ["'retrieve_GBps'", "1-D"]),
    "object_column": (lambda p: v2_edited(p, lambda f: _replace_vlen(f)), ["'tokens_per_s'", "unsupported type"]),
    "numeric_dtype_column": (lambda p: v2_edited(p, lambda f: _replace(f, "summary/dtype", np.arange(6), "")), ["'dtype'", "numbers", "text"]),
    "string_series": (lambda p: v2_edited(p, lambda f: _replace(f, "points/2/fill_seconds", np.array(["x"] * 7, dtype=object), "s")),
                      ["/points/2/fill_seconds", "numbers"]),
    "float_point_index": (lambda p: v2_edited(p, lambda f: _replace(f, "summary/point", np.array([0.5] * 6), "1")), ["'point'", "integers"]),
    "string_schema": (lambda p: v2_edited(p, lambda f: f.attrs.__setitem__("kvsim_schema", "two")), ["kvsim_schema"]),
    "numeric_units": (lambda p: v2_edited(p, lambda f: f["summary/layout"].attrs.__setitem__("units", 7)), ["'layout'", "units"]),
    "odd_better": (lambda p: v2_edited(p, lambda f: f["summary/fill_GBps"].attrs.__setitem__("better", "sideways")), ["'fill_GBps'", "better"]),
    "string_ceiling": (lambda p: v2_edited(p, lambda f: f.attrs.__setitem__("copy_GBps", "fast")), ["copy_GBps"]),
    "schema_4": (lambda p: v2_edited(p, lambda f: f.attrs.__setitem__("kvsim_schema", np.int64(4))), ["unsupported kvsim schema version 4"]),
}


def _replace_vlen(f):
    del f["summary/tokens_per_s"]
    ds = f["summary"].create_dataset("tokens_per_s", (6,), dtype=h5py.vlen_dtype(np.float64))
    for i in range(6):
        ds[i] = np.arange(i + 1, dtype=np.float64)
    ds.attrs.create("units", "tokens/s", dtype=STR)
