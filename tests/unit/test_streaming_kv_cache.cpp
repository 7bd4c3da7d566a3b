#include <cmath>
#include <cstring>
#include <limits>

#include "catch_compat.hpp"
#include "exec_spaces.hpp"
#include "kvsim/kernels/verify_dense.hpp"
#include "kvsim/streaming_kv_cache.hpp"
#include "kvsim/synthetic.hpp"

namespace {

using kvsim::CacheShape;
using kvsim::synthetic::Tensor;

struct Outcome {
  std::int64_t valid = 0;
  std::int64_t mismatches = 0;
  std::int64_t checked = 0;
};

// Fills `total` positions, retrieves every layer into a NaN-poisoned buffer, and compares every
// element with the host twin of the generator at the position the ring says it must hold.
template <class ExecSpace>
Outcome fill_retrieve_compare(const CacheShape& shape, std::uint64_t seed, std::int64_t total) {
  const ExecSpace exec;
  kvsim::StreamingKVCache<ExecSpace> cache(exec, shape, seed);
  for (std::int64_t p = 0; p < total; ++p) cache.append_synthetic_token();
  auto dense = cache.make_dense_buffer("kvsim::test::dense");
  Outcome o;
  o.valid = cache.valid_positions();
  const std::int64_t first = std::max<std::int64_t>(0, total - shape.max_positions);
  for (std::int64_t layer = 0; layer < shape.layers; ++layer) {
    Kokkos::deep_copy(exec, dense, std::numeric_limits<float>::quiet_NaN());
    cache.retrieve_layer(layer, dense);
    const auto host = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), dense);
    for (int kv = 0; kv < 2; ++kv)
      for (std::int64_t p = 0; p < o.valid; ++p)
        for (std::int64_t h = 0; h < shape.kv_heads; ++h)
          for (std::int64_t d = 0; d < shape.head_dim; ++d) {
            const float expected = kvsim::synthetic::value(seed, std::uint32_t(layer), Tensor(kv), std::uint64_t(first + p),
                                                           std::uint32_t(h), std::uint32_t(d));
            const float got = host(kv, p, h, d);
            o.mismatches += std::memcmp(&expected, &got, sizeof got) != 0;
            ++o.checked;
          }
  }
  return o;
}

// Runs the device verification over one retrieved layer, optionally after corrupting one element.
template <class ExecSpace>
kvsim::kernels::VerifyTally verify_layer(const CacheShape& shape, std::uint64_t seed, std::int64_t total,
                                         std::int64_t layer, bool corrupt) {
  const ExecSpace exec;
  kvsim::StreamingKVCache<ExecSpace> cache(exec, shape, seed);
  for (std::int64_t p = 0; p < total; ++p) cache.append_synthetic_token();
  auto dense = cache.make_dense_buffer("kvsim::test::dense");
  cache.retrieve_layer(layer, dense);
  if (corrupt) {
    auto one = Kokkos::subview(dense, 1, cache.valid_positions() - 1, shape.kv_heads - 1, shape.head_dim - 1);
    Kokkos::deep_copy(exec, one, 0.25f);  // not a value the generator can produce at this spot
  }
  const std::int64_t valid = cache.valid_positions();
  kvsim::kernels::VerifyDenseLayer<typename ExecSpace::memory_space> verify{
      dense, seed, layer, valid, std::uint64_t(cache.first_position()), shape.kv_heads, shape.head_dim};
  kvsim::kernels::VerifyTally tally;
  Kokkos::parallel_reduce("kvsim::test::verify", kvsim::RangePolicy<ExecSpace>(exec, 0, 2 * valid * shape.row_elements()),
                          verify, tally);
  return tally;
}

// The checksum recomputed on the host from the generator alone.
std::uint64_t host_checksum(const CacheShape& shape, std::uint64_t seed, std::int64_t total, std::int64_t layer) {
  const std::int64_t valid = std::min(total, shape.max_positions);
  const std::int64_t first = total - valid;
  std::uint64_t sum = 0;
  for (int kv = 0; kv < 2; ++kv)
    for (std::int64_t p = 0; p < valid; ++p)
      for (std::int64_t h = 0; h < shape.kv_heads; ++h)
        for (std::int64_t d = 0; d < shape.head_dim; ++d) {
          const float v = kvsim::synthetic::value(seed, std::uint32_t(layer), Tensor(kv), std::uint64_t(first + p),
                                                  std::uint32_t(h), std::uint32_t(d));
          std::uint32_t bits;
          std::memcpy(&bits, &v, sizeof bits);
          sum += kvsim::kernels::checksum_term(
              kvsim::synthetic::lane_key(std::uint32_t(layer), Tensor(kv), std::uint32_t(h), std::uint32_t(d)),
              std::uint64_t(first + p), bits);
        }
  return sum;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("retrieve returns every layer in logical order", "[cache]", kvsim::test::ExecSpaces) {
  // head_dim 12 and kv_heads 3: a row is 9 Float4, so teams cover 455 rows and blocks do not
  // divide the valid length.
  const CacheShape shape{3, 3, 12, 1000};
  SECTION("partly filled") {
    const Outcome o = fill_retrieve_compare<TestType>(shape, 7, 613);
    CHECK(o.valid == 613);
    CHECK(o.checked == 3 * 2 * 613 * 36);
    CHECK(o.mismatches == 0);
  }
  SECTION("exactly full") {
    const Outcome o = fill_retrieve_compare<TestType>(shape, 7, 1000);
    CHECK(o.valid == 1000);
    CHECK(o.mismatches == 0);
  }
  SECTION("wrapped once: the oldest position is no longer in slot 0") {
    const Outcome o = fill_retrieve_compare<TestType>(shape, 7, 1457);
    CHECK(o.valid == 1000);
    CHECK(o.mismatches == 0);
  }
  SECTION("wrapped several times") {
    const Outcome o = fill_retrieve_compare<TestType>(CacheShape{2, 1, 4, 5}, 3, 23);
    CHECK(o.valid == 5);
    CHECK(o.checked == 2 * 2 * 5 * 4);
    CHECK(o.mismatches == 0);
  }
}

TEMPLATE_LIST_TEST_CASE("ring bookkeeping saturates at max_positions", "[cache]", kvsim::test::ExecSpaces) {
  const TestType exec;
  kvsim::StreamingKVCache<TestType> cache(exec, CacheShape{2, 2, 8, 16}, 1);
  CHECK(cache.valid_positions() == 0);
  for (int p = 0; p < 16; ++p) cache.append_synthetic_token();
  CHECK(cache.valid_positions() == 16);
  CHECK(cache.first_slot() == 0);
  for (int p = 0; p < 5; ++p) cache.append_synthetic_token();
  CHECK(cache.valid_positions() == 16);
  CHECK(cache.total_appended() == 21);
  CHECK(cache.first_position() == 5);
  CHECK(cache.first_slot() == 5);
  CHECK(cache.allocated_bytes() == 2 * 2 * 16 * 2 * 8 * 4);
  cache.reset();
  CHECK(cache.valid_positions() == 0);
}

TEMPLATE_LIST_TEST_CASE("the device verification catches one wrong element", "[cache][verify]", kvsim::test::ExecSpaces) {
  const CacheShape shape{2, 2, 8, 64};
  const auto clean = verify_layer<TestType>(shape, 5, 100, 1, false);
  const auto corrupted = verify_layer<TestType>(shape, 5, 100, 1, true);
  CHECK(clean.mismatches == 0);
  CHECK(corrupted.mismatches == 1);
  CHECK(clean.checksum == host_checksum(shape, 5, 100, 1));
  CHECK(corrupted.checksum != clean.checksum);
}
