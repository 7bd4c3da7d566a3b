"""kvsim against its peers on one GPU, in one call: decode and chunked-prefill attention.

What it measures (7B attention shape: 32 layers, 32 query heads, head_dim 128):
- Decode, per point (storage fp16 / bf16 / fp8 e4m3, 32 or 8 KV heads, batch 1 or 16, 4,096 or
  32,768 positions, contiguous or paged): milliseconds per token for the decode attention of all
  32 layers (one query per sequence), for
    * PyTorch SDPA with the backend PyTorch picks, and forced FLASH_ATTENTION and CUDNN_ATTENTION
      (torch.nn.attention.sdpa_kernel). GQA two ways, the faster kept: enable_gqa=True, and the G
      query heads of a KV head as G query rows (exact for one decode query, no mask). A backend
      that refuses is reported "n/a: <its reason>". SDPA has no fp8 and no paged KV input: n/a.
    * bench/triton_decode.py, this project's split-K flash-decoding Triton kernel (fp16, bf16,
      fp8 dequantised in the kernel; contiguous and paged through a block table);
    * kvsim (`kvsim run`, a subprocess; `workload.decode.launch` eager and graph where this kvsim
      accepts the key), reading attention_ms from its HDF5 summary.
  Every peer runs eager (32 per-layer calls per token) and replayed from a CUDA graph that
  captured the 32 calls (static inputs and outputs). kvsim-only points: int8 and int4 at 32,768
  positions, for the formats goal.
- Prefill: the last C positions attending causally (bottom-right aligned) over N positions, all
  32 layers, fp16: C=512 over N=4,104 and C=2,048 over N=32,768, 32 and 8 KV heads; SDPA
  (default / FLASH / CUDNN; the mask as causal_lower_right or as a boolean tensor, GQA by
  enable_gqa or with K/V expanded outside the timing, the fastest form kept) and kvsim
  (workload.prefill.chunk). FLOPs counted for unmasked pairs only:
      FLOPs = 4 * C * (N - C + (C + 1) / 2) * head_dim * heads   per layer
  (QK^T and PV, 2 FLOPs a multiply-add); kvsim's prefill_ms is converted with the same count.

How:
- Timing: per token (or chunk), CUDA events around the calls, the GPU idle before each (as
  kvsim's fenced phases); 5 warm-ups then 20 timed repetitions (fewer for slow points, within
  a per-variant time budget); median and min-max reported.
- Accuracy: every implementation's layer-0 output against a float32 reference (torch matmul +
  softmax in float32 on the same stored inputs, fp8 dequantised with its scales); the error is
  max|out - ref| / max|ref|, and a row above the dtype's tolerance (fp16 and fp8 1e-2, bf16
  4e-2) is marked WRONG. kvsim checks itself against float64 (attention_rel_err, relative L2,
  bound-checked by kvsim: a point above its bound fails).
- Read ceiling: bench/blocksum_peer.py's Triton block-sum in the same call (best over its block
  sizes, measured before and after the peers, the higher kept). Bytes per token: K and V of every
  layer in the stored format (+ fp8 scales; int8/int4 include their group scales), the queries
  and outputs (2 bytes a value), and for paged layouts the block table once per layer. Each
  implementation's fraction of the ceiling is bytes / time / ceiling.
- Memory: a point whose cache does not fit the card's free memory (with a margin) is skipped;
  kvsim runs first (its own process, before torch allocates), then torch's points one at a
  time, each freed (torch.cuda.empty_cache) before the next.
- Output (OUT_DIR): peers.md (decode table, per-implementation detail, prefill table, goals
  evaluated from the numbers), peers.csv, peers.json, the kvsim configs, logs and HDF5 files.

usage:
  python3 bench/peers.py --kvsim BUILD/framework/kvsim --out OUT_DIR [--quick]
  python3 bench/peers.py --kvsim BIN --out OUT_DIR --dry-run    # the plan; no torch or GPU needed
                                                                # (validates the kvsim configs if BIN runs)
  python3 bench/peers.py --cpu-selftest [--kvsim CPU_BIN]       # reference math, split-K emulation,
                                                                # tables and goals on the CPU
"""
import argparse
import contextlib
import csv
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time
import traceback
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

torch = None  # imported by gpu_main / cpu_selftest, never at module level (--dry-run)
F = None
DEVICE = "cuda"  # the self-test's mock of the GPU paths sets "cpu"


class Shape:
    def __init__(self, layers=32, heads=32, head_dim=128):
        self.layers, self.heads, self.head_dim = layers, heads, head_dim


SHAPE = Shape()
# Stored bytes per value (int8 / int4: one fp16 scale per 32 values, docs/config-schema.md).
ELEM = {"fp16": 2.0, "bf16": 2.0, "fp8_e4m3": 1.0, "int8": 1.0625, "int4": 0.5625}
TOL = {"fp16": 1e-2, "bf16": 4e-2, "fp8_e4m3": 1e-2}
PEER_DTYPES = ("fp16", "bf16", "fp8_e4m3")
SDPA_BACKENDS = (("SDPA default", None), ("SDPA FLASH", "FLASH_ATTENTION"), ("SDPA CUDNN", "CUDNN_ATTENTION"))
PEERS = [b for b, _ in SDPA_BACKENDS] + ["Triton split-K"]
LAUNCHES = ("eager", "graph")


# ----------------------------------------------------------------------------------------- plan
def point_id(p):
    s = f"{p['dtype']} kv{p['kv_heads']} b{p['batch']} {p['ctx']}"
    return s + (f" paged{p['page']}" if p["layout"] == "paged" else "")


def make_point(dtype, kv, batch, ctx, layout="contiguous", page=0, peers=True):
    p = dict(dtype=dtype, kv_heads=kv, batch=batch, ctx=ctx, layout=layout, page=page, peers=peers)
    p["id"] = point_id(p)
    return p


def decode_points(quick):
    pts = []
    if quick:
        for kv in (32, 8):
            pts.append(make_point("fp16", kv, 1, 4096))
        pts.append(make_point("fp16", 8, 1, 4096, "paged", 16))
        return pts
    for dtype in PEER_DTYPES:
        for kv in (32, 8):
            for b in (1, 16):
                for n in (4096, 32768):
                    pts.append(make_point(dtype, kv, b, n))
    for kv in (32, 8):
        for b in (1, 16):
            for n in (4096, 32768):
                pts.append(make_point("fp16", kv, b, n, "paged", 16))
    pts.append(make_point("fp16", 8, 1, 32768, "paged", 256))
    pts.append(make_point("fp16", 8, 16, 4096, "paged", 64))
    pts.append(make_point("bf16", 8, 16, 4096, "paged", 16))
    pts.append(make_point("fp8_e4m3", 8, 1, 32768, "paged", 16))
    for dtype in ("int8", "int4"):  # kvsim only: the formats goal at 32k, where fp16 fits one card
        for kv, b in ((32, 1), (8, 1), (8, 16)):  # (fp16 kv32 b16 at 32k is 275 GB)
            pts.append(make_point(dtype, kv, b, 32768, peers=False))
    return pts


def prefill_points(quick):
    if quick:
        return [dict(id="512/4104 kv32", chunk=512, ctx=4104, kv_heads=32)]
    return [dict(id=f"{c}/{n} kv{kv}", chunk=c, ctx=n, kv_heads=kv)
            for c, n in ((512, 4104), (2048, 32768)) for kv in (32, 8)]


