#pragma once
// Warp-level tensor-core pieces for the flash prefill kernel (prefill_flash.hpp) and the decode
// kernel (decode_attention_mma.hpp):
// mma.sync.aligned.m16n8k16 (f16 x f16 -> f32), ldmatrix and cp.async as inline PTX, and the
// fragment index math as host-callable functions, so a host unit test holds the math the kernel
// addresses memory with against the PTX ISA tables ("Matrix Fragments for mma.m16n8k16 with
// floating point type" and "Matrix Fragments for ldmatrix"). A wrong entry here gives wrong
// numbers, not a crash, and only on the GPU: hence the host test.
//
// Notation: lane = 4 * group + quad (group = lane / 4 in 0..7, quad = lane % 4 in 0..3).
//   A (16 x 16, row major), 8 halves a0..a7 in 4 .b32 registers (a[2r] in the low half of r):
//     row = group + 8 * ((e / 2) % 2), col = 2 * quad + e % 2 + 8 * (e / 4)
//   B (16 x 8, k x n), 4 halves b0..b3 in 2 registers:
//     row (k) = 2 * quad + e % 2 + 8 * (e / 2), col (n) = group
//   C, D (16 x 8, f32), c0..c3:
//     row = group + 8 * (e / 2), col = 2 * quad + e % 2
// What makes FlashAttention-2's register-resident P work: the C fragments of two neighbouring
// n8 tiles of S (keys 8j .. 8j+7 and 8j+8 .. 8j+15) hold, register for register, the A fragment
// of P for the k16 step over those 16 keys: A register r is C tile (r / 2), elements
// 2 * (r % 2) and 2 * (r % 2) + 1. So softmax runs on S in registers and P never meets memory.
//
// ldmatrix .x4: lanes 8m .. 8m+7 give the row addresses (16 bytes each) of the 8 x 8 matrix m;
// register m of lane l holds row l / 4, halves 2 * (l % 4) and +1 of matrix m; with .trans it
// holds rows 2 * (l % 4) and +1 of column l / 4 instead. For K^T as B the stored rows are keys
// (k = dims run along a row), so the plain load fits; for V as B the stored rows are keys but
// k must run over keys, so V is loaded .trans.
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <type_traits>

namespace kvsim::mma {

// Whether this process's GPU runs mma.sync, ldmatrix and cp.async (sm_80+): the flash prefill
// and the tensor-core decode kernels.
template <class ExecSpace>
bool device_has_mma() {
#if defined(KOKKOS_ENABLE_CUDA)
  if (std::is_same<ExecSpace, Kokkos::Cuda>::value) {
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
      return false;
    return major >= 8;
  }
#endif
  return false;
}

struct RowCol {
  int row, col;
};

KOKKOS_INLINE_FUNCTION constexpr RowCol a_elem(int lane, int e) {
  return {lane / 4 + 8 * ((e / 2) % 2), 2 * (lane % 4) + e % 2 + 8 * (e / 4)};
}
KOKKOS_INLINE_FUNCTION constexpr RowCol b_elem(int lane, int e) {
  return {2 * (lane % 4) + e % 2 + 8 * (e / 2), lane / 4};
}
KOKKOS_INLINE_FUNCTION constexpr RowCol c_elem(int lane, int e) { return {lane / 4 + 8 * (e / 2), 2 * (lane % 4) + e % 2}; }

// The (row, col) inside 8 x 8 matrix `reg` that ldmatrix gives lane `lane` as half `h` of
// register `reg`.
KOKKOS_INLINE_FUNCTION constexpr RowCol ldmatrix_elem(int lane, int h, bool trans) {
  return trans ? RowCol{2 * (lane % 4) + h, lane / 4} : RowCol{lane / 4, 2 * (lane % 4) + h};
}

// The tile row (key) and column (dim) whose 16 bytes lane `lane` points ldmatrix at, per operand.
// K for S = Q K^T, k step `kk` (dims 16kk ..), key pair `p` (keys 16p .. 16p+15): matrices
// 0: keys +0..7, dims +0..7; 1: keys +0..7, dims +8..15; 2: keys +8..15, dims +0..7;
// 3: keys +8..15, dims +8..15; registers 0, 1 are B of n tile 2p and 2, 3 of n tile 2p+1.
KOKKOS_INLINE_FUNCTION constexpr RowCol k_ldmatrix_addr(int lane, int p, int kk) {
  return {16 * p + lane % 8 + 8 * ((lane / 8) / 2), 16 * kk + 8 * ((lane / 8) % 2)};
}
// V for O += P V, k step `kk` (keys 16kk ..), dim pair `nd` (dims 8nd .. 8nd+15), loaded .trans:
// matrices 0: keys +0..7, dims +0..7; 1: keys +8..15, dims +0..7; 2: keys +0..7, dims +8..15;
// 3: keys +8..15, dims +8..15; registers 0, 1 are B of n tile nd and 2, 3 of n tile nd+1.
KOKKOS_INLINE_FUNCTION constexpr RowCol v_ldmatrix_addr(int lane, int kk, int nd) {
  return {16 * kk + lane % 8 + 8 * ((lane / 8) % 2), 8 * nd + 8 * ((lane / 8) / 2)};
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define KVSIM_MMA_DEVICE 1

__device__ __forceinline__ std::uint32_t smem_addr(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}
// d += a b, m16n8k16, f16 inputs, f32 accumulators.
__device__ __forceinline__ void mma_f16(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], std::uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], std::uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
// 16 bytes global -> shared without passing through registers; src_bytes 0 writes zeros (rows
// past the context: their P is 0, and 0 * garbage could be NaN).
__device__ __forceinline__ void cp_async16(std::uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ std::uint32_t pack_half2(float lo, float hi) {
  std::uint32_t r;
  asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));  // the first source goes high
  return r;
}
__device__ __forceinline__ std::uint32_t pack_bf162(float lo, float hi) {
  std::uint32_t r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}
