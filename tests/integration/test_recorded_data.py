"""data.kind: recorded (docs/data.md): a file written here with h5py is read, tiled over the
context and measured; files that do not fit the model are refused in one line naming the file
and the dataset."""

import h5py
import numpy as np
import pytest

LAYERS, HEADS, KV_HEADS, HEAD_DIM, ROWS = 2, 4, 2, 16, 50
CONTEXT = 130  # 128 filled + 2 generated: the rows tiled 2.6 times


def write_table(path, rows=ROWS, layers=LAYERS, shapes=None, positions=None, seed=3, extra=None):
    """extra: {(layer, name): array} written beside k, v, q (o_proj, residual)."""
    rng = np.random.default_rng(seed)
    shapes = shapes or {}
    extra = extra or {}
    with h5py.File(path, "w") as f:
        for layer in range(layers):
            g = f.create_group(f"layer_{layer}")
            for name, heads in (("k", KV_HEADS), ("v", KV_HEADS), ("q", HEADS)):
                shape = shapes.get((layer, name), (rows, heads, HEAD_DIM))
                if shape is not None:
                    g.create_dataset(name, data=rng.standard_normal(shape).astype(np.float32) * (3.0 if name == "q" else 1.0))
            g.create_dataset("positions", data=np.arange(rows) if positions is None else positions)
            for (at, name), values in extra.items():
                if at == layer:
                    g.create_dataset(name, data=values)
    return path


