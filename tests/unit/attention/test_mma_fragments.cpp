// The fragment index math of the flash prefill kernel (attention/mma_fragments.hpp), on the
// host: spot entries copied from the PTX ISA's figures for mma.m16n8k16 and ldmatrix, every
// fragment covering its matrix exactly once, and the kernel's ldmatrix addresses and its S -> P
// register reuse delivering exactly the operand elements mma expects.
#include <set>
#include <utility>

#include "../catch_compat.hpp"
#include "kvsim/attention/mma_fragments.hpp"

namespace {

using kvsim::mma::RowCol;

bool same(RowCol a, RowCol b) { return a.row == b.row && a.col == b.col; }

}  // namespace

TEST_CASE("mma.m16n8k16 fragments match the PTX ISA tables and cover each matrix once", "[prefill][mma]") {
  using namespace kvsim::mma;
  // PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type" (f16 A, B; f32 C).
  CHECK(same(a_elem(0, 0), {0, 0}));
  CHECK(same(a_elem(0, 1), {0, 1}));
  CHECK(same(a_elem(0, 2), {8, 0}));
  CHECK(same(a_elem(0, 4), {0, 8}));
  CHECK(same(a_elem(0, 7), {8, 9}));
  CHECK(same(a_elem(5, 0), {1, 2}));
  CHECK(same(a_elem(31, 7), {15, 15}));
  CHECK(same(b_elem(0, 0), {0, 0}));
  CHECK(same(b_elem(6, 0), {4, 1}));
  CHECK(same(b_elem(6, 3), {13, 1}));
  CHECK(same(b_elem(31, 3), {15, 7}));
  CHECK(same(c_elem(0, 2), {8, 0}));
  CHECK(same(c_elem(31, 3), {15, 7}));
  CHECK(same(c_elem(9, 1), {2, 3}));
  std::set<std::pair<int, int>> a, b, c;
  for (int lane = 0; lane < 32; ++lane) {
    for (int e = 0; e < 8; ++e) a.insert({a_elem(lane, e).row, a_elem(lane, e).col});
    for (int e = 0; e < 4; ++e) b.insert({b_elem(lane, e).row, b_elem(lane, e).col});
    for (int e = 0; e < 4; ++e) c.insert({c_elem(lane, e).row, c_elem(lane, e).col});
  }
  CHECK(a.size() == 256u);
  CHECK(b.size() == 128u);
  CHECK(c.size() == 128u);
  CHECK(a.rbegin()->first == 15);
  CHECK(b.rbegin()->first == 15);
  CHECK(c.rbegin()->second <= 7);
}

TEST_CASE("the flash kernel's ldmatrix addresses give mma its B operands", "[prefill][mma]") {
  using namespace kvsim::mma;
  // ldmatrix (PTX ISA "Matrix Fragments for ldmatrix"): lane 5 holds row 1, halves 2 and 3;
  // transposed, rows 2 and 3 of column 1.
  CHECK(same(ldmatrix_elem(5, 0, false), {1, 2}));
  CHECK(same(ldmatrix_elem(5, 1, true), {3, 1}));
  int bad = 0;
  for (int lane = 0; lane < 32; ++lane)
    for (int reg = 0; reg < 4; ++reg)
      for (int h = 0; h < 2; ++h) {
        const int e = 2 * (reg % 2) + h, ntile = reg / 2;  // B element, n tile of the pair
        const RowCol need = b_elem(lane, e);              // (k, n) inside the n8 tile
        for (int p = 0; p < 4; ++p)
          for (int kk = 0; kk < 8; ++kk) {
            // K as B of S = Q K^T: k = dim, n = key.
            const RowCol in = ldmatrix_elem(lane, h, false);
            const RowCol row = k_ldmatrix_addr(8 * reg + in.row, p, kk);
            bad += !same({row.row, row.col + in.col}, {16 * p + 8 * ntile + need.col, 16 * kk + need.row});
          }
        for (int kk = 0; kk < 4; ++kk)
          for (int nd = 0; nd < 16; nd += 2) {
            // V as B of O = P V: k = key, n = dim; the stored rows are keys, loaded transposed.
            const RowCol in = ldmatrix_elem(lane, h, true);
            const RowCol at = v_ldmatrix_addr(8 * reg + in.row, kk, nd);
            bad += !same({at.row, at.col + in.col}, {16 * kk + need.row, 8 * (nd + ntile) + need.col});
          }
      }
  CHECK(bad == 0);
}

TEST_CASE("two n8 tiles of S in C fragments are the A fragment of P", "[prefill][mma]") {
  using namespace kvsim::mma;
  int bad = 0;
  for (int lane = 0; lane < 32; ++lane)
    for (int reg = 0; reg < 4; ++reg)
      for (int h = 0; h < 2; ++h) {
        // The kernel packs A register `reg` of k step kk from S tile 2kk + reg / 2, elements
        // 2 (reg % 2) + h; that tile's columns sit 8 (reg / 2) into the 16 keys of the step.
        const RowCol from = c_elem(lane, 2 * (reg % 2) + h);
        bad += !same(a_elem(lane, 2 * reg + h), {from.row, from.col + 8 * (reg / 2)});
      }
  CHECK(bad == 0);
}
