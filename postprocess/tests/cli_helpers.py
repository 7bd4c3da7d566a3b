"""Run the kvsim-post command line in a subprocess and read what it printed."""

import os
import subprocess
import sys
from pathlib import Path

POSTPROCESS = Path(__file__).resolve().parent.parent


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=str(POSTPROCESS))
    return subprocess.run([sys.executable, "-m", "kvsim_post", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


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
