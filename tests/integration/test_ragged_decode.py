"""Token generation over a ragged batch: `kvsim run` of sequences of different lengths with
workload.decode succeeds, verifies, writes the lengths it ran, and counts the bytes attention
read from the positions each sequence held; a combination it cannot run is refused in one line."""
import h5py
import pytest

CONFIG = """\
name: ragged_decode
seed: 7
model: {layers: 2, heads: 8, kv_heads: 2, head_dim: 32}
cache: {max_positions: 160, dtype: fp16, layout: LAYOUT}
workload:
  batch: 4
  lengths: [1, 150, 13, 45]
  decode: {tokens: 5}
run: {warmup: 0, repetitions: 1, copy_probe_mb: 4}
"""


@pytest.mark.parametrize("layout", ["contiguous", "paged"])
def test_ragged_decode_runs_verifies_and_counts_each_sequence(run_kvsim, tmp_path, layout):
    cfg = tmp_path / "ragged.yaml"
    cfg.write_text(CONFIG.replace("LAYOUT", layout))
    out = tmp_path / "ragged.h5"
    p = run_kvsim("run", cfg, "-o", out)
    assert p.returncode == 0, p.stderr
    lengths, tokens, layers, heads, kv_heads, head_dim, cap = [1, 150, 13, 45], 5, 2, 8, 2, 32, 160
    with h5py.File(out, "r") as f:
        s = f["summary"]
        assert list(f["points/0/lengths"][:]) == lengths
        assert s["lengths"][0].decode() == "list"
        assert s["verified"][0] == 1
        assert 0 <= s["attention_rel_err"][0] < 1e-2
        assert s["appended_positions"][0] == sum(lengths) + len(lengths) * tokens
        # Per token: K and V of every position each sequence holds (fp16 rows, plus a block-table
        # entry per row when paged), and the queries read and outputs written.
        row = kv_heads * head_dim * 2 + (4 if layout == "paged" else 0)
        total = sum(layers * (2 * sum(min(n + t + 1, cap) for n in lengths) * row + 2 * len(lengths) * heads * head_dim * 4)
                    for t in range(tokens))
        assert s["attention_bytes"][0] == total // tokens


def test_ragged_decode_that_cannot_run_is_one_line(run_kvsim, tmp_path):
    cfg = tmp_path / "ragged_h2o.yaml"
    cfg.write_text(CONFIG.replace("layout: LAYOUT", "policy: h2o, recent: 16").replace("decode:", "fill: {mode: token}\n  decode:"))
    p = run_kvsim("run", cfg, "-o", tmp_path / "x.h5")
    assert p.returncode == 2, p.stderr
    lines = [l for l in p.stderr.splitlines() if l.startswith("kvsim: error:")]
    assert len(lines) == 1, p.stderr
    assert f"{cfg}:7:" in lines[0] and "workload.lengths" in lines[0], lines[0]
    assert not (tmp_path / "x.h5").exists()


def test_ragged_decode_on_structured_data_matches_float64(run_kvsim, tmp_path):
    # Structured queries of a ragged batch sit at each sequence's own position; fp32 storage
    # leaves only float32 arithmetic against the float64 reference.
    cfg = tmp_path / "ragged_structured.yaml"
    cfg.write_text(CONFIG.replace("dtype: fp16", "dtype: fp32").replace("LAYOUT", "paged").replace(
        "model:", "data: {kind: structured}\nmodel:"))
    out = tmp_path / "ragged_structured.h5"
    p = run_kvsim("run", cfg, "-o", out)
    assert p.returncode == 0, p.stderr
    with h5py.File(out, "r") as f:
        s = f["summary"]
        assert s["data"][0].decode() == "structured"
        assert s["verified"][0] == 1
        assert 0 <= s["attention_rel_err"][0] < 1e-5
