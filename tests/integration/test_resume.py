"""Crash safety: a sweep killed with SIGKILL leaves a valid file of its finished points, and
--resume completes it to the same point set a clean run gives."""
import os
import signal
import subprocess
import sys
import time

import h5py
import pytest

SMALL = "tests/configs/good/small_wrap.yaml"
SWEEP = ["--set", "model.head_dim=32", "--set", "sweep={cache.dtype: [fp32, fp16, bf16, int8, fp8_e4m3, int4]}"]


def finished_points(path):
    try:
        with h5py.File(path, "r") as f:
            return len(f["points"]), int(f.attrs["complete"])
    except (OSError, KeyError):
        return 0, 0


def point_set(path):
    with h5py.File(path, "r") as f:
        s = f["summary"]
        return [(int(p), d.decode(), int(c), int(v)) for p, d, c, v in
                zip(s["point"][:], s["dtype"][:], s["checksum"][:], s["verified"][:])]


def test_kill_9_mid_sweep_then_resume_equals_a_clean_run(kvsim_bin, source_dir, tmp_path):
    out = tmp_path / "killed.h5"
    slow = ["--set", "run.repetitions=200"]  # long enough points to kill the run between two of them
    cmd = [kvsim_bin, "run", str(source_dir / SMALL), "-o", str(out), *SWEEP, *slow]
    env = dict(os.environ, OMP_PROC_BIND="false")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if finished_points(out)[0] >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"

    n, complete = finished_points(out)
    assert complete == 0 and 2 <= n < 6
    post = [str(source_dir / "postprocess/kvsim-post"), "table", str(out)]
    penv = dict(os.environ, KVSIM_PYTHON=sys.executable)
    assert subprocess.run(post, env=penv, capture_output=True).returncode == 2  # incomplete: refused ...
    assert subprocess.run(post + ["--allow-incomplete"], env=penv, capture_output=True).returncode == 0  # ... unless asked
    with h5py.File(out, "r") as f:  # a valid file: every summary column as long as the points
        assert {len(f["summary"][c]) for c in f["summary"]} == {n}

    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{n} already in" in resumed.stderr
    assert finished_points(out) == (6, 1)
    assert not list(tmp_path.glob("killed.h5.partial*")) and not (tmp_path / "killed.h5.lock").exists()

    # The resumed file reports like any other: tables and labelled plots of its numbers.
    post = [str(source_dir / "postprocess/kvsim-post")]
    penv = dict(os.environ, KVSIM_PYTHON=sys.executable)
    rep = subprocess.run(post + ["report", str(out), "-o", str(tmp_path / "report")], env=penv, capture_output=True, text=True)
    assert rep.returncode == 0, rep.stderr
    assert (tmp_path / "report/report.md").exists() and (tmp_path / "report/report.html").exists()
    assert len(list((tmp_path / "report").glob("*.png"))) >= 2
    assert "int4" in (tmp_path / "report/report.md").read_text()

    clean = tmp_path / "clean.h5"
    subprocess.run([kvsim_bin, "run", str(source_dir / SMALL), "-o", str(clean), *SWEEP], env=env, check=True,
                   capture_output=True)
    assert point_set(out) == point_set(clean)


def test_resume_refuses_a_changed_config_unless_forced(run_kvsim, source_dir, tmp_path):
    out = tmp_path / "r.h5"
    base = ["run", source_dir / SMALL, "-o", out, "--set", "model.head_dim=32",
            "--set", "sweep={cache.dtype: [fp32, int8]}"]
    assert run_kvsim(*base).returncode == 0
    before = point_set(out)
    p = run_kvsim(*base, "--set", "cache.max_positions=16", "--resume")
    assert p.returncode == 2
    line = [l for l in p.stderr.splitlines() if "error" in l][-1]
    assert str(out) in line and "--resume" in line and "config changed" in line
    assert point_set(out) == before  # the refused run left the file alone
    forced = run_kvsim(*base, "--set", "cache.max_positions=16", "--resume", "--force")
    assert forced.returncode == 0, forced.stderr
    with h5py.File(out, "r") as f:
        assert list(f["summary/max_positions"][:]) == [16, 16]


