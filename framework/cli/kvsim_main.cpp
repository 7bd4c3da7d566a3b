// kvsim command line: run | validate | plan | info.
// Exit codes: 0 success, 1 run failure, 2 bad input (config, flags, output path, size).
// The CLI only parses: each command is one call into the driver (src/).
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "experiment/plan.hpp"
#include "kvsim/core/error.hpp"
#include "metrics/result_columns.hpp"
#include "platform/info_report.hpp"
#include "platform/interrupt.hpp"
#include "platform/version.hpp"
#include "sweep/sweep_runner.hpp"

#ifndef KVSIM_SOURCE_PRESET_DIR
#define KVSIM_SOURCE_PRESET_DIR ""
#endif
#ifndef KVSIM_INSTALL_PRESET_DIR
#define KVSIM_INSTALL_PRESET_DIR ""
#endif

namespace {

// `kvsim --help`'s closing sections (README.md "Environment" and "Exit status" say the same).
const char* const kHelpFooter = R"(
ENVIRONMENT
  OMP_NUM_THREADS, KOKKOS_NUM_THREADS  host threads (or --kokkos-threads=N; they must agree)
  OMP_PROC_BIND, OMP_PLACES            thread binding. Both unset, kvsim sets OMP_PROC_BIND=false,
                                       which is OpenMP's own default (threads unbound), so that
                                       Kokkos does not warn; for steady CPU figures use
                                       OMP_PROC_BIND=spread OMP_PLACES=threads
  KOKKOS_DEVICE_ID                     the GPU (or --kokkos-device-id=N; under MPI the node-local
                                       rank picks it)
  KOKKOS_PROFILE_LIBRARY               a Kokkos Tools library (Kokkos 4: KOKKOS_TOOLS_LIBS), or
                                       --kokkos-tools-library=LIB; Kokkos 4's spelling
                                       --kokkos-tools-libs=LIB is accepted on 3.4 too
  KVSIM_PRESET_DIR                     model presets searched first (configs/models/ after)
  KVSIM_HOST_ISA                       cap the host decode kernel's instruction set

EXIT STATUS
  0    success
  1    run failure (retrieved data did not verify, the disk filled up, ...)
  2    bad input: config, flag, Kokkos setting, output path, a damaged file to --resume,
       a cache larger than the device
  128+N  stopped by signal N (SIGTERM, SIGINT): finished points kept, continue with --resume
)";

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

// --print shows every point as the key table writes it; --schema prints docs/config-schema.md's
// key reference (tests/unit/config checks the committed doc against it).
int cmd_validate(const std::string& config_path, bool config_given, const std::vector<std::string>& sets, bool print,
                 bool schema) {
  if (schema) {
    std::cout << kvsim::config_schema_markdown();
    return 0;
  }
  // Required unless --schema (CLI11 cannot say so): in CLI11's words.
  if (!config_given) {
    std::cerr << "kvsim: error: config is required (see kvsim --help)\n";
    return 2;
  }
  // Checked for any build: a config for the GPU cluster validates on a laptop's host build.
  std::vector<std::string> gpu_notes;
  kvsim::LoadOptions options = load_options(sets);
  options.any_build = true;
  options.gpu_notes = &gpu_notes;
  const auto points = kvsim::load_experiment(config_path, options);
  std::cout << config_path << ": ok (" << points.front().name << ", " << points.size() << " point"
            << (points.size() == 1 ? "" : "s") << ")\n";
  for (std::size_t i = 0; i < points.size() && print; ++i)
    std::cout << "--- # point " << i + 1 << "\n" << kvsim::to_yaml(points[i]);
  // validate reads the config only: the device (its memory, its kernels) is `run`'s to check.
  bool max = false;
  for (const auto& p : points) max = max || p.cache.max_positions == kvsim::kMaxContext;
  for (const auto& note : gpu_notes) std::cerr << "kvsim: note: " << config_path << ": " << note << "\n";
  std::cerr << "kvsim: note: device memory not checked (validate starts no device); `kvsim run` refuses a cache "
               "larger than the device"
            << (max ? " and resolves max_positions: max against its free memory" : "") << "\n";
  return 0;
}

struct RunFlags {
  std::string output;
  bool output_given = false;  // -o '' is refused, not the default path
  std::vector<std::string> sets;
  bool resume = false;
  bool force = false;
  bool quiet = false;
  bool verbose = false;
  std::string format = "text";
};

