"""Read kvsim result files (docs/hdf5-schema.md) into pandas / numpy.

Every problem with the input file becomes a KvsimFileError with a one-line message naming the
file and the field, so the CLI can report it without a traceback. filecheck decides what it can
before libhdf5 opens the file; files without a checksum are read in a child process (isolate).
"""

import collections
import os

import h5py
import numpy as np
import pandas as pd

from . import filecheck, isolate
from .metrics import SERIES_OF
from .filecheck import KvsimFileError

SUPPORTED_SCHEMAS = (1, 2, 3)

# Schema order, so tables read like the docs rather than alphabetically
# (h5py lists group members by name).
SUMMARY_COLUMNS = [
    "point", "positions", "max_positions", "valid_positions",
    "layers", "heads", "kv_heads", "head_dim", "dtype", "layout", "policy",
    "fill_positions_per_s", "fill_GBps", "retrieve_ops_per_s", "retrieve_GBps",
    "retrieve_fraction_of_copy", "kv_cache_bytes", "device_memory_used_bytes",
    "verified", "checksum",
]
# Columns that say what a point ran (not what it measured): plots keep points that differ in
# them apart, and `compare` pairs on them when a file lacks the points' `config` attribute.
CONFIG_COLUMNS = [
    "dtype", "layout", "page_size", "policy", "batch", "positions", "max_positions",
    "fill_mode", "chunk", "retrieve_output", "kv_heads", "head_dim", "layers", "decode_tokens",
    "prefill_chunk", "context_shards", "weight_bytes", "data",
]
# Summary columns that hold text; every other column of the schema holds numbers.
TEXT_COLUMNS = {"dtype", "layout", "policy", "fill_mode", "retrieve_output", "lengths", "sweep",
                "attention_kernel", "ceiling_exceeded", "data"}
ROOT_ATTRIBUTES = [
    "kvsim_schema", "kvsim_version", "git_sha", "backend", "device",
    "kokkos_version", "config", "config_file", "command_line", "created",
    "finished", "copy_GBps", "complete",
]
# Root attributes read as numbers (compare judges ceilings by them) or as text.
NUMBER_ATTRIBUTES = {"kvsim_schema", "complete", "copy_GBps", "read_GBps", "write_GBps", "deep_copy_GBps",
                     "stream_copy_GBps", "mpi_ranks", "resumed", "interrupted_point"}
TEXT_ATTRIBUTES = {"kvsim_version", "git_sha", "backend", "device", "kokkos_version", "config", "config_file",
                   "command_line", "created", "finished", "config_hash", "host"}


def _schema_ordered(names, order):
    known = [n for n in order if n in names]
    return known + [n for n in names if n not in order]


