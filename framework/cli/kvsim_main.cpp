// kvsim command line: run | validate | info.
// Exit codes: 0 success, 1 run failure, 2 bad input (config, flags, output path, size).
#include <mpi.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "kvsim/bandwidth_probe.hpp"
#include "kvsim/config.hpp"
#include "kvsim/device_info.hpp"
#include "kvsim/error.hpp"
#include "kvsim/experiment.hpp"
#include "kvsim/interrupt.hpp"
#include "kvsim/kokkos_abstraction.hpp"
#include "kvsim/progress.hpp"
#include "kvsim/result_file.hpp"
#include "kvsim/version.hpp"

#ifndef KVSIM_SOURCE_PRESET_DIR
#define KVSIM_SOURCE_PRESET_DIR ""
#endif
#ifndef KVSIM_INSTALL_PRESET_DIR
#define KVSIM_INSTALL_PRESET_DIR ""
#endif

namespace {

struct Args {
  std::vector<std::string> kokkos;  // --kokkos-* flags, for Kokkos alone
  std::vector<std::string> rest;
};

Args split_args(int argc, char** argv) {
  Args a;
  a.kokkos.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    (s.rfind("--kokkos-", 0) == 0 ? a.kokkos : a.rest).push_back(s);
  }
  return a;
}

kvsim::LoadOptions load_options(const std::vector<std::string>& sets) {
  kvsim::LoadOptions o;
  o.overrides = sets;
  for (const char* d : {KVSIM_SOURCE_PRESET_DIR, KVSIM_INSTALL_PRESET_DIR})
    if (*d) o.preset_dirs.emplace_back(d);
  return o;
}

std::string quote_command_line(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) out += (i ? " " : "") + std::string(argv[i]);
  return out;
}

// Kokkos lives inside this object; MPI is initialised around it in main().
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

std::string human_bytes(std::int64_t b) {
  std::ostringstream os;
  os.precision(2);
  os << std::fixed << double(b) / 1e9 << " GB";
  return os.str();
}

int cmd_info(const Args& args) {
  KokkosSession kokkos(args.kokkos);
  const kvsim::DeviceInfo dev = kvsim::query_device();
  std::cout << "kvsim " << kvsim::version() << " (" << kvsim::git_sha() << ")\n"
            << "backend:        " << dev.backend << "\n"
            << "device:         " << dev.name << "\n"
            << "device memory:  " << human_bytes(dev.total_bytes) << " total, " << human_bytes(dev.free_bytes) << " free\n"
            << "Kokkos:         " << kvsim::kokkos_version_string() << "\n"
            << "Kokkos Kernels: " << kvsim::kokkos_kernels_version_string() << "\n"
            << "HDF5:           " << kvsim::hdf5_version_string() << "\n"
            << "MPI:            " << kvsim::mpi_version_string() << "\n"
            << "yaml-cpp:       " << kvsim::yaml_cpp_version_string() << "\n";
  // The ceilings every run measures for itself, here on 256 MiB buffers.
  const kvsim::CopyBandwidth bw = kvsim::measure_copy_bandwidth(std::int64_t(256) << 20, 10);
  std::cout << "bandwidth:      deep_copy " << bw.deep_copy_GBps << " GB/s, stream copy " << bw.stream_copy_GBps
            << " GB/s (read + write), read-only " << bw.read_GBps << " GB/s, write-only " << bw.write_GBps << " GB/s\n";
  return 0;
}

int cmd_validate(const std::string& config_path, const std::vector<std::string>& sets, bool print) {
  const auto points = kvsim::load_experiment(config_path, load_options(sets));
  std::cout << config_path << ": ok (" << points.front().name << ", " << points.size() << " point"
            << (points.size() == 1 ? "" : "s") << ")\n";
  for (std::size_t i = 0; i < points.size() && print; ++i) std::cout << "--- # point " << i << "\n" << kvsim::to_yaml(points[i]);
  return 0;
}

struct RunFlags {
  std::string output;
  std::vector<std::string> sets;
  bool resume = false;
  bool force = false;
};

