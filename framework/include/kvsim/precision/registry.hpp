// The storage precisions of the KV cache, declared once. Each format is one file (its traits
// row, its encode/decode, and the raw-load pieces the attention kernels use); this list names
// them, in the order of DType's stored values, and everything else (names, parsing, sizes,
// dispatch, the test loops, the config's list) derives from it.
//
// Adding a format: write precision/<name>.hpp after int4.hpp's pattern, and add X(<name>) to
// the list and its #include below.
//
// Classic guards, not #pragma once: a format file includes this registry first and has its own
// guard after that include, so whichever header a user includes first, every format is
// complete before the derived functions below are compiled.
#ifndef KVSIM_PRECISION_REGISTRY_HPP
#define KVSIM_PRECISION_REGISTRY_HPP

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include "kvsim/core/enum_list.hpp"
#include "kvsim/precision/storage_units.hpp"

#define KVSIM_PRECISIONS(X) X(fp32) X(fp16) X(bf16) X(int8) X(fp8_e4m3) X(int4)

namespace kvsim::codec {

#define KVSIM_X_ENUM(n) n,
enum class DType : int { KVSIM_PRECISIONS(KVSIM_X_ENUM) };
#undef KVSIM_X_ENUM

// One specialisation of each per format (in its file): Codec<D> is the format's traits row and
// its encode/decode; Chunk8<D> its raw 8-value load (the tiled attention kernel).
template <DType D>
struct Codec;
template <DType D>
struct Chunk8;

}  // namespace kvsim::codec

#include "kvsim/precision/fp32.hpp"
#include "kvsim/precision/fp16.hpp"
#include "kvsim/precision/bf16.hpp"
#include "kvsim/precision/int8.hpp"
#include "kvsim/precision/fp8_e4m3.hpp"
#include "kvsim/precision/int4.hpp"

namespace kvsim::codec {

#define KVSIM_X_VALUE(n) , DType::n
using DTypes = EnumList<DType KVSIM_PRECISIONS(KVSIM_X_VALUE)>;
#undef KVSIM_X_VALUE
inline constexpr std::size_t kDTypeCount = DTypes::size;

// all_dtypes() (the tests' design loops, the config's list of names), dispatch(d, fn) (one
// template instance per precision, chosen once per launch), name(d), parse_dtype(s).
KVSIM_ENUM_REGISTRY(DTypes, DType, Codec, all_dtypes, dispatch, name, parse_dtype)

inline int bits(DType d) {
  return dispatch(d, [](auto t) { return Codec<decltype(t)::value>::bits; });
}
inline int unit_values(DType d) {
  return dispatch(d, [](auto t) { return Codec<decltype(t)::value>::unit; });
}
inline Scale scale_kind(DType d) {
  return dispatch(d, [](auto t) { return Codec<decltype(t)::value>::scale; });
}
inline bool needs_head_scale(DType d) { return scale_kind(d) == Scale::head; }

// The largest |decode(encode(x)) - x| of the format, as a fraction of the largest |x| of its
// scale unit (a scale group, a head): half an ulp for the float formats, half a step (with
// the rounding of the fp16 scale) for the integer ones. The unit tests hold every codec to it.
inline double error_bound(DType d) {
  return dispatch(d, [](auto t) { return Codec<decltype(t)::value>::error_bound; });
}

// Storage bytes of `values` consecutive values (whole bytes: values come in whole units), and
// the number of their group scales.
inline std::int64_t data_bytes(DType d, std::int64_t values) { return values * bits(d) / 8; }
inline std::int64_t group_scale_count(DType d, std::int64_t values) {
  return scale_kind(d) == Scale::group ? values / kGroup : 0;
}

}  // namespace kvsim::codec

#endif