def _plain(value):
    """Attribute value as a plain Python object (str, int, float, list)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


def _h5_detail(err):
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _is_text(dtype):
    return h5py.check_string_dtype(dtype) is not None


def _is_number(dtype):
    return dtype.kind in "iuf" or dtype.kind == "b"


def _read(path, allow_incomplete):
    """Everything kvsim_post uses from a file, as one DataFrame (see load_summary)."""
    path = os.fspath(path)
    sealed = filecheck.check(path)
    if sealed:
        return _read_hdf5(path, allow_incomplete, sealed)
    return isolate.call(path, _read_hdf5, path, allow_incomplete, sealed)


def _read_hdf5(path, allow_incomplete, sealed):
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise KvsimFileError(path, f"not an HDF5 file or truncated ({_h5_detail(err)})") from None
    try:
        with f:
            meta = _validate(path, f, allow_incomplete, sealed)
            return _frame(path, f, meta)
    except KvsimFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, UnicodeDecodeError, RuntimeError) as err:
        # A file whose header is fine can still be damaged further in.
        raise KvsimFileError(path, f"damaged kvsim file ({_h5_detail(err)})") from None


def _root(path, f):
    meta = {}
    for name in _schema_ordered(list(f.attrs.keys()), ROOT_ATTRIBUTES):
        value = _plain(f.attrs[name])
        if name in NUMBER_ATTRIBUTES and (isinstance(value, (str, bool, list)) or value is None):
            raise KvsimFileError(path, f"root attribute '{name}' is {value!r}, expected a number")
        if name in TEXT_ATTRIBUTES and not isinstance(value, str):
            raise KvsimFileError(path, f"root attribute '{name}' is {value!r}, expected text")
        meta[name] = value
    return meta


def _validate(path, f, allow_incomplete, sealed):
    if "kvsim_schema" not in f.attrs or "summary" not in f:
        raise KvsimFileError(path, "HDF5 file but not a kvsim result file (no 'kvsim_schema' attribute or '/summary' group)")
    meta = _root(path, f)
    schema = meta["kvsim_schema"]
    if schema not in SUPPORTED_SCHEMAS:
        raise KvsimFileError(path, f"unsupported kvsim schema version {schema!r} "
                                   f"(kvsim-post reads versions {', '.join(map(str, SUPPORTED_SCHEMAS))})")
    if schema >= 2 and not sealed:
        raise filecheck.damaged(path, f"no checksum line in the {filecheck.USERBLOCK}-byte user block, "
                                      f"which every schema-{schema} file has")
    complete = meta.get("complete")
    # A running or killed `kvsim run --resume` leaves complete = 0 with its finished points;
    # numbers from a partial sweep must be asked for, never read by accident.
    if complete != 1 and not (allow_incomplete and complete == 0):
        hint = " (allow_incomplete / --allow-incomplete reads its finished points)" if complete == 0 else ""
        raise KvsimFileError(path, f"incomplete kvsim file (complete = {complete!r}, expected 1): "
                                   f"the run did not finish or is still running{hint}")
    summary = f["summary"]
    if not isinstance(summary, h5py.Group):
        raise KvsimFileError(path, "'/summary' is not a group of column datasets")
    if len(summary) == 0:
        what = "no finished points yet" if complete == 0 else "'/summary' has no columns"
        raise KvsimFileError(path, what)
    lengths = {}
    for name, ds in summary.items():
        _check_column(path, name, ds)
        lengths[name] = ds.shape[0]
    if len(set(lengths.values())) > 1:
        usual = collections.Counter(lengths.values()).most_common(1)[0][0]
        odd = ", ".join(f"'{n}' has {k}" for n, k in lengths.items() if k != usual)
        raise KvsimFileError(path, f"summary columns have unequal lengths (most have {usual} rows; {odd})")
    return meta


def _check_column(path, name, ds):
    where = f"summary column '{name}'"
    if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
        raise KvsimFileError(path, f"{where} is not a 1-D dataset")
    text, number = _is_text(ds.dtype), _is_number(ds.dtype)
    if not (text or number):
        raise KvsimFileError(path, f"{where} has an unsupported type ({ds.dtype}): expected numbers or text")
    if name in TEXT_COLUMNS and not text:
        raise KvsimFileError(path, f"{where} holds numbers ({ds.dtype}), expected text")
    if name not in TEXT_COLUMNS and text and _known_number(name):
        raise KvsimFileError(path, f"{where} holds text, expected numbers")
    if name == "point" and ds.dtype.kind not in "iu":
        raise KvsimFileError(path, f"{where} holds {ds.dtype}, expected integers (point indices)")
    for attribute, allowed in (("units", None), ("better", ("higher", "lower", "none")), ("kind", None), ("series", None)):
        if attribute not in ds.attrs:
            if attribute == "units":
                raise KvsimFileError(path, f"{where} has no 'units' attribute")
            continue
        value = _plain(ds.attrs[attribute])
        if not isinstance(value, str) or (allowed and value not in allowed):
            want = " | ".join(allowed) if allowed else "text"
            raise KvsimFileError(path, f"{where}: attribute '{attribute}' is {value!r}, expected {want}")


def _known_number(name):
    """Columns of the schema that hold numbers: every known column not in TEXT_COLUMNS."""
    return name in SUMMARY_COLUMNS or name in CONFIG_COLUMNS or name in SERIES_OF or \
        name.endswith(("_min", "_max", "_spread", "_bytes", "_ms", "_GBps", "_per_s", "_rel_err", "_rel_l2"))


def _read_column(ds):
    if _is_text(ds.dtype):
        return ds.asstr()[()].astype(object)
    return ds[()]


def _points(path, f):
    """{point index: {"config": resolved YAML or None, "series": {name: float64 array}}}."""
    group = f.get("points")
    if group is None:
        return {}
    if not isinstance(group, h5py.Group):
        raise KvsimFileError(path, "'/points' is not a group")
    points = {}
    for key, g in group.items():
        if not isinstance(g, h5py.Group) or not key.isdigit():
            raise KvsimFileError(path, f"'/points/{key}' is not a point group (/points/<index>)")
        config = _plain(g.attrs["config"]) if "config" in g.attrs else None
        if config is not None and not isinstance(config, str):
            raise KvsimFileError(path, f"'/points/{key}': attribute 'config' is not text")
        series = {}
        for name, ds in g.items():
            if not isinstance(ds, h5py.Dataset):
                continue  # h2o_evicted/<seq>
            if ds.ndim != 1 or not _is_number(ds.dtype):
                what = "text" if _is_text(ds.dtype) else f"{ds.ndim}-D {ds.dtype}"
                raise KvsimFileError(path, f"/points/{key}/{name} holds {what}, expected 1-D numbers")
            series[name] = ds[()].astype(np.float64) if name.endswith("_seconds") else ds[()]
        points[int(key)] = {"config": config, "series": series}
    return points


def _frame(path, f, meta):
    summary = f["summary"]
    columns = {n: summary[n] for n in _schema_ordered(list(summary.keys()), SUMMARY_COLUMNS)}  # h5py lookups are slow
    df = pd.DataFrame({n: _read_column(ds) for n, ds in columns.items()})
    attrs = {n: dict(ds.attrs.items()) for n, ds in columns.items()}
    df.attrs["units"] = {n: _plain(a["units"]) for n, a in attrs.items()}
    # Schema 3 says on every column what it measures; kvsim_post keeps no list of them.
    for attribute in ("better", "kind", "series"):
        df.attrs[attribute] = {n: _plain(a[attribute]) for n, a in attrs.items() if attribute in a}
    df.attrs["meta"] = meta
    df.attrs["points"] = _points(path, f)
    df.attrs["path"] = path
    return df


def load_meta(path, allow_incomplete=False):
    """Root attributes of a kvsim file as a dict, in schema order."""
    return _read(path, allow_incomplete).attrs["meta"]


def load_summary(path, allow_incomplete=False):
    """/summary as a DataFrame, one row per point.

    df.attrs: "units" (column -> units), "better" (column -> higher | lower | none, where the
    file says), "kind" and "series" (schema 3: what the column measures, the /points/<n>
    series behind it), "meta" (the root attributes), "points" (point index -> {"config": its resolved
    YAML, "series": {name: per-repetition array}}), "path".
    Files with `complete` = 0 (a run still going or killed) are refused unless
    allow_incomplete, which returns their finished points (meta["complete"] tells).
    """
    return _read(path, allow_incomplete)


def load_point(path, n):
    """Per-repetition arrays of point n (e.g. fill_seconds, retrieve_seconds) as {name: ndarray}."""
    points = _read(path, False).attrs["points"]
    if int(n) not in points:
        raise KvsimFileError(path, f"no point {n} ('/points/{int(n)}' missing)")
    return points[int(n)]["series"]