int cmd_run(const Args& args, const std::string& config_path, const RunFlags& flags, const std::string& command_line) {
  std::vector<kvsim::ExperimentConfig> points = kvsim::load_experiment(config_path, load_options(flags.sets));
  const std::string out_path = flags.output.empty() ? points.front().output : flags.output;
  const std::string hash = kvsim::experiment_hash(points);  // before `max` is resolved for this device

  // What an earlier run of this experiment already finished (--resume), checked before Kokkos starts.
  std::vector<kvsim::ResultRow> rows;
  std::vector<bool> have(points.size(), false);
  kvsim::RunProvenance prov;
  prov.created = kvsim::utc_now_iso8601();
  std::error_code ec;
  if (flags.resume && std::filesystem::exists(out_path, ec)) {
    kvsim::StoredRun stored = kvsim::read_result_file(out_path);
    if (stored.config_hash != hash && !flags.force)
      throw kvsim::InputError(out_path + ": --resume: the experiment's config changed since this file was written "
                              "(--force keeps the points whose config is unchanged and reruns the rest)");
    for (auto& row : stored.rows) {
      const auto n = std::size_t(row.point);
      if (row.point >= 0 && n < points.size() && !have[n] && row.config_yaml == kvsim::to_yaml(points[n])) {
        have[n] = true;
        rows.push_back(std::move(row));
      }
    }
    prov.created = stored.created;
    prov.resumed = stored.resumed + 1;
  }

  KokkosSession kokkos(args.kokkos);
  const kvsim::DeviceInfo dev = kvsim::query_device();
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (have[i]) continue;
    kvsim::resolve_max_context(points[i], dev.free_bytes);
    kvsim::check_fits_device(points[i]);
  }
  kvsim::ResultFile file(out_path);

  prov.backend = dev.backend;
  prov.device = dev.name;
  prov.kokkos_version = kvsim::kokkos_version_string();
  {
    std::ostringstream os;
    Kokkos::print_configuration(os, false);
    prov.kokkos_config = os.str();
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    prov.host = host;
    int ranks = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    prov.mpi_ranks = ranks;
  }
  prov.config_yaml = kvsim::to_yaml(points.front());
  prov.config_file = config_path;
  prov.config_hash = hash;
  prov.command_line = command_line;
  const auto done = std::int64_t(rows.size());
  kvsim::Progress progress(std::int64_t(points.size()), done, kvsim::stderr_is_terminal());
  progress.message(points.front().name + ": " + std::to_string(points.size()) + " point(s) on " + dev.backend + " (" +
                   dev.name + ")" + (done ? ", " + std::to_string(done) + " already in " + out_path : ""));
  prov.copy = kvsim::measure_copy_bandwidth(points.front().run.copy_probe_mb << 20, 10);
  std::ostringstream bw;
  bw << "bandwidth: deep_copy " << prov.copy.deep_copy_GBps << " GB/s, stream copy " << prov.copy.stream_copy_GBps
     << " GB/s (read + write), read-only " << prov.copy.read_GBps << " GB/s, write-only " << prov.copy.write_GBps << " GB/s";
  progress.message(bw.str());

  if (done == std::int64_t(points.size())) file.write(prov, rows, true, kvsim::utc_now_iso8601());
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (have[i]) continue;
    const auto& c = points[i];
    std::string label;
    for (const auto& [k, v] : c.sweep) label += (label.empty() ? "" : " ") + k + "=" + v;
    progress.begin(std::int64_t(i), label);
    Kokkos::Timer timer;
    kvsim::PointResult r;
    try {
      r = kvsim::run_point(c, std::int64_t(i), prov.copy);
    } catch (const kvsim::Interrupted& e) {
      // A time limit: keep every finished point, say which one was cut short, exit 128 + signal.
      prov.interrupted_point = std::int64_t(i);
      prov.interrupted_by = e.what();
      file.write(prov, rows, false, kvsim::utc_now_iso8601());
      progress.message(std::string(e.what()) + " during point " + std::to_string(i + 1) + "/" + std::to_string(points.size()) +
                       "; " + std::to_string(rows.size()) + " finished point(s) kept in " + out_path +
                       " (continue with --resume)");
      return 128 + e.signal();
    }
    progress.end(timer.seconds());
    rows.push_back(kvsim::make_row(r));
    have[i] = true;
    // Every finished point reaches the disk before the next starts.
    file.write(prov, rows, rows.size() == points.size(), kvsim::utc_now_iso8601());
    std::cout << "point " << i << ": " << label << (label.empty() ? "" : " ") << c.cache.dtype << " " << c.cache.layout << " "
              << c.cache.policy << ", batch " << c.batch << ", " << r.valid_positions << " positions held, cache "
              << human_bytes(r.kv_cache_bytes) << "\n"
              << "  fill (" << c.fill.mode << ")  " << r.fill_positions_per_s << " positions/s, " << r.fill_GBps << " GB/s ("
              << 100.0 * r.fill_fraction_of_copy << "% of copy, " << 100.0 * r.fill_fraction_of_roofline
              << "% of the read/write roofline)\n"
              << "  retrieve  " << r.retrieve_ops_per_s << " ops/s, " << r.retrieve_GBps << " GB/s ("
              << 100.0 * r.retrieve_fraction_of_copy << "% of the copy ceiling " << prov.copy.ceiling() << " GB/s, "
              << 100.0 * r.retrieve_fraction_of_roofline << "% of the read/write roofline)\n"
              << "  verified  " << (r.verified ? "yes" : "no (retrieve.verify: false)") << ", rel. L2 error "
              << r.recon_rel_l2 << ", max abs error " << r.recon_max_abs << ", checksum " << std::hex << r.checksum
              << std::dec << "\n";
    if (c.decode_tokens > 0)
      std::cout << "  decode    " << r.tokens_per_s << " tokens/s over " << c.decode_tokens << " tokens: append "
                << r.append_ms << " ms, attention " << r.attention_ms << " ms (" << r.attention_GBps << " GB/s, "
                << 100.0 * r.attention_fraction_of_read << "% of read-only), weights " << r.weights_ms
                << " ms per token; attention rel. error vs float64 " << r.attention_rel_err << "\n";
    if (c.prefill_chunk > 0)
      std::cout << "  prefill   " << r.prefill_ms << " ms per chunk of " << c.prefill_chunk << " over every layer ("
                << r.prefill_TFLOPs << " TFLOP/s, " << 100.0 * r.prefill_fraction_of_gemm << "% of the gemm probe's "
                << r.gemm_TFLOPs << " TFLOP/s); rel. error vs float64 " << r.prefill_rel_err << "\n";
  }
  std::cout << "wrote " << file.path() << "\n";
  return 0;
}