def pages_of(p):
    return -(-p["ctx"] // p["page"]) if p["layout"] == "paged" else 0


def cache_bytes(p, shape=SHAPE):
    """Bytes the cache holds (K and V of every layer, in the stored format)."""
    n = pages_of(p) * p["page"] if p["layout"] == "paged" else p["ctx"]
    return int(shape.layers * 2 * p["batch"] * p["kv_heads"] * n * shape.head_dim * ELEM[p["dtype"]])


def token_bytes(p, shape=SHAPE):
    """Bytes one token's attention must move: K+V of every layer, scales, q and out, block table."""
    L, H, D = shape.layers, shape.heads, shape.head_dim
    kv = L * 2 * p["batch"] * p["kv_heads"] * p["ctx"] * D * ELEM[p["dtype"]]
    if p["dtype"] == "fp8_e4m3":
        kv += L * 2 * p["kv_heads"] * 4
    qo = L * 2 * p["batch"] * H * D * 2
    bt = L * p["batch"] * pages_of(p) * 4
    return int(kv + qo + bt)


def prefill_flops(chunk, ctx, shape=SHAPE):
    """Unmasked (query, key) pairs of a bottom-right causal chunk, x 4 * head_dim * heads, x layers."""
    pairs = chunk * (ctx - chunk) + chunk * (chunk + 1) / 2
    return 4.0 * pairs * shape.head_dim * shape.heads * shape.layers


def fits(nbytes, free, factor=1.0):
    # a margin for the CUDA context, workspaces, the reference's float32 copies of one layer
    return factor * nbytes + 6e9 < 0.92 * free


# ---------------------------------------------------------------------------------------- kvsim
def yaml_value(v):
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {yaml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(yaml_value(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def kvsim_decode_entries(points, with_launch):
    """(point, launch) pairs kvsim runs: every point, eager and graph when the key is accepted."""
    launches = LAUNCHES if with_launch else (None,)
    return [(p, l) for p in points for l in launches]


def kvsim_decode_config(name, entries, shape, tokens, reps, probe_mb=1024):
    cache, kv, batch, pos, launch = [], [], [], [], []
    for p, l in entries:
        c = dict(dtype=p["dtype"], max_positions=p["ctx"] + tokens, layout=p["layout"])
        if p["layout"] == "paged":
            c["page_size"] = p["page"]
        cache.append(c)
        kv.append(p["kv_heads"])
        batch.append(p["batch"])
        pos.append(p["ctx"])
        launch.append(l)
    chunk = min(512, min(pos))
    lines = [f"name: {name}", "seed: 7",
             f"model: {yaml_value(dict(layers=shape.layers, heads=shape.heads, kv_heads=shape.heads, head_dim=shape.head_dim))}",
             f"cache: {yaml_value(dict(max_positions=pos[0] + tokens, dtype='fp16'))}",
             "workload:",
             f"  fill: {yaml_value(dict(mode='chunk', chunk=chunk, positions=pos[0]))}",
             f"  decode: {yaml_value(dict(tokens=tokens))}",
             "  retrieve: {mode: none}",
             f"run: {yaml_value(dict(warmup=1, repetitions=reps, copy_probe_mb=probe_mb))}",
             "zip:",
             f"  cache: {yaml_value(cache)}",
             f"  model.kv_heads: {yaml_value(kv)}",
             f"  workload.batch: {yaml_value(batch)}",
             f"  workload.fill.positions: {yaml_value(pos)}"]
    if launch[0] is not None:
        lines.append(f"  workload.decode.launch: {yaml_value(launch)}")
    return "\n".join(lines) + "\n"


def kvsim_prefill_config(name, points, shape, reps, probe_mb=1024):
    chunk = min(512, min(p["ctx"] for p in points))
    lines = [f"name: {name}", "seed: 7",
             f"model: {yaml_value(dict(layers=shape.layers, heads=shape.heads, kv_heads=shape.heads, head_dim=shape.head_dim))}",
             f"cache: {yaml_value(dict(max_positions=points[0]['ctx'], dtype='fp16'))}",
             "workload:",
             f"  fill: {yaml_value(dict(mode='chunk', chunk=chunk, positions=points[0]['ctx']))}",
             f"  prefill: {yaml_value(dict(chunk=points[0]['chunk']))}",
             "  retrieve: {mode: per_layer, verify: false}",
             f"run: {yaml_value(dict(warmup=1, repetitions=reps, copy_probe_mb=probe_mb))}",
             "zip:",
             f"  model.kv_heads: {yaml_value([p['kv_heads'] for p in points])}",
             f"  cache.max_positions: {yaml_value([p['ctx'] for p in points])}",
             f"  workload.fill.positions: {yaml_value([p['ctx'] for p in points])}",
             f"  workload.prefill.chunk: {yaml_value([p['chunk'] for p in points])}"]
    return "\n".join(lines) + "\n"


def last_line(text):
    lines = [l for l in (text or "").strip().splitlines() if l.strip()]
    return lines[-1][:300] if lines else ""


def kvsim_validate(binary, path):
    try:
        p = subprocess.run([binary, "validate", path], capture_output=True, text=True, timeout=60)
        return p.returncode, last_line(p.stderr) or last_line(p.stdout)
    except Exception as e:  # noqa: BLE001
        return -1, f"{type(e).__name__}: {e}"


def launch_supported(binary, out_dir, shape):
    """Does this kvsim accept workload.decode.launch? (validate a one-point config with it)."""
    path = os.path.join(out_dir, "kvsim_launch_probe.yaml")
    p = make_point("fp16", shape.heads, 1, 64)
    with open(path, "w") as f:
        f.write(kvsim_decode_config("peers_launch_probe", [(p, "graph")], shape, 4, 1, 16))
    rc, msg = kvsim_validate(binary, path)
    return rc == 0, msg


def read_summary(path):
    """The /summary rows of a kvsim result file (a partial file holds the finished points)."""
    import h5py
    import numpy as np
    rows = []
    with h5py.File(path, "r") as f:
        s = f["summary"]
        cols = {k: s[k][()] for k in s.keys()}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()
                 if k in ("device", "read_GBps", "git_sha", "complete", "backend")}
    n = len(cols.get("point", []))
    for i in range(n):
        r = {}
        for k, col in cols.items():
            v = col[i]
            if isinstance(v, bytes):
                v = v.decode()
            elif isinstance(v, np.generic):
                v = v.item()
            r[k] = v
        rows.append(r)
    return rows, attrs


def run_kvsim_group(binary, out_dir, name, configs_for, n_items, timeout_s, log):
    """Runs kvsim on items 0..n_items-1 (configs_for(indices) -> YAML text), all in one process
    where it can. A point that fails is blamed and the rest rerun; when a run finishes no point
    (e.g. kvsim refused the whole config), the rest run one process each. Returns
    ({index: summary row}, {index: reason}, file attributes)."""
    results, failed, attrs = {}, {}, {}
    remaining = list(range(n_items))
    single = False
    deadline = time.time() + timeout_s
    attempt = 0
    while remaining and time.time() < deadline:
        batch = remaining[:1] if single else remaining
        attempt += 1
        cfg = os.path.join(out_dir, f"{name}_{attempt}.yaml")
        out = os.path.join(out_dir, f"{name}_{attempt}.h5")
        with open(cfg, "w") as f:
            f.write(configs_for(batch))
        for stale in (out, out + ".lock"):  # never read an earlier call's file
            if os.path.exists(stale):
                os.remove(stale)
        cmd = [binary, "run", cfg, "-o", out]
        log(f"  $ {' '.join(cmd)}  ({len(batch)} point(s))")
        t0 = time.time()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=max(10, deadline - time.time()), cwd=out_dir)
            rc, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired as e:
            rc, err = -9, f"timed out after {time.time() - t0:.0f} s " + str(e.stderr or "")[-200:]
        except Exception as e:  # noqa: BLE001
            rc, err = -1, f"{type(e).__name__}: {e}"
        with open(cfg.replace(".yaml", ".log"), "w") as f:
            f.write(err or "")
        rows = []
        if os.path.exists(out):
            try:
                rows, attrs = read_summary(out)
            except Exception as e:  # noqa: BLE001
                log(f"  cannot read {out}: {e}")
        for r in rows:
            j = int(r.get("point", -1))
            if 0 <= j < len(batch):
                results[batch[j]] = r
        log(f"  rc={rc}, {len(rows)} point(s) in {time.time() - t0:.1f} s" + (f": {last_line(err)}" if rc else ""))
        rest = [i for i in batch if i not in results]
        if rc == 0 and not rest:
            remaining = [i for i in remaining if i not in results]
            continue
        if not rest:
            remaining = [i for i in remaining if i not in results]
            continue
        if not rows and not single and len(batch) > 1:
            single = True  # refused as a whole: find the culprit(s) one process each
            remaining = [i for i in remaining if i not in results]
            continue
        failed[rest[0]] = last_line(err) or f"kvsim exit code {rc}"
        remaining = [i for i in remaining if i not in results and i != rest[0]]
    for i in remaining:
        failed.setdefault(i, "skipped: kvsim time budget spent")
    return results, failed, attrs


def kvsim_all(args, dpoints, ppoints, shape, rows, log, free_bytes):
    """kvsim's decode and prefill rows (appended to `rows`); returns (launch_ok, note, attrs)."""
    binary = args.kvsim
    if not binary or not os.path.exists(binary):
        for p in dpoints:
            rows.append(dict(section="decode", point=p["id"], impl="kvsim", launch="eager", status=f"n/a: no kvsim binary ({binary})"))
        for p in ppoints:
            rows.append(dict(section="prefill", point=p["id"], impl="kvsim", launch="eager", status="n/a: no kvsim binary"))
        return False, "no kvsim binary", {}
    ok, msg = launch_supported(binary, args.out, shape)
    note = "workload.decode.launch accepted" if ok else f"workload.decode.launch refused ({msg}): graph column n/a"
    log(f"kvsim: {note}")
    run_pts = []
    for p in dpoints:
        if fits(cache_bytes(p, shape), free_bytes):
            run_pts.append(p)
        else:
            for l in LAUNCHES:
                rows.append(dict(section="decode", point=p["id"], impl="kvsim", launch=l,
                                 status=f"n/a: cache {cache_bytes(p, shape) / 1e9:.0f} GB does not fit"))
    entries = kvsim_decode_entries(run_pts, ok)
    t_end = args.t0 + args.budget_s
    res, failed, attrs = run_kvsim_group(
        binary, args.out, "kvsim_decode",
        lambda idx: kvsim_decode_config("peers_decode", [entries[i] for i in idx], shape, args.kvsim_tokens, args.kvsim_reps,
                                        args.kvsim_probe_mb),
        len(entries), max(30, 0.45 * (t_end - time.time())), log)
    for i, (p, l) in enumerate(entries):
        launch = l or "eager"
        r = dict(section="decode", point=p["id"], impl="kvsim", launch=launch)
        if i in res:
            s = res[i]
            if l is not None and "decode_launch" in s and str(s["decode_launch"]) != l:
                log(f"  warning: kvsim point {i} says decode_launch={s['decode_launch']}, asked {l}")
            r.update(status="ok", ms=s.get("attention_ms"), ms_min=s.get("attention_ms_min"), ms_max=s.get("attention_ms_max"),
                     err=s.get("attention_rel_err"), err_kind="rel L2 vs float64",
                     note=f"{s.get('attention_kernel', '')}, {s.get('attention_splits', '')} splits"
                          + ("" if "decode_launch" in s or l is None else ", no decode_launch column"))
        else:
            why = failed.get(i, "no result")
            r.update(status=why if why.startswith("skipped") else f"failed: {why}")
        rows.append(r)
        if l is None:
            rows.append(dict(section="decode", point=p["id"], impl="kvsim", launch="graph", status="n/a: " + note))
    pp = [p for p in ppoints]
    res, failed, attrs2 = run_kvsim_group(
        binary, args.out, "kvsim_prefill",
        lambda idx: kvsim_prefill_config("peers_prefill", [pp[i] for i in idx], shape, args.kvsim_prefill_reps,
                                         args.kvsim_probe_mb),
        len(pp), max(30, 0.8 * (t_end - time.time())), log)
    for i, p in enumerate(pp):
        r = dict(section="prefill", point=p["id"], impl="kvsim", launch="eager")
        if i in res:
            s = res[i]
            ms = s.get("prefill_ms")
            r.update(status="ok", ms=ms, ms_min=s.get("prefill_ms_min"), ms_max=s.get("prefill_ms_max"),
                     err=s.get("prefill_rel_err"), err_kind="rel L2 vs float64",
                     note=f"kvsim's own prefill_TFLOPs {s.get('prefill_TFLOPs', float('nan')):.1f} (full block)")
        else:
            why = failed.get(i, "no result")
            r.update(status=why if why.startswith("skipped") else f"failed: {why}")
        rows.append(r)
    return ok, note, attrs or attrs2


# --------------------------------------------------------------------------------- torch helpers
def import_torch():
    global torch, F
    import torch as _torch
    import torch.nn.functional as _F
    torch, F = _torch, _F
    return torch


def dtype_of(name):
    if name == "fp8_e4m3":
        return torch.float8_e4m3fn
    return {"fp16": torch.float16, "bf16": torch.bfloat16}[name]


def max_rel_err(out, ref):
    out = out.reshape(ref.shape).float()
    den = ref.abs().max().item()
    return (out - ref).abs().max().item() / (den if den > 0 else 1.0)


def ref_decode(q, k, v, ks=None, vs=None):
    """float32 decode reference of one layer: q [B, H, D]; k, v [B, KVH, N, D] (stored values,
    multiplied by the per-head scales ks/vs when given). Returns [B, H, D] float32."""
    B, H, D = q.shape
    KVH = k.shape[1]
    G = H // KVH
    out = torch.empty(B, H, D, dtype=torch.float32, device=q.device)
    for b in range(B):
        kb = k[b].float()
        vb = v[b].float()
        if ks is not None:
            kb = kb * ks.float()[:, None, None]
            vb = vb * vs.float()[:, None, None]
        qb = q[b].float().reshape(KVH, G, D)
        s = torch.matmul(qb, kb.transpose(1, 2)) / math.sqrt(D)
        out[b] = torch.matmul(torch.softmax(s, dim=-1), vb).reshape(H, D)
    return out


def gather_pages(pool, table, b, n):
    """One sequence's [KVH, n, D] from a paged pool [P, KVH, PAGE, D] through table[b]."""
    pages = pool[table[b].long()]  # [pages, KVH, PAGE, D]
    kvh, d = pool.shape[1], pool.shape[3]
    return pages.permute(1, 0, 2, 3).reshape(kvh, -1, d)[:, :n]


def ref_prefill(q, k, v, heads_per_step=4):
    """float32 reference: q [H, C, D] the last C positions, k/v [KVH, N, D]; bottom-right causal."""
    H, C, D = q.shape
    KVH, N = k.shape[0], k.shape[1]
    G = H // KVH
    i = torch.arange(C, device=q.device)[:, None]
    j = torch.arange(N, device=q.device)[None, :]
    allowed = j <= (N - C) + i
    out = torch.empty(H, C, D, dtype=torch.float32, device=q.device)
    for h0 in range(0, H, heads_per_step):
        hs = range(h0, min(H, h0 + heads_per_step))
        kk = torch.stack([k[h // G] for h in hs]).float()
        vv = torch.stack([v[h // G] for h in hs]).float()
        s = torch.matmul(q[h0:h0 + len(hs)].float(), kk.transpose(1, 2)) / math.sqrt(D)
        s = s.masked_fill(~allowed[None], float("-inf"))
        out[h0:h0 + len(hs)] = torch.matmul(torch.softmax(s, dim=-1), vv)
    return out


def stats(ms):
    return dict(ms=statistics.median(ms), ms_min=min(ms), ms_max=max(ms), reps=len(ms))


def bench(fn, warmup, reps, budget_s):
    """Per-call CUDA-event times (ms), the GPU idle before each call; warm-ups and repetitions
    shrink to fit budget_s."""
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    first = max(time.perf_counter() - t0, 1e-5)
    for _ in range(max(0, min(warmup - 1, int(0.25 * budget_s / first)))):
        fn()
    n = max(3, min(reps, int(budget_s / first)))
    out = []
    for _ in range(n):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        e0.record()
        fn()
        e1.record()
        e1.synchronize()
        out.append(e0.elapsed_time(e1))
    return out


def capture_graph(fn):
    """fn() -> list of outputs, captured once into a CUDA graph (after a side-stream warm-up)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        fn()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        outs = fn()
    torch.cuda.synchronize()
    return g, outs


def reason_of(e, caught):
    msg = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    why = [str(w.message).strip().splitlines()[0] for w in caught if str(w.message).strip()]
    why = [w for w in why if "Expected" in w or "require" in w or "support" in w or "not" in w] or why
    if "No available kernel" in msg or "No viable backend" in msg:
        return "n/a: " + ("; ".join(why[:2])[:220] if why else msg[:220])
    return "failed: " + msg[:220]


def sdpa_context(backend):
    if backend is None:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel
    return sdpa_kernel([getattr(SDPBackend, backend)])


def run_variant(point_id_, section, impl, launch, form, ctx, call_layer, layers, ref0, tol, args, budget_s, nbytes=None):
    """One implementation x launch mode: check layer 0 against ref0, then time all layers per
    token (eager calls, or one replay of the captured calls). Never raises."""
    row = dict(section=section, point=point_id_, impl=impl, launch=launch, form=form)
    graph = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with ctx():
                try:
                    out0 = call_layer(0)
                    torch.cuda.synchronize()
                except Exception as e:  # noqa: BLE001 (a backend's refusal)
                    row["status"] = reason_of(e, caught)
                    return row
                err = max_rel_err(out0, ref0)
                del out0
                if launch == "eager":
                    fn = lambda: [call_layer(l) for l in range(layers)]  # noqa: E731
                    ms = bench(fn, args.warmup, args.reps, budget_s)
                else:
                    graph, outs = capture_graph(lambda: [call_layer(l) for l in range(layers)])
                    ms = bench(graph.replay, args.warmup, args.reps, budget_s)
                    graph.replay()
                    torch.cuda.synchronize()
                    err = max(err, max_rel_err(outs[0], ref0))
                    del outs
        row.update(stats(ms))
        row["err"], row["err_kind"] = err, "max|d|/max|ref| vs float32"
        row["status"] = "ok" if err <= tol else "WRONG"
    except Exception as e:  # noqa: BLE001
        row["status"] = "failed: " + f"{type(e).__name__}: {str(e).strip()[:200]}"
        if args.verbose:
            traceback.print_exc()
    finally:
        del graph
    return row


# ---------------------------------------------------------------------------------- torch decode
def torch_decode_point(p, args, shape, log):
    """Every peer at one decode point; returns rows."""
    import triton_decode as td
    L, H, D = shape.layers, shape.heads, shape.head_dim
    B, KVH, N = p["batch"], p["kv_heads"], p["ctx"]
    G = H // KVH
    dev = torch.device(DEVICE)
    fp8 = p["dtype"] == "fp8_e4m3"
    qdt = torch.float16 if fp8 else dtype_of(p["dtype"])
    paged = p["layout"] == "paged"
    rows = []
    torch.manual_seed(1234)
    q = torch.randn(L, B, H, D, device=dev, dtype=qdt)
    ks = vs = None
    if paged:
        P, page = B * pages_of(p), p["page"]
        kshape = (L, P, KVH, page, D)
        table = torch.randperm(P, device=dev, dtype=torch.int64).to(torch.int32).reshape(B, pages_of(p))
    else:
        kshape = (L, B, KVH, N, D)
        table = None
    if fp8:  # per-(layer, KV head) scales: amax / 448
        k = torch.empty(kshape, device=dev, dtype=torch.float8_e4m3fn)
        v = torch.empty_like(k)
        ks = torch.empty(L, KVH, device=dev, dtype=torch.float32)
        vs = torch.empty_like(ks)
        # a layer is [B or pages, KVH, positions, D]: the KV head is dim 1 either way
        for l in range(L):
            for dst, sc in ((k, ks), (v, vs)):
                x = torch.randn(kshape[1:], device=dev, dtype=torch.float16)
                sc[l] = x.abs().amax(dim=(0, 2, 3)).float().clamp_min(1e-6) / 448.0
                dst[l] = (x / sc[l].reshape(1, KVH, 1, 1).to(torch.float16)).to(torch.float8_e4m3fn)
                del x
    else:
        k = torch.randn(kshape, device=dev, dtype=qdt)
        v = torch.randn(kshape, device=dev, dtype=qdt)
    # float32 reference of layer 0 on the stored values
    if paged:
        k0 = torch.stack([gather_pages(k[0], table, b, N) for b in range(B)])
        v0 = torch.stack([gather_pages(v[0], table, b, N) for b in range(B)])
        ref0 = ref_decode(q[0], k0, v0, None if ks is None else ks[0], None if vs is None else vs[0])
        del k0, v0
    else:
        ref0 = ref_decode(q[0], k[0], v[0], None if ks is None else ks[0], None if vs is None else vs[0])
    tol = TOL[p["dtype"]]
    budget = args.variant_budget_s

    # PyTorch SDPA
    for impl, backend in SDPA_BACKENDS:
        for launch in LAUNCHES:
            if fp8:
                rows.append(dict(section="decode", point=p["id"], impl=impl, launch=launch,
                                 status="n/a: SDPA has no fp8 (e4m3) KV input"))
                continue
            if paged:
                rows.append(dict(section="decode", point=p["id"], impl=impl, launch=launch,
                                 status="n/a: SDPA has no paged (block table) KV input"))
                continue
            forms = ["gqa"] if G == 1 else ["enable_gqa", "heads_as_rows"]
            for form in forms:
                if form == "heads_as_rows":
                    qv = q.view(L, B, KVH, G, D)
                    call = lambda l, qv=qv: F.scaled_dot_product_attention(qv[l], k[l], v[l])  # noqa: E731
                elif G > 1:
                    qv = q.view(L, B, H, 1, D)
                    call = lambda l, qv=qv: F.scaled_dot_product_attention(qv[l], k[l], v[l], enable_gqa=True)  # noqa: E731
                else:
                    qv = q.view(L, B, H, 1, D)
                    call = lambda l, qv=qv: F.scaled_dot_product_attention(qv[l], k[l], v[l])  # noqa: E731
                rows.append(run_variant(p["id"], "decode", impl, launch, form, lambda b=backend: sdpa_context(b),
                                        call, L, ref0, tol, args, budget))
    # Triton split-K
    try:
        sms = torch.cuda.get_device_properties(dev).multi_processor_count
        ws = td.DecodeWorkspace(B, KVH, H, D, N, dev, sms=sms, splits=args.triton_splits)
        out = torch.empty(L, B, H, D, device=dev, dtype=qdt)
        if paged:
            call = lambda l: td.decode(q[l], k[l], v[l], out[l], ws, N, block_table=table, page_size=p["page"])  # noqa: E731
        elif fp8:
            call = lambda l: td.decode(q[l], k[l], v[l], out[l], ws, N, ks[l], vs[l])  # noqa: E731
        else:
            call = lambda l: td.decode(q[l], k[l], v[l], out[l], ws, N)  # noqa: E731
        form = f"{ws.splits} splits x {ws.chunk}, BLOCK_N {td.BLOCK_N}, {ws.g_pad} rows"
        for launch in LAUNCHES:
            rows.append(run_variant(p["id"], "decode", "Triton split-K", launch, form, contextlib.nullcontext,
                                    call, L, ref0, tol, args, budget))
    except Exception as e:  # noqa: BLE001
        for launch in LAUNCHES:
            rows.append(dict(section="decode", point=p["id"], impl="Triton split-K", launch=launch,
                             status=f"failed: {type(e).__name__}: {str(e)[:200]}"))
    return rows  # the tensors go with this frame; the caller empties torch's cache


# --------------------------------------------------------------------------------- torch prefill
def torch_prefill_point(p, args, shape, log):
    L, H, D = shape.layers, shape.heads, shape.head_dim
    C, N, KVH = p["chunk"], p["ctx"], p["kv_heads"]
    G = H // KVH
    dev = torch.device(DEVICE)
    torch.manual_seed(4321)
    q = torch.randn(L, 1, H, C, D, device=dev, dtype=torch.float16)
    k = torch.randn(L, 1, KVH, N, D, device=dev, dtype=torch.float16)
    v = torch.randn_like(k)
    ref0 = ref_prefill(q[0, 0], k[0, 0], v[0, 0])
    rows = []
    try:
        from torch.nn.attention.bias import causal_lower_right
        lower_right = causal_lower_right(C, N)
    except Exception as e:  # noqa: BLE001
        lower_right = None
        log(f"  causal_lower_right unavailable: {e}")
    boolmask = (torch.arange(N, device=dev)[None, :] <= (N - C) + torch.arange(C, device=dev)[:, None])
    expanded = {}

    def kv_expanded():
        if "k" not in expanded:
            expanded["k"] = k.repeat_interleave(G, dim=2)
            expanded["v"] = v.repeat_interleave(G, dim=2)
        return expanded["k"], expanded["v"]

    forms = [("lower_right", "gqa"), ("bool_mask", "gqa")]
    if G > 1:
        forms += [("lower_right", "expanded"), ("bool_mask", "expanded")]
    for impl, backend in SDPA_BACKENDS:
        for mask, gqa in forms:
            if mask == "lower_right" and lower_right is None:
                continue
            if backend is None and mask == "bool_mask" and any(
                    r["impl"] == impl and r.get("status") == "ok" for r in rows):
                continue  # the default backend with a dense mask only when nothing else ran
            am = lower_right if mask == "lower_right" else boolmask
            try:
                kk, vv = kv_expanded() if gqa == "expanded" else (k, v)
            except Exception as e:  # noqa: BLE001 (memory)
                rows.append(dict(section="prefill", point=p["id"], impl=impl, launch="eager", form=f"{mask}, {gqa}",
                                 status=f"failed: {type(e).__name__}: {str(e)[:150]}"))
                continue
            kw = dict(enable_gqa=True) if (gqa == "gqa" and G > 1) else {}
            call = lambda l, am=am, kk=kk, vv=vv, kw=kw: F.scaled_dot_product_attention(q[l], kk[l], vv[l], attn_mask=am, **kw)  # noqa: E731
            r = run_variant(p["id"], "prefill", impl, "eager", f"{mask}, {gqa}", lambda b=backend: sdpa_context(b),
                            call, L, ref0.unsqueeze(0), TOL["fp16"], args, args.variant_budget_s)
            rows.append(r)
    return rows  # the tensors go with this frame; the caller empties torch's cache


# ------------------------------------------------------------------------------------ ceiling
def measure_ceiling(mib=1024, reps=20):
    """Triton block-sum read rate (GB/s), bench/blocksum_peer.py's kernel, best over block sizes."""
    spec = importlib.util.spec_from_file_location("blocksum_peer", os.path.join(HERE, "blocksum_peer.py"))
    bs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bs)
    import triton
    n = (mib << 20) // 4
    x = torch.full((n,), 0.5, device="cuda", dtype=torch.float32)
    best = 0.0
    for block in (2048, 4096, 8192, 16384):
        out = torch.empty(triton.cdiv(n, block), device="cuda", dtype=torch.float32)
        g = bs.best_gbps(lambda: bs.block_sum[(triton.cdiv(n, block),)](x, out, n, BLOCK=block), 4 * n, reps)
        best = max(best, g)
    return best


def measure_ceiling_freed(mib=1024, reps=20):
    best = measure_ceiling(mib, reps)
    torch.cuda.empty_cache()
    return best


# ------------------------------------------------------------------------- tables and goals
def ok(r):
    return r is not None and r.get("status") == "ok" and r.get("ms") is not None and r["ms"] == r["ms"]


def best_row(rows):
    good = [r for r in rows if ok(r)]
    return min(good, key=lambda r: r["ms"]) if good else None


def cell_row(rows, point, impl, launch, section="decode"):
    """The fastest form of impl x launch at a point, or the most telling non-ok row."""
    cand = [r for r in rows if r["section"] == section and r["point"] == point and r["impl"] == impl and r["launch"] == launch]
    b = best_row(cand)
    if b:
        return b
    for key in ("WRONG", "failed", "n/a"):
        for r in cand:
            if r.get("status", "").startswith(key):
                return r
    return None


def cell_text(r):
    if r is None:
        return "-"
    st = r.get("status", "")
    if st == "ok":
        return f"{r['ms']:.3f}"
    if st == "WRONG":
        return f"WRONG {r['ms']:.3f}" if r.get("ms") else "WRONG"
    return st.split(":")[0]  # n/a, failed, skipped (the reason is in the detail table)


def summarize(dpoints, ppoints, rows, ceiling, shape=SHAPE):
    """Per-point figures: fastest peer, kvsim best, ratio and fractions; plus prefill rates."""
    summ = []
    for p in dpoints:
        nbytes = token_bytes(p, shape)
        peer_cells = {(i, l): cell_row(rows, p["id"], i, l) for i in PEERS for l in LAUNCHES}
        kv_cells = {l: cell_row(rows, p["id"], "kvsim", l) for l in LAUNCHES}
        peer = best_row([r for r in peer_cells.values() if r])
        kv = best_row([r for r in kv_cells.values() if r])
        frac = lambda r: (nbytes / (r["ms"] * 1e-3) / (ceiling * 1e9)) if (r and ceiling) else None  # noqa: E731
        summ.append(dict(point=p, bytes=nbytes, peer_cells=peer_cells, kv_cells=kv_cells, peer=peer, kvsim=kv,
                         ratio=(peer["ms"] / kv["ms"]) if (peer and kv) else None,
                         peer_frac=frac(peer), kvsim_frac=frac(kv)))
    pre = []
    for p in ppoints:
        flops = prefill_flops(p["chunk"], p["ctx"], shape)
        cells = {i: cell_row(rows, p["id"], i, "eager", "prefill") for i, _ in SDPA_BACKENDS}
        kv = cell_row(rows, p["id"], "kvsim", "eager", "prefill")
        sd = best_row([r for r in cells.values() if r])
        tf = lambda r: flops / (r["ms"] * 1e-3) / 1e12 if ok(r) else None  # noqa: E731
        pre.append(dict(point=p, flops=flops, cells=cells, kvsim=kv, sdpa=sd, sdpa_tf=tf(sd), kvsim_tf=tf(kv),
                        ratio=(tf(kv) / tf(sd)) if (ok(kv) and sd) else None))
    return summ, pre


def evaluate_goals(summ, pre):
    goals = []

    def verdict(checks):
        if not checks:
            return "NOT EVALUATED"
        return "PASS" if all(c[0] for c in checks) else "FAIL"

    c1 = []
    for s in summ:
        if s["peer"] is None:
            continue
        if s["kvsim"] is None:
            c1.append((False, f"{s['point']['id']}: kvsim has no valid result, fastest peer {s['peer']['ms']:.3f} ms"))
        else:
            c1.append((s["ratio"] >= 1.0, f"{s['point']['id']}: {s['ratio']:.2f}x (kvsim {s['kvsim']['ms']:.3f} ms {s['kvsim']['launch']}, "
                                          f"{s['peer']['impl']} {s['peer']['launch']} {s['peer']['ms']:.3f} ms)"))
    goals.append(("kvsim >= 1.0x the fastest peer at every decode point (graph replay counts)", verdict(c1), c1))

    byid = {s["point"]["id"]: s for s in summ}
    c2 = []
    for s in summ:
        p = s["point"]
        if p["layout"] != "paged":
            continue
        twin = byid.get(point_id(dict(p, layout="contiguous", page=0)))
        if not twin or twin["kvsim"] is None or s["kvsim"] is None:
            c2.append((False, f"{p['id']}: no kvsim pair (paged {'ok' if s['kvsim'] else 'missing'}, "
                              f"contiguous {'ok' if twin and twin['kvsim'] else 'missing'})"))
            continue
        r = s["kvsim"]["ms"] / twin["kvsim"]["ms"]
        c2.append((r <= 1.05, f"{p['id']}: paged {s['kvsim']['ms']:.3f} / contiguous {twin['kvsim']['ms']:.3f} ms = {r:.3f}"))
    goals.append(("kvsim paged within 5% of contiguous", verdict(c2), c2))

    c3 = []
    for s in summ:
        if s["peer_frac"] is None or s["peer_frac"] < 0.9:
            continue
        kf = s["kvsim_frac"]
        c3.append((kf is not None and kf >= 0.9, f"{s['point']['id']}: peer {s['peer_frac']:.0%}, kvsim "
                                                 + (f"{kf:.0%}" if kf is not None else "no result")))
    goals.append((">= 90% of the read ceiling wherever a peer reaches 90%", verdict(c3) if c3 else "NOT EVALUATED (no peer reached 90%)", c3))

    c4 = []
    for s in summ:
        p = s["point"]
        if p["ctx"] != 32768 or p["layout"] != "contiguous" or p["dtype"] not in ("fp8_e4m3", "int8", "int4"):
            continue
        base = byid.get(point_id(dict(p, dtype="fp16")))
        need = 3.0 if p["dtype"] == "int4" else 1.8
        if not base or base["kvsim"] is None:
            continue  # fp16 did not run here (does not fit): nothing to compare
        if s["kvsim"] is None:
            c4.append((False, f"{p['id']}: no kvsim result (need {need}x over fp16 {base['kvsim']['ms']:.3f} ms)"))
            continue
        sp = base["kvsim"]["ms"] / s["kvsim"]["ms"]
        c4.append((sp >= need, f"{p['id']}: {sp:.2f}x over fp16 (need {need}x; {s['kvsim']['ms']:.3f} vs {base['kvsim']['ms']:.3f} ms)"))
    goals.append(("8-bit >= 1.8x and int4 >= 3x faster than fp16 at 32k positions (kvsim)", verdict(c4), c4))

    c5 = []
    for s in pre:
        if s["sdpa"] is None:
            continue
        if s["kvsim_tf"] is None:
            c5.append((False, f"{s['point']['id']}: no kvsim result; SDPA {s['sdpa_tf']:.0f} TFLOP/s"))
            continue
        c5.append((s["ratio"] >= 0.8, f"{s['point']['id']}: kvsim {s['kvsim_tf']:.1f} / {s['sdpa']['impl']} {s['sdpa_tf']:.1f} TFLOP/s = {s['ratio']:.2f}"))
    goals.append(("prefill >= 0.8x PyTorch SDPA's TFLOP/s at fp16 (fastest SDPA backend)", verdict(c5), c5))
    return goals


def pct(x):
    return f"{x:.0%}" if x is not None else "-"


def render(meta, summ, pre, rows, goals):
    out = [f"# Peer benchmark: {meta.get('device', '?')}", "",
           f"torch {meta.get('torch', '?')}, triton {meta.get('triton', '?')}, kvsim {meta.get('kvsim_sha', '?')}; "
           f"{meta.get('kvsim_launch', '')}. Read ceiling (Triton block-sum, same call): "
           f"**{meta.get('ceiling_GBps', 0):,.0f} GB/s** (kvsim's own read probe: {meta.get('kvsim_read_GBps', 0) or 0:,.0f} GB/s). "
           f"Shape: {SHAPE.layers} layers x {SHAPE.heads} query heads x {SHAPE.head_dim}; ms per token for all layers, "
           f"median of the timed repetitions (detail table: min-max). Speed-up = fastest peer ms / kvsim ms "
           f"(kvsim: the faster of its launch modes).", "",
           "## Decode", ""]
    hdr = ["point", "GB/token"] + [f"{i} {l}" for i in PEERS for l in LAUNCHES] + \
          ["kvsim eager", "kvsim graph", "fastest peer", "kvsim speed-up", "kvsim of ceiling", "fastest peer of ceiling"]
    out += ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for s in summ:
        p = s["point"]
        cells = [p["id"], f"{s['bytes'] / 1e9:.2f}"] + [cell_text(s["peer_cells"][(i, l)]) for i in PEERS for l in LAUNCHES]
        cells += [cell_text(s["kv_cells"][l]) for l in LAUNCHES]
        cells += [f"{s['peer']['impl']} {s['peer']['launch']} {s['peer']['ms']:.3f}" if s["peer"] else "-",
                  f"{s['ratio']:.2f}x" if s["ratio"] else "-", pct(s["kvsim_frac"]), pct(s["peer_frac"])]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "## Prefill (fp16, all layers, one chunk)", "",
            "FLOPs = 4 * C * (N - C + (C+1)/2) * head_dim * heads * layers (unmasked pairs only).", "",
            "| C/N kv | GFLOP | " + " | ".join(f"{i} ms" for i, _ in SDPA_BACKENDS) +
            " | kvsim ms | fastest SDPA TFLOP/s | kvsim TFLOP/s | kvsim / SDPA |", "|" + "---|" * (len(SDPA_BACKENDS) + 6)]
    for s in pre:
        out.append("| " + " | ".join([s["point"]["id"], f"{s['flops'] / 1e9:,.0f}"] + [cell_text(s["cells"][i]) for i, _ in SDPA_BACKENDS] +
                                     [cell_text(s["kvsim"]), f"{s['sdpa_tf']:.1f}" if s["sdpa_tf"] else "-",
                                      f"{s['kvsim_tf']:.1f}" if s["kvsim_tf"] else "-", f"{s['ratio']:.2f}" if s["ratio"] else "-"]) + " |")
    out += ["", "## Goals (computed from the tables above)", ""]
    for name, v, checks in goals:
        out.append(f"- **{v}**: {name}")
        for good, text in checks:
            out.append(f"  - {'ok' if good else 'MISSED'}: {text}")
    out += ["", "## Detail (every implementation, form and launch mode)", "",
            "| section | point | implementation | launch | form | ms | min-max | reps | error | status |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = f"{r['ms']:.3f}" if r.get("ms") is not None else ""
        mm = f"{r['ms_min']:.3f}-{r['ms_max']:.3f}" if r.get("ms_min") is not None and r.get("ms_max") is not None else ""
        err = f"{r['err']:.1e} ({r.get('err_kind', '')})" if isinstance(r.get("err"), (int, float)) else ""
        out.append(f"| {r['section']} | {r['point']} | {r['impl']} | {r['launch']} | {r.get('form', '') or r.get('note', '')} | {ms} | {mm} | "
                   f"{r.get('reps', '')} | {err} | {r.get('status', '')} |")
    return "\n".join(out) + "\n"


def write_outputs(out_dir, meta, dpoints, ppoints, rows):
    summ, pre = summarize(dpoints, ppoints, rows, meta.get("ceiling_GBps"))
    goals = evaluate_goals(summ, pre)
    md = render(meta, summ, pre, rows, goals)
    with open(os.path.join(out_dir, "peers.md"), "w") as f:
        f.write(md)
    keys = ["section", "point", "impl", "launch", "form", "ms", "ms_min", "ms_max", "reps", "err", "err_kind", "status", "note"]
    with open(os.path.join(out_dir, "peers.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    with open(os.path.join(out_dir, "peers.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows,
                       decode=[dict(point=s["point"]["id"], bytes=s["bytes"], ratio=s["ratio"], kvsim_frac=s["kvsim_frac"],
                                    peer_frac=s["peer_frac"], peer=s["peer"], kvsim=s["kvsim"]) for s in summ],
                       prefill=[dict(point=s["point"]["id"], flops=s["flops"], sdpa_TFLOPs=s["sdpa_tf"], kvsim_TFLOPs=s["kvsim_tf"],
                                     ratio=s["ratio"]) for s in pre],
                       goals=[dict(goal=n, verdict=v, checks=[dict(ok=g, text=t) for g, t in c]) for n, v, c in goals]),
                  f, indent=1, default=str)
    return md, goals


# --------------------------------------------------------------------------------------- mains
def dry_run(args, dpoints, ppoints, log):
    free = args.assume_free_gb * 1e9
    log(f"plan (assuming {args.assume_free_gb:.0f} GB free; a point needs its cache + 6 GB < 92% of free):")
    for p in dpoints:
        who = "peers + kvsim" if p["peers"] else "kvsim only"
        peers = ("SDPA n/a (fp8)" if p["dtype"] == "fp8_e4m3" else "SDPA n/a (paged)" if p["layout"] == "paged"
                 else "SDPA default/FLASH/CUDNN" + (" (enable_gqa, heads_as_rows)" if p["kv_heads"] < SHAPE.heads else ""))
        log(f"  decode {p['id']:<28} cache {cache_bytes(p) / 1e9:7.1f} GB, {token_bytes(p) / 1e9:6.2f} GB/token, "
            f"{'fits' if fits(cache_bytes(p), free) else 'SKIPPED: does not fit'}; {who}"
            + (f"; {peers} + Triton, eager and graph" if p["peers"] else ""))
    for p in ppoints:
        mem = SHAPE.layers * 2 * p["ctx"] * p["kv_heads"] * SHAPE.head_dim * 2
        log(f"  prefill {p['id']:<16} {prefill_flops(p['chunk'], p['ctx']) / 1e12:6.2f} TFLOP per chunk, K/V {mem / 1e9:.1f} GB; "
            f"SDPA default/FLASH/CUDNN x (causal_lower_right | bool mask) x (enable_gqa | expanded) + kvsim")
    run_pts = [p for p in dpoints if fits(cache_bytes(p), free)]
    with_launch = True
    if args.kvsim and os.path.exists(args.kvsim):
        with_launch, msg = launch_supported(args.kvsim, args.out, SHAPE)
        log(f"kvsim {args.kvsim}: workload.decode.launch {'accepted' if with_launch else 'refused: ' + msg}")
    entries = kvsim_decode_entries(run_pts, with_launch)
    paths = []
    for name, text in (("kvsim_decode_plan.yaml", kvsim_decode_config("peers_decode", entries, SHAPE, args.kvsim_tokens, args.kvsim_reps,
                                                                          args.kvsim_probe_mb)),
                       ("kvsim_prefill_plan.yaml", kvsim_prefill_config("peers_prefill", ppoints, SHAPE, args.kvsim_prefill_reps,
                                                                        args.kvsim_probe_mb))):
        path = os.path.join(args.out, name)
        with open(path, "w") as f:
            f.write(text)
        paths.append(path)
        log(f"kvsim config {path}: $ {args.kvsim or 'KVSIM'} run {path} -o {path[:-5]}.h5")
    log(f"  decode: {len(entries)} kvsim points ({len(run_pts)} decode points x {'eager+graph' if with_launch else 'eager'})")
    if args.kvsim and os.path.exists(args.kvsim):
        for path in paths:
            rc, msg = kvsim_validate(args.kvsim, path)
            log(f"  kvsim validate {os.path.basename(path)}: rc={rc} {msg}")
            if rc != 0:
                return 1
    return 0


def gpu_main(args, dpoints, ppoints, log):
    try:
        import_torch()
        import triton
        assert torch.cuda.is_available(), "no CUDA device visible to torch"
    except Exception as e:  # noqa: BLE001
        log(f"cannot start: {type(e).__name__}: {e}")
        return 1
    rows = []
    meta = dict(device=torch.cuda.get_device_name(0), torch=torch.__version__, triton=triton.__version__,
                quick=args.quick, reps=args.reps, warmup=args.warmup)
    free = torch.cuda.mem_get_info()[0]
    log(f"{meta['device']}, torch {meta['torch']}, triton {meta['triton']}, free {free / 2**30:.1f} GiB")
    ceil = []
    try:
        ceil.append(measure_ceiling_freed())
        log(f"read ceiling (Triton block-sum): {ceil[-1]:,.0f} GB/s")
    except Exception as e:  # noqa: BLE001
        log(f"read ceiling failed: {type(e).__name__}: {e}")

    # kvsim first: its own process, before torch allocates any cache
    t = time.time()
    launch_ok, note, attrs = kvsim_all(args, dpoints, ppoints, SHAPE, rows, log, free)
    meta.update(kvsim_launch=note, kvsim_read_GBps=attrs.get("read_GBps"), kvsim_sha=attrs.get("git_sha"),
                kvsim_device=attrs.get("device"))
    log(f"kvsim done in {time.time() - t:.0f} s")

    deadline = args.t0 + args.budget_s
    for p in dpoints:
        if not p["peers"]:
            continue
        if not fits(cache_bytes(p), free):
            for i in PEERS:
                for l in LAUNCHES:
                    rows.append(dict(section="decode", point=p["id"], impl=i, launch=l,
                                     status=f"n/a: cache {cache_bytes(p) / 1e9:.0f} GB does not fit"))
            continue
        if time.time() > deadline:
            for i in PEERS:
                for l in LAUNCHES:
                    rows.append(dict(section="decode", point=p["id"], impl=i, launch=l, status="skipped: time budget spent"))
            continue
        t = time.time()
        try:
            rows += torch_decode_point(p, args, SHAPE, log)
        except Exception as e:  # noqa: BLE001
            for i in PEERS:
                for l in LAUNCHES:
                    rows.append(dict(section="decode", point=p["id"], impl=i, launch=l, status=f"failed: {type(e).__name__}: {str(e)[:200]}"))
            if args.verbose:
                traceback.print_exc()
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        best = best_row([r for r in rows if r["point"] == p["id"] and r["impl"] != "kvsim"])
        log(f"decode {p['id']}: {time.time() - t:.1f} s; fastest peer "
            + (f"{best['impl']} {best['launch']} {best['ms']:.3f} ms" if best else "none"))
    for p in ppoints:
        if time.time() > deadline:
            rows.append(dict(section="prefill", point=p["id"], impl="SDPA default", launch="eager", status="skipped: time budget spent"))
            continue
        t = time.time()
        try:
            rows += torch_prefill_point(p, args, SHAPE, log)
        except Exception as e:  # noqa: BLE001
            rows.append(dict(section="prefill", point=p["id"], impl="SDPA default", launch="eager",
                             status=f"failed: {type(e).__name__}: {str(e)[:200]}"))
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        log(f"prefill {p['id']}: {time.time() - t:.1f} s")
    try:
        ceil.append(measure_ceiling_freed())
        log(f"read ceiling again: {ceil[-1]:,.0f} GB/s")
    except Exception as e:  # noqa: BLE001
        log(f"read ceiling failed: {type(e).__name__}: {e}")
    meta["ceiling_GBps"] = max(ceil) if ceil else None
    meta["elapsed_s"] = time.time() - args.t0
    md, goals = write_outputs(args.out, meta, dpoints, ppoints, rows)
    print(md)
    log(f"wrote {args.out}/peers.md, peers.csv, peers.json in {meta['elapsed_s']:.0f} s")
    return 0


def cpu_selftest(args, log):
    """Reference math, the split-K emulation (contiguous, paged, GQA, empty splits), SDPA forms
    where this torch has SDPA, the tables and goals on made-up numbers, and (with --kvsim) a
    tiny kvsim group through the same config/HDF5 code."""
    import_torch()
    import triton_decode as td
    fails = []

    def check(name, cond, detail=""):
        log(f"  {'ok ' if cond else 'FAIL'} {name} {detail}")
        if not cond:
            fails.append(name)

    torch.manual_seed(0)
    # reference against a float64 loop
    B, H, KVH, N, D = 2, 8, 2, 37, 16
    q = torch.randn(B, H, D)
    k = torch.randn(B, KVH, N, D)
    v = torch.randn(B, KVH, N, D)
    ref = ref_decode(q, k, v)
    naive = torch.empty(B, H, D, dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            s = (k[b, h // (H // KVH)].double() @ q[b, h].double()) / math.sqrt(D)
            naive[b, h] = torch.softmax(s, 0) @ v[b, h // (H // KVH)].double()
    check("ref_decode vs float64 loop", (ref.double() - naive).abs().max().item() < 1e-5)
    # split-K emulation: contiguous, several splits (some empty), GQA padding
    for splits in (2, 4, 8):
        chunk = td.split_chunk(N, splits, 16)
        emu = td.emulate_decode(q, k, v, N, splits, chunk, block=16)
        check(f"emulated split-K, {splits} splits of {chunk}", max_rel_err(emu, ref) < 1e-5, f"{max_rel_err(emu, ref):.1e}")
    splits, chunk = td.plan_splits(1, 8, 4096, 132)
    check("plan_splits(1, 8, 4096)", splits & (splits - 1) == 0 and splits >= 2 and chunk % td.BLOCK_N == 0 and splits * chunk >= 4096,
          f"{splits} x {chunk}")
    splits, chunk = td.plan_splits(16, 32, 32768, 132)
    check("plan_splits(16, 32, 32768)", splits >= 2 and splits * chunk >= 32768, f"{splits} x {chunk}")
    # scales (the fp8 path's arithmetic): stored values x per-head scales
    ks = torch.rand(KVH) + 0.5
    vs = torch.rand(KVH) + 0.5
    emu = td.emulate_decode(q, k, v, N, 4, td.split_chunk(N, 4, 16), ks, vs, block=16)
    check("emulated split-K with per-head scales", max_rel_err(emu, ref_decode(q, k, v, ks, vs)) < 1e-5)
    # paged: a shuffled pool, the gather and the emulated paged kernel
    page = 4
    pages = -(-N // page)
    P = B * pages
    table = torch.randperm(P).to(torch.int32).reshape(B, pages)
    kp = torch.randn(P, KVH, page, D)
    vp = torch.randn(P, KVH, page, D)
    kc = torch.stack([gather_pages(kp, table, b, N) for b in range(B)])
    vc = torch.stack([gather_pages(vp, table, b, N) for b in range(B)])
    for b in range(B):
        for n in (0, 5, N - 1):
            pg = int(table[b, n // page])
            check(f"gather_pages b{b} n{n}", torch.equal(kc[b, :, n], kp[pg, :, n % page]))
    refp = ref_decode(q, kc, vc)
    emu = td.emulate_decode(q, kp, vp, N, 4, td.split_chunk(N, 4, 16), block_table=table, page_size=page, block=16)
    check("emulated paged split-K vs gathered reference", max_rel_err(emu, refp) < 1e-5)
    # SDPA forms, where this torch has SDPA (>= 2.0): the decode forms against the reference
    if hasattr(F, "scaled_dot_product_attention"):
        o = F.scaled_dot_product_attention(q.view(B, KVH, H // KVH, D), k, v)
        check("SDPA heads-as-rows form", max_rel_err(o, ref) < 1e-5)
        try:
            o = F.scaled_dot_product_attention(q.view(B, H, 1, D), k, v, enable_gqa=True)
            check("SDPA enable_gqa form", max_rel_err(o, ref) < 1e-5)
        except TypeError:
            log("  skip SDPA enable_gqa (this torch has no enable_gqa)")
    else:
        log(f"  skip SDPA forms (torch {torch.__version__} has no scaled_dot_product_attention)")
    # prefill reference: bottom-right causal against a loop; the FLOP count against the mask
    C, N2 = 5, 11
    qp = torch.randn(H, C, D)
    kk = torch.randn(KVH, N2, D)
    vv = torch.randn(KVH, N2, D)
    rp = ref_prefill(qp, kk, vv, heads_per_step=3)
    worst = 0.0
    for h in range(H):
        for i in range(C):
            keys = N2 - C + i + 1
            s = kk[h // (H // KVH), :keys].double() @ qp[h, i].double() / math.sqrt(D)
            o = torch.softmax(s, 0) @ vv[h // (H // KVH), :keys].double()
            worst = max(worst, (o - rp[h, i].double()).abs().max().item())
    check("ref_prefill vs bottom-right causal loop", worst < 1e-5, f"{worst:.1e}")
    small = Shape(1, 1, 1)
    pairs = sum(N2 - C + i + 1 for i in range(C))
    check("prefill_flops counts unmasked pairs", abs(prefill_flops(C, N2, small) - 4 * pairs) < 1e-9)
    # bytes
    p = make_point("fp16", 8, 1, 4096)
    check("token_bytes fp16 kv8 b1 4096", token_bytes(p) == 32 * 2 * 8 * 4096 * 128 * 2 + 32 * 2 * 32 * 128 * 2)
    # tables and goals on made-up rows
    dp = [make_point("fp16", 8, 1, 32768), make_point("fp16", 8, 1, 32768, "paged", 16), make_point("int4", 8, 1, 32768, peers=False),
          make_point("int8", 8, 1, 32768, peers=False)]
    pp = [dict(id="512/4104 kv32", chunk=512, ctx=4104, kv_heads=32)]
    R = lambda pt, impl, l, ms, st="ok", sec="decode": dict(section=sec, point=pt, impl=impl, launch=l, ms=ms, ms_min=ms, ms_max=ms, reps=20, err=1e-3, status=st)  # noqa: E731
    rows = [R(dp[0]["id"], "SDPA FLASH", "graph", 4.0), R(dp[0]["id"], "SDPA FLASH", "eager", 4.2), R(dp[0]["id"], "Triton split-K", "graph", 3.9, "WRONG"),
            R(dp[0]["id"], "SDPA CUDNN", "eager", None, "n/a: refused"), R(dp[0]["id"], "kvsim", "eager", 4.1), R(dp[0]["id"], "kvsim", "graph", 3.8),
            R(dp[1]["id"], "Triton split-K", "graph", 4.3), R(dp[1]["id"], "kvsim", "graph", 3.95),
            R(dp[2]["id"], "kvsim", "graph", 1.5), R(dp[3]["id"], "kvsim", "graph", 2.0),
            R(pp[0]["id"], "SDPA default", "eager", 10.0, sec="prefill"), R(pp[0]["id"], "kvsim", "eager", 13.0, sec="prefill")]
    meta = dict(device="selftest", ceiling_GBps=4000.0)
    os.makedirs(args.out, exist_ok=True)
    md, goals = write_outputs(args.out, meta, dp, pp, rows)
    verdicts = [v for _, v, _ in goals]
    check("goal: kvsim vs fastest peer PASS (3.8 <= 4.0; the WRONG 3.9 ignored)", verdicts[0] == "PASS", verdicts[0])
    check("goal: paged within 5% PASS (3.95 / 3.8 = 1.039)", verdicts[1] == "PASS", verdicts[1])
    check("goal: formats FAIL (int8 1.9x ok, int4 2.53x < 3)", verdicts[3] == "FAIL", verdicts[3])
    check("goal: prefill FAIL (10/13 = 0.77)", verdicts[4] == "FAIL", verdicts[4])
    check("markdown has the decode table", "| fp16 kv8 b1 32768 |" in md and "WRONG 3.900" in md)
    # kvsim through the same config / HDF5 code, tiny shapes (CPU build)
    if args.kvsim and os.path.exists(args.kvsim):
        tiny = Shape(2, 4, 32)
        tp = [make_point("fp16", 4, 1, 64), make_point("fp16", 2, 2, 64, "paged", 16), make_point("int4", 2, 1, 64, peers=False)]
        tpp = [dict(id="16/80 kv4", chunk=16, ctx=80, kv_heads=4), dict(id="16/80 kv2", chunk=16, ctx=80, kv_heads=2)]
        targs = argparse.Namespace(**vars(args))
        targs.kvsim_tokens, targs.kvsim_reps, targs.kvsim_prefill_reps, targs.kvsim_probe_mb = 4, 2, 2, 16
        targs.t0, targs.budget_s = time.time(), 120
        krows = []
        launch_ok, note, attrs = kvsim_all(targs, tp, tpp, tiny, krows, log, 1e12)
        got = [r for r in krows if r["impl"] == "kvsim" and r["status"] == "ok"]
        check(f"kvsim CPU group ({note})", len(got) == len(tp) * (2 if launch_ok else 1) + len(tpp),
              f"{len(got)} ok rows; {[r['status'] for r in krows if r['status'] != 'ok' and not r['status'].startswith('n/a')]}")
        check("kvsim rows carry attention_ms", all(r.get("ms", 0) > 0 for r in got), str([round(r.get("ms") or 0, 4) for r in got]))
        # a failing point in the middle of a group: the others still come back
        bad = [tp[0], make_point("fp16", 3, 1, 64), tp[2]]  # kv_heads 3 does not divide 4 heads
        krows = []
        kvsim_all(targs, bad, [], tiny, krows, log, 1e12)
        st = [(r["point"], r["launch"], r["status"][:40]) for r in krows]
        check("a refused point is reported, the rest run", sum(1 for r in krows if r["status"] == "ok") >= 2
              and any(r["status"].startswith("failed") for r in krows), str(st))
    else:
        log("  skip the kvsim group test (no --kvsim binary)")
    mock_gpu_paths(args, log, check)
    log(f"cpu selftest: {'all passed' if not fails else 'FAILED: ' + ', '.join(fails)}")
    return 1 if fails else 0


def mock_gpu_paths(args, log, check):
    """The GPU code paths (torch_decode_point, torch_prefill_point, run_variant, bench,
    capture_graph) on tiny shapes, on the CPU: CUDA events, streams and graphs, SDPA and the
    Triton launch replaced by CPU stand-ins (SDPA in float32 math; the CUDNN stand-in refuses,
    as a backend may; the Triton launch runs emulate_decode). It catches wrong names, shapes and
    bookkeeping, not GPU behaviour. fp8 is left out where this torch lacks float8_e4m3fn."""
    global DEVICE
    import types
    import triton_decode as td
    saved = dict(DEVICE=DEVICE, sdpa=getattr(F, "scaled_dot_product_attention", None), decode=td.decode,
                 cuda={n: getattr(torch.cuda, n, None) for n in ("Event", "synchronize", "Stream", "stream", "current_stream",
                                                                 "CUDAGraph", "graph", "get_device_properties", "empty_cache")},
                 mod=sys.modules.get("torch.nn.attention"))
    state = dict(backend=None)

    class Event:
        def __init__(self, enable_timing=True):
            self.t = 0.0

        def record(self):
            self.t = time.perf_counter()

        def synchronize(self):
            pass

        def elapsed_time(self, other):
            return 1e3 * (other.t - self.t)

    class Stream:
        def wait_stream(self, other):
            pass

    class Graph:
        def replay(self):
            pass

    def sdpa(q, k, v, attn_mask=None, enable_gqa=False, **kw):
        if state["backend"] == "CUDNN_ATTENTION":
            warnings.warn("cuDNN stand-in: not supported here")
            raise RuntimeError("No available kernel. Aborting execution.")
        if k.shape[-3] != q.shape[-3]:
            if not enable_gqa:
                raise RuntimeError("shape mismatch")
            g = q.shape[-3] // k.shape[-3]
            k, v = k.repeat_interleave(g, dim=-3), v.repeat_interleave(g, dim=-3)
        s = torch.matmul(q.float(), k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
        if attn_mask is not None:
            s = s.masked_fill(~attn_mask, float("-inf"))
        return torch.matmul(torch.softmax(s, -1), v.float()).to(q.dtype)

    @contextlib.contextmanager
    def sdpa_kernel(backends):
        state["backend"] = backends[0]
        try:
            yield
        finally:
            state["backend"] = None

    attn = types.ModuleType("torch.nn.attention")
    attn.SDPBackend = types.SimpleNamespace(FLASH_ATTENTION="FLASH_ATTENTION", CUDNN_ATTENTION="CUDNN_ATTENTION")
    attn.sdpa_kernel = sdpa_kernel

    def decode(q, k, v, out, ws, n_ctx, k_scale=None, v_scale=None, block_table=None, page_size=0):
        out.copy_(td.emulate_decode(q, k, v, n_ctx, ws.splits, ws.chunk, k_scale, v_scale, block_table, page_size, block=16))
        return out

    try:
        DEVICE = "cpu"
        F.scaled_dot_product_attention = sdpa
        td.decode = decode
        sys.modules["torch.nn.attention"] = attn
        torch.cuda.Event, torch.cuda.Stream, torch.cuda.CUDAGraph = Event, Stream, Graph
        torch.cuda.synchronize = lambda *a: None
        torch.cuda.empty_cache = lambda *a: None
        torch.cuda.stream = lambda s: contextlib.nullcontext()
        torch.cuda.current_stream = lambda *a: Stream()
        torch.cuda.graph = lambda g, **kw: contextlib.nullcontext()
        torch.cuda.get_device_properties = lambda d: types.SimpleNamespace(multi_processor_count=4)
        shape = Shape(2, 4, 16)
        margs = argparse.Namespace(**vars(args))
        margs.warmup, margs.reps, margs.variant_budget_s, margs.triton_splits, margs.verbose = 2, 3, 0.5, None, True
        dpts = [make_point("fp16", 4, 1, 40), make_point("bf16", 2, 2, 40), make_point("fp16", 2, 2, 40, "paged", 16)]
        if hasattr(torch, "float8_e4m3fn"):
            dpts.append(make_point("fp8_e4m3", 2, 1, 40))
        rows = []
        for p in dpts:
            rows += torch_decode_point(p, margs, shape, log)
        ppts = [dict(id="8/24 kv2", chunk=8, ctx=24, kv_heads=2)]
        for p in ppts:
            rows += torch_prefill_point(p, margs, shape, log)
        bad = [(r["point"], r["impl"], r["launch"], r.get("form"), r.get("status")) for r in rows
               if not (r.get("status") == "ok" or r.get("status", "").startswith("n/a"))]
        check("mock GPU paths: every variant ok or n/a", not bad, str(bad[:4]))
        na = [r for r in rows if r["impl"] == "SDPA CUDNN" and r["section"] == "decode" and r["point"] == dpts[0]["id"]]
        check("mock GPU paths: a refusing backend reads n/a with its reason",
              bool(na) and all(r["status"].startswith("n/a: cuDNN stand-in") for r in na), str([r["status"] for r in na]))
        tri = [r for r in rows if r["impl"] == "Triton split-K" and r.get("status") == "ok"]
        check("mock GPU paths: Triton rows (contiguous + paged, eager + graph)", len(tri) >= 6, str(len(tri)))
        gqa = {r.get("form") for r in rows if r["point"] == dpts[1]["id"] and r["impl"] == "SDPA FLASH"}
        check("mock GPU paths: both GQA forms tried", gqa == {"enable_gqa", "heads_as_rows"}, str(gqa))
        pre = [r for r in rows if r["section"] == "prefill" and r.get("status") == "ok"]
        check("mock GPU paths: prefill rows", len(pre) >= 2, str([(r["impl"], r.get("form")) for r in pre]))
        md, _ = write_outputs(args.out, dict(device="mock", ceiling_GBps=1.0), dpts, ppts, rows)
        check("mock GPU paths: tables render", "## Goals" in md)
    finally:
        DEVICE = saved["DEVICE"]
        if saved["sdpa"] is None:
            if hasattr(F, "scaled_dot_product_attention"):
                del F.scaled_dot_product_attention
        else:
            F.scaled_dot_product_attention = saved["sdpa"]
        td.decode = saved["decode"]
        for n, fn in saved["cuda"].items():
            if fn is not None:
                setattr(torch.cuda, n, fn)
        if saved["mod"] is None:
            sys.modules.pop("torch.nn.attention", None)
        else:
            sys.modules["torch.nn.attention"] = saved["mod"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kvsim", help="kvsim binary (BUILD/framework/kvsim)")
    ap.add_argument("--out", default="results/peers", help="output directory")
    ap.add_argument("--quick", action="store_true", help="4096 only, fp16, both kv_heads, batch 1, one paged, one prefill")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and write the kvsim configs; no torch, no GPU")
    ap.add_argument("--cpu-selftest", action="store_true", help="check the math and the tables on the CPU")
    ap.add_argument("--only", default="", help="run only points whose id contains this text (decode and prefill)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--variant-budget-s", type=float, default=1.5, help="timing budget of one implementation x launch mode")
    ap.add_argument("--budget-s", type=float, default=330, help="the whole run's budget; later points are skipped past it")
    ap.add_argument("--kvsim-tokens", type=int, default=16)
    ap.add_argument("--kvsim-reps", type=int, default=3)
    ap.add_argument("--kvsim-prefill-reps", type=int, default=2)
    ap.add_argument("--kvsim-probe-mb", type=int, default=1024, help="kvsim's run.copy_probe_mb")
    ap.add_argument("--triton-splits", type=int, default=None, help="force the Triton kernel's split count")
    ap.add_argument("--assume-free-gb", type=float, default=140.0, help="--dry-run: the card's free memory")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    # kvsim runs with the output directory as its working directory: a relative path would miss.
    if args.kvsim:
        args.kvsim = os.path.abspath(args.kvsim)
    args.t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    logf = open(os.path.join(args.out, "peers.log"), "a")

    def log(msg):
        line = f"[{time.time() - args.t0:6.1f}s] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    if args.cpu_selftest:
        return cpu_selftest(args, log)
    dpoints, ppoints = decode_points(args.quick), prefill_points(args.quick)
    if args.only:
        dpoints = [p for p in dpoints if args.only in p["id"]]
        ppoints = [p for p in ppoints if args.only in p["id"]]
    if args.dry_run:
        return dry_run(args, dpoints, ppoints, log)
    return gpu_main(args, dpoints, ppoints, log)


if __name__ == "__main__":
    sys.exit(main())
