"""The whole path: kvsim CLI -> HDF5 result file -> Python post-processing."""
import os
import shutil
import subprocess
import sys

import h5py
import pytest

SMALL = "tests/configs/good/small_wrap.yaml"

def one_error_line(stderr):
    lines = [l for l in stderr.splitlines() if l.startswith("kvsim: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_bad_flags_and_overrides_exit_2(run_kvsim, source_dir, tmp_path):
    cfg = source_dir / SMALL
    for args in (["run", cfg, "--no-such-flag"], ["frobnicate"], [],
                 ["run", cfg, "--set", "cache.max_positions=zero", "-o", tmp_path / "x.h5"],
                 ["run", cfg, "--set", "nonsense", "-o", tmp_path / "x.h5"],
                 ["run", tmp_path / "missing.yaml", "-o", tmp_path / "x.h5"]):
        p = run_kvsim(*args)
        assert p.returncode == 2, (args, p.stderr)
        one_error_line(p.stderr)
    assert not (tmp_path / "x.h5").exists()


def test_unwritable_output_is_refused(run_kvsim, source_dir, tmp_path):
    (tmp_path / "taken.h5").mkdir()
    for out in (tmp_path / "taken.h5", "/proc/kvsim-no/such.h5"):
        p = run_kvsim("run", source_dir / SMALL, "-o", out)
        assert p.returncode == 2, p.stderr
        assert str(out) in one_error_line(p.stderr)


def test_run_writes_complete_file_that_postprocessing_reads(run_kvsim, source_dir, tmp_path):
    (tmp_path / "nested").mkdir()  # kvsim creates no directories
    out = tmp_path / "nested" / "small.h5"
    p = run_kvsim("run", source_dir / SMALL, "-o", out, "--set", "run.repetitions=4")
    assert p.returncode == 0, p.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["small.h5"]  # no OUT.partial.PID, no OUT.lock
    with h5py.File(out, "r") as f:
        assert f.attrs["complete"] == 1
        assert f.attrs["kvsim_schema"] == 3
        for key in ("kvsim_version", "git_sha", "backend", "device", "config", "created"):
            assert f.attrs[key], key
        assert "repetitions: 4" in f.attrs["config"]
        s = f["summary"]
        lengths = {len(s[c]) for c in s}
        assert lengths == {1}
        assert s["positions"][0] == 40 and s["max_positions"][0] == 32 and s["valid_positions"][0] == 32
        assert s["kv_cache_bytes"][0] == 3 * 2 * 32 * 2 * 12 * 4
        assert s["verified"][0] == 1
        assert s["dtype"][0].decode() == "fp32" and s["layout"][0].decode() == "contiguous"
        assert s["fill_positions_per_s"].attrs["units"] == "positions/s"
        assert s["retrieve_GBps"].attrs["units"] == "GB/s"
        assert len(f["points/0/fill_seconds"]) == 4 and len(f["points/0/retrieve_seconds"]) == 4
        fill = sorted(f["points/0/fill_seconds"][:])
        median = (fill[1] + fill[2]) / 2
        assert s["fill_positions_per_s"][0] == pytest.approx(40 / median)
    if shutil.which("h5dump"):
        h = subprocess.run(["h5dump", "-H", str(out)], capture_output=True, text=True)
        assert h.returncode == 0 and "/summary" in h.stdout.replace('GROUP "summary"', "/summary")
    post = subprocess.run([str(source_dir / "postprocess/kvsim-post"), "table", str(out), "--columns", "all"],
                          capture_output=True, text=True, env=dict(os.environ, KVSIM_PYTHON=sys.executable))
    assert post.returncode == 0, post.stderr
    assert "fill_positions_per_s" in post.stdout and "| 40 |" in post.stdout.replace(" ", "").replace("|40|", "| 40 |")


def test_same_config_same_checksum(run_kvsim, source_dir, tmp_path):
    sums = []
    for i in range(2):
        out = tmp_path / f"r{i}.h5"
        assert run_kvsim("run", source_dir / SMALL, "-o", out).returncode == 0
        with h5py.File(out, "r") as f:
            sums.append(int(f["summary/checksum"][0]))
    assert sums[0] == sums[1] != 0
    # Recorded on OpenMP and Cuda alike (tests/unit/test_determinism.cpp holds every backend to it).
    assert sums[0] == 0xC4D4186CD105F99C


def test_cache_larger_than_the_device_is_refused_before_allocating(run_kvsim, source_dir, tmp_path):
    out = tmp_path / "huge.h5"
    p = run_kvsim("run", source_dir / "experiments/perf009_extended_context.yaml", "-o", out,
                  "--set", "cache.max_positions=100000000", "--set", "workload.fill.positions=10")
    assert p.returncode == 2, p.stderr
    line = one_error_line(p.stderr)
    assert "cache.max_positions" in line and "needs" in line and "available" in line, line
    assert list(tmp_path.iterdir()) == []


def test_sweep_writes_one_row_per_point(run_kvsim, source_dir, tmp_path):
    out = tmp_path / "sweep.h5"
    p = run_kvsim("run", source_dir / SMALL, "-o", out, "--set", "model.head_dim=32",
                  "--set", "sweep={cache.dtype: [fp32, int8, int4], cache.layout: [contiguous, paged]}")
    assert p.returncode == 0, p.stderr
    with h5py.File(out, "r") as f:
        s = f["summary"]
        assert len(s["point"]) == 6
        pairs = {(d.decode(), l.decode()) for d, l in zip(s["dtype"][:], s["layout"][:])}
        assert pairs == {(d, l) for d in ("fp32", "int8", "int4") for l in ("contiguous", "paged")}
        assert all(s["verified"][:] == 1)
        assert sorted(f["points"].keys(), key=int) == [str(i) for i in range(6)]