int dispatch(int argc, char** argv) {
  const Args args = split_args(argc, argv);
  CLI::App app{"kvsim: Kokkos KV-cache simulator", "kvsim"};
  app.set_version_flag("--version", std::string(kvsim::version()) + " (" + kvsim::git_sha() + ")");
  app.require_subcommand(1);

  std::string config_path;
  RunFlags flags;
  std::vector<std::string>& sets = flags.sets;
  bool print = false;
  auto add_set = [&](CLI::App* sub) {
    sub->add_option("--set", sets, "override a config key, e.g. --set cache.max_positions=1024 (repeatable)")
        ->type_name("KEY=VALUE")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  };
  CLI::App* run = app.add_subcommand("run", "run an experiment config and write its HDF5 result file");
  run->add_option("config", config_path, "experiment YAML")->required();
  run->add_option("-o,--output", flags.output, "result file (default: the config's output key)");
  CLI::Option* resume = run->add_flag("--resume", flags.resume, "run only the points missing from the result file");
  run->add_flag("--force", flags.force, "with --resume: accept a changed config, keeping the unchanged points")->needs(resume);
  add_set(run);
  CLI::App* validate = app.add_subcommand("validate", "check a config and exit (2 if it is refused)");
  validate->add_option("config", config_path, "experiment YAML")->required();
  validate->add_flag("--print", print, "print the resolved config");
  add_set(validate);
  app.add_subcommand("info", "versions, backend and device");

  std::vector<std::string> rest(args.rest.rbegin(), args.rest.rend());
  try {
    app.parse(rest);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "kvsim: error: " << e.what() << " (see kvsim --help)\n";
    return 2;
  }

  if (run->parsed()) return cmd_run(args, config_path, flags, quote_command_line(argc, argv));
  if (validate->parsed()) return cmd_validate(config_path, sets, print);
  return cmd_info(args);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  kvsim::install_interrupt_handlers();  // after MPI_Init, which may install its own
  int rc = 0;
  try {
    rc = dispatch(argc, argv);
  } catch (const kvsim::InputError& e) {
    std::cerr << "kvsim: error: " << e.what() << "\n";
    rc = 2;
  } catch (const std::exception& e) {
    std::cerr << "kvsim: error: " << e.what() << "\n";
    rc = 1;
  }
  MPI_Finalize();
  return rc;
}
