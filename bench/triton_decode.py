"""Split-K flash-decoding in Triton, written for kvsim's peer benchmark (bench/peers.py).

What it computes: decode attention of one layer, one new query per sequence,
    out[b, h] = softmax(q[b, h] . K[b, h // G]^T / sqrt(D)) . V[b, h // G]
over the first `n_ctx` positions of a KV cache, G = heads / kv_heads query heads per KV head.

How:
- Cache layouts: contiguous [batch, kv_heads, positions, head_dim] (the layout SDPA reads), or
  paged: a pool [pages, kv_heads, page_size, head_dim] read through a block table
  [batch, pages_per_sequence] (int32 page numbers; page_size a power of two, 16..256).
- Storage: fp16, bf16, or fp8 e4m3 (torch.float8_e4m3fn) with one float32 scale per KV head of the
  layer for K and one for V (per-tensor: pass the same value for every head). fp8 rows are
  converted to fp16 in the kernel; the K scale multiplies the scores and the V scale the output.
- Kernel 1 (split): one program per (sequence, KV head, split). The G query heads of the KV head
  are the rows of one tl.dot, padded to 16 rows (tl.dot's smallest M); the split's positions are
  walked in tiles of BLOCK_N with an online softmax in base 2 (exp2, scores pre-scaled by
  log2(e) / sqrt(D)). It writes the split's normalised output and its log2-sum-exp.
- Kernel 2 (merge): one program per (sequence, query head) combines the splits' partial
  outputs, weighting each by 2^(lse_s - max lse).
- Positions past the end of a tile are clamped to the last valid one for the loads (so no
  masked load of fp8 is needed and every loaded value is finite) and their scores set to -inf.
  An empty split (its start past n_ctx) stores lse = -inf and a zero output, weight 0.

Also here: `emulate_decode`, the same split / tile / merge arithmetic written with torch
operations (float32), which bench/peers.py --cpu-selftest checks against the float32 reference
on a CPU where Triton is absent (it checks the algorithm and the index arithmetic, not the
Triton code generation).

Usage (from bench/peers.py):
    ws = DecodeWorkspace(batch, kv_heads, heads, head_dim, n_ctx, device)
    decode(q, k, v, out, ws, n_ctx)                      # contiguous fp16/bf16
    decode(q, k8, v8, out, ws, n_ctx, k_scale, v_scale)  # fp8 cache, q/out fp16
    decode(q, kp, vp, out, ws, n_ctx, block_table=bt, page_size=16)   # paged
q, out: [batch, heads, head_dim], contiguous, fp16 or bf16.
"""
import math

try:
    import torch
except ImportError:  # --dry-run on a machine without torch
    torch = None
try:
    import triton
    import triton.language as tl
except ImportError:  # the CPU self-test: emulate_decode only
    triton = None
    tl = None

G_PAD_MIN = 16  # tl.dot's smallest M
BLOCK_N = 64  # positions per tile
LOG2E = 1.4426950408889634


def next_pow2(x):
    return 1 << max(0, int(x - 1).bit_length())