def test_resume_of_a_complete_file_runs_nothing(run_kvsim, source_dir, tmp_path):
    out = tmp_path / "done.h5"
    args = ["run", source_dir / SMALL, "-o", out]
    assert run_kvsim(*args).returncode == 0
    with h5py.File(out, "r") as f:
        timings = list(f["points/0/fill_seconds"][:])
    p = run_kvsim(*args, "--resume")
    assert p.returncode == 0 and "1 already in" in p.stderr
    with h5py.File(out, "r") as f:
        assert list(f["points/0/fill_seconds"][:]) == timings and f.attrs["resumed"] == 1


def test_force_needs_resume(run_kvsim, source_dir, tmp_path):
    p = run_kvsim("run", source_dir / SMALL, "-o", tmp_path / "x.h5", "--force")
    assert p.returncode == 2


def test_sigterm_records_the_interrupted_point_and_keeps_the_finished_ones(kvsim_bin, source_dir, tmp_path):
    out = tmp_path / "term.h5"
    cmd = [kvsim_bin, "run", str(source_dir / SMALL), "-o", str(out), *SWEEP, "--set", "run.repetitions=200"]
    env = dict(os.environ, OMP_PROC_BIND="false")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if finished_points(out)[0] >= 1:
            proc.send_signal(signal.SIGTERM)  # what a batch system sends at the time limit
            break
        time.sleep(0.02)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "interrupted by SIGTERM during point" in stderr
    n, complete = finished_points(out)
    assert complete == 0 and 1 <= n < 6
    with h5py.File(out, "r") as f:
        assert f.attrs["interrupted_point"] == n  # points run in order: the next one was cut short
        assert "SIGTERM" in f.attrs["interrupted_by"]
    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert finished_points(out) == (6, 1)


def reseal(path):
    """The kvsim-result checksum line again, after an edit with h5py (docs/hdf5-schema.md)."""
    import zlib
    data = path.read_bytes()
    body = data[512:]
    line = f"kvsim-result crc32={zlib.crc32(body):08x} length={len(body)}\n".encode("ascii")
    path.write_bytes(line.ljust(512, b"\0") + body)


def test_resume_of_another_schema_or_column_set_says_what_changed(run_kvsim, source_dir, tmp_path):
    out = tmp_path / "old.h5"
    args = ["run", source_dir / SMALL, "-o", out, "--set", "run.repetitions=1", "--set", "run.warmup=0"]
    assert run_kvsim(*args).returncode == 0
    with h5py.File(out, "r") as f:
        schema = int(f.attrs["kvsim_schema"])
        assert schema == 3 and f["summary/fill_GBps"].attrs["kind"] == "rate"
    with h5py.File(out, "r+") as f:  # as an older kvsim wrote it: one column fewer, one retired
        del f["summary/prefill_spread"]
        f["summary/old_metric"] = f["summary/fill_GBps"][()]
    reseal(out)
    before = out.read_bytes()
    p = run_kvsim(*args, "--resume")
    assert p.returncode == 2, p.stderr
    lines = [l for l in p.stderr.splitlines() if "error" in l]
    assert len(lines) == 1, p.stderr
    assert f"{out}: --resume: written by schema 3, this kvsim writes 3: columns added: prefill_spread; " \
           "removed: old_metric; rerun without --resume" in lines[0]
    assert out.read_bytes() == before  # refused before anything ran

    with h5py.File(out, "r+") as f:
        del f["summary/old_metric"]
        f["summary/prefill_spread"] = f["summary/fill_spread"][()]
        f.attrs["kvsim_schema"] = 2
    reseal(out)
    p = run_kvsim(*args, "--resume")
    assert p.returncode == 2, p.stderr
    assert "written by schema 2, this kvsim writes 3: columns unchanged; rerun without --resume" in p.stderr
