"""kvsim against PyTorch on the same GPU, in one call: decode with a preallocated KV cache.

For each (dtype, batch, context): PyTorch keeps per-layer K and V caches [batch, kv_heads,
max_positions, head_dim] (the layout scaled_dot_product_attention reads without a copy),
appends one position per layer per token with an indexed copy, and runs
F.scaled_dot_product_attention per layer (over the valid prefix, a strided slice, or over the
whole preallocated cache, contiguous: the faster of the two is reported); kvsim runs the same workload from a config
(`workload.decode.tokens`). Both are timed per token after a warm-up; the table gives
milliseconds per token for attention alone and for append + attention, and their ratios.

usage: python3 bench/peer_pytorch.py KVSIM_BINARY OUT_DIR [--quick]

(The older, eager-only comparison kept for bench/gpu_decode.sh; bench/peers.py through
bench/gpu_peers.sh is issue #15's peer benchmark: SDPA backends, CUDA graphs, a Triton kernel.)
"""
import os
import subprocess
import sys

import h5py
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS, HEADS, KV_HEADS, HEAD_DIM = 32, 32, 32, 128
TOKENS = 32


def torch_decode(dtype, batch, context, contiguous):
    dev = torch.device("cuda")
    cap = context + TOKENS
    k = [torch.randn(batch, KV_HEADS, cap, HEAD_DIM, device=dev, dtype=dtype) for _ in range(LAYERS)]
    v = [torch.randn(batch, KV_HEADS, cap, HEAD_DIM, device=dev, dtype=dtype) for _ in range(LAYERS)]
    new_k = torch.randn(LAYERS, batch, KV_HEADS, HEAD_DIM, device=dev, dtype=dtype)
    new_v = torch.randn_like(new_k)
    q = torch.randn(LAYERS, batch, HEADS, 1, HEAD_DIM, device=dev, dtype=dtype)
    attn, total = [], []
    for t in range(TOKENS + 3):
        pos = context + t % TOKENS
        e0, e1, e2 = (torch.cuda.Event(enable_timing=True) for _ in range(3))
        e0.record()
        for layer in range(LAYERS):
            k[layer][:, :, pos] = new_k[layer]
            v[layer][:, :, pos] = new_v[layer]
        e1.record()
        for layer in range(LAYERS):
            if contiguous:  # the whole preallocated cache: contiguous, so SDPA takes its fast kernels
                F.scaled_dot_product_attention(q[layer], k[layer], v[layer])
            else:
                F.scaled_dot_product_attention(q[layer], k[layer][:, :, : pos + 1], v[layer][:, :, : pos + 1])
        e2.record()
        torch.cuda.synchronize()
        if t >= 3:  # warm-up
            attn.append(e1.elapsed_time(e2))
            total.append(e0.elapsed_time(e2))
    del k, v
    torch.cuda.empty_cache()
    med = lambda xs: sorted(xs)[len(xs) // 2]
    return med(attn), med(total)


def kvsim_decode(binary, out_dir, dtype, batch, context):
    out = os.path.join(out_dir, f"kvsim_{dtype}_b{batch}_{context}.h5")
    cmd = [binary, "run", os.path.join(ROOT, "experiments/decode_7b.yaml"), "-o", out,
           "--set", "sweep=null", "--set", f"cache.dtype={dtype}", "--set", f"workload.batch={batch}",
           "--set", f"workload.fill.positions={context}", "--set", f"cache.max_positions={context + TOKENS}",
           "--set", f"workload.decode.tokens={TOKENS}", "--set", "workload.fill.chunk=256",
           "--set", "run.repetitions=2", "--set", "run.copy_probe_mb=512", "--set", "workload.retrieve.verify=false"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"kvsim failed ({p.returncode}): {p.stderr.strip().splitlines()[-1]}")
    with h5py.File(out, "r") as f:
        s = f["summary"]
        return float(s["attention_ms"][0]), float(s["append_ms"][0] + s["attention_ms"][0]), float(
            s["attention_fraction_of_read"][0]), float(f.attrs["read_GBps"])


def main(argv):
    binary, out_dir = argv[1], argv[2]
    quick = "--quick" in argv
    os.makedirs(out_dir, exist_ok=True)
    points = [(d, b, n) for d in ("fp16", "fp32") for b in (1, 16) for n in (4096, 32768)]
    if quick:
        points = [p for p in points if p[2] == 4096]
    free = torch.cuda.mem_get_info()[0]
    rows = [f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, 7B shape "
            f"({LAYERS} layers x {HEADS} heads x {HEAD_DIM}), {TOKENS} decode tokens, medians per token\n",
            "| dtype | batch | context | cache GB | torch attention ms | kvsim attention ms | speed-up | "
            "torch append+attn ms | kvsim append+attn ms | speed-up | kvsim attention / read bw |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for dtype, batch, context in points:
        elem = 2 if dtype == "fp16" else 4
        cache_gb = 2 * LAYERS * batch * (context + TOKENS) * KV_HEADS * HEAD_DIM * elem / 1e9
        if 2.3 * cache_gb * 1e9 > free:  # torch's cache + kvsim's cache + staging, one after the other
            rows.append(f"| {dtype} | {batch} | {context} | {cache_gb:.1f} | does not fit this card | | | | | | |")
            continue
        tdt = torch.float16 if dtype == "fp16" else torch.float32
        # The valid prefix as a strided slice, and the whole cache (+TOKENS positions, contiguous):
        # whichever PyTorch runs faster is the peer.
        ta, tt = min(torch_decode(tdt, batch, context, False), torch_decode(tdt, batch, context, True))
        ka, kt, frac, read = kvsim_decode(binary, out_dir, dtype, batch, context)
        rows.append(f"| {dtype} | {batch} | {context} | {cache_gb:.1f} | {ta:.3f} | {ka:.3f} | {ta / ka:.2f}x | "
                    f"{tt:.3f} | {kt:.3f} | {tt / kt:.2f}x | {frac:.0%} of {read:,.0f} GB/s |")
        print(rows[-1], flush=True)
    table = "\n".join(rows)
    with open(os.path.join(out_dir, "peer.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
