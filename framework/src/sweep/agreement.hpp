#pragma once
// Under MPI some errors happen on one rank only (its device is too small, rank 0's output path):
// every rank learns whether any rank failed, the first failing rank reports, and all exit with
// its code. Errors every rank meets alike (the config) are reported by rank 0 alone.
#include <exception>

#include "sweep/parallel.hpp"

namespace kvsim {

struct Agreement {
  std::exception_ptr error;
  int code = 0;
  void capture(int c) {
    error = std::current_exception();
    code = c;
  }
};

// Returns 0 if no rank failed; else rethrows on the first failing rank and returns its code elsewhere.
int agree(const World& world, const Agreement& mine);

}  // namespace kvsim
