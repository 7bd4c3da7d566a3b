#pragma once
// The float64 references every accuracy figure is taken against, and the bounds a correct
// kernel stays within: computed on the host from the unquantised synthetic source, so a
// storage format's loss and a kernel's bug are told apart.
#include <cstdint>
#include <vector>

#include "config/config.hpp"

namespace kvsim {

struct PointResult;

// Accumulates ||got - exact||^2 and ||exact||^2 for one query of head_dim values, where exact is
// float64 softmax(q K^T / sqrt(d)) V of layer 0 over the unquantised source of one sequence
// (seed) and KV head at `positions`.
void add_attention_error(const DataSource& data, std::uint64_t seed, std::int64_t kv_head, const std::vector<std::int64_t>& positions,
                         std::int64_t head_dim, const float* q, const float* got, double& err2, double& ref2);

// The attention error (relative to float64 over the unquantised source) a correct kernel stays
// within on the synthetic data, for the point's storage format; `reads_dense`: the attention
// reads the dense retrieve buffer (prefill), whose fp16 rounding adds to it; `fp16_operands`:
// the kernel multiplies fp16 operands (the flash prefill kernel: Q, K, V and P).
double attention_error_bound(const ExperimentConfig& config, bool reads_dense, bool fp16_operands = false);
// Throws RuntimeError (uniform data only: the bounds are derived for its value distribution) ("verification failed: ...") when a reported error is above its bound.
void check_error_bounds(const ExperimentConfig& config, const PointResult& r, std::int64_t point);

}  // namespace kvsim
