"""data.kind: recorded (docs/data.md): a file written here with h5py is read, tiled over the
context and measured; files that do not fit the model are refused in one line naming the file
and the dataset."""

import h5py
import numpy as np
import pytest

LAYERS, HEADS, KV_HEADS, HEAD_DIM, ROWS = 2, 4, 2, 16, 50
CONTEXT = 130  # 128 filled + 2 generated: the rows tiled 2.6 times


def write_table(path, rows=ROWS, layers=LAYERS, shapes=None, positions=None, seed=3):
    rng = np.random.default_rng(seed)
    shapes = shapes or {}
    with h5py.File(path, "w") as f:
        for layer in range(layers):
            g = f.create_group(f"layer_{layer}")
            for name, heads in (("k", KV_HEADS), ("v", KV_HEADS), ("q", HEADS)):
                shape = shapes.get((layer, name), (rows, heads, HEAD_DIM))
                if shape is not None:
                    g.create_dataset(name, data=rng.standard_normal(shape).astype(np.float32) * (3.0 if name == "q" else 1.0))
            g.create_dataset("positions", data=np.arange(rows) if positions is None else positions)
    return path


def config(tmp_path, table, dtype="fp32"):
    path = tmp_path / "recorded.yaml"
    path.write_text(f"""name: recorded
data:
  kind: recorded
  file: {table}
model: {{layers: {LAYERS}, heads: {HEADS}, kv_heads: {KV_HEADS}, head_dim: {HEAD_DIM}}}
cache: {{max_positions: {CONTEXT}, dtype: {dtype}}}
workload:
  fill: {{mode: chunk, chunk: 32, positions: {CONTEXT - 2}}}
  decode: {{tokens: 2}}
run: {{warmup: 0, repetitions: 1, copy_probe_mb: 16}}
""")
    return path


def exact_top_mass(table, layer):
    """attention_top_mass of the last token, from the file: position p reads row p % ROWS."""
    with h5py.File(table, "r") as f:
        g = f[f"layer_{layer}"]
        k, q = g["k"][()].astype(np.float64), g["q"][()].astype(np.float64)
    rows = np.arange(CONTEXT) % ROWS
    masses = []
    for h in range(HEADS):
        scores = k[rows, h // (HEADS // KV_HEADS)] @ q[(CONTEXT - 1) % ROWS, h] / np.sqrt(HEAD_DIM)
        w = np.exp(scores - scores.max())
        w /= w.sum()
        masses.append(np.sort(w)[::-1][: -(-CONTEXT // 20)].sum())
    return np.mean(masses)


@pytest.mark.parametrize("dtype", ["fp32", "fp8_e4m3"])
def test_recorded_data_is_read_tiled_and_measured(run_kvsim, tmp_path, dtype):
    table = write_table(tmp_path / "table.h5")
    p = run_kvsim("run", config(tmp_path, table, dtype), "-o", tmp_path / "out.h5")
    assert p.returncode == 0, p.stderr
    with h5py.File(tmp_path / "out.h5", "r") as f:
        s = f["summary"]
        assert s["data"][0].decode() == "recorded"
        assert s["verified"][0] == 1
        top = f["points/0/attention_top_mass_per_layer"][()]
        err = s["attention_rel_err"][0]
    for layer in range(LAYERS):
        assert top[layer] == pytest.approx(exact_top_mass(table, layer), rel=1e-9)
    # fp32 storage: arithmetic error only; fp8 (scale from the table's largest |K|, |V|): its rounding.
    assert err < (1e-5 if dtype == "fp32" else 0.1)
    assert err > (0 if dtype == "fp32" else 1e-3)


BAD = {
    "missing_layer": (dict(layers=1), "/layer_1: missing"),
    "missing_q": (dict(shapes={(1, "q"): None}), "/layer_1/q: missing"),
    "wrong_head_dim": (dict(shapes={(0, "k"): (ROWS, KV_HEADS, 8)}), "/layer_0/k: has shape [50, 2, 8], expected [rows, 2, 16]"),
    "rows_differ": (dict(shapes={(1, "v"): (ROWS - 1, KV_HEADS, HEAD_DIM)}), "/layer_1/v: has shape [49, 2, 16], expected [50, 2, 16]"),
    "positions_not_consecutive": (dict(positions=np.arange(ROWS) * 2), "/layer_0/positions: row 1 holds position 2"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_table_that_does_not_fit_is_refused_in_one_line(run_kvsim, tmp_path, case):
    kwargs, what = BAD[case]
    table = write_table(tmp_path / f"{case}.h5", **kwargs)
    p = run_kvsim("validate", config(tmp_path, table))
    assert p.returncode == 2, p.stderr
    lines = [l for l in p.stderr.splitlines() if l.startswith("kvsim: error:")]
    assert len(lines) == 1, p.stderr
    assert "recorded.yaml:4: data.file: " + str(table) + ": " + what in lines[0]


def test_not_a_table_is_refused(run_kvsim, tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all\n")
    p = run_kvsim("validate", config(tmp_path, junk))
    assert p.returncode == 2
    assert f"data.file: {junk}: not an HDF5 file" in p.stderr
    p = run_kvsim("validate", config(tmp_path, tmp_path / "absent.h5"))
    assert p.returncode == 2
    assert "absent.h5: no such file" in p.stderr
