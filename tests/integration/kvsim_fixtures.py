"""The fixtures every kvsim test directory shares: the built binary and the source tree."""
import os
import pathlib

import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("KVSIM_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))


@pytest.fixture(scope="session")
def kvsim_bin():
    path = os.environ.get("KVSIM_BIN")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("KVSIM_BIN must name the built kvsim executable (ctest sets it)")
    return path


@pytest.fixture(scope="session")
def source_dir():
    return SOURCE_DIR
