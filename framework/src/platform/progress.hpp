#pragma once
// Progress of a run on stderr: on a terminal, one live line (point i/N, its parameters, ETA);
// in batch jobs (no terminal), plain timestamped lines a log file can be read by.
#include <chrono>
#include <cstdint>
#include <string>

namespace kvsim {

class Progress {
 public:
  // `done` points are already in the result file (a resumed run).
  Progress(std::int64_t total, std::int64_t done, bool terminal);
  void begin(std::int64_t point, const std::string& label);
  void end(double seconds);
  void message(const std::string& text);

 private:
  std::string eta() const;
  std::int64_t total_, done_, run_ = 0;
  double spent_ = 0;
  bool terminal_;
  std::string label_;
};

// Whether stderr is a terminal.
bool stderr_is_terminal();

}  // namespace kvsim
