// kvsim command line: run | validate | info.
// Exit codes: 0 success, 1 run failure, 2 bad input (config, flags, output path, size).
#include <mpi.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "platform/bandwidth_probe.hpp"
#include "config/config.hpp"
#include "platform/device_info.hpp"
#include "kvsim/core/error.hpp"
#include "experiment/experiment.hpp"
#include "platform/interrupt.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"
#include "platform/kokkos_settings.hpp"
#include "platform/progress.hpp"
#include "sweep/parallel.hpp"
#include "output/result_file.hpp"
#include "output/row_codec.hpp"
#include "platform/version.hpp"
#include "point_report.hpp"

#ifndef KVSIM_SOURCE_PRESET_DIR
#define KVSIM_SOURCE_PRESET_DIR ""
#endif
#ifndef KVSIM_INSTALL_PRESET_DIR
#define KVSIM_INSTALL_PRESET_DIR ""
#endif

namespace {

using kvsim::cli::human_bytes;
using kvsim::cli::point_label;

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

std::string bandwidth_line(const kvsim::CopyBandwidth& bw) {
  std::ostringstream os;
  os.precision(4);
  os << "deep_copy " << bw.deep_copy_GBps << " GB/s, copy kernel " << bw.stream_copy_GBps
     << " GB/s (read + write), read-only " << bw.read_GBps << " GB/s, write-only " << bw.write_GBps << " GB/s";
  return os.str();
}


int cmd_info(const Args& args, std::int64_t probe_mb) {
  KokkosSession kokkos(kvsim::checked_kokkos_args(args.kokkos));
  const kvsim::DeviceInfo dev = kvsim::query_device();
  std::cout << "kvsim " << kvsim::version() << " (" << kvsim::git_sha() << ")\n"
            << "backend:        " << dev.backend << "\n"
            << "device:         " << dev.name << "\n"
            << "device memory:  " << human_bytes(dev.total_bytes) << " total, " << human_bytes(dev.free_bytes) << " free\n"
            << "last-level cache: " << (dev.last_level_cache_bytes >> 20) << " MiB (bandwidth probes need buffers 4x larger)\n"
            << "Kokkos:         " << kvsim::kokkos_version_string() << "\n"
            << "Kokkos Kernels: " << kvsim::kokkos_kernels_version_string() << "\n"
            << "HDF5:           " << kvsim::hdf5_version_string() << "\n"
            << "MPI:            " << kvsim::mpi_version_string() << "\n"
            << "yaml-cpp:       " << kvsim::yaml_cpp_version_string() << "\n";
  // The ceilings every run measures for itself; here only when asked (seconds on a CPU).
  if (probe_mb > 0) {
    const kvsim::CopyBandwidth bw = kvsim::measure_copy_bandwidth(probe_mb << 20, 10);
    std::cout << "bandwidth:      " << bandwidth_line(bw) << " (" << probe_mb << " MiB buffers)\n";
  } else {
    std::cout << "bandwidth:      not probed (kvsim info --probe measures it; every run measures its own)\n";
  }
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
  bool output_given = false;  // -o '' is refused, not the default path
  std::vector<std::string> sets;
  bool resume = false;
  bool force = false;
};


// Results go to stdout as well as to the file; once stdout is gone (`kvsim run ... | head`:
// EPIPE, SIGPIPE is ignored) the run goes on for the file alone, saying so once.
void check_stdout() {
  static bool said = false;
  std::cout.flush();
  if (std::cout || said) return;
  said = true;
  std::cerr << "kvsim: stdout is closed; the run goes on, its results only in the result file\n";
}

// Under MPI some errors happen on one rank only (its device is too small, rank 0's output path):
// every rank learns whether any rank failed, the first failing rank reports, and all exit with
// its code. Errors every rank meets alike (the config) are reported by rank 0 alone.
struct Agreement {
  std::exception_ptr error;
  int code = 0;
  void capture(int c) {
    error = std::current_exception();
    code = c;
  }
};

// Returns 0 if no rank failed; else rethrows on the first failing rank and returns its code elsewhere.
int agree(const kvsim::World& world, const Agreement& mine) {
  if (world.size == 1) {
    if (mine.error) std::rethrow_exception(mine.error);
    return 0;
  }
  int first = mine.error ? world.rank : world.size;
  MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (first == world.size) return 0;
  int code = mine.code;
  MPI_Bcast(&code, 1, MPI_INT, first, MPI_COMM_WORLD);
  if (world.rank == first) std::rethrow_exception(mine.error);
  return code;
}

constexpr int kRowTag = 7301;

// Fault injection for the failure tests: KVSIM_INJECT_FAILURE=POINT makes whichever rank runs
// point POINT fail as a point does when its verification fails.
void inject_failure(std::int64_t point) {
  const char* v = std::getenv("KVSIM_INJECT_FAILURE");
  if (v && *v && std::to_string(point) == v)
    throw kvsim::RuntimeError("injected failure (KVSIM_INJECT_FAILURE=" + std::string(v) + ")");
}

// KVSIM_INJECT_FREE_BYTES=N stands for the device's free memory where `max_positions: max` is
// resolved: the resume tests' free-memory jitter between two runs, without filling the host.
std::int64_t free_bytes_for_max(std::int64_t real) {
  const char* v = std::getenv("KVSIM_INJECT_FREE_BYTES");
  return v && *v ? std::strtoll(v, nullptr, 10) : real;
}

int cmd_run(const Args& args, const std::string& config_path, const RunFlags& flags, const std::string& command_line) {
  const kvsim::World world = kvsim::World::query();
  const bool root = world.rank == 0;
  std::vector<kvsim::ExperimentConfig> points;
  std::vector<std::string> kokkos_args;
  try {
    if (flags.output_given && flags.output.empty()) throw kvsim::InputError("-o/--output: empty path");
    kokkos_args = kvsim::checked_kokkos_args(args.kokkos);
    points = kvsim::load_experiment(config_path, load_options(flags.sets));
  } catch (const kvsim::InputError&) {
    if (root) throw;  // every rank read the same file and met the same error
    return 2;
  }
  const int shards = int(points.front().context_shards);
  if (world.size % shards != 0) {
    if (!root) return 2;
    throw kvsim::InputError(points.front().context_shards_origin + ": parallel.context_shards: " + std::to_string(shards) +
                            " shards do not divide the " + std::to_string(world.size) + " MPI ranks of this run");
  }
  const std::string out_path = flags.output_given ? flags.output : points.front().output;
  const std::string hash = kvsim::experiment_hash(points);  // before `max` is resolved for this device
  std::vector<std::string> unresolved;  // each point's YAML before `max` is resolved: what --resume matches
  for (const auto& p : points) unresolved.push_back(kvsim::to_yaml(p));
  std::string stored_device;

  // Rank 0 alone reads what an earlier run finished (--resume) and writes the result file; the
  // others learn which points are done.
  std::vector<kvsim::ResultRow> rows;
  std::vector<char> have(points.size(), 0);
  kvsim::RunProvenance prov;
  prov.created = kvsim::utc_now_iso8601();
  std::unique_ptr<kvsim::ResultFile> file;
  Agreement setup;
  if (root) {
    try {
      file = std::make_unique<kvsim::ResultFile>(out_path, config_path);  // locks OUT before reading it
      std::error_code ec;
      if (flags.resume && std::filesystem::exists(out_path, ec)) {
        kvsim::StoredRun stored = kvsim::read_result_file(out_path);
        stored_device = stored.device;
        if (stored.config_hash != hash && !flags.force)
          throw kvsim::InputError(out_path + ": --resume: the experiment's config changed since this file was written "
                                  "(--force keeps the points whose config is unchanged and reruns the rest)");
        for (auto& row : stored.rows) {
          const auto n = std::size_t(row.point);
          if (row.point >= 0 && n < points.size() && !have[n] && row.config_unresolved == unresolved[n]) {
            have[n] = 1;
            rows.push_back(std::move(row));
          }
        }
        prov.created = stored.created;
        prov.resumed = stored.resumed + 1;
      }
    } catch (const kvsim::InputError&) {
      setup.capture(2);
    } catch (const std::exception&) {
      setup.capture(1);
    }
  }
  if (const int rc = agree(world, setup)) return rc;

  // One GPU per rank: the node-local rank picks it, unless the user chose with --kokkos-*.
  bool chosen = false;
  for (const auto& a : kokkos_args)
    chosen = chosen || a.rfind("--kokkos-device", 0) == 0 || a.rfind("--kokkos-num-devices", 0) == 0 ||
             a.rfind("--kokkos-map-device-id-by", 0) == 0;
  const int devices = kvsim::visible_device_count();
  if (world.size > 1 && !chosen && devices > 1)
    kokkos_args.push_back("--kokkos-device-id=" + std::to_string(world.local_rank % devices));
  KokkosSession kokkos(kokkos_args);
  const kvsim::Group group(world, shards);
  const kvsim::DeviceInfo dev = kvsim::query_device();
  // `max_positions: max` resolves against the device's memory: a point kept from another device
  // would not be the point this run would measure.
  if (root && !stored_device.empty() && stored_device != dev.name) {
    for (std::size_t n = 0; n < points.size(); ++n) {
      if (!have[n] || points[n].cache.max_positions != kvsim::kMaxContext) continue;
      have[n] = 0;
      rows.erase(std::remove_if(rows.begin(), rows.end(), [&](const kvsim::ResultRow& r) { return r.point == std::int64_t(n); }),
                 rows.end());
    }
  }
  if (world.size > 1) MPI_Bcast(have.data(), int(have.size()), MPI_CHAR, 0, MPI_COMM_WORLD);  // the points done
  Agreement fits;
  try {
    for (std::size_t i = 0; i < points.size(); ++i) {
      if (have[i]) continue;
      kvsim::resolve_max_context(points[i], free_bytes_for_max(dev.free_bytes));
      kvsim::check_fits_device(group.sharded() ? kvsim::shard_config(points[i], group.shard(), shards) : points[i]);
    }
  } catch (const kvsim::InputError&) {
    fits.capture(2);
  }
  if (const int rc = agree(world, fits)) return rc;

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
    prov.mpi_ranks = world.size;
  }
  prov.config_yaml = kvsim::to_yaml(points.front());
  prov.config_file = config_path;
  prov.config_hash = hash;
  prov.command_line = command_line;
  const auto done = std::int64_t(rows.size());
  kvsim::Progress progress(std::int64_t(points.size()), done, kvsim::stderr_is_terminal());
  if (root) {
    std::string where = dev.backend + " (" + dev.name + ")";
    if (world.size > 1)
      where = std::to_string(world.size) + " MPI ranks on " + where + ", " + std::to_string(group.count()) + " group(s) of " +
              std::to_string(shards) + " rank(s)";
    progress.message(points.front().name + ": " + std::to_string(points.size()) + " point(s) on " + where +
                     (done ? ", " + std::to_string(done) + " already in " + out_path : ""));
  }
  prov.copy_probe_bytes = points.front().run.copy_probe_mb << 20;
  prov.last_level_cache_bytes = dev.last_level_cache_bytes;
  kvsim::BandwidthProbe probe(prov.copy_probe_bytes);
  prov.copy = probe.measure(10);
  if (root && prov.copy_probe_bytes < 4 * prov.last_level_cache_bytes)
    progress.message("warning: run.copy_probe_mb (" + std::to_string(points.front().run.copy_probe_mb) +
                     " MiB) is less than 4x the device's last-level cache (" +
                     std::to_string(prov.last_level_cache_bytes >> 20) +
                     " MiB): the ceilings below are cache rates, not memory rates");
  // A group is held to the sum of its ranks' bandwidths.
  kvsim::CopyBandwidth group_bw = group.sum(prov.copy);
  if (root) progress.message("bandwidth: " + bandwidth_line(prov.copy) + (world.size > 1 ? " (rank 0)" : ""));
  const auto write = [&](bool complete) { file->write(prov, rows, complete, kvsim::utc_now_iso8601()); };
  if (root && done == std::int64_t(points.size())) write(true);