def plan_splits(batch, kv_heads, n_ctx, sms=132, block_n=BLOCK_N, min_chunk=256, max_splits=64):
    """Splits per (sequence, KV head) and positions per split: about two programs per
    multiprocessor, at least `min_chunk` positions a split, a power of two in [2, max_splits]
    (the merge kernel's tl.arange needs a power of two; a second, possibly empty, split costs
    almost nothing). The chunk is a multiple of block_n so tiles never straddle two splits."""
    programs = max(1, batch * kv_heads)
    want = max(1, -(-2 * sms // programs))
    cap = max(1, n_ctx // min_chunk)
    splits = min(next_pow2(min(want, cap)), max_splits)
    splits = max(2, splits)
    return splits, split_chunk(n_ctx, splits, block_n)


def split_chunk(n_ctx, splits, block_n=BLOCK_N):
    """Positions per split: ceil(n_ctx / splits) rounded up to a multiple of block_n."""
    chunk = -(-n_ctx // splits)
    return -(-chunk // block_n) * block_n


class DecodeWorkspace:
    """Partial outputs and log-sum-exps of the splits: [batch * kv_heads, splits, g_pad, head_dim]."""

    def __init__(self, batch, kv_heads, heads, head_dim, n_ctx, device, sms=None, splits=None):
        if sms is None:
            sms = torch.cuda.get_device_properties(device).multi_processor_count if torch.cuda.is_available() else 132
        self.batch, self.kv_heads, self.heads, self.head_dim = batch, kv_heads, heads, head_dim
        self.group = heads // kv_heads
        self.g_pad = max(G_PAD_MIN, next_pow2(self.group))
        self.splits, self.chunk = plan_splits(batch, kv_heads, n_ctx, sms)
        if splits is not None:  # an explicit split count (a power of two >= 2)
            self.splits = max(2, next_pow2(splits))
            self.chunk = split_chunk(n_ctx, self.splits)
        self.n_ctx = n_ctx
        rows = batch * kv_heads * self.splits * self.g_pad
        self.mid_o = torch.empty(rows * head_dim, device=device, dtype=torch.float32)
        self.mid_lse = torch.empty(rows, device=device, dtype=torch.float32)
        self.ones = torch.ones(kv_heads, device=device, dtype=torch.float32)
        self.dummy_table = torch.zeros(1, device=device, dtype=torch.int32)


if triton is not None:

    @triton.jit
    def _split_kernel(q_ptr, k_ptr, v_ptr, ks_ptr, vs_ptr, bt_ptr, mid_o_ptr, mid_lse_ptr,
                      n_ctx, chunk, qk_scale,
                      stride_qb, stride_qh,
                      stride_k0, stride_kh, stride_kn,
                      stride_v0, stride_vh, stride_vn,
                      stride_btb,
                      KV_HEADS: tl.constexpr, GROUP: tl.constexpr, G_PAD: tl.constexpr,
                      HEAD_DIM: tl.constexpr, BLOCK: tl.constexpr, SPLITS: tl.constexpr,
                      PAGED: tl.constexpr, PAGE: tl.constexpr):
        # stride_k0 / stride_v0: a sequence's stride (contiguous) or a page's stride (paged).
        bh = tl.program_id(0).to(tl.int64)  # sequence * KV_HEADS + kv head
        split = tl.program_id(1)
        b = bh // KV_HEADS
        kvh = bh % KV_HEADS
        offs_g = tl.arange(0, G_PAD)
        offs_d = tl.arange(0, HEAD_DIM)
        heads = kvh * GROUP + offs_g
        q = tl.load(q_ptr + b * stride_qb + heads[:, None] * stride_qh + offs_d[None, :],
                    mask=(offs_g < GROUP)[:, None], other=0.0)
        k_scale = tl.load(ks_ptr + kvh)
        v_scale = tl.load(vs_ptr + kvh)
        score_scale = qk_scale * k_scale

        lo = split * chunk
        hi = tl.minimum(lo + chunk, n_ctx)
        m_i = tl.full([G_PAD], float("-inf"), tl.float32)
        l_i = tl.zeros([G_PAD], dtype=tl.float32)
        acc = tl.zeros([G_PAD, HEAD_DIM], dtype=tl.float32)
        for start in range(lo, hi, BLOCK):
            offs_n = start + tl.arange(0, BLOCK)
            valid = offs_n < hi
            pos = tl.minimum(offs_n, hi - 1)  # clamped: every load is in bounds and finite
            if PAGED:
                page = tl.load(bt_ptr + b * stride_btb + pos // PAGE).to(tl.int64)
                k_row = page * stride_k0 + kvh * stride_kh + (pos % PAGE) * stride_kn
                v_row = page * stride_v0 + kvh * stride_vh + (pos % PAGE) * stride_vn
            else:
                k_row = b * stride_k0 + kvh * stride_kh + pos * stride_kn
                v_row = b * stride_v0 + kvh * stride_vh + pos * stride_vn
            k = tl.load(k_ptr + k_row[:, None] + offs_d[None, :]).to(q.dtype)
            s = tl.dot(q, tl.trans(k)) * score_scale  # [G_PAD, BLOCK], base-2 logits
            s = tl.where(valid[None, :], s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, axis=1))
            alpha = tl.exp2(m_i - m_new)
            p = tl.exp2(s - m_new[:, None])
            l_i = l_i * alpha + tl.sum(p, axis=1)
            v = tl.load(v_ptr + v_row[:, None] + offs_d[None, :]).to(q.dtype)
            acc = acc * alpha[:, None] + tl.dot(p.to(q.dtype), v)
            m_i = m_new

        nonempty = l_i > 0.0
        l_safe = tl.where(nonempty, l_i, 1.0)
        o = acc / l_safe[:, None] * v_scale
        lse = tl.where(nonempty, m_i + tl.log2(l_safe), float("-inf"))
        row = (bh * SPLITS + split) * G_PAD + offs_g
        tl.store(mid_o_ptr + row[:, None] * HEAD_DIM + offs_d[None, :], o)
        tl.store(mid_lse_ptr + row, lse)

    @triton.jit
    def _merge_kernel(mid_o_ptr, mid_lse_ptr, out_ptr, stride_ob, stride_oh,
                      KV_HEADS: tl.constexpr, GROUP: tl.constexpr, G_PAD: tl.constexpr,
                      HEAD_DIM: tl.constexpr, SPLITS: tl.constexpr):
        pid = tl.program_id(0).to(tl.int64)  # sequence * heads + head
        b = pid // (KV_HEADS * GROUP)
        h = pid % (KV_HEADS * GROUP)
        bh = b * KV_HEADS + h // GROUP
        g = h % GROUP
        offs_s = tl.arange(0, SPLITS)
        offs_d = tl.arange(0, HEAD_DIM)
        row = (bh * SPLITS + offs_s) * G_PAD + g
        lse = tl.load(mid_lse_ptr + row)
        m = tl.max(lse, axis=0)  # split 0 is never empty: finite
        w = tl.exp2(lse - m)
        o = tl.load(mid_o_ptr + row[:, None] * HEAD_DIM + offs_d[None, :])
        res = tl.sum(o * w[:, None], axis=0) / tl.sum(w, axis=0)
        tl.store(out_ptr + b * stride_ob + h * stride_oh + offs_d, res.to(out_ptr.dtype.element_ty))


def decode(q, k, v, out, ws, n_ctx, k_scale=None, v_scale=None, block_table=None, page_size=0,
           num_warps=4, num_stages=3):
    """One layer's decode attention (see the module docstring). q/out [batch, heads, head_dim];
    k/v [batch, kv_heads, capacity, head_dim] or, with block_table, [pages, kv_heads, page_size, head_dim]."""
    if triton is None:
        raise RuntimeError("Triton is not installed")
    batch, heads, head_dim = q.shape
    kv_heads = k.shape[1]
    assert heads == ws.heads and kv_heads == ws.kv_heads and batch == ws.batch and head_dim == ws.head_dim
    assert n_ctx == ws.n_ctx, "the workspace was planned for another context length"
    assert q.stride(2) == 1 and out.stride(2) == 1 and k.stride(3) == 1 and v.stride(3) == 1
    paged = block_table is not None
    if paged:
        assert page_size >= 1 and page_size & (page_size - 1) == 0 and k.shape[2] == page_size
    ks = k_scale if k_scale is not None else ws.ones
    vs = v_scale if v_scale is not None else ws.ones
    bt = block_table if paged else ws.dummy_table
    qk_scale = LOG2E / math.sqrt(head_dim)
    grid = (batch * kv_heads, ws.splits)
    _split_kernel[grid](q, k, v, ks, vs, bt, ws.mid_o, ws.mid_lse,
                        n_ctx, ws.chunk, qk_scale,
                        q.stride(0), q.stride(1),
                        k.stride(0), k.stride(1), k.stride(2),
                        v.stride(0), v.stride(1), v.stride(2),
                        bt.stride(0) if paged else 0,
                        KV_HEADS=kv_heads, GROUP=ws.group, G_PAD=ws.g_pad, HEAD_DIM=head_dim,
                        BLOCK=BLOCK_N, SPLITS=ws.splits, PAGED=paged, PAGE=page_size if paged else 1,
                        num_warps=num_warps, num_stages=num_stages)
    _merge_kernel[(batch * heads,)](ws.mid_o, ws.mid_lse, out, out.stride(0), out.stride(1),
                                    KV_HEADS=kv_heads, GROUP=ws.group, G_PAD=ws.g_pad,
                                    HEAD_DIM=head_dim, SPLITS=ws.splits, num_warps=4)
    return out


def emulate_decode(q, k, v, n_ctx, splits, chunk, k_scale=None, v_scale=None, block_table=None,
                   page_size=0, block=BLOCK_N):
    """The kernels' arithmetic with torch operations in float32 (any device, no Triton): the
    same splits, tiles, clamped positions, page lookups, base-2 online softmax and merge.
    Returns [batch, heads, head_dim] float32."""
    batch, heads, d = q.shape
    kv_heads = k.shape[1]
    group = heads // kv_heads
    g_pad = max(G_PAD_MIN, next_pow2(group))
    scale = LOG2E / math.sqrt(d)
    out = torch.zeros(batch, heads, d, dtype=torch.float32)
    for b in range(batch):
        for kvh in range(kv_heads):
            qg = torch.zeros(g_pad, d)
            qg[:group] = q[b, kvh * group:(kvh + 1) * group].float()
            ks = float(k_scale[kvh]) if k_scale is not None else 1.0
            vs = float(v_scale[kvh]) if v_scale is not None else 1.0
            part_o, part_lse = [], []
            for sp in range(splits):
                lo, hi = sp * chunk, min(sp * chunk + chunk, n_ctx)
                m_i = torch.full((g_pad,), float("-inf"))
                l_i = torch.zeros(g_pad)
                acc = torch.zeros(g_pad, d)
                for start in range(lo, hi, block):
                    offs = torch.arange(start, start + block)
                    valid = offs < hi
                    pos = torch.clamp(offs, max=hi - 1)
                    if block_table is not None:
                        page = block_table[b, pos // page_size].long()
                        kt = k[page, kvh, pos % page_size].float()
                        vt = v[page, kvh, pos % page_size].float()
                    else:
                        kt = k[b, kvh, pos].float()
                        vt = v[b, kvh, pos].float()
                    s = (qg @ kt.t()) * (scale * ks)
                    s = torch.where(valid[None, :], s, torch.tensor(float("-inf")))
                    m_new = torch.maximum(m_i, s.max(dim=1).values)
                    alpha = torch.exp2(m_i - m_new)
                    p = torch.exp2(s - m_new[:, None])
                    l_i = l_i * alpha + p.sum(dim=1)
                    acc = acc * alpha[:, None] + p @ vt
                    m_i = m_new
                nonempty = l_i > 0
                l_safe = torch.where(nonempty, l_i, torch.ones_like(l_i))
                part_o.append(acc / l_safe[:, None] * vs)
                part_lse.append(torch.where(nonempty, m_i + torch.log2(l_safe), torch.tensor(float("-inf"))))
            po = torch.stack(part_o)  # [splits, g_pad, d]
            pl = torch.stack(part_lse)  # [splits, g_pad]
            m = pl.max(dim=0).values
            w = torch.exp2(pl - m[None, :])
            res = (po * w[:, :, None]).sum(dim=0) / w.sum(dim=0)[:, None]
            out[b, kvh * group:(kvh + 1) * group] = res[:group]
    return out
