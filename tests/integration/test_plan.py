"""`kvsim plan`: bytes per position, per sequence and in total, and the largest batch and context
in a given memory. Held to vLLM's own KV-cache sizing on three model presets, and to the bytes a
run of the same config allocates."""
import json
import math
import re

import h5py
import pytest

GIB = 1 << 30


def preset(source_dir, name):
    """layers, kv_heads, head_dim of configs/models/<name>.yaml (flat `key: value` lines)."""
    text = (source_dir / "configs/models" / f"{name}.yaml").read_text()
    value = {k: int(v) for k, v in re.findall(r"^(layers|kv_heads|head_dim):\s*(\d+)", text, re.M)}
    return value["layers"], value["kv_heads"], value["head_dim"]


def vllm_kv_cache(layers, kv_heads, head_dim, dtype_bytes, block_size, max_model_len, memory):
    """vLLM v1's sizing of a full-attention model (vllm/v1/core/kv_cache_utils.py,
    vllm/v1/kv_cache_interface.py): a block of one layer holds K and V of `block_size` tokens,
    page_size_bytes = 2 * block_size * num_kv_heads * head_size * dtype_size; the memory left for
    the cache gives num_blocks = available // page_size // num_layers; the log's "GPU KV cache
    size" is num_blocks * block_size tokens, and "Maximum concurrency for max_model_len tokens per
    request" is num_blocks / cdiv(max_model_len, block_size). TensorRT-LLM sizes its paged cache
    the same way, with tokens_per_block for block_size."""
    page_size = 2 * block_size * kv_heads * head_dim * dtype_bytes
    num_blocks = memory // page_size // layers
    return {"bytes_per_token": 2 * layers * kv_heads * head_dim * dtype_bytes, "num_blocks": num_blocks,
            "tokens": num_blocks * block_size,
            "concurrency": num_blocks / math.ceil(max_model_len / block_size)}


def plan(run_kvsim, config, memory, *sets):
    r = run_kvsim("plan", config, "--memory", memory, "--format", "json", *[a for s in sets for a in ("--set", s)])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def paged_config(tmp_path, model, page, context, dtype="fp16"):
    cfg = tmp_path / f"{model}.yaml"
    cfg.write_text(f"name: plan_{model}\nmodel: {{preset: {model}}}\n"
                   f"cache: {{max_positions: {context}, dtype: {dtype}, layout: paged, page_size: {page}}}\n"
                   f"workload: {{fill: {{positions: {context}}}}}\n")
    return cfg


@pytest.mark.parametrize("model,memory_gib,context,block", [
    ("llama2-7b", 80, 4096, 16),     # MHA: 32 x 32 x 128
    ("llama3-8b", 70, 8192, 16),     # GQA: 32 x 8 x 128
    ("llama2-70b", 40, 4096, 16),    # GQA, 80 layers
    ("mistral-7b", 64, 32768, 64),   # blocks of 64 tokens (TensorRT-LLM: tokens_per_block)
    ("qwen2.5-7b", 70, 32768, 16),   # GQA, 7 query heads per KV head
    ("llama3.1-70b", 141, 131072, 32),
])
def test_plan_agrees_with_vllms_kv_cache_size_and_concurrency(run_kvsim, source_dir, tmp_path, model, memory_gib,
                                                             context, block):
    memory = memory_gib * GIB
    [p] = plan(run_kvsim, paged_config(tmp_path, model, block, context), f"{memory_gib}GiB")
    v = vllm_kv_cache(*preset(source_dir, model), 2, block, context, memory)
    assert p["memory_bytes"] == memory
    assert p["bytes_per_position"] == v["bytes_per_token"]
    assert p["pages_that_fit"] == v["num_blocks"]
    assert p["pages_that_fit"] * block == v["tokens"]
    assert p["page_concurrency"] == pytest.approx(v["concurrency"], rel=1e-12)
    # kvsim's own answer counts what it allocates beside the pages (block tables, free list): at
    # most vLLM's whole sequences, and the next batch does not fit.
    assert p["largest_batch"] <= math.floor(v["concurrency"])
    at = plan(run_kvsim, paged_config(tmp_path, model, block, context), f"{memory_gib}GiB",
              f"workload.batch={p['largest_batch']}")[0]
    assert at["total_bytes"] <= memory
    above = plan(run_kvsim, paged_config(tmp_path, model, block, context), f"{memory_gib}GiB",
                 f"workload.batch={p['largest_batch'] + 1}")[0]
    assert above["total_bytes"] > memory


SMALL = """name: plan_small
model: {layers: 3, heads: 4, kv_heads: 2, head_dim: 32}
cache: {max_positions: 100, dtype: DTYPE, layout: LAYOUT, page_size: 16, policy: POLICY}
workload:
  fill: {positions: 90}
  decode: {tokens: 5}
run: {warmup: 0, repetitions: 1, copy_probe_mb: 2}
"""


