"""Run the kvsim-post command line and read what it printed.

run_cli calls main() in this process (a fresh interpreter per call would cost a second of
imports each on a loaded machine); run_cli_process runs `python -m kvsim_post` for what only a
real process shows (exit on a hang or crash, the wrapper script, a Python without h5py).
"""

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

from kvsim_post.cli import main

POSTPROCESS = Path(__file__).resolve().parent.parent


def run_cli(*args):
    out, err = io.StringIO(), io.StringIO()
    argv = [str(a) for a in args]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exit_:  # argparse's usage errors
            status = exit_.code if isinstance(exit_.code, int) else 2
    return subprocess.CompletedProcess(["kvsim-post", *argv], status, out.getvalue(), err.getvalue())


def run_cli_process(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(POSTPROCESS))
    return subprocess.run([sys.executable, "-m", "kvsim_post", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout)


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def assert_one_line_error(result, *words):
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kvsim-post: error: ")
    for word in words:
        assert word in lines[0]
