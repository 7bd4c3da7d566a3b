"""Post-processing of kvsim HDF5 result files (see docs/hdf5-schema.md)."""

# The kvsim release this package reads (CMakeLists.txt project VERSION; a test holds them equal).
__version__ = "0.1.0"

# Imported lazily so `python -m kvsim_post` can report a Python that lacks
# h5py/pandas in one line instead of failing inside this package's import.
_EXPORTS = {
    "KvsimFileError": "load", "load_meta": "load", "load_point": "load",
    "load_summary": "load", "markdown_table": "table",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
