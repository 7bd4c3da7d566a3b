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
    layers, attention = capture.capture(model, ids)
    path = tmp_path_factory.mktemp("capture") / "tiny_llama.h5"
    capture.write(path, layers)
    return path, layers, attention


def test_the_file_reproduces_the_models_attention_output(recorded):
    import h5py

    path, _, attention = recorded
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
