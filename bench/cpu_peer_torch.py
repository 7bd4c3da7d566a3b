"""PyTorch on the CPU as the peer of kvsim's host decode attention: the same attention shape
(7B: 32 layers, 32 query heads over 32 KV heads, head_dim 128, batch 1, CONTEXT positions) as a
batched matmul + softmax + matmul per layer, over per-layer K and V caches [batch, kv_heads,
positions, head_dim]. Prints one JSON object: per dtype the median milliseconds per token (all
layers) over REPS timed tokens, or the error torch gave for a dtype it cannot run on the CPU.

usage: python3 bench/cpu_peer_torch.py CONTEXT REPS THREADS [DTYPE...]
"""
import json
import math
import sys
import time

import torch

LAYERS, HEADS, KV_HEADS, HEAD_DIM = 32, 32, 32, 128


def token_ms(dtype, context, reps):
    g = torch.Generator().manual_seed(5)
    k = [torch.randn(1, KV_HEADS, context, HEAD_DIM, generator=g).to(dtype) for _ in range(LAYERS)]
    v = [torch.randn(1, KV_HEADS, context, HEAD_DIM, generator=g).to(dtype) for _ in range(LAYERS)]
    q = torch.randn(LAYERS, 1, HEADS, 1, HEAD_DIM, generator=g).to(dtype)
    scale = 1.0 / math.sqrt(HEAD_DIM)
    times = []
    with torch.no_grad():
        for t in range(reps + 1):  # the first token warms up
            t0 = time.perf_counter()
            for layer in range(LAYERS):
                s = torch.matmul(q[layer], k[layer].transpose(-1, -2)) * scale
                p = torch.softmax(s, dim=-1)
                torch.matmul(p, v[layer])
            if t > 0:
                times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[len(times) // 2]


def main(argv):
    context, reps, threads = int(argv[1]), int(argv[2]), int(argv[3])
    names = argv[4:] or ["float32", "bfloat16", "float16"]
    torch.set_num_threads(threads)
    out = {"torch": torch.__version__, "threads": threads}
    for name in names:
        try:
            out[name] = token_ms(getattr(torch, name), context, reps)
        except RuntimeError as e:  # e.g. a matmul not implemented for the dtype on the CPU
            out[name] = "unsupported: " + str(e).splitlines()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
