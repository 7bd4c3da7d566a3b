#include "platform/interrupt.hpp"

#include <csignal>
#include <cstring>

namespace kvsim {
namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void record_signal(int signo) { g_signal = signo; }

}  // namespace

Interrupted::Interrupted(int signal)
    : std::runtime_error(std::string("interrupted by ") + (signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "a signal")),
      signal_(signal) {}

void install_interrupt_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = record_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  // `kvsim run ... | head`: a closed stdout must not kill the sweep; writes to it fail with EPIPE
  // instead, and the run goes on writing its result file.
  std::signal(SIGPIPE, SIG_IGN);
}

int pending_interrupt() { return g_signal; }

void check_interrupt() {
  if (g_signal != 0) throw Interrupted(g_signal);
}

}  // namespace kvsim
