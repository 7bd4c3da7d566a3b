#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "../catch_compat.hpp"
#include "../exec_spaces.hpp"
#include "kvsim/precision/codecs.hpp"

namespace {

using namespace kvsim::codec;

std::vector<float> random_floats(std::size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

// Nearest of the representable values `candidates` to x, ties to the even code: a brute-force
// reference for the bit-twiddling encoders.
template <class Decode>
int nearest_code(float x, int ncodes, Decode decode, bool (*skip)(int)) {
  int best = -1;
  double best_d = 0;
  for (int c = 0; c < ncodes; ++c) {
    if (skip(c)) continue;
    const double d = std::fabs(double(decode(c)) - double(x));
    if (best < 0 || d < best_d || (d == best_d && (c & 1) == 0 && (best & 1) == 1)) best = c, best_d = d;
  }
  return best;
}

// Encodes and decodes units of random values on a device, for comparison with the host twin.
template <class ExecSpace, DType D>
struct RoundTrip {
  using Mem = typename ExecSpace::memory_space;
  kvsim::View1D<const float, Mem> in;
  kvsim::View1D<unsigned char, Mem> data;
  kvsim::View1D<std::uint16_t, Mem> scales;
  kvsim::View1D<float, Mem> out;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t u) const {
    const std::int64_t e = u * Codec<D>::unit;
    Codec<D>::encode(in.data() + e, data.data(), e, scales.data(), 448.0f);
    Codec<D>::decode(data.data(), e, scales.data(), 1.0f / 448.0f, out.data() + e);
  }
};

template <class ExecSpace, DType D>
void device_matches_host() {
  using Mem = typename ExecSpace::memory_space;
  const std::int64_t n = 32 * 512;
  auto src = random_floats(std::size_t(n), -1.5f, 1.5f, 7);
  src[5] = 0.0f;
  for (int k = 32; k < 64; ++k) src[std::size_t(k)] = 0.0f;  // an all-zero group: scale 0
  kvsim::View1D<float, kvsim::HostMemSpace> h_in("kvsim::test::in", n);
  for (std::int64_t i = 0; i < n; ++i) h_in(i) = src[std::size_t(i)];
  auto d_in = Kokkos::create_mirror_view_and_copy(Mem(), h_in);
  kvsim::View1D<unsigned char, Mem> data("kvsim::test::data", data_bytes(D, n));
  kvsim::View1D<std::uint16_t, Mem> scales("kvsim::test::scales", n / kGroup);
  kvsim::View1D<float, Mem> out("kvsim::test::out", n);
  Kokkos::parallel_for("kvsim::test::codec", kvsim::RangePolicy<ExecSpace>(ExecSpace(), 0, n / Codec<D>::unit),
                       RoundTrip<ExecSpace, D>{d_in, data, scales, out});
  auto h_data = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), data);
  auto h_out = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), out);
  std::vector<unsigned char> ref(std::size_t(data_bytes(D, n)) + 16);
  std::vector<std::uint16_t> ref_scales(std::size_t(n / kGroup));
  alignas(16) unsigned char unit_buf[Codec<D>::unit * 4];
  std::int64_t byte_mismatch = 0, value_mismatch = 0;
  for (std::int64_t e = 0; e < n; e += Codec<D>::unit) {
    std::uint16_t s[1] = {0};
    Codec<D>::encode(src.data() + e, unit_buf, 0, s, 448.0f);
    const std::int64_t nbytes = data_bytes(D, Codec<D>::unit);
    byte_mismatch += std::memcmp(unit_buf, &h_data(data_bytes(D, e)), std::size_t(nbytes)) != 0;
    float v[Codec<D>::unit];
    Codec<D>::decode(unit_buf, 0, s, 1.0f / 448.0f, v);
    for (int m = 0; m < Codec<D>::unit; ++m) value_mismatch += std::memcmp(&v[m], &h_out(e + m), 4) != 0;
  }
  CHECK(byte_mismatch == 0);
  CHECK(value_mismatch == 0);
}

}  // namespace

TEST_CASE("fp16: every half survives half -> float -> half", "[codecs]") {
  int bad = 0;
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const bool nan = ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff);
    if (nan) continue;
    bad += float_to_half(half_to_float(std::uint16_t(h))) != h;
  }
  CHECK(bad == 0);
  CHECK(half_to_float(0x3c00) == 1.0f);
  CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));
  CHECK(float_to_half(65520.0f) == 0x7c00);  // rounds to infinity
  CHECK(float_to_half(65519.0f) == 0x7bff);
  CHECK(float_to_half(std::ldexp(1.0f, -25)) == 0x0000);                      // tie to even: zero
  CHECK(float_to_half(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);  // just above the tie
}