  // Rows other leaders finished, taken whenever rank 0 is between points.
  const auto take_row = [&](bool wait) {
    MPI_Status st;
    int ready = 0;
    if (wait) {
      MPI_Probe(MPI_ANY_SOURCE, kRowTag, MPI_COMM_WORLD, &st);
      ready = 1;
    } else {
      MPI_Iprobe(MPI_ANY_SOURCE, kRowTag, MPI_COMM_WORLD, &ready, &st);
    }
    if (!ready) return false;
    int n = 0;
    MPI_Get_count(&st, MPI_CHAR, &n);
    std::string bytes(std::size_t(n), '\0');
    MPI_Recv(bytes.data(), n, MPI_CHAR, st.MPI_SOURCE, kRowTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    rows.push_back(kvsim::unpack_row(bytes));
    if (rows.back().point >= 0 && std::size_t(rows.back().point) < points.size())
      rows.back().config_unresolved = unresolved[std::size_t(rows.back().point)];
    write(std::int64_t(rows.size()) == std::int64_t(points.size()));
    progress.message("point " + std::to_string(rows.back().point) + " finished on rank " + std::to_string(st.MPI_SOURCE) +
                     " (" + std::to_string(rows.size()) + "/" + std::to_string(points.size()) + " in " + out_path + ")");
    return true;
  };

  std::vector<MPI_Request> sends;
  std::vector<std::unique_ptr<std::string>> send_buffers;
  // On a signal, rank 0 takes every row already sent to it before writing the file; a row still
  // on its way after a quiet spell of kDrainQuiet is the signalled rank's loss.
  const auto drain_rows = [&] {
    if (world.size == 1) return;
    constexpr auto kDrainQuiet = std::chrono::milliseconds(300);
    auto quiet_since = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - quiet_since < kDrainQuiet) {
      if (take_row(false)) {
        quiet_since = std::chrono::steady_clock::now();
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  };
  // Another rank signalled (mpirun forwards SIGTERM to all): its sent rows must reach rank 0, and
  // rank 0 must write them before the job stops, so it is rank 0 that aborts the job; a rank
  // signalled alone stops the job itself after kRootGrace.
  const auto await_root_abort = [&] {
    constexpr auto kRootGrace = std::chrono::seconds(10);
    const auto until = std::chrono::steady_clock::now() + kRootGrace;
    for (auto& req : sends) {
      int done = 0;
      while (!done && std::chrono::steady_clock::now() < until) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    while (std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  {
    kvsim::PointQueue queue(world);
    for (;;) {
      std::int64_t i = group.leader() ? queue.next() : 0;
      i = group.broadcast(i);
      if (i >= std::int64_t(points.size())) break;
      if (have[std::size_t(i)]) continue;
      const auto& c = points[std::size_t(i)];
      if (root) progress.begin(i, point_label(c));
      Kokkos::Timer timer;
      kvsim::PointResult r;
      try {
        inject_failure(i);
        r = kvsim::run_point(c, i, group_bw, group);
      } catch (const kvsim::Interrupted& e) {
        // A time limit: keep every finished point, say which one was cut short, exit 128 + signal.
        if (root) {
          drain_rows();  // rows other ranks finished and sent are points finished too
          prov.interrupted_point = i;
          prov.interrupted_by = e.what();
          write(false);
          progress.message(std::string(e.what()) + " during point " + std::to_string(i + 1) + "/" +
                           std::to_string(points.size()) + "; " + std::to_string(rows.size()) +
                           " finished point(s) kept in " + out_path + " (continue with --resume)");
        } else {
          std::cerr << "kvsim: rank " << world.rank << ": " << e.what() << " during point " << i << "\n";
          await_root_abort();
        }
        if (world.size > 1) MPI_Abort(MPI_COMM_WORLD, 128 + e.signal());
        return 128 + e.signal();
      } catch (const std::exception& e) {
        if (world.size == 1) throw;
        // One rank's failure stops the job: name the rank and the point; rank 0's file keeps
        // every point gathered so far (complete = 0) for --resume.
        std::cerr << "kvsim: error: rank " << world.rank << " failed on point " << i
                  << (point_label(c).empty() ? "" : " (" + point_label(c) + ")") << ": " << e.what() << "; the points"
                  << " gathered so far are kept in " << out_path << " (continue with --resume)\n";
        if (root) write(false);
        MPI_Abort(MPI_COMM_WORLD, dynamic_cast<const kvsim::InputError*>(&e) ? 2 : 1);
      }
      // Re-probed after every point (keeping the best figure), so a ceiling disturbed once does
      // not stand; the point's fractions are taken against the best seen so far.
      prov.copy.keep_max(probe.measure(3));
      group_bw = group.sum(prov.copy);
      kvsim::apply_ceilings(r, group_bw);
      if (!group.leader()) continue;
      r.rank = world.rank;
      if (root) {
        progress.end(timer.seconds());
        rows.push_back(kvsim::make_row(r));
        rows.back().config_unresolved = unresolved[std::size_t(i)];
        // Every finished point reaches the disk before the next starts.
        write(std::int64_t(rows.size()) == std::int64_t(points.size()));
        kvsim::cli::print_point(std::cout, std::size_t(i), c, r, prov.copy);
        check_stdout();
        while (take_row(false)) {
        }
      } else {
        send_buffers.push_back(std::make_unique<std::string>(kvsim::pack_row(kvsim::make_row(r))));
        sends.emplace_back();
        MPI_Isend(send_buffers.back()->data(), int(send_buffers.back()->size()), MPI_CHAR, 0, kRowTag, MPI_COMM_WORLD,
                  &sends.back());
      }
    }
    // Rank 0 waits for the last rows, still answering a signal (a blocking probe would not).
    while (root && rows.size() < points.size()) {
      if (take_row(false)) continue;
      if (const int sig = kvsim::pending_interrupt()) {
        const kvsim::Interrupted e(sig);
        drain_rows();
        prov.interrupted_by = e.what();
        write(false);
        progress.message(std::string(e.what()) + " while waiting for other ranks; " + std::to_string(rows.size()) +
                         " finished point(s) kept in " + out_path + " (continue with --resume)");
        MPI_Abort(MPI_COMM_WORLD, 128 + sig);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!sends.empty()) MPI_Waitall(int(sends.size()), sends.data(), MPI_STATUSES_IGNORE);
  }
  if (root) std::cout << "wrote " << out_path << "\n";
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
  CLI::Option* output = run->add_option("-o,--output", flags.output, "result file (default: the config's output key)");
  CLI::Option* resume = run->add_flag("--resume", flags.resume, "run only the points missing from the result file");
  run->add_flag("--force", flags.force, "with --resume: accept a changed config, keeping the unchanged points")->needs(resume);
  add_set(run);
  CLI::App* validate = app.add_subcommand("validate", "check a config and exit (2 if it is refused)");
  validate->add_option("config", config_path, "experiment YAML")->required();
  validate->add_flag("--print", print, "print the resolved config");
  add_set(validate);
  CLI::App* info = app.add_subcommand("info", "versions, backend and device");
  bool probe = false;
  std::int64_t probe_mb = 1024;
  info->add_flag("--probe", probe, "also measure the copy, read and write ceilings (seconds on a CPU)");
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
  if (run->parsed()) return cmd_run(args, config_path, flags, quote_command_line(argc, argv));
  if (validate->parsed()) return cmd_validate(config_path, sets, print);
  return cmd_info(args, probe ? probe_mb : 0);
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
