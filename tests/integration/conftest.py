import os
import subprocess

import pytest

from kvsim_fixtures import SOURCE_DIR, kvsim_bin, source_dir  # noqa: F401 (shared with tests/cluster)


@pytest.fixture
def run_kvsim(kvsim_bin, tmp_path):
    def run(*args, cwd=None):
        env = dict(os.environ, OMP_PROC_BIND="false")
        return subprocess.run([kvsim_bin, *map(str, args)], cwd=cwd or tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
    return run
