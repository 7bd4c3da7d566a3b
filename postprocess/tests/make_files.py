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
    with h5py.File(path, "w") as f:
        for name, value in ROOT.items():
            if isinstance(value, str):
                f.attrs.create(name, value, dtype=STR)
            else:
                f.attrs[name] = value
        summary = f.create_group("summary")
        for name, (values, dtype, units) in SUMMARY.items():
            ds = summary.create_dataset(name, data=np.array(values, dtype=dtype))
            ds.attrs.create("units", units, dtype=STR)
        for n, arrays in POINTS.items():
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
