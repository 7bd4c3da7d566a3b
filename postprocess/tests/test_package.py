"""postprocess/ as a pip package: installed offline into a fresh virtual environment, its
`kvsim-post` console script runs, and its version is kvsim's."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import POSTPROCESS


def test_version_is_the_cmake_project_version():
    from kvsim_post import __version__

    cmake = (POSTPROCESS.parent / "CMakeLists.txt").read_text()
    assert re.search(r"project\(kvsim VERSION (\S+)", cmake).group(1) == __version__


def _can_build_offline():
    probe = "import setuptools, wheel, venv, ensurepip, h5py, pandas"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_build_offline(),
                    reason=f"{sys.executable} lacks setuptools, wheel, venv/ensurepip, h5py or pandas "
                           "(Debian: python3-setuptools python3-wheel python3-venv python3-h5py python3-pandas)")
def test_pip_installs_offline_and_the_console_script_runs(tmp_path):
    from make_files import write_valid

    # A copy: building in place would leave build/ and *.egg-info in the checkout.
    source = tmp_path / "src"
    shutil.copytree(POSTPROCESS, source, ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_INDEX_URL", "PIP_FIND_LINKS")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    pip = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-build-isolation", "--no-index",
                          str(source)], capture_output=True, text=True, env=env, timeout=300)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    script = venv / "bin/kvsim-post"
    assert script.exists()
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "table" in result.stdout and "report" in result.stdout and "compare" in result.stdout
    # From the installed copy, not the checkout: run somewhere else on a real file.
    path = write_valid(tmp_path / "run.h5")
    result = subprocess.run([str(script), "table", str(path), "--columns", "point"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["| point |", "| ----: |", "|     0 |", "|     1 |"]
    where = subprocess.run([str(venv / "bin/python"), "-c", "import kvsim_post; print(kvsim_post.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(venv)
