#pragma once
// StreamingKVCache: the seed project's cache, on Kokkos. Per layer, K and V are contiguous and
// position-major ([slot][kv_head][dim]); all layers live in one labelled allocation
// [layer][K|V][slot][kv_head][dim] so one launch can append a position to every layer.
// Ring semantics: when full, the next position overwrites slot 0 and the valid length saturates
// at max_positions.
#include <algorithm>
#include <string>

#include "kvsim/cache_shape.hpp"
#include "kvsim/error.hpp"
#include "kvsim/kernels/append_token.hpp"
#include "kvsim/kernels/gather_layer.hpp"
#include "kvsim/kokkos_abstraction.hpp"

namespace kvsim {

template <class ExecSpace>
class StreamingKVCache {
 public:
  using execution_space = ExecSpace;
  using memory_space = MemSpaceOf<ExecSpace>;
  using storage_view = View5D<float, memory_space>;
  using dense_view = View4D<float, memory_space>;

  // Float4 per team in the gather: large enough to amortise the team's set-up, small enough to
  // give a 4096-position layer hundreds of teams.
  static constexpr std::int64_t gather_float4_per_team = 4096;

  StreamingKVCache(const ExecSpace& exec, const CacheShape& shape, std::uint64_t seed)
      : exec_(exec), shape_(shape), seed_(seed) {
    KVSIM_REQUIRE(shape.layers > 0 && shape.kv_heads > 0 && shape.max_positions > 0, "empty cache shape");
    KVSIM_REQUIRE(shape.head_dim > 0 && shape.head_dim % 4 == 0, "head_dim must be a positive multiple of 4, got ",
                  shape.head_dim);
    // Every slot is written before it is read (reads cover valid slots only): no initialisation.
    storage_ = storage_view(Kokkos::view_alloc(exec_, Kokkos::WithoutInitializing, std::string("kvsim::kv_cache")),
                            shape.layers, 2, shape.max_positions, shape.kv_heads, shape.head_dim);
  }

  const CacheShape& shape() const { return shape_; }
  std::uint64_t seed() const { return seed_; }
  const storage_view& storage() const { return storage_; }
  std::int64_t allocated_bytes() const { return static_cast<std::int64_t>(storage_.span() * sizeof(float)); }
  std::int64_t bytes_per_position() const { return shape_.layers * 2 * shape_.row_elements() * std::int64_t(sizeof(float)); }

  std::int64_t total_appended() const { return total_; }
  std::int64_t valid_positions() const { return std::min(total_, shape_.max_positions); }
  // Absolute position held by logical row 0 (the oldest valid position).
  std::int64_t first_position() const { return total_ - valid_positions(); }
  std::int64_t first_slot() const { return first_position() % shape_.max_positions; }

  void reset() { total_ = 0; }

  // Appends the next position (synthetic values) to every layer: one kernel launch.
  void append_synthetic_token() {
    const std::int64_t work = shape_.layers * 2 * shape_.kv_heads * (shape_.head_dim / 4);
    kernels::AppendSyntheticToken<memory_space> functor{storage_,
                                                        total_ % shape_.max_positions,
                                                        static_cast<std::uint64_t>(total_),
                                                        seed_,
                                                        shape_.kv_heads,
                                                        shape_.head_dim / 4};
    Kokkos::parallel_for("kvsim::append_token", RangePolicy<ExecSpace>(exec_, 0, work), functor);
    ++total_;
  }

  // A dense buffer that retrieve_layer can fill: [K|V][max_positions][kv_head][dim].
  dense_view make_dense_buffer(const std::string& label) const {
    return dense_view(Kokkos::view_alloc(exec_, Kokkos::WithoutInitializing, label), 2, shape_.max_positions,
                      shape_.kv_heads, shape_.head_dim);
  }

  // One retrieve op: the layer's valid K and V, dense fp32, oldest first, into out(kv, 0..valid).
  void retrieve_layer(std::int64_t layer, const dense_view& out) const {
    KVSIM_REQUIRE(layer >= 0 && layer < shape_.layers, "layer ", layer, " out of range");
    KVSIM_REQUIRE(out.extent(0) == 2 && std::int64_t(out.extent(1)) >= valid_positions() &&
                      std::int64_t(out.extent(2)) == shape_.kv_heads && std::int64_t(out.extent(3)) == shape_.head_dim,
                  "dense buffer has the wrong shape");
    const std::int64_t valid = valid_positions();
    if (valid == 0) return;
    const std::int64_t row4 = shape_.row_elements() / 4;
    const std::int64_t rows_per_team = std::max<std::int64_t>(1, gather_float4_per_team / row4);
    const std::int64_t blocks = (valid + rows_per_team - 1) / rows_per_team;
    kernels::GatherLayerDense<ExecSpace> functor{storage_, out,  layer, valid, first_slot(), shape_.max_positions,
                                                 row4,     rows_per_team, blocks};
    Kokkos::parallel_for("kvsim::gather_layer", TeamPolicy<ExecSpace>(exec_, 2 * blocks, Kokkos::AUTO), functor);
  }

  // Bytes a retrieve op moves: the valid K and V read once and written once.
  std::int64_t retrieve_bytes_per_layer() const {
    return 2 * 2 * valid_positions() * shape_.row_elements() * std::int64_t(sizeof(float));
  }

 private:
  ExecSpace exec_;
  CacheShape shape_;
  std::uint64_t seed_;
  storage_view storage_;
  std::int64_t total_ = 0;
};

}  // namespace kvsim
