#include "platform/info_report.hpp"

#include "output/point_report.hpp"
#include "platform/bandwidth_probe.hpp"
#include "platform/device_info.hpp"
#include "platform/kokkos_session.hpp"
#include "platform/kokkos_settings.hpp"
#include "platform/version.hpp"

namespace kvsim {

int print_info(std::ostream& os, const std::vector<std::string>& kokkos_args, std::int64_t probe_mb) {
  KokkosSession kokkos(checked_kokkos_args(kokkos_args));
  const DeviceInfo dev = query_device();
  os << "kvsim " << version() << " (" << git_sha() << ")\n"
     << "backend:        " << dev.backend << "\n"
     << "device:         " << dev.name << "\n"
     << "device memory:  " << human_bytes(dev.total_bytes) << " total, " << human_bytes(dev.free_bytes) << " free\n"
     << "last-level cache: " << (dev.last_level_cache_bytes >> 20) << " MiB (bandwidth probes need buffers 4x larger)\n"
     << "Kokkos:         " << kokkos_version_string() << "\n"
     << "Kokkos Kernels: " << kokkos_kernels_version_string() << "\n"
     << "HDF5:           " << hdf5_version_string() << "\n"
     << "MPI:            " << mpi_version_string() << "\n"
     << "yaml-cpp:       " << yaml_cpp_version_string() << "\n";
  // The ceilings every run measures for itself; here only when asked (seconds on a CPU).
  if (probe_mb > 0) {
    const CopyBandwidth bw = measure_copy_bandwidth(probe_mb << 20, 10);
    os << "bandwidth:      " << describe(bw) << " (" << probe_mb << " MiB buffers)\n";
  } else {
    os << "bandwidth:      not probed (kvsim info --probe measures it; every run measures its own)\n";
  }
  return 0;
}

}  // namespace kvsim
