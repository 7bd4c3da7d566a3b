#pragma once
// The --kokkos-* flags and KOKKOS_* / OMP_NUM_THREADS variables, checked before Kokkos starts:
// Kokkos 3.4 answers an ill-formed one with an uncaught std::stoi ("stoi") or a two-line
// message, ignores an unknown flag, and its OpenMP backend overruns its thread pool (a crash)
// beyond 512 threads. Each refusal is one InputError naming the flag or variable.
#include <string>
#include <vector>

namespace kvsim {

// `args` is argv[0] followed by the --kokkos-* flags; returns them as this Kokkos reads them
// (--kokkos-num-threads, Kokkos 4's name, becomes --kokkos-threads for Kokkos 3).
std::vector<std::string> checked_kokkos_args(const std::vector<std::string>& args);

// The most threads the OpenMP backend can run (Kokkos_OpenMP_Exec.hpp: MAX_THREAD_COUNT).
inline constexpr long kMaxOpenMPThreads = 512;

}  // namespace kvsim
