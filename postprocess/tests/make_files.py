"""Writers for schema-conformant kvsim files and for each kind of bad input.

The expected values live here so tests compare the loaded data against exactly
what was written.
"""

import shutil

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


def write_kvsim(path, summary_columns, root=ROOT, points=POINTS):
    """A kvsim file with these /summary columns ({name: (values, dtype, units)}) and root attributes."""
    with h5py.File(path, "w") as f:
        for name, value in root.items():
            if isinstance(value, str):
                f.attrs.create(name, value, dtype=STR)
            else:
                f.attrs[name] = value
        summary = f.create_group("summary")
        for name, (values, dtype, units) in summary_columns.items():
            ds = summary.create_dataset(name, data=np.array(values, dtype=dtype))
            ds.attrs.create("units", units, dtype=STR)
        for n, arrays in points.items():
            group = f.create_group(f"points/{n}")
            group.attrs.create("config", CONFIG_YAML, dtype=STR)
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
    "schema_2": (lambda p: _edited(p, lambda f: f.attrs.__setitem__("kvsim_schema", np.int64(2))), "unsupported kvsim schema version 2"),
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
    "fill_GBps_vs_positions.png": ("context length (positions) [positions]", "fill_GBps [GB/s]"),
    "retrieve_GBps_vs_positions.png": ("context length (positions) [positions]", "retrieve_GBps [GB/s]"),
    "tokens_per_s_vs_positions.png": ("context length (positions) [positions]", "tokens_per_s [tokens/s]"),
    "kv_cache_bytes_vs_positions.png": ("context length (positions) [positions]", "kv_cache_bytes [bytes]"),
    "bandwidth_achieved_vs_copy.png": ("point [1]", "bandwidth [GB/s]"),
    "decode_ms_per_token_by_phase.png": ("point [1]", "decode time [ms/token]"),
    "attention_rel_err_vs_bytes_per_position.png": ("bytes_per_position [bytes]", "attention_rel_err [1]"),
}
