"""Read-bandwidth peers on the GPU for kvsim's probe: a Triton block-sum (each program sums a
contiguous block and stores one float) and torch.sum, over the same buffer size, best of N
CUDA-event-timed runs after a warm-up. Prints GB/s; run in the same call as kvsim's probe.
Usage: python3 bench/blocksum_peer.py [MiB] [reps]"""
import sys

import torch
import triton
import triton.language as tl


@triton.jit
def block_sum(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
    tl.store(out_ptr + pid, tl.sum(x, axis=0))


def best_gbps(fn, nbytes, reps):
    fn()
    torch.cuda.synchronize()
    best = 0.0
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        best = max(best, nbytes / (a.elapsed_time(b) * 1e-3) / 1e9)
    return best


def main():
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    n = (mib << 20) // 4
    x = torch.full((n,), 0.5, device="cuda", dtype=torch.float32)
    print(f"device: {torch.cuda.get_device_name()}, buffer {mib} MiB")
    for block in (2048, 4096, 8192, 16384):
        out = torch.empty(triton.cdiv(n, block), device="cuda", dtype=torch.float32)
        g = best_gbps(lambda: block_sum[(triton.cdiv(n, block),)](x, out, n, BLOCK=block), 4 * n, reps)
        assert abs(out.double().sum().item() - 0.5 * n) < 1e-3 * n
        print(f"triton block-sum BLOCK={block}: {g:.1f} GB/s")
    print(f"torch.sum: {best_gbps(lambda: torch.sum(x), 4 * n, reps):.1f} GB/s")


if __name__ == "__main__":
    main()