@pytest.mark.parametrize("dtype,layout,policy", [("fp32", "contiguous", "ring"), ("int8", "paged", "ring"),
                                                 ("int4", "head_major", "ring"), ("fp8_e4m3", "paged", "window"),
                                                 ("fp16", "contiguous", "h2o")])
def test_plan_is_what_a_run_allocates_to_the_byte(run_kvsim, tmp_path, dtype, layout, policy):
    cfg = tmp_path / "small.yaml"
    text = SMALL.replace("DTYPE", dtype).replace("LAYOUT", layout).replace("POLICY", policy)
    if layout != "paged":
        text = text.replace(", page_size: 16", "")
    if policy == "h2o":
        text = text.replace("policy: h2o", "policy: h2o, heavy: 50, recent: 50")
    cfg.write_text(text)
    [p] = plan(run_kvsim, cfg, "1GiB")
    assert p["context"] == 95
    out = tmp_path / "small.h5"
    r = run_kvsim("run", cfg, "-o", out)
    assert r.returncode == 0, r.stderr
    with h5py.File(out, "r") as f:
        assert p["total_bytes"] == int(f["summary"]["kv_cache_bytes"][0])
        assert p["bytes_per_position"] == int(f["summary"]["bytes_per_position"][0])


def test_plan_text_names_the_answers(run_kvsim, source_dir):
    r = run_kvsim("plan", source_dir / "experiments/sweeps/gpu/policy_32k.yaml", "--memory", "80GiB")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("largest batch") == 5 and "point 5/5" in r.stdout
    # The ring holds the whole context; a window holds its own size at any context.
    assert "largest context  163,840 positions a sequence at batch 1" in r.stdout
    assert "any context" in r.stdout
    assert "in 85.9 GB (80GiB)" in r.stdout


@pytest.mark.parametrize("memory", ["80GiBs", "-3GB", "lots", "0", "1e30"])
def test_a_bad_memory_size_is_one_line_and_exit_2(run_kvsim, source_dir, memory):
    r = run_kvsim("plan", source_dir / "experiments/decode_7b.yaml", f"--memory={memory}")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--memory" in lines[0] and memory in lines[0], r.stderr
    assert r.stdout == ""


def test_plan_needs_memory_and_a_valid_config(run_kvsim, source_dir, tmp_path):
    r = run_kvsim("plan", source_dir / "experiments/decode_7b.yaml")
    assert r.returncode == 2 and "--memory" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: {layers: 0, heads: 4, kv_heads: 2, head_dim: 8}\ncache: {max_positions: 8}\n"
                   "workload: {fill: {positions: 8}}\n")
    r = run_kvsim("plan", bad, "--memory", "1GiB")
    assert r.returncode == 2 and "bad.yaml" in r.stderr and "model.layers" in r.stderr


def test_a_cache_that_does_not_fit_plans_zero(run_kvsim, source_dir):
    r = run_kvsim("plan", source_dir / "experiments/decode_7b.yaml", "--memory", "1MB", "--format", "json",
                  "--set", "sweep=null")
    assert r.returncode == 0, r.stderr
    [p] = json.loads(r.stdout)
    assert p["largest_batch"] == 0 and p["total_bytes"] > 1e6


@pytest.mark.parametrize("policy", ["ring", "window"])
def test_max_positions_max_plans_the_most_slots_that_fit(run_kvsim, tmp_path, policy):
    cfg = tmp_path / "max.yaml"
    cfg.write_text(f"name: m\nmodel: {{preset: llama2-7b}}\ncache: {{max_positions: max, dtype: fp16, policy: {policy}}}\n")
    [p] = plan(run_kvsim, cfg, "80GiB")
    # 80 GiB / (32 layers x 2 x 32 heads x 128 x 2 bytes) positions, all of them held.
    assert p["context"] == p["held"] == 80 * GIB // 524288
    assert p["total_bytes"] <= 80 * GIB and p["largest_batch"] == 1


def test_a_given_pool_is_planned_as_the_run_allocates_it(run_kvsim, tmp_path):
    cfg = tmp_path / "pool.yaml"
    cfg.write_text(SMALL.replace("DTYPE", "int8").replace("LAYOUT", "paged").replace("POLICY", "ring")
                   .replace("page_size: 16", "page_size: 16, pool_pages: 40"))
    [p] = plan(run_kvsim, cfg, "1GiB")
    out = tmp_path / "pool.h5"
    r = run_kvsim("run", cfg, "-o", out)
    assert r.returncode == 0, r.stderr
    with h5py.File(out, "r") as f:
        assert p["total_bytes"] == int(f["summary"]["kv_cache_bytes"][0])
    # The spare pages are allocated, not a sequence's: they count in the fixed part.
    assert p["fixed_bytes"] >= (40 - p["pages_per_sequence"]) * 16 * p["bytes_per_position"]
