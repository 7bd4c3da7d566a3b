#pragma once
// SIGTERM (a batch system's time limit) and SIGINT: the handler only records the signal; runs
// check it between repetitions, fill stages, decoded tokens and prefill layers (a bounded
// latency, within a scheduler's grace period) and stop with Interrupted, so the result file can
// record the interrupted point and keep every finished one. SIGPIPE is ignored (a closed stdout
// is an EPIPE, not the end of the run).
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
