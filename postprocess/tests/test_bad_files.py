"""Bad input of every kind: one line naming the file (and field), exit 2, never a hang or a crash.

Run in a subprocess with a timeout, so a regression that hangs (a FIFO opened for reading) or
kills the interpreter (libhdf5 aborting) fails the test instead of the test run.
"""

import os
import signal
import subprocess

import pytest

from cli_helpers import assert_one_line_error, run_cli, run_cli_process
from kvsim_post import isolate
from kvsim_post.filecheck import KvsimFileError
from make_files import V2_BAD_FILES, write_full, write_valid

TIMEOUT_S = 30


def run_guarded(*args):
    try:
        return run_cli_process(*args, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"kvsim-post {' '.join(map(str, args))} hung for {TIMEOUT_S} s")


# What can hang or crash a reader runs in a guarded subprocess; well-formed files with odd
# contents run in-process (a second of interpreter start-up each saved).
GUARDED = {"fifo", "zero_length", "truncated", "flipped_middle", "checksum_line_garbled", "checksum_line_missing"}


@pytest.mark.parametrize("name", sorted(V2_BAD_FILES))
def test_bad_schema2_file_gives_one_line(tmp_path, name):
    build, words = V2_BAD_FILES[name]
    path = build(tmp_path / f"{name}.h5")
    result = run_guarded("table", path) if name in GUARDED else run_cli("table", path)
    assert result.returncode != -signal.SIGSEGV and result.returncode != -signal.SIGABRT, result
    assert_one_line_error(result, str(path), *words)


def test_directory_is_refused(tmp_path):
    assert_one_line_error(run_guarded("table", tmp_path), str(tmp_path), "directory")


def test_device_is_refused_without_reading_it():
    # /dev/zero would feed a reader forever: refused from its stat alone.
    assert_one_line_error(run_guarded("info", "/dev/zero"), "/dev/zero", "not a regular file", "character device")


# Bytes of write_full's file where flipping 16 made the reader before this change die with
# SIGABRT inside libhdf5 (3472) or end in a RuntimeError traceback (the others), with the
# h5py 3.7 / libhdf5 of Debian 12. Another libhdf5 may lay the file out otherwise: then the
# flip may land in plain data and go unnoticed (exit 0), which schema 1 cannot prevent.
SCHEMA1_FLIPS = (1984, 3472, 10912, 12400)


@pytest.mark.parametrize("offset", SCHEMA1_FLIPS)
def test_schema1_file_with_flipped_bytes_never_crashes(tmp_path, offset):
    # Schema 1 has no checksum: the reader must survive whatever libhdf5 does with the damage.
    data = write_full(tmp_path / "good.h5").read_bytes()
    path = tmp_path / "flipped.h5"
    path.write_bytes(data[:offset] + bytes(b ^ 0xFF for b in data[offset:offset + 16]) + data[offset + 16:])
    result = run_guarded("table", path)
    if result.returncode != 0:
        assert_one_line_error(result, str(path), "damaged kvsim file")


def test_compare_names_the_bad_file(tmp_path):
    build, words = V2_BAD_FILES["flipped_middle"]
    bad = build(tmp_path / "bad.h5")
    good = write_valid(tmp_path / "ok.h5")
    assert_one_line_error(run_guarded("compare", good, bad), str(bad), *words)


def _segfault():
    os.kill(os.getpid(), signal.SIGSEGV)


def _abort():
    os.abort()


def _hang():
    import time
    time.sleep(600)


@pytest.mark.parametrize("reader, words", [(_segfault, "SIGSEGV"), (_abort, "SIGABRT"), (_hang, "took over 1 s")])
def test_isolated_reader_turns_a_crash_or_hang_into_one_line(monkeypatch, reader, words):
    # What libhdf5 does to some damaged schema-1 files (no checksum), simulated in the reader.
    monkeypatch.setattr(isolate, "TIMEOUT_S", 1)
    with pytest.raises(KvsimFileError, match=words) as info:
        isolate.call("run.h5", reader)
    assert str(info.value).startswith("run.h5: damaged kvsim file")


def test_isolated_reader_returns_the_result_and_passes_file_errors():
    assert isolate.call("run.h5", sorted, [3, 1, 2]) == [1, 2, 3]
    with pytest.raises(KvsimFileError, match="^x.h5: odd$"):
        isolate.call("run.h5", _raise_file_error)


def _raise_file_error():
    raise KvsimFileError("x.h5", "odd")
