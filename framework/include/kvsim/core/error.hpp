#pragma once
// Errors: host failures become exceptions carrying context; device failures abort the kernel
// with a message (Kokkos::abort works on both sides).
#include <Kokkos_Core.hpp>

#include <sstream>
#include <stdexcept>
#include <string>

namespace kvsim {

// A user-facing input problem (config, CLI flag, size that cannot fit): exit code 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failure while running (I/O, allocation, verification): exit code 1.
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}
}  // namespace detail

}  // namespace kvsim

// Host-side check: throws kvsim::RuntimeError with the failing expression and location.
#define KVSIM_REQUIRE(cond, ...)                                                            \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      throw ::kvsim::RuntimeError(::kvsim::detail::concat(__FILE__, ":", __LINE__, ": ",    \
                                                          "check '" #cond "' failed: ",      \
                                                          __VA_ARGS__));                    \
    }                                                                                       \
  } while (false)

// Device- and host-callable check for conditions a kernel relies on.
#define KVSIM_DEVICE_REQUIRE(cond)                                      \
  do {                                                                  \
    if (!(cond)) Kokkos::abort("kvsim: device check '" #cond "' failed"); \
  } while (false)

#if defined(KOKKOS_ENABLE_CUDA)
// Host-side check of a CUDA runtime call kvsim makes itself (streams, graphs): throws with the
// call's error string.
#define KVSIM_CUDA_REQUIRE(call, ...)                                                      \
  do {                                                                                     \
    const cudaError_t kvsim_cuda_err_ = (call);                                            \
    KVSIM_REQUIRE(kvsim_cuda_err_ == cudaSuccess, __VA_ARGS__, ": ", cudaGetErrorString(kvsim_cuda_err_)); \
  } while (false)
#endif
