#pragma once
// Decode attention on host backends (OpenMP, Serial), bound by the bytes it reads: one work item
// per (seq, chunk of KV heads, split) reads each K and V row once for all G query heads of its
// group (any G that divides heads: MQA is G = heads), in blocks of rows (host_block.hpp): the
// block's rows are decoded to floats in vector registers, then scores, one max/exp pass and the
// V accumulation run over the whole block. Rows of a sequence whose slots lie at a fixed stride
// (not paged, no H2O table, not wrapped) cost one multiply-add to address; paged rows look their
// page up once per page. Each item writes one partial (base-e max, sum, weighted V) per query
// head, combined by MergePartials as the serial kernel's are.
#include <cmath>

#include "kvsim/attention/decode_attention.hpp"
#include "kvsim/attention/host_block.hpp"
#include "kvsim/attention/split_merge.hpp"
#include "kvsim/layout/cache_addressing.hpp"

namespace kvsim::kernels {

template <class ExecSpace, codec::DType D>
struct DecodeAttentionHost {
  using MemSpace = MemSpaceOf<ExecSpace>;

  AttentionInputs<MemSpace> in;
  AttentionPartials<MemSpace> out;
  HostIsa isa;
  std::int64_t kv_per_item;  // KV heads one item walks together (divides kv_heads)

  // Host spaces only; the guard keeps a CUDA build's device pass from seeing host code.
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t w) const {
#if !defined(__CUDA_ARCH__)
    run(w);
#else
    (void)w;
#endif
  }

