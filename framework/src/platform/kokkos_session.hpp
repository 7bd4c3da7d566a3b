#pragma once
// Kokkos for the lifetime of one object, from checked --kokkos-* arguments (a ScopeGuard: MPI is
// initialised around it, in main()).
#include <Kokkos_Core.hpp>

#include <memory>
#include <string>
#include <vector>

namespace kvsim {

class KokkosSession {
 public:
  explicit KokkosSession(std::vector<std::string> args) : args_(std::move(args)) {
    for (auto& s : args_) ptrs_.push_back(s.data());
    argc_ = static_cast<int>(ptrs_.size());
    guard_ = std::make_unique<Kokkos::ScopeGuard>(argc_, ptrs_.data());
  }

 private:
  std::vector<std::string> args_;
  std::vector<char*> ptrs_;
  int argc_ = 0;
  std::unique_ptr<Kokkos::ScopeGuard> guard_;
};

}  // namespace kvsim
