#include "platform/device_info.hpp"

#include <hdf5.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "kvsim/core/kokkos_abstraction.hpp"

#if defined(KOKKOS_ENABLE_CUDA)
#include <cuda_runtime.h>
#endif

#ifndef KVSIM_KOKKOSKERNELS_VERSION
#define KVSIM_KOKKOSKERNELS_VERSION "unknown"
#endif
#ifndef KVSIM_YAML_CPP_VERSION
#define KVSIM_YAML_CPP_VERSION "unknown"
#endif

namespace kvsim {
namespace {

// A "Key:   value" line of a /proc file, or empty.
std::string proc_field(const char* file, const std::string& key) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) {
      auto pos = line.find(':');
      if (pos == std::string::npos) continue;
      std::string v = line.substr(pos + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return {};
}

std::int64_t proc_kib(const char* file, const std::string& key) {
  const std::string v = proc_field(file, key);
  return v.empty() ? 0 : std::stoll(v) * 1024;
}

// The largest cache sysfs lists for CPU 0 ("107520K"), else what sysconf knows.
[[maybe_unused]] std::int64_t host_last_level_cache_bytes() {
  std::int64_t best = 0;
  for (int i = 0; i < 8; ++i) {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/size");
    std::string v;
    if (!(f >> v) || v.empty()) continue;
    std::int64_t n = 0;
    std::size_t used = 0;
    try {
      n = std::stoll(v, &used);
    } catch (const std::exception&) {
      continue;
    }
    const char unit = used < v.size() ? v[used] : ' ';
    n *= unit == 'K' ? 1024 : unit == 'M' ? 1024 * 1024 : 1;
    best = std::max(best, n);
  }
#ifdef _SC_LEVEL3_CACHE_SIZE
  if (best == 0) best = std::max<long>(0, sysconf(_SC_LEVEL3_CACHE_SIZE));
#endif
  return best;
}

}  // namespace

DeviceInfo query_device() {
  DeviceInfo info;
  info.backend = DefaultExecSpace::name();
#if defined(KOKKOS_ENABLE_CUDA)
  int dev = 0;
  cudaGetDevice(&dev);
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, dev) == cudaSuccess) {
    info.name = prop.name;
    info.last_level_cache_bytes = prop.l2CacheSize;
  }
  std::size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
    info.total_bytes = static_cast<std::int64_t>(total_b);
    info.free_bytes = static_cast<std::int64_t>(free_b);
  }
#else
  std::string model = proc_field("/proc/cpuinfo", "model name");
  if (model.empty()) model = "unknown CPU";
  std::ostringstream os;
  os << model << " (" << DefaultExecSpace().concurrency() << " threads)";
  info.name = os.str();
  info.total_bytes = proc_kib("/proc/meminfo", "MemTotal");
  info.free_bytes = proc_kib("/proc/meminfo", "MemAvailable");
  info.last_level_cache_bytes = host_last_level_cache_bytes();
#endif
  return info;
}

std::int64_t device_memory_used_bytes() {
#if defined(KOKKOS_ENABLE_CUDA)
  std::size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return -1;
  return static_cast<std::int64_t>(total_b - free_b);
#else
  return proc_kib("/proc/self/status", "VmRSS");
#endif
}

std::string kokkos_version_string() {
  std::ostringstream os;
  os << KOKKOS_VERSION / 10000 << "." << KOKKOS_VERSION / 100 % 100 << "." << KOKKOS_VERSION % 100;
  return os.str();
}

std::string kokkos_kernels_version_string() { return KVSIM_KOKKOSKERNELS_VERSION; }

std::string hdf5_version_string() {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  std::ostringstream os;
  os << maj << "." << min << "." << rel;
  return os.str();
}

std::string mpi_version_string() {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string s(buf, static_cast<std::size_t>(len));
  const auto nl = s.find_first_of("\n,");
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::string yaml_cpp_version_string() { return KVSIM_YAML_CPP_VERSION; }

}  // namespace kvsim
