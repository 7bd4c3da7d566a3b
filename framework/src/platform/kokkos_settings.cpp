#include "platform/kokkos_settings.hpp"

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>

#include "kvsim/core/error.hpp"

namespace kvsim {
namespace {

enum class Kind { integer, devices, text, flag };

struct FlagSpec {
  const char* name;     // after "--kokkos-"
  Kind kind;
  const char* env;      // the variable Kokkos requires to agree with it, or nullptr
  bool kokkos4_only;
};

// Kokkos 3.4's core/src/impl/Kokkos_Core.cpp (parse_command_line_arguments), plus Kokkos 4's names.
const FlagSpec kFlags[] = {
    {"threads", Kind::integer, "KOKKOS_NUM_THREADS", false},
    {"num-threads", Kind::integer, "KOKKOS_NUM_THREADS", false},
    {"numa", Kind::integer, "KOKKOS_NUMA", false},
    {"device-id", Kind::integer, "KOKKOS_DEVICE_ID", false},
    {"device", Kind::integer, "KOKKOS_DEVICE_ID", false},
    {"num-devices", Kind::devices, nullptr, false},
    {"ndevices", Kind::devices, nullptr, false},
    {"disable-warnings", Kind::flag, nullptr, false},
    {"tune-internals", Kind::flag, nullptr, false},
    {"tools-help", Kind::flag, nullptr, false},
    {"help", Kind::flag, nullptr, false},
    {"tools-library", Kind::text, nullptr, false},
    {"tools-libs", Kind::text, nullptr, false},  // Kokkos 4's name; given to 3.4 as tools-library
    {"tools-args", Kind::text, nullptr, false},
    {"print-configuration", Kind::flag, nullptr, true},
    {"map-device-id-by", Kind::text, nullptr, true},
};

// The integer variables Kokkos 3.4 converts with strtol (garbage: a two-line runtime error).
const char* const kIntegerVariables[] = {"KOKKOS_NUM_THREADS", "KOKKOS_NUMA",        "KOKKOS_DEVICE_ID",
                                         "KOKKOS_NUM_DEVICES", "KOKKOS_RAND_DEVICES", "KOKKOS_SKIP_DEVICE"};

constexpr bool kKokkos4 = KOKKOS_VERSION >= 40000;

std::string clipped(const std::string& s) {
  return s.size() <= 80 ? s : s.substr(0, 80) + "... (" + std::to_string(s.size()) + " bytes)";
}

// A non-negative decimal int, as Kokkos' is_unsigned_int + stoi accept it.
std::optional<long> unsigned_int(const std::string& s) {
  if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit((unsigned char)c); }))
    return std::nullopt;
  return std::strtol(s.c_str(), nullptr, 10);
}

void check_thread_count(const std::string& who, long threads) {
#if defined(KOKKOS_ENABLE_OPENMP)
  if (threads > kMaxOpenMPThreads)
    throw InputError(who + ": " + std::to_string(threads) + " threads, but Kokkos' OpenMP backend holds at most " +
                     std::to_string(kMaxOpenMPThreads));
#endif
  if (threads == 0) throw InputError(who + ": 0 threads; give at least 1");
}

void check_variables(std::optional<long> flag_threads) {
  for (const char* name : kIntegerVariables) {
    const char* v = std::getenv(name);
    if (!v) continue;
    if (!unsigned_int(v)) throw InputError(std::string(name) + "='" + clipped(v) + "': expected a non-negative integer");
  }
  if (const char* v = std::getenv("KOKKOS_NUM_THREADS")) {
    const long n = *unsigned_int(v);
    check_thread_count(std::string("KOKKOS_NUM_THREADS=") + v, n);
    if (flag_threads && *flag_threads != n)
      throw InputError("KOKKOS_NUM_THREADS=" + std::string(v) + " disagrees with --kokkos-threads=" +
                       std::to_string(*flag_threads) + "; give one of them");
    flag_threads = n;
  }
  // The OpenMP backend takes omp_get_max_threads(), the first entry of OMP_NUM_THREADS, when no
  // thread count is given to Kokkos. A value libgomp cannot read it has already warned about and
  // ignored.
  const char* omp = std::getenv("OMP_NUM_THREADS");
  if (!omp || flag_threads) return;
  const std::string list = omp;
  const std::string first = list.substr(0, list.find(','));
  const auto n = unsigned_int(first);
  if (!n || *n == 0) return;
  check_thread_count("OMP_NUM_THREADS=" + clipped(list), *n);
}

}  // namespace

std::vector<std::string> checked_kokkos_args(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  std::optional<long> threads;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (i == 0) {
      out.push_back(arg);
      continue;
    }
    const std::string body = arg.substr(std::string("--kokkos-").size());
    const std::size_t eq = body.find('=');
    const std::string name = body.substr(0, eq);
    const FlagSpec* spec = nullptr;
    for (const auto& f : kFlags)
      if (name == f.name && (kKokkos4 || !f.kokkos4_only)) spec = &f;
    if (!spec) throw InputError(clipped(arg) + ": unknown Kokkos flag (see --kokkos-help)");
    const std::string flag = std::string("--kokkos-") + spec->name;
    const bool has_value = eq != std::string::npos;
    const std::string value = has_value ? body.substr(eq + 1) : "";
    switch (spec->kind) {
      case Kind::flag:
        if (has_value) throw InputError(clipped(arg) + ": " + flag + " takes no value");
        break;
      case Kind::text:
        if (!has_value) throw InputError(flag + ": expected " + flag + "=STRING");
        break;
      case Kind::integer: {
        const auto n = has_value ? unsigned_int(value) : std::nullopt;
        if (!n) throw InputError(clipped(arg) + ": expected " + flag + "=INT (a non-negative integer)");
        if (spec->env == std::string("KOKKOS_NUM_THREADS")) {
          check_thread_count(clipped(arg), *n);
          threads = *n;
        }
        break;
      }
      case Kind::devices: {
        const std::size_t comma = value.find(',');
        const bool ok = has_value && unsigned_int(value.substr(0, comma)) &&
                        (comma == std::string::npos || unsigned_int(value.substr(comma + 1)));
        if (!ok) throw InputError(clipped(arg) + ": expected " + flag + "=INT or " + flag + "=INT,INT");
        break;
      }
    }
    if (!kKokkos4 && name == "num-threads") {
      out.push_back("--kokkos-threads=" + value);
      continue;
    }
    if (!kKokkos4 && name == "tools-libs") {  // 3.4 would ignore it without a word
      out.push_back("--kokkos-tools-library=" + value);
      continue;
    }
    out.push_back(arg);
  }
  check_variables(threads);
  return out;
}

}  // namespace kvsim
