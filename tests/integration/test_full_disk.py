"""A disk that fills up mid-sweep: one clear error line naming the file and the cause, exit 1,
the finished points kept as a valid file with complete = 0, no OUT.partial left, and --resume
completes the run once there is room.

The full disk is a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored, so write(2) fails with EFBIG
"File too large") applied to the running kvsim with prlimit once its first point is in the file:
no root, no mount. Applied from the start it would also break MPI_Init, whose singleton server
writes its own shared-memory files; a real full disk is the same write(2) failing with ENOSPC."""
import os
import resource
import signal
import subprocess
import time

import h5py

SMALL = "tests/configs/good/small_wrap.yaml"
SWEEP = ["--set", "model.head_dim=32", "--set", "sweep={cache.dtype: [fp32, fp16, bf16, int8, fp8_e4m3, int4]}"]


def ignore_sigxfsz():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited through exec: writes fail instead of killing


def test_full_disk_keeps_the_finished_points_and_resume_completes(kvsim_bin, source_dir, tmp_path):
    out = tmp_path / "full.h5"
    cmd = [kvsim_bin, "run", str(source_dir / SMALL), "-o", str(out), *SWEEP, "--set", "run.repetitions=200"]
    env = dict(os.environ, OMP_PROC_BIND="false")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ignore_sigxfsz)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if out.exists():
            # Every snapshot holds one more point than the last (about 8 KB): the next one cannot fit.
            limit = out.stat().st_size + 1024
            resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (limit, limit))
            break
        time.sleep(0.005)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr  # a runtime failure, not a crash in HDF5's exit clean-up

    errors = [l for l in stderr.splitlines() if "error" in l.lower()]
    assert len(errors) == 1, stderr  # one line: no HDF5 error stack
    line = errors[0]
    assert line.startswith("kvsim: error: ") and str(out) in line and "File too large" in line, line
    assert "--resume" in line

    with h5py.File(out, "r") as f:
        n = len(f["points"])
        assert f.attrs["complete"] == 0 and 1 <= n < 6
        assert {len(f["summary"][c]) for c in f["summary"]} == {n}
        assert list(f["summary/verified"][:]) == [1] * n
    assert f"keeps the {n} point(s)" in line
    assert not list(tmp_path.glob("full.h5.partial*"))

    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{n} already in" in resumed.stderr
    with h5py.File(out, "r") as f:
        assert len(f["points"]) == 6 and f.attrs["complete"] == 1
