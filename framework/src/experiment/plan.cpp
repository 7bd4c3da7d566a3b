#include "experiment/plan.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <utility>
#include <vector>

#include "experiment/experiment.hpp"
#include "kvsim/cache/capacity_plan.hpp"
#include "kvsim/core/error.hpp"
#include "output/point_report.hpp"

namespace kvsim {
namespace {

std::string grouped(std::int64_t n) {
  std::string s = std::to_string(n), out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0 && s[i - 1] != '-') out += ',';
    out += s[i];
  }
  return out;
}

std::string design_label(const ExperimentConfig& c, const CacheDesign& d) {
  std::ostringstream os;
  os << c.model.layers << " x " << d.kv_heads << " KV heads x " << d.head_dim << ", " << codec::name(d.dtype) << " "
     << layout_name(d.layout);
  if (layout_is_paged(d.layout)) os << " (pages of " << d.page_size << ")";
  os << " " << policy_name(d.policy);
  return os.str();
}

// The positions a sequence reaches: its fill and the tokens decode appends.
std::int64_t context_of(const ExperimentConfig& c) {
  return *std::max_element(c.lengths.begin(), c.lengths.end()) + c.decode_tokens;
}

}  // namespace

std::int64_t parse_memory_size(const std::string& text, const std::string& what) {
  const auto bad = [&] {
    return InputError(what + ": '" + text + "' is not a size (e.g. 80GiB, 141GB, 512MiB, 8e10 bytes)");
  };
  std::size_t end = 0;
  double value = 0;
  try {
    value = std::stod(text, &end);
  } catch (const std::exception&) {
    throw bad();
  }
  std::string unit = text.substr(end);
  unit.erase(std::remove_if(unit.begin(), unit.end(), [](unsigned char ch) { return std::isspace(ch); }), unit.end());
  static const std::vector<std::pair<std::string, double>> units = {
      {"", 1},      {"B", 1},         {"kB", 1e3},      {"KB", 1e3},      {"MB", 1e6},           {"GB", 1e9},
      {"TB", 1e12}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
  const auto u = std::find_if(units.begin(), units.end(), [&](const auto& p) { return p.first == unit; });
  if (u == units.end() || !std::isfinite(value) || value <= 0) throw bad();
  const double bytes = value * u->second;
  if (bytes >= 9.2e18) throw InputError(what + ": '" + text + "' is larger than 8 EiB");
  return std::int64_t(bytes);
}

int print_plan(const PlanRequest& req, std::ostream& out) {
  LoadOptions options = req.load;
  options.any_build = true;  // a plan reads the config only, like validate
  const std::vector<ExperimentConfig> points = load_experiment(req.config_path, options);
  if (req.json) out << "[";
  for (std::size_t i = 0; i < points.size(); ++i) {
    const ExperimentConfig& c = points[i];
    CacheDesign d = design_of(c);
    std::int64_t context = 0;
    if (c.cache.max_positions == kMaxContext) {
      // max_positions: max asks for the most slots that fit (resolve_max_context's rule, for
      // the cache alone): found with the slots as a ring, which stores what a window stores.
      CacheDesign slots = d;
      slots.policy = PolicyKind::ring;
      slots.max_positions = 1;
      context = plan_capacity(slots, 1, req.memory).largest_context;
      if (context < 1)
        throw InputError(req.config_path + ": cache.max_positions: max: not even one position fits in " +
                         human_bytes(req.memory));
      d.max_positions = context;
      if (c.cache.policy == PolicyKind::window) d.window = context;
    } else {
      context = context_of(c);
    }
    const CapacityPlan p = plan_capacity(d, context, req.memory);
    const bool paged = layout_is_paged(d.layout);
    if (req.json) {
      out << (i ? "," : "") << "{\"point\":" << i + 1 << ",\"context\":" << p.context << ",\"held\":" << p.held
          << ",\"batch\":" << d.batch << ",\"memory_bytes\":" << req.memory
          << ",\"bytes_per_position\":" << p.bytes_per_position << ",\"bytes_per_sequence\":" << p.bytes_per_sequence
          << ",\"pages_per_sequence\":" << p.pages_per_sequence << ",\"total_bytes\":" << p.total_bytes
          << ",\"fixed_bytes\":" << p.fixed_bytes << ",\"largest_batch\":" << p.largest_batch
          << ",\"largest_context\":" << p.largest_context
          << ",\"pages_that_fit\":" << p.pages_that_fit << ",\"page_concurrency\":" << std::setprecision(17)
          << p.page_concurrency << "}";
      continue;
    }
    const std::string label = point_label(c);
    out << "point " << i + 1 << "/" << points.size() << (label.empty() ? "" : " " + label) << ": "
        << design_label(c, d) << ", batch " << d.batch << ", " << grouped(context) << " positions a sequence, in "
        << human_bytes(req.memory) << (req.memory_text.empty() ? "" : " (" + req.memory_text + ")") << "\n";
    out << "  per position     " << human_bytes(p.bytes_per_position) << " (K and V of " << c.model.layers
        << " layers, scales included)\n";
    out << "  per sequence     " << human_bytes(p.bytes_per_sequence) << " (" << grouped(p.held) << " positions held";
    if (paged) out << ", " << grouped(p.pages_per_sequence) << " pages of " << d.page_size;
    out << ")\n";
    out << "  allocated        " << human_bytes(p.total_bytes) << " at batch " << d.batch << " (" << human_bytes(p.fixed_bytes)
        << " of it tables, per-head scales and bookkeeping)\n";
    out << "  largest batch    " << grouped(p.largest_batch) << " sequence" << (p.largest_batch == 1 ? "" : "s") << " of "
        << grouped(context) << " positions" << (p.largest_batch == kMaxBatch ? " (kvsim's batch limit)" : "") << "\n";
    out << "  largest context  ";
    if (p.largest_context == kMaxPositions)
      out << "any context (up to kvsim's " << grouped(kMaxPositions) << " positions): the policy holds "
          << grouped(p.held) << " positions a sequence";
    else
      out << grouped(p.largest_context) << " positions a sequence at batch " << d.batch;
    out << "\n";
    if (paged) {
      std::ostringstream conc;
      conc << std::fixed << std::setprecision(2) << p.page_concurrency;
      out << "  pages that fit   " << grouped(p.pages_that_fit) << " of " << d.page_size << " positions ("
          << grouped(p.pages_that_fit * d.page_size) << " positions, KV data only, as vLLM counts): " << conc.str()
          << "x sequences of " << grouped(context) << "\n";
    }
  }
  if (req.json) out << "]\n";
  return 0;
}

}  // namespace kvsim