// The two halves of a packed f16x2 / bf16x2 word as floats (exact).
__device__ __forceinline__ void unpack_half2(std::uint32_t w, float& lo, float& hi) {
  asm("{.reg .f16 l, h;\n mov.b32 {l, h}, %2;\n cvt.f32.f16 %0, l;\n cvt.f32.f16 %1, h;\n}\n"
      : "=f"(lo), "=f"(hi)
      : "r"(w));
}
__device__ __forceinline__ void unpack_bf162(std::uint32_t w, float& lo, float& hi) {
  lo = __uint_as_float(w << 16);
  hi = __uint_as_float(w & 0xffff0000u);
}
// Decode's M side holds at most 8 query heads (rows 0..7): rows 8..15 of A are zero, so C's
// rows 8..15 enter as constant zeros and leave in registers that die at once. Shared dummy
// accumulators instead would chain every mma of a step behind the previous one.
template <bool BF16>
__device__ __forceinline__ void mma_rows8(float* d, std::uint32_t a0, std::uint32_t a2, std::uint32_t b0,
                                          std::uint32_t b1) {
  float j0, j1;
  if (BF16)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%10,%10};\n"
        : "+f"(d[0]), "+f"(d[1]), "=f"(j0), "=f"(j1)
        : "r"(a0), "r"(0u), "r"(a2), "r"(0u), "r"(b0), "r"(b1), "f"(0.0f));
  else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%10,%10};\n"
        : "+f"(d[0]), "+f"(d[1]), "=f"(j0), "=f"(j1)
        : "r"(a0), "r"(0u), "r"(a2), "r"(0u), "r"(b0), "r"(b1), "f"(0.0f));
}
// x = hi + lo to 22 (f16) or 16 (bf16) significant bits, as two packed pairs: one mma each
// keeps tensor-core products within the float64 reference tests' 1e-5 where one f16 rounding
// of q or of the softmax weights (2^-11 relative) would not.
template <bool BF16>
__device__ __forceinline__ void split_pair(float x0, float x1, std::uint32_t& hi, std::uint32_t& lo) {
  float h0, h1;
  if (BF16) {
    hi = pack_bf162(x0, x1);
    unpack_bf162(hi, h0, h1);
    lo = pack_bf162(x0 - h0, x1 - h1);
  } else {
    hi = pack_half2(x0, x1);
    unpack_half2(hi, h0, h1);
    lo = pack_half2(x0 - h0, x1 - h1);
  }
}
#endif

}  // namespace kvsim::mma
