"""Bad input of every kind: one line naming the file (and field), exit 2, never a hang or a crash.

Run in a subprocess with a timeout, so a regression that hangs (a FIFO opened for reading) or
kills the interpreter (libhdf5 aborting) fails the test instead of the test run.
"""

import os
import signal
import subprocess
import sys

import pytest

from cli_helpers import POSTPROCESS, assert_one_line_error
from make_files import V2_BAD_FILES, flip_middle, write_valid

TIMEOUT_S = 30


def run_guarded(*args):
    env = dict(os.environ, PYTHONPATH=str(POSTPROCESS))
    try:
        return subprocess.run([sys.executable, "-m", "kvsim_post", *map(str, args)],
                              capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"kvsim-post {' '.join(map(str, args))} hung for {TIMEOUT_S} s")


@pytest.mark.parametrize("name", sorted(V2_BAD_FILES))
def test_bad_schema2_file_gives_one_line(tmp_path, name):
    build, words = V2_BAD_FILES[name]
    path = build(tmp_path / f"{name}.h5")
    result = run_guarded("table", path)
    assert result.returncode != -signal.SIGSEGV and result.returncode != -signal.SIGABRT, result
    assert_one_line_error(result, str(path), *words)


def test_directory_is_refused(tmp_path):
    assert_one_line_error(run_guarded("table", tmp_path), str(tmp_path), "directory")


def test_device_is_refused_without_reading_it():
    # /dev/zero would feed a reader forever: refused from its stat alone.
    assert_one_line_error(run_guarded("info", "/dev/zero"), "/dev/zero", "not a regular file", "character device")


def test_schema1_file_with_flipped_bytes_gives_one_line(tmp_path):
    # Schema 1 has no checksum: the reader must survive whatever libhdf5 does with the damage.
    good = write_valid(tmp_path / "good.h5")
    path = tmp_path / "flipped.h5"
    path.write_bytes(flip_middle(good.read_bytes()))
    result = run_guarded("table", path)
    assert_one_line_error(result, str(path))


def test_compare_names_the_bad_file(tmp_path):
    build, words = V2_BAD_FILES["flipped_middle"]
    bad = build(tmp_path / "bad.h5")
    good = write_valid(tmp_path / "ok.h5")
    assert_one_line_error(run_guarded("compare", good, bad), str(bad), *words)