int dispatch(int argc, char** argv) {
  const Args args = split_args(argc, argv);
  CLI::App app{"kvsim: Kokkos KV-cache simulator", "kvsim"};
  app.footer(kHelpFooter);
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
  CLI::Option* output = run->add_option("-o,--output", flags.output, "result file (default: the config's output key)");
  CLI::Option* resume = run->add_flag("--resume", flags.resume, "run only the points missing from the result file");
  run->add_flag("--force", flags.force, "with --resume: accept a changed config, keeping the unchanged points")->needs(resume);
  add_set(run);
  run->add_flag("-q,--quiet", flags.quiet, "no progress and no per-point results: warnings, errors and the output path");
  run->add_flag("-v,--verbose", flags.verbose, "also Kokkos' configuration and each point's resolved config (stderr)");
  run->add_option("--format", flags.format, "stdout: text (each point as it finishes) or json (one line at the end)")
      ->check(CLI::IsMember({"text", "json"}));
  CLI::App* validate = app.add_subcommand("validate", "check a config and exit (2 if it is refused)");
  CLI::Option* validate_config = validate->add_option("config", config_path, "experiment YAML (required unless --schema)");
  validate->add_flag("--print", print, "print the resolved config");
  bool schema = false;
  validate->add_flag("--schema", schema, "print the config keys' reference (docs/config-schema.md) and exit");
  add_set(validate);
  CLI::App* plan = app.add_subcommand("plan", "bytes per position, per sequence and in total, and the largest batch and context that fit in --memory");
  plan->add_option("config", config_path, "experiment YAML")->required();
  std::string memory;
  plan->add_option("--memory", memory, "memory for the cache, e.g. 80GiB, 141GB, 8e10 (bytes)")->required();
  add_set(plan);
  plan->add_option("--format", flags.format, "stdout: text, or json (one array of every point's plan)")
      ->check(CLI::IsMember({"text", "json"}));
  CLI::App* info = app.add_subcommand("info", "versions, backend and device");
  bool probe = false;
  std::int64_t probe_mb = 1024;
  info->add_flag("--probe", probe, "also measure the copy, read and write ceilings (seconds on a CPU)");
  bool columns = false;
  info->add_flag("--columns", columns, "print the result file's summary columns (docs/hdf5-schema.md) and exit");
  info->add_option("--probe-mb", probe_mb, "probe buffer size in MiB (make it several times the last-level cache)")
      ->check(CLI::Range(std::int64_t(1), std::int64_t(65536)));

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

  flags.output_given = output->count() > 0;
  if (run->parsed()) {
    kvsim::SweepRequest req;
    req.config_path = config_path;
    req.load = load_options(flags.sets);
    req.kokkos_args = args.kokkos;
    req.output = flags.output;
    req.output_given = flags.output_given;
    req.resume = flags.resume;
    req.force = flags.force;
    req.command_line = quote_command_line(argc, argv);
    req.quiet = flags.quiet;
    req.verbose = flags.verbose;
    req.json = flags.format == "json";
    return kvsim::run_sweep(req);
  }
  if (validate->parsed()) return cmd_validate(config_path, validate_config->count() > 0, sets, print, schema);
  if (plan->parsed()) {
    kvsim::PlanRequest req;
    req.config_path = config_path;
    req.load = load_options(flags.sets);
    req.memory = kvsim::parse_memory_size(memory, "--memory");
    req.memory_text = memory;
    req.json = flags.format == "json";
    return kvsim::print_plan(req, std::cout);
  }
  if (columns) {
    std::cout << kvsim::summary_columns_markdown();
    return 0;
  }
  return kvsim::print_info(std::cout, args.kokkos, probe ? probe_mb : 0);
}

}  // namespace

int main(int argc, char** argv) {
  // Kokkos' OpenMP backend warns in four lines when OMP_PROC_BIND is unset. Unset means false
  // to OpenMP already (the runtime read it at load time; this changes no binding), so say it.
  // With OMP_PLACES given, OpenMP binds: left alone.
  if (!std::getenv("OMP_PROC_BIND") && !std::getenv("OMP_PLACES")) setenv("OMP_PROC_BIND", "false", 0);
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
