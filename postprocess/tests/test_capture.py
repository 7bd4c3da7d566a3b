"""The capture script on a tiny randomly initialised Llama built here (no download): its file
reproduces the model's attention output within fp32 rounding and loads as kvsim recorded data."""

import os
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the capture script needs it")
transformers = pytest.importorskip("transformers", reason="transformers is not installed: the capture script needs it")

from kvsim_post import capture  # noqa: E402

LAYERS, HEADS, KV_HEADS, HEAD_DIM, TOKENS = 2, 4, 2, 16, 48


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=97, hidden_size=HEADS * HEAD_DIM, intermediate_size=128,
                                      num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                      num_key_value_heads=KV_HEADS, max_position_embeddings=256,
                                      attn_implementation="eager")
    model = transformers.LlamaForCausalLM(config).eval()
    ids = torch.randint(0, config.vocab_size, (1, TOKENS))
    layers, attention, after = capture.capture(model, ids)
    path = tmp_path_factory.mktemp("capture") / "tiny_llama.h5"
    capture.write(path, layers)
    return path, layers, attention, after


def test_the_file_reproduces_the_models_attention_output(recorded):
    import h5py

    path, _, attention, _ = recorded
    with h5py.File(path, "r") as f:
        for layer in range(LAYERS):
            g = f[f"layer_{layer}"]
            k, v, q = g["k"][()], g["v"][()], g["q"][()]
            assert k.shape == (TOKENS, KV_HEADS, HEAD_DIM) and q.shape == (TOKENS, HEADS, HEAD_DIM)
            np.testing.assert_array_equal(g["positions"][()], np.arange(TOKENS))
            for h in range(HEADS):
                kh, vh = k[:, h // (HEADS // KV_HEADS)].astype(np.float64), v[:, h // (HEADS // KV_HEADS)].astype(np.float64)
                scores = q[:, h].astype(np.float64) @ kh.T / np.sqrt(HEAD_DIM)
                scores[np.triu_indices(TOKENS, 1)] = -np.inf  # causal
                w = np.exp(scores - scores.max(axis=1, keepdims=True))
                out = (w / w.sum(axis=1, keepdims=True)) @ vh
                np.testing.assert_allclose(out, attention[layer][:, h], rtol=1e-4, atol=1e-5)


def test_residual_and_o_proj_give_the_residual_stream_after_attention(recorded):
    """What next_input_rel_err holds designs to: residual + o_proj(attention) is the model's own
    residual stream after attention (the input of post_attention_layernorm)."""
    import h5py

    path, _, attention, after = recorded
    with h5py.File(path, "r") as f:
        for layer in range(LAYERS):
            g = f[f"layer_{layer}"]
            w, x = g["o_proj"][()].astype(np.float64), g["residual"][()].astype(np.float64)
            assert w.shape == (HEADS * HEAD_DIM, HEADS * HEAD_DIM) and x.shape == (TOKENS, HEADS * HEAD_DIM)
            got = x + attention[layer].reshape(TOKENS, -1).astype(np.float64) @ w.T
            np.testing.assert_allclose(got, after[layer], rtol=1e-4, atol=1e-5)
            assert np.abs(after[layer] - x).max() > 1e-3  # attention moved the stream: the check has teeth


def test_the_file_loads_as_recorded_data(recorded, tmp_path):
    kvsim = os.environ.get("KVSIM_BIN")
    if not kvsim:
        pytest.skip("KVSIM_BIN is not set: no kvsim binary to load the file with")
    path = recorded[0]
    cfg = tmp_path / "recorded.yaml"
    cfg.write_text(f"""name: recorded_tiny_llama
data: {{kind: recorded, file: {path}}}
model: {{layers: {LAYERS}, heads: {HEADS}, kv_heads: {KV_HEADS}, head_dim: {HEAD_DIM}}}
cache: {{max_positions: {TOKENS}, dtype: fp32}}
workload:
  fill: {{mode: chunk, chunk: 16, positions: {TOKENS - 2}}}
  decode: {{tokens: 2}}
run: {{warmup: 0, repetitions: 1, copy_probe_mb: 16}}
""")
    done = subprocess.run([kvsim, "run", str(cfg), "-o", str(tmp_path / "out.h5")], capture_output=True, text=True,
                          env=dict(os.environ, OMP_PROC_BIND="false"), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    import h5py

    with h5py.File(tmp_path / "out.h5", "r") as f:
        s = f["summary"]
        # fp32, every position held: what is left is arithmetic rounding, in both figures.
        assert 0 <= s["attention_rel_err"][0] < 1e-5
        assert 0 <= s["next_input_rel_err"][0] < 1e-5
        assert len(f["points/0/next_input_rel_err_per_layer"][()]) == LAYERS
