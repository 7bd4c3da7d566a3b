import os
import pathlib
import subprocess

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


@pytest.fixture
def run_kvsim(kvsim_bin, tmp_path):
    def run(*args, cwd=None):
        env = dict(os.environ, OMP_PROC_BIND="false")
        return subprocess.run([kvsim_bin, *map(str, args)], cwd=cwd or tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
    return run
