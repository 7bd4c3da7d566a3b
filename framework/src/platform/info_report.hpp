#pragma once
// `kvsim info`: versions, backend, device and, when asked, the bandwidth ceilings.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace kvsim {

// Starts Kokkos from the (unchecked) --kokkos-* flags; probe_mb > 0 also measures the ceilings.
int print_info(std::ostream& os, const std::vector<std::string>& kokkos_args, std::int64_t probe_mb);

}  // namespace kvsim
