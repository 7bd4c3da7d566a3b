#include "platform/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "output/result_file.hpp"

namespace kvsim {

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::int64_t total, std::int64_t done, bool terminal, bool quiet)
    : total_(total), done_(done), terminal_(terminal), quiet_(quiet) {}

std::string Progress::eta() const {
  if (run_ == 0) return "ETA --";
  const double left = spent_ / double(run_) * double(total_ - done_);
  char buf[32];
  std::snprintf(buf, sizeof buf, "ETA %lldm%02llds", static_cast<long long>(left) / 60, static_cast<long long>(left) % 60);
  return buf;
}

void Progress::clear() {
  if (!live_) return;
  std::cerr << "\r\033[K" << std::flush;
  live_ = false;
}

void Progress::line(const std::string& text) {
  clear();
  std::cerr << (terminal_ ? "" : utc_now_iso8601() + " ") << "kvsim: " << text << "\n";
}

void Progress::message(const std::string& text, bool even_quiet) {
  if (!quiet_ || even_quiet) line(text);
}

void Progress::warning(const std::string& text) { line("warning: " + text); }

void Progress::begin(std::int64_t point, const std::string& label) {
  label_ = "point " + std::to_string(point + 1) + "/" + std::to_string(total_) + (label.empty() ? "" : " ") + label;
  if (quiet_) return;
  if (terminal_) {
    std::cerr << "\r\033[K[" << done_ << "/" << total_ << " done] " << label_ << "  " << eta() << std::flush;
    live_ = true;
  } else {
    std::cerr << utc_now_iso8601() << " kvsim: " << label_ << " started (" << done_ << "/" << total_ << " done, "
              << eta() << ")\n";
  }
}

void Progress::phase(const std::string& what) {
  if (quiet_ || !terminal_) return;
  std::cerr << "\r\033[K[" << done_ << "/" << total_ << " done] " << label_ << " \u00b7 " << what << "  " << eta() << std::flush;
  live_ = true;
}

void Progress::end(double seconds) {
  ++done_;
  ++run_;
  spent_ += seconds;
  if (quiet_) return;
  if (terminal_) {
    clear();  // the point's results follow on stdout; the next point draws the line again
  } else {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", seconds);
    std::cerr << utc_now_iso8601() << " kvsim: " << label_ << " finished in " << buf << " (" << done_ << "/" << total_
              << " done, " << eta() << ")\n";
  }
}

}  // namespace kvsim