TEST_CASE("fp16 and bf16 round to the nearest value, ties to even", "[codecs]") {
  auto skip_nan16 = [](int c) { return ((c >> 10) & 0x1f) == 0x1f; };
  auto v = random_floats(4000, -70000.0f, 70000.0f, 1);
  auto small = random_floats(4000, -1e-4f, 1e-4f, 2);
  v.insert(v.end(), small.begin(), small.end());
  int bad16 = 0, badbf = 0;
  for (float x : v) {
    if (std::fabs(x) < 65504.0f) {
      const int want = nearest_code(x, 65536, [](int c) { return half_to_float(std::uint16_t(c)); }, skip_nan16);
      bad16 += float_to_half(x) != want;
    }
    const std::uint32_t b = float_bits(x);
    const float lo = bits_float(b & 0xffff0000u), hi = bits_float((b & 0xffff0000u) + 0x10000u);
    const double dl = std::fabs(double(x) - lo), dh = std::fabs(double(hi) - x);
    const std::uint16_t want_bf =
        std::uint16_t((dl < dh || (dl == dh && ((b >> 16) & 1u) == 0)) ? (b >> 16) : ((b >> 16) + 1));
    badbf += float_to_bf16(x) != want_bf;
  }
  CHECK(bad16 == 0);
  CHECK(badbf == 0);
}

TEST_CASE("fp8 e4m3: codes round-trip, rounding is nearest-even, overflow saturates", "[codecs]") {
  int bad = 0;
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue;  // NaN
    bad += float_to_e4m3(e4m3_to_float(std::uint8_t(c))) != c;
  }
  CHECK(bad == 0);
  CHECK(e4m3_to_float(0x7e) == 448.0f);
  CHECK(e4m3_to_float(0x01) == std::ldexp(1.0f, -9));
  CHECK(float_to_e4m3(1000.0f) == 0x7e);
  CHECK(float_to_e4m3(-1000.0f) == 0xfe);
  auto skip = [](int c) { return (c & 0x7f) == 0x7f; };
  int bad_round = 0;
  for (float x : random_floats(20000, -460.0f, 460.0f, 3)) {
    const float clamped = std::fmax(-448.0f, std::fmin(448.0f, x));
    const int want = nearest_code(clamped, 256, [](int c) { return e4m3_to_float(std::uint8_t(c)); }, skip);
    const int got = float_to_e4m3(x);
    bad_round += got != want && !(e4m3_to_float(std::uint8_t(got)) == 0 && e4m3_to_float(std::uint8_t(want)) == 0);
  }
  CHECK(bad_round == 0);
}

TEST_CASE("int8 and int4 groups stay within their error bounds", "[codecs]") {
  const auto v = random_floats(32 * 1000, -1.0f, 1.0f, 4);
  double worst8 = 0, worst4 = 0;
  for (std::size_t g = 0; g < v.size(); g += 32) {
    float amax = 0;
    for (int k = 0; k < 32; ++k) amax = std::fmax(amax, std::fabs(v[g + k]));
    alignas(16) unsigned char buf[64];
    std::uint16_t s[1];
    float out[32];
    Codec<DType::int8>::encode(&v[g], buf, 0, s, 1.0f);
    Codec<DType::int8>::decode(buf, 0, s, 1.0f, out);
    for (int k = 0; k < 32; ++k) worst8 = std::fmax(worst8, std::fabs(out[k] - v[g + k]) / (amax / 127.0));
    Codec<DType::int4>::encode(&v[g], buf, 0, s, 1.0f);
    Codec<DType::int4>::decode(buf, 0, s, 1.0f, out);
    for (int k = 0; k < 32; ++k) worst4 = std::fmax(worst4, std::fabs(out[k] - v[g + k]) / (amax / 8.0));
  }
  // Half a step plus the fp16 rounding of the scale (|q| <= 127 steps of relative 2^-11).
  CHECK(worst8 <= 0.5 + 127.0 / 2048.0 + 1e-6);
  CHECK(worst8 > 0.3);  // the bound is tight enough to notice a wrong step size
  // q4_0 maps the extreme value to -8 exactly; the opposite extreme clamps at 7: one step.
  CHECK(worst4 <= 1.0 + 8.0 / 2048.0 + 1e-6);
}

TEMPLATE_LIST_TEST_CASE("codecs on the device equal their host twins", "[codecs]", kvsim::test::ExecSpaces) {
  for (DType d : kvsim::codec::all_dtypes()) {
    INFO(kvsim::codec::name(d));
    kvsim::codec::dispatch(d, [](auto t) { device_matches_host<TestType, decltype(t)::value>(); });
  }
}

TEST_CASE("the precision registry: names round-trip, sizes follow the traits", "[codecs]") {
  for (DType d : kvsim::codec::all_dtypes()) {
    INFO(kvsim::codec::name(d));
    CHECK(kvsim::codec::parse_dtype(kvsim::codec::name(d)) == d);
    const int unit = kvsim::codec::unit_values(d);
    CHECK(kvsim::codec::data_bytes(d, unit) % 16 == 0);  // whole 16-byte vectors (int8: two)
    CHECK(kvsim::codec::data_bytes(d, 8) == kvsim::codec::bits(d));
  }
  CHECK_FALSE(kvsim::codec::parse_dtype("fp64").has_value());
}
