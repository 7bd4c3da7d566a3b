// Links kvsim::kvsim from an install and runs one of its headers on the default execution
// space: fp16 and bf16 round trips of a few values, checked on the host.
#include <Kokkos_Core.hpp>

#include <cstdio>

#include "kvsim/precision/float_formats.hpp"

int main(int argc, char** argv) {
  int bad = 0;
  Kokkos::initialize(argc, argv);
  {
    Kokkos::View<float[4]> v("kvsim_consumer::v");
    Kokkos::parallel_for("kvsim_consumer::round_trip", Kokkos::RangePolicy<>(0, 4), KOKKOS_LAMBDA(int i) {
      const float x = 1.0f + 0.25f * float(i);  // exact in fp16 and bf16
      v(i) = kvsim::codec::half_to_float(kvsim::codec::float_to_half(x)) - x;
    });
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
    for (int i = 0; i < 4; ++i) bad += h(i) != 0.0f;
  }
  Kokkos::finalize();
  std::printf("kvsim_consumer: %s\n", bad ? "FAILED" : "ok");
  return bad ? 1 : 0;
}