def config(tmp_path, table, dtype="fp32", cache=""):
    path = tmp_path / "recorded.yaml"
    path.write_text(f"""name: recorded
data:
  kind: recorded
  file: {table}
model: {{layers: {LAYERS}, heads: {HEADS}, kv_heads: {KV_HEADS}, head_dim: {HEAD_DIM}}}
cache: {{max_positions: {CONTEXT}, dtype: {dtype}{cache}}}
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
    # No o_proj and residual in the file: the next-input error is not run.
    assert s_next_input(tmp_path / "out.h5") == (-1.0, 0)


WIDTH = HEADS * HEAD_DIM
QUERY_ROW = (CONTEXT - 1) % ROWS  # the last token's row


def s_next_input(path):
    with h5py.File(path, "r") as f:
        per_layer = f["points/0"].get("next_input_rel_err_per_layer")  # not stored where not run
        return f["summary"]["next_input_rel_err"][0], 0 if per_layer is None else len(per_layer)


def exact_outputs(table, layer):
    """Exact attention output of every query head of the last token over all CONTEXT positions, [WIDTH]."""
    with h5py.File(table, "r") as f:
        g = f[f"layer_{layer}"]
        k, v, q = (g[n][()].astype(np.float64) for n in ("k", "v", "q"))
    rows = np.arange(CONTEXT) % ROWS
    out = []
    for h in range(HEADS):
        kv = h // (HEADS // KV_HEADS)
        scores = k[rows, kv] @ q[QUERY_ROW, h] / np.sqrt(HEAD_DIM)
        w = np.exp(scores - scores.max())
        out.append((w / w.sum()) @ v[rows, kv])
    return np.concatenate(out)


def next_input_weights(o_proj, residual):
    return {(layer, name): values[layer] for layer in range(LAYERS)
            for name, values in (("o_proj", o_proj), ("residual", residual))}


def test_next_input_error_is_the_attention_error_through_o_proj_and_the_residual(run_kvsim, tmp_path):
    # o_proj: a cyclic shift of the attention output (its transpose would give other figures)
    # over three more hidden rows of zeros; the residual row of the last token then sets how
    # much the attention error weighs against the stream it enters.
    hidden = WIDTH + 3
    shift = np.roll(np.eye(WIDTH), 1, axis=0)
    o_proj = np.stack([np.vstack([shift * (layer + 1), np.zeros((3, WIDTH))]) for layer in range(LAYERS)]).astype(np.float32)
    rng = np.random.default_rng(7)
    residual = (rng.standard_normal((LAYERS, ROWS, hidden)) * 0.3).astype(np.float32)
    table = write_table(tmp_path / "table.h5", extra=next_input_weights(o_proj, residual))
    p = run_kvsim("run", config(tmp_path, table, "fp8_e4m3"), "-o", tmp_path / "out.h5")
    assert p.returncode == 0, p.stderr
    with h5py.File(tmp_path / "out.h5", "r") as f:
        s = f["summary"]
        attention_err, next_err = s["attention_rel_err"][0], s["next_input_rel_err"][0]
        per_layer_attention = f["points/0/attention_rel_err_per_layer"][()]
        per_layer_next = f["points/0/next_input_rel_err_per_layer"][()]
    # Every position held (ring, max_positions = CONTEXT): the exact output over the held
    # positions is the exact one, so each error's numerator is the same up to o_proj's scale.
    err2 = ref2_attention = ref2_next = 0.0
    for layer in range(LAYERS):
        o = exact_outputs(table, layer)
        x = residual[layer, QUERY_ROW].astype(np.float64)
        stream = x + o_proj[layer].astype(np.float64) @ o
        layer_err2 = (per_layer_attention[layer] ** 2) * (o @ o)
        assert per_layer_next[layer] == pytest.approx(np.sqrt(layer_err2 * (layer + 1) ** 2 / (stream @ stream)), rel=1e-6)
        err2 += layer_err2 * (layer + 1) ** 2
        ref2_attention += o @ o
        ref2_next += stream @ stream
    assert 1e-3 < attention_err < 0.1
    assert next_err == pytest.approx(np.sqrt(err2 / ref2_next), rel=1e-6)
    assert next_err != pytest.approx(attention_err, rel=1e-2)


def test_next_input_error_counts_what_eviction_loses(run_kvsim, tmp_path):
    # o_proj the identity and no residual: the next-input error is the attention output's error
    # against every position, which a window of 64 of 130 positions does not hold.
    o_proj = np.stack([np.eye(WIDTH)] * LAYERS).astype(np.float32)
    residual = np.zeros((LAYERS, ROWS, WIDTH), np.float32)
    table = write_table(tmp_path / "table.h5", extra=next_input_weights(o_proj, residual))
    cfg = config(tmp_path, table, cache=", policy: window").read_text().replace(f"max_positions: {CONTEXT}", "max_positions: 64")
    (tmp_path / "window.yaml").write_text(cfg)
    p = run_kvsim("run", tmp_path / "window.yaml", "-o", tmp_path / "out.h5")
    assert p.returncode == 0, p.stderr
    with h5py.File(tmp_path / "out.h5", "r") as f:
        attention_err, next_err = f["summary"]["attention_rel_err"][0], f["summary"]["next_input_rel_err"][0]
    assert attention_err < 1e-5  # fp32 over the positions held
    assert next_err > 1e-2       # the evicted positions' share of the output


def test_a_zero_o_proj_gives_a_zero_next_input_error(run_kvsim, tmp_path):
    o_proj = np.zeros((LAYERS, 5, WIDTH), np.float32)
    residual = np.ones((LAYERS, ROWS, 5), np.float32)
    table = write_table(tmp_path / "table.h5", extra=next_input_weights(o_proj, residual))
    p = run_kvsim("run", config(tmp_path, table, "bf16"), "-o", tmp_path / "out.h5")
    assert p.returncode == 0, p.stderr
    assert s_next_input(tmp_path / "out.h5") == (0.0, LAYERS)


BAD = {
    "missing_layer": (dict(layers=1), "/layer_1: missing"),
    "missing_q": (dict(shapes={(1, "q"): None}), "/layer_1/q: missing"),
    "wrong_head_dim": (dict(shapes={(0, "k"): (ROWS, KV_HEADS, 8)}), "/layer_0/k: has shape [50, 2, 8], expected [rows, 2, 16]"),
    "rows_differ": (dict(shapes={(1, "v"): (ROWS - 1, KV_HEADS, HEAD_DIM)}), "/layer_1/v: has shape [49, 2, 16], expected [50, 2, 16]"),
    "positions_not_consecutive": (dict(positions=np.arange(ROWS) * 2), "/layer_0/positions: row 1 holds position 2"),
    "o_proj_without_residual": (dict(extra={(0, "o_proj"): np.zeros((8, WIDTH), np.float32)}),
                                "/layer_0/residual: missing (o_proj and residual come together, in every layer)"),
    "next_input_in_layer_1_only": (dict(extra={(1, "o_proj"): np.zeros((8, WIDTH), np.float32),
                                               (1, "residual"): np.zeros((ROWS, 8), np.float32)}),
                                   "/layer_1/o_proj: present, but /layer_0 records no o_proj and residual"),
    "o_proj_width": (dict(extra=next_input_weights(np.zeros((LAYERS, 8, WIDTH - 1), np.float32),
                                                   np.zeros((LAYERS, ROWS, 8), np.float32))),
                     f"/layer_0/o_proj: has shape [8, {WIDTH - 1}], expected [hidden, {WIDTH}] (hidden, heads * head_dim)"),
    "residual_rows": (dict(extra=next_input_weights(np.zeros((LAYERS, 8, WIDTH), np.float32),
                                                    np.zeros((LAYERS, ROWS - 1, 8), np.float32))),
                      f"/layer_0/residual: has shape [{ROWS - 1}, 8], expected [{ROWS}, 8] (rows, hidden)"),
    "hidden_differs": (dict(extra={**next_input_weights(np.zeros((LAYERS, 8, WIDTH), np.float32),
                                                        np.zeros((LAYERS, ROWS, 8), np.float32)),
                                   (1, "o_proj"): np.zeros((9, WIDTH), np.float32)}),
                       f"/layer_1/o_proj: has shape [9, {WIDTH}], expected [8, {WIDTH}] (hidden, heads * head_dim)"),
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


def test_a_value_that_is_not_finite_is_refused_when_read(run_kvsim, tmp_path):
    residual = np.zeros((LAYERS, ROWS, 8), np.float32)
    residual[1, 0, 5] = np.nan
    table = write_table(tmp_path / "nan.h5", extra=next_input_weights(np.zeros((LAYERS, 8, WIDTH), np.float32), residual))
    p = run_kvsim("run", config(tmp_path, table), "-o", tmp_path / "out.h5")
    assert p.returncode != 0
    lines = [l for l in p.stderr.splitlines() if "error" in l]
    assert len(lines) == 1 and "/layer_1/residual: holds a value that is not finite at element 5" in lines[0], p.stderr