  // Work item: (seq, chunk of kv_per_item KV heads, split). Block by block, every KV head of the
  // chunk in turn: outside the head-major layout a (seq, kv_head)'s rows lie kv_heads *
  // head_dim values apart (8 KB at the 7B shape), each row on its own 4 KB page, so walking one
  // head alone costs a TLB miss (a nested page walk in a VM) per row; walking the heads of a
  // block together reuses its pages kv_per_item times. The next (block, head)'s rows are
  // prefetched while this one computes, since the hardware prefetchers stop at page bounds.
  void run(const std::int64_t w) const {
    const auto& cache = in.cache;
    const auto& addr = cache.addr;
    const std::int64_t kvh = addr.kv_heads, hd = addr.head_dim, G = in.heads / kvh, parts = out.parts;
    const std::int64_t chunks = kvh / kv_per_item;
    const std::int64_t split = w % in.splits;
    const std::int64_t h0 = (w / in.splits) % chunks * kv_per_item;
    const std::int64_t seq = w / (in.splits * chunks);
    const std::int64_t total = cache.totals(seq);
    std::int64_t begin, end;
    in.split_range(cache.map.valid(total), split, begin, end);

    // Query head q's partial: m, l at ph(q), acc at ph(q) * hd.
    const auto ph = [&](std::int64_t head) { return (seq * in.heads + head) * parts + split; };
    for (std::int64_t head = h0 * G; head < (h0 + kv_per_item) * G; ++head) {
      for (std::int64_t d = 0; d < hd; ++d) out.acc(ph(head) * hd + d) = 0.0f;
      out.m(ph(head)) = -INFINITY;
      out.l(ph(head)) = 0.0f;
    }
    HostBlock b{};
    b.data = cache.data.data();
    b.gs = cache.group_scales.data();
    b.G = int(G);
    b.hd = hd;
    b.qscale = in.scale * kLog2e;
    b.acc_stride = parts * hd;
    b.ml_stride = parts;

    // Logical row i is slot i until the cache wraps (or when a table orders it); outside the
    // paged layout slot s lies at k0 + s * stride, and in every layout KV head h's values lie
    // h * hstride after head 0's.
    const bool in_order = !cache.map.table && total <= cache.map.capacity();
    const bool paged = addr.paged;
    const std::int64_t k0 = paged ? 0 : addr.index(in.layer, 0, seq, 0, 0, 0);
    const std::int64_t v0 = paged ? 0 : addr.index(in.layer, 1, seq, 0, 0, 0);
    const std::int64_t stride = paged ? kvh * hd : addr.index(in.layer, 0, seq, 1, 0, 0) - k0;
    const std::int64_t hstride = addr.index(in.layer, 0, seq, 0, 1, 0) - addr.index(in.layer, 0, seq, 0, 0, 0);
    const std::int64_t page_mask = (std::int64_t(1) << addr.page_shift) - 1;
    std::int64_t page = -1, pk = 0, pv = 0;  // the page last looked up and its slot 0 (head 0)
    const std::int64_t rows = host_block_rows(hd);
    // Head 0's element offsets of K and V of each row of the current and the next block.
    std::int64_t ek[2][kHostBlockRows], ev[2][kHostBlockRows];
    const auto addresses = [&](std::int64_t i0, int n, std::int64_t* ke, std::int64_t* ve) {
      for (int r = 0; r < n; ++r) {
        const std::int64_t i = i0 + r;
        const std::int64_t slot = in_order ? i : cache.slot_of(seq, i, total);
        if (!paged) {
          ke[r] = k0 + slot * stride;
          ve[r] = v0 + slot * stride;
          continue;
        }
        if ((slot >> addr.page_shift) != page) {
          page = slot >> addr.page_shift;
          pk = addr.index(in.layer, 0, seq, page << addr.page_shift, 0, 0);
          pv = addr.index(in.layer, 1, seq, page << addr.page_shift, 0, 0);
        }
        ke[r] = pk + (slot & page_mask) * stride;
        ve[r] = pv + (slot & page_mask) * stride;
      }
    };
    const std::int64_t row_bytes = hd * codec::Codec<D>::bits / 8;
    const auto prefetch = [&](int n, const std::int64_t* ke, const std::int64_t* ve, std::int64_t off) {
#if defined(__GNUC__)
      for (int r = 0; r < n; ++r)
        for (std::int64_t x = 0; x < row_bytes; x += 64) {
          __builtin_prefetch(b.data + (ke[r] + off) * codec::Codec<D>::bits / 8 + x, 0, 2);
          __builtin_prefetch(b.data + (ve[r] + off) * codec::Codec<D>::bits / 8 + x, 0, 2);
        }
#else
      (void)n, (void)ke, (void)ve, (void)off;
#endif
    };
    std::int64_t ke[kHostBlockRows], ve[kHostBlockRows];
    b.ke = ke;
    b.ve = ve;
    int cur = 0;
    if (begin < end) addresses(begin, int(end - begin < rows ? end - begin : rows), ek[0], ev[0]);
    for (std::int64_t i0 = begin; i0 < end; i0 += rows) {
      const int n = int(end - i0 < rows ? end - i0 : rows);
      const std::int64_t i1 = i0 + rows;
      const int n1 = i1 < end ? int(end - i1 < rows ? end - i1 : rows) : 0;
      if (n1 > 0) addresses(i1, n1, ek[1 - cur], ev[1 - cur]);
      for (std::int64_t kv_head = h0; kv_head < h0 + kv_per_item; ++kv_head) {
        if (kv_head + 1 < h0 + kv_per_item) prefetch(n, ek[cur], ev[cur], (kv_head + 1) * hstride);
        else if (n1 > 0) prefetch(n1, ek[1 - cur], ev[1 - cur], h0 * hstride);
        for (int r = 0; r < n; ++r) {
          ke[r] = ek[cur][r] + kv_head * hstride;
          ve[r] = ev[cur][r] + kv_head * hstride;
        }
        const std::int64_t head0 = kv_head * G;
        b.n = n;
        b.q = in.q.data() + (seq * in.heads + head0) * hd;
        b.kscale = codec::Codec<D>::head_scale ? cache.head_scales((in.layer * 2 + 0) * kvh + kv_head) : 1.0f;
        b.vscale = codec::Codec<D>::head_scale ? cache.head_scales((in.layer * 2 + 1) * kvh + kv_head) : 1.0f;
        b.acc = out.acc.data() + ph(head0) * hd;
        b.m = out.m.data() + ph(head0);
        b.l = out.l.data() + ph(head0);
        run_host_block<D>(isa, b);
      }
      cur = 1 - cur;
    }
    // MergePartials works in base e.
    for (std::int64_t head = h0 * G; head < (h0 + kv_per_item) * G; ++head) out.m(ph(head)) *= kLn2;
  }
};

}  // namespace kvsim::kernels
