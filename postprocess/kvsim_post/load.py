"""Read kvsim result files (docs/hdf5-schema.md) into pandas / numpy.

Every problem with the input file becomes a KvsimFileError with a one-line
message, so the CLI can report it without a traceback.
"""

import collections
import contextlib
import os

import h5py
import numpy as np
import pandas as pd

SUPPORTED_SCHEMA = 1

# Schema order, so tables read like the docs rather than alphabetically
# (h5py lists group members by name).
SUMMARY_COLUMNS = [
    "point", "positions", "max_positions", "valid_positions",
    "layers", "heads", "kv_heads", "head_dim", "dtype", "layout", "policy",
    "fill_positions_per_s", "fill_GBps", "retrieve_ops_per_s", "retrieve_GBps",
    "retrieve_fraction_of_copy", "kv_cache_bytes", "device_memory_used_bytes",
    "verified", "checksum",
]
# Columns that say what a point ran (not what it measured): `compare` matches points on them
# and plots keep points that differ in them apart.
CONFIG_COLUMNS = [
    "dtype", "layout", "page_size", "policy", "batch", "positions", "max_positions",
    "fill_mode", "retrieve_output", "kv_heads", "head_dim", "layers", "decode_tokens",
]
ROOT_ATTRIBUTES = [
    "kvsim_schema", "kvsim_version", "git_sha", "backend", "device",
    "kokkos_version", "config", "config_file", "command_line", "created",
    "finished", "copy_GBps", "complete",
]


class KvsimFileError(Exception):
    """A result file that is missing, unreadable or not a complete kvsim file."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = " ".join(str(problem).split())  # one line, always
        super().__init__(f"{self.path}: {self.problem}")


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


@contextlib.contextmanager
def _open_kvsim(path, allow_incomplete=False):
    """Open and validate a kvsim file; errors while reading it become KvsimFileError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise KvsimFileError(path, "no such file")
    if os.path.isdir(path):
        raise KvsimFileError(path, "is a directory, not a kvsim .h5 file")
    try:
        # h5py's OSError for a permission problem is indistinguishable from
        # corruption, so probe with a plain open first.
        with open(path, "rb"):
            pass
    except OSError as err:
        raise KvsimFileError(path, f"cannot read file ({err.strerror or err})") from None
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise KvsimFileError(path, f"not an HDF5 file or truncated ({_h5_detail(err)})") from None
    try:
        with f:
            _validate(path, f, allow_incomplete)
            yield f
    except KvsimFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, UnicodeDecodeError) as err:
        # A file whose header is fine can still be damaged further in.
        raise KvsimFileError(path, f"damaged kvsim file ({_h5_detail(err)})") from None


def _validate(path, f, allow_incomplete=False):
    if "kvsim_schema" not in f.attrs or "summary" not in f:
        raise KvsimFileError(path, "HDF5 file but not a kvsim result file (no 'kvsim_schema' attribute or '/summary' group)")
    schema = _plain(f.attrs["kvsim_schema"])
    if schema != SUPPORTED_SCHEMA or isinstance(schema, bool):
        raise KvsimFileError(path, f"unsupported kvsim schema version {schema!r} (kvsim-post reads version {SUPPORTED_SCHEMA})")
    complete = _plain(f.attrs.get("complete"))
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
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
            raise KvsimFileError(path, f"summary column '{name}' is not a 1-D dataset")
        if "units" not in ds.attrs:
            raise KvsimFileError(path, f"summary column '{name}' has no 'units' attribute")
        lengths[name] = ds.shape[0]
    if len(set(lengths.values())) > 1:
        usual = collections.Counter(lengths.values()).most_common(1)[0][0]
        odd = ", ".join(f"'{n}' has {k}" for n, k in lengths.items() if k != usual)
        raise KvsimFileError(path, f"summary columns have unequal lengths (most have {usual} rows; {odd})")


def _read_column(ds):
    if h5py.check_string_dtype(ds.dtype) is not None:
        return ds.asstr()[()].astype(object)
    return ds[()]


def load_meta(path, allow_incomplete=False):
    """Root attributes of a kvsim file as a dict, in schema order."""
    with _open_kvsim(path, allow_incomplete) as f:
        names = _schema_ordered(list(f.attrs.keys()), ROOT_ATTRIBUTES)
        return {n: _plain(f.attrs[n]) for n in names}


def load_summary(path, allow_incomplete=False):
    """/summary as a DataFrame, one row per point.

    df.attrs["units"] maps column -> units, df.attrs["meta"] holds the root attributes.
    Files with `complete` = 0 (a run still going or killed) are refused unless
    allow_incomplete, which returns their finished points (meta["complete"] tells).
    """
    with _open_kvsim(path, allow_incomplete) as f:
        summary = f["summary"]
        names = _schema_ordered(list(summary.keys()), SUMMARY_COLUMNS)
        df = pd.DataFrame({n: _read_column(summary[n]) for n in names})
        df.attrs["units"] = {n: _plain(summary[n].attrs["units"]) for n in names}
        df.attrs["meta"] = {n: _plain(f.attrs[n]) for n in _schema_ordered(list(f.attrs.keys()), ROOT_ATTRIBUTES)}
        return df


def load_point(path, n):
    """Per-repetition arrays of point n (e.g. fill_seconds, retrieve_seconds) as {name: ndarray}."""
    key = f"points/{int(n)}"
    with _open_kvsim(path) as f:
        if key not in f or not isinstance(f[key], h5py.Group):
            raise KvsimFileError(path, f"no point {n} ('/{key}' missing)")
        return {name: ds[()] for name, ds in f[key].items() if isinstance(ds, h5py.Dataset)}
