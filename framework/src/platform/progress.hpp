#pragma once
// Progress of a run on stderr: on a terminal, one live line (point i/N, its parameters, ETA),
// cleared before anything else is printed, so results never run into it; in batch jobs (no
// terminal), plain timestamped lines a log file can be read by. Points are numbered from 1; the
// live line names the phase the point is in.
#include <chrono>
#include <cstdint>
#include <string>

namespace kvsim {

class Progress {
 public:
  // `done` points are already in the result file (a resumed run). quiet: only warnings.
  Progress(std::int64_t total, std::int64_t done, bool terminal, bool quiet = false);
  void begin(std::int64_t point, const std::string& label);
  void end(double seconds);
  // The phase the running point is in, on the live line (a terminal only: a log gets the
  // points' start and finish).
  void phase(const std::string& what);
  void message(const std::string& text, bool even_quiet = false);
  void warning(const std::string& text);  // printed even when quiet
  // Clears the live line before something else is written to the terminal (stdout included).
  void clear();

 private:
  void line(const std::string& text);
  std::string eta() const;
  std::int64_t total_, done_, run_ = 0;
  double spent_ = 0;
  bool terminal_, quiet_;
  bool live_ = false;  // the live line is on the terminal
  std::string label_;
};

// Whether stderr is a terminal.
bool stderr_is_terminal();

}  // namespace kvsim
