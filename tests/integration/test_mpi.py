"""kvsim under mpirun on the CPU backend: sweep points spread over ranks, one context sharded
across ranks, and a failing rank. Ranks are oversubscribed (--oversubscribe): CI has 2 cores."""
import os
import shutil
import subprocess

import h5py
import pytest
from results import content as points

MPIRUN = shutil.which("mpirun")
pytestmark = pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (scripts/setup.sh packages)")


def mpirun(kvsim_bin, n, *args, env_extra=None, cwd=None):
    env = dict(os.environ, OMP_PROC_BIND="false", OMP_NUM_THREADS="1", **(env_extra or {}))
    cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", str(n), kvsim_bin, *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def attrs(path):
    with h5py.File(path, "r") as f:
        return dict(f.attrs)


SWEEP = """name: mpi_sweep
model: {layers: 2, heads: 4, kv_heads: 2, head_dim: 32}
cache: {max_positions: 48, dtype: fp32, layout: paged, page_size: 8}
workload:
  fill: {positions: 40}
sweep:
  cache.dtype: [fp32, fp16, int8, int4]
  cache.policy: [ring, window]
run: {warmup: 0, repetitions: 2, copy_probe_mb: 2}
"""


@pytest.mark.parametrize("ranks", [2, 4])
def test_sweep_points_spread_over_ranks_match_one_rank(kvsim_bin, tmp_path, ranks):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(SWEEP)
    one = mpirun(kvsim_bin, 1, "run", cfg, "-o", tmp_path / "one.h5")
    assert one.returncode == 0, one.stderr
    many = mpirun(kvsim_bin, ranks, "run", cfg, "-o", tmp_path / "many.h5")
    assert many.returncode == 0, many.stderr
    a, b = points(tmp_path / "one.h5"), points(tmp_path / "many.h5")
    assert sorted(a) == sorted(b) == list(range(8))
    assert a == b  # identical content: checksums, errors, bytes, config, point for point
    assert attrs(tmp_path / "many.h5")["complete"] == 1
    assert attrs(tmp_path / "many.h5")["mpi_ranks"] == ranks
    with h5py.File(tmp_path / "many.h5", "r") as f:
        assert set(f["summary"]["rank"]) <= set(range(ranks))
    # One writer: no rank left a file of its own next to the result.
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".h5") == ["many.h5", "one.h5"]


SHARDED = """name: mpi_shards
seed: 9
model: {layers: 2, heads: 8, kv_heads: 2, head_dim: 64}
cache: {max_positions: 700, dtype: DTYPE, layout: LAYOUT}
workload:
  fill: {positions: 611, mode: chunk, chunk: 100}
  decode: {tokens: 3}
run: {warmup: 0, repetitions: 2, copy_probe_mb: 2}
"""


@pytest.mark.parametrize("ranks", [2, 4])
@pytest.mark.parametrize("dtype,layout", [("fp32", "contiguous"), ("int8", "paged"), ("fp16", "head_major")])
def test_sharded_context_matches_one_rank(kvsim_bin, tmp_path, ranks, dtype, layout):
    cfg = tmp_path / "shards.yaml"
    cfg.write_text(SHARDED.replace("DTYPE", dtype).replace("LAYOUT", layout))
    one = mpirun(kvsim_bin, 1, "run", cfg, "-o", tmp_path / "one.h5")
    assert one.returncode == 0, one.stderr
    many = mpirun(kvsim_bin, ranks, "run", cfg, "--set", f"parallel.context_shards={ranks}", "-o", tmp_path / "many.h5")
    assert many.returncode == 0, many.stderr
    a, b = points(tmp_path / "one.h5")[0], points(tmp_path / "many.h5")[0]
    assert b["context_shards"] == ranks and a["context_shards"] == 1
    # The shards hold exactly the one-rank cache: every value verified, same checksum (its terms
    # carry absolute positions), same bytes in total.
    assert a["verified"] == b["verified"] == 1
    assert a["checksum"] == b["checksum"]
    assert a["valid_positions"] == b["valid_positions"] == 614
    assert b["per_rank_cache_bytes"] < a["kv_cache_bytes"]
    # Decode attention merged over the shards equals the one-rank result within fp32 rounding:
    # both are compared with the same float64 attention.
    assert abs(a["attention_rel_err"] - b["attention_rel_err"]) <= 1e-5 * max(1.0, a["attention_rel_err"])
    if dtype == "fp32":
        assert b["attention_rel_err"] < 1e-5
    with h5py.File(tmp_path / "many.h5", "r") as f:
        assert f["summary"]["attention_comm_ms"][0] > 0


def test_context_shards_must_divide_the_ranks(kvsim_bin, tmp_path):
    cfg = tmp_path / "shards.yaml"
    cfg.write_text(SHARDED.replace("DTYPE", "fp32").replace("LAYOUT", "contiguous") + "parallel: {context_shards: 2}\n")
    r = mpirun(kvsim_bin, 3, "run", cfg, "-o", tmp_path / "x.h5")
    assert r.returncode == 2
    lines = [l for l in r.stderr.splitlines() if "error" in l]
    assert len(lines) == 1, r.stderr  # reported once, not by every rank
    assert "shards.yaml:" in lines[0] and "parallel.context_shards" in lines[0] and "3 MPI ranks" in lines[0]
    assert not (tmp_path / "x.h5").exists()


def test_bad_config_is_reported_once_under_mpirun(kvsim_bin, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(SWEEP.replace("layers: 2", "layers: -2"))
    r = mpirun(kvsim_bin, 3, "run", cfg, "-o", tmp_path / "x.h5")
    assert r.returncode == 2
    lines = [l for l in r.stderr.splitlines() if "error" in l]
    assert len(lines) == 1 and "model.layers" in lines[0], r.stderr


def test_a_failing_rank_stops_the_job_and_keeps_gathered_points(kvsim_bin, tmp_path):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(SWEEP)
    out = tmp_path / "run.h5"
    r = mpirun(kvsim_bin, 2, "run", cfg, "-o", out, env_extra={"KVSIM_INJECT_FAILURE": "7"})
    assert r.returncode != 0
    assert "failed on point 8" in r.stderr and "rank " in r.stderr, r.stderr  # the file's point 7, from 1
    if out.exists():  # nothing may have been gathered yet when the job stopped
        assert attrs(out)["complete"] == 0
        assert 7 not in points(out)
    resumed = mpirun(kvsim_bin, 2, "run", cfg, "-o", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert attrs(out)["complete"] == 1
    assert sorted(points(out)) == list(range(8))
