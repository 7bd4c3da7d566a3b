#pragma once
// SIGTERM (a batch system's time limit) and SIGINT: the handler only records the signal; runs
// check it between repetitions and stop with Interrupted, so the result file can record the
// interrupted point and keep every finished one.
#include <stdexcept>
#include <string>

namespace kvsim {

class Interrupted : public std::runtime_error {
 public:
  explicit Interrupted(int signal);
  int signal() const { return signal_; }

 private:
  int signal_;
};

void install_interrupt_handlers();
// The signal received so far, 0 if none.
int pending_interrupt();
// Throws Interrupted if a signal arrived.
void check_interrupt();

}  // namespace kvsim
