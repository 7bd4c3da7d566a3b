#include "output/json_summary.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace kvsim {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

namespace {

std::string json_number(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);  // round-trips a double
  return buf;
}

}  // namespace

std::string json_summary(const std::string& output, bool complete, const RunProvenance& prov,
                         const std::vector<ResultRow>& rows) {
  std::vector<const ResultRow*> sorted;
  for (const auto& r : rows) sorted.push_back(&r);
  std::sort(sorted.begin(), sorted.end(), [](const ResultRow* a, const ResultRow* b) { return a->point < b->point; });
  std::string out = "{\"output\": " + json_string(output) + ", \"complete\": " + (complete ? "true" : "false") +
                    ", \"backend\": " + json_string(prov.backend) + ", \"device\": " + json_string(prov.device) +
                    ", \"copy_GBps\": " + json_number(prov.copy.ceiling()) + ", \"points\": [";
  for (std::size_t n = 0; n < sorted.size(); ++n) {
    const ResultRow& r = *sorted[n];
    out += n ? ", {" : "{";
    out += "\"point\": " + std::to_string(r.point + 1);
    for (const auto& [name, v] : r.ints)
      if (name != "point") out += ", " + json_string(name) + ": " + std::to_string(v);
    for (const auto& [name, v] : r.reals) out += ", " + json_string(name) + ": " + json_number(v);
    for (const auto& [name, v] : r.texts) out += ", " + json_string(name) + ": " + json_string(v);
    out += ", \"checksum\": \"" + std::to_string(r.checksum) + "\"}";
  }
  return out + "]}";
}

}  // namespace kvsim
