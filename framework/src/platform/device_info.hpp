#pragma once
// What the run executes on, for provenance and for memory checks.
#include <cstdint>
#include <string>

namespace kvsim {

struct DeviceInfo {
  std::string backend;             // Kokkos default execution space name
  std::string name;                // GPU product name or CPU model
  std::int64_t total_bytes = 0;    // device memory (host RAM for host backends)
  std::int64_t free_bytes = 0;     // available now
  // The GPU's L2 or the host's largest CPU cache (0: unknown): a bandwidth probe whose buffers
  // fit in it measures the cache, not the memory.
  std::int64_t last_level_cache_bytes = 0;
};

// Requires Kokkos to be initialised.
DeviceInfo query_device();
// Bytes of device memory in use by the process's device (CUDA: total - free; host: resident set).
std::int64_t device_memory_used_bytes();

std::string kokkos_version_string();
std::string kokkos_kernels_version_string();
std::string hdf5_version_string();
std::string mpi_version_string();
std::string yaml_cpp_version_string();

}  // namespace kvsim
