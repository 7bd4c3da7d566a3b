#pragma once
// Kernels give each work item one flat index and read it as a tuple (..., head, dim), innermost
// extent first, so that neighbouring work items touch neighbouring bytes.
#include <cstdint>

#include <Kokkos_Core.hpp>

namespace kvsim {

// The next digit of `rest` in a mixed radix: rest % extent, leaving rest / extent.
KOKKOS_INLINE_FUNCTION std::int64_t peel(std::int64_t& rest, std::int64_t extent) {
  const std::int64_t digit = rest % extent;
  rest /= extent;
  return digit;
}

}  // namespace kvsim
