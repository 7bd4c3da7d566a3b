#include "sweep/sweep_runner.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "experiment/experiment.hpp"
#include "kvsim/core/error.hpp"
#include "output/json_summary.hpp"
#include "output/point_report.hpp"
#include "output/result_file.hpp"
#include "output/resume.hpp"
#include "platform/bandwidth_probe.hpp"
#include "platform/device_info.hpp"
#include "platform/interrupt.hpp"
#include "platform/kokkos_session.hpp"
#include "platform/kokkos_settings.hpp"
#include "platform/progress.hpp"
#include "sweep/agreement.hpp"
#include "sweep/row_exchange.hpp"

namespace kvsim {
namespace {

// Results go to stdout as well as to the file; once stdout is gone (`kvsim run ... | head`:
// EPIPE, SIGPIPE is ignored) the run goes on for the file alone, saying so once.
void check_stdout() {
  static bool said = false;
  std::cout.flush();
  if (std::cout || said) return;
  said = true;
  std::cerr << "kvsim: stdout is closed; the run goes on, its results only in the result file\n";
}

// Fault injection for the failure tests: KVSIM_INJECT_FAILURE=POINT makes whichever rank runs
// point POINT fail as a point does when its verification fails.
void inject_failure(std::int64_t point) {
  const char* v = std::getenv("KVSIM_INJECT_FAILURE");
  if (v && *v && std::to_string(point) == v) throw RuntimeError("injected failure (KVSIM_INJECT_FAILURE=" + std::string(v) + ")");
}

// KVSIM_INJECT_FREE_BYTES=N stands for the device's free memory where `max_positions: max` is
// resolved: the resume tests' free-memory jitter between two runs, without filling the host.
std::int64_t free_bytes_for_max(std::int64_t real) {
  const char* v = std::getenv("KVSIM_INJECT_FREE_BYTES");
  return v && *v ? std::strtoll(v, nullptr, 10) : real;
}

// One GPU per rank: the node-local rank picks it, unless the user chose with --kokkos-*.
void choose_device(const World& world, std::vector<std::string>& kokkos_args) {
  bool chosen = false;
  for (const auto& a : kokkos_args)
    chosen = chosen || a.rfind("--kokkos-device", 0) == 0 || a.rfind("--kokkos-num-devices", 0) == 0 ||
             a.rfind("--kokkos-map-device-id-by", 0) == 0;
  const int devices = visible_device_count();
  if (world.size > 1 && !chosen && devices > 1)
    kokkos_args.push_back("--kokkos-device-id=" + std::to_string(world.local_rank % devices));
}

void describe_platform(const World& world, const DeviceInfo& dev, RunProvenance& prov) {
  prov.backend = dev.backend;
  prov.device = dev.name;
  prov.kokkos_version = kokkos_version_string();
  std::ostringstream os;
  Kokkos::print_configuration(os, false);
  prov.kokkos_config = os.str();
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  prov.host = host;
  prov.mpi_ranks = world.size;
}

// The points, in the queue's order, once every rank has agreed they can run.
class Sweep {
 public:
  Sweep(const SweepRequest& req, const World& world, std::vector<std::string> kokkos_args,
        std::vector<ExperimentConfig> points)
      : req_(req), world_(world), root_(world.rank == 0), kokkos_args_(std::move(kokkos_args)), points_(std::move(points)),
        out_path_(req.output_given ? req.output : points_.front().output) {}

  int run();

 private:
  int read_earlier_run();
  void write(bool complete) { file_->write(prov_, rows_, complete, utc_now_iso8601()); }
  void keep_row(ResultRow row, const std::string& what);
  int interrupted(const Interrupted& e, std::int64_t point, RowExchange& rows);
  [[noreturn]] void failed(const std::exception& e, std::int64_t point, const ExperimentConfig& c);

  const SweepRequest& req_;
  World world_;
  bool root_;
  std::vector<std::string> kokkos_args_;  // checked
  std::vector<ExperimentConfig> points_;
  std::string out_path_;
  std::vector<std::string> unresolved_;  // each point's YAML before `max` is resolved: what --resume matches
  std::string hash_;
  ResumedRun earlier_;
  std::vector<ResultRow>& rows_ = earlier_.rows;
  RunProvenance prov_;
  std::unique_ptr<ResultFile> file_;
  std::unique_ptr<Progress> progress_;
};

int Sweep::read_earlier_run() {
  hash_ = experiment_hash(points_);  // before `max` is resolved for this device
  for (const auto& p : points_) unresolved_.push_back(to_yaml(p));
  earlier_.have.assign(points_.size(), 0);
  prov_.created = utc_now_iso8601();
  Agreement setup;
  if (root_) {
    try {
      file_ = std::make_unique<ResultFile>(out_path_, req_.config_path);  // locks OUT before reading it
      if (req_.resume) earlier_ = read_resumable(out_path_, hash_, unresolved_, req_.force, prov_);
    } catch (const InputError&) {
      setup.capture(2);
    } catch (const std::exception&) {
      setup.capture(1);
    }
  }
  return agree(world_, setup);
}

void Sweep::keep_row(ResultRow row, const std::string& what) {
  if (row.point >= 0 && std::size_t(row.point) < points_.size()) row.config_unresolved = unresolved_[std::size_t(row.point)];
  rows_.push_back(std::move(row));
  // Every finished point reaches the disk before the next starts.
  write(rows_.size() == points_.size());
  if (!what.empty())
    progress_->message(what + " (" + std::to_string(rows_.size()) + "/" + std::to_string(points_.size()) + " in " + out_path_ + ")");
}

// A time limit: keep every finished point, say which one was cut short, exit 128 + signal.
int Sweep::interrupted(const Interrupted& e, std::int64_t i, RowExchange& exchange) {
  if (root_) {
    exchange.drain();  // rows other ranks finished and sent are points finished too
    prov_.interrupted_point = i;
    prov_.interrupted_by = e.what();
    write(false);
    progress_->message(std::string(e.what()) + " during point " + std::to_string(i + 1) + "/" + std::to_string(points_.size()) +
                           "; " + std::to_string(rows_.size()) + " finished point(s) kept in " + out_path_ +
                           " (continue with --resume)",
                       true);
  } else {
    std::cerr << "kvsim: rank " << world_.rank << ": " << e.what() << " during point " << i + 1 << "\n";
    exchange.await_root_abort();
  }
  if (world_.size > 1) MPI_Abort(MPI_COMM_WORLD, 128 + e.signal());
  return 128 + e.signal();
}

// One rank's failure stops the job: name the rank and the point; rank 0's file keeps every
// point gathered so far (complete = 0) for --resume.
void Sweep::failed(const std::exception& e, std::int64_t i, const ExperimentConfig& c) {
  const std::string label = point_label(c);
  if (progress_) progress_->clear();
  std::cerr << "kvsim: error: rank " << world_.rank << " failed on point " << i + 1 << (label.empty() ? "" : " (" + label + ")")
            << ": " << e.what() << "; the points gathered so far are kept in " << out_path_ << " (continue with --resume)\n";
  if (root_) write(false);
  MPI_Abort(MPI_COMM_WORLD, dynamic_cast<const InputError*>(&e) ? 2 : 1);
  std::abort();  // MPI_Abort does not return
}

int Sweep::run() {
  const int shards = int(points_.front().context_shards);
  if (world_.size % shards != 0) {
    if (!root_) return 2;
    throw InputError(points_.front().context_shards_origin + ": parallel.context_shards: " + std::to_string(shards) +
                     " shards do not divide the " + std::to_string(world_.size) + " MPI ranks of this run");
  }
  if (const int rc = read_earlier_run()) return rc;
  choose_device(world_, kokkos_args_);
  KokkosSession kokkos(kokkos_args_);
  const Group group(world_, shards);
  const DeviceInfo dev = query_device();
  if (root_) {
    std::vector<char> is_max(points_.size());
    for (std::size_t n = 0; n < points_.size(); ++n) is_max[n] = points_[n].cache.max_positions == kMaxContext;
    forget_other_device(earlier_, dev.name, is_max);
  }
  std::vector<char>& have = earlier_.have;
  if (world_.size > 1) MPI_Bcast(have.data(), int(have.size()), MPI_CHAR, 0, MPI_COMM_WORLD);  // the points done
  Agreement fits;
  try {
    for (std::size_t i = 0; i < points_.size(); ++i) {
      if (have[i]) continue;
      resolve_max_context(points_[i], free_bytes_for_max(dev.free_bytes));
      check_fits_device(group.sharded() ? shard_config(points_[i], group.shard(), shards) : points_[i]);
    }
  } catch (const InputError&) {
    fits.capture(2);
  }
  if (const int rc = agree(world_, fits)) return rc;

  describe_platform(world_, dev, prov_);
  prov_.config_yaml = to_yaml(points_.front());
  prov_.config_file = req_.config_path;
  prov_.config_hash = hash_;
  prov_.command_line = req_.command_line;
  const auto done = std::int64_t(rows_.size());
  progress_ = std::make_unique<Progress>(std::int64_t(points_.size()), done, stderr_is_terminal(), req_.quiet);
  if (root_) {
    std::string where = dev.backend + " (" + dev.name + ")";
    if (world_.size > 1)
      where = std::to_string(world_.size) + " MPI ranks on " + where + ", " + std::to_string(group.count()) + " group(s) of " +
              std::to_string(shards) + " rank(s)";
    progress_->message(points_.front().name + ": " + std::to_string(points_.size()) + " point(s) on " + where +
                       (done ? ", " + std::to_string(done) + " already in " + out_path_ : ""));
  }
  prov_.copy_probe_bytes = points_.front().run.copy_probe_mb << 20;
  prov_.last_level_cache_bytes = dev.last_level_cache_bytes;
  BandwidthProbe probe(prov_.copy_probe_bytes);
  prov_.copy = probe.measure(10);
  if (root_ && prov_.copy_probe_bytes < 4 * prov_.last_level_cache_bytes)
    progress_->warning("run.copy_probe_mb (" + std::to_string(points_.front().run.copy_probe_mb) +
                       " MiB) is less than 4x the device's last-level cache (" +
                       std::to_string(prov_.last_level_cache_bytes >> 20) +
                       " MiB): the ceilings below are cache rates, not memory rates");
  // A group is held to the sum of its ranks' bandwidths.
  CopyBandwidth group_bw = group.sum(prov_.copy);
  if (root_) progress_->message("bandwidth: " + describe(prov_.copy) + (world_.size > 1 ? " (rank 0)" : ""));
  if (root_ && req_.verbose) progress_->message("Kokkos configuration:\n" + prov_.kokkos_config);
  if (root_ && done == std::int64_t(points_.size())) write(true);

  RowExchange exchange(world_, [&](ResultRow row, int from) {
    const std::int64_t point = row.point;
    keep_row(std::move(row), "point " + std::to_string(point + 1) + " finished on rank " + std::to_string(from));
  });
  {
    PointQueue queue(world_);
    for (;;) {
      std::int64_t i = group.leader() ? queue.next() : 0;
      i = group.broadcast(i);
      if (i >= std::int64_t(points_.size())) break;
      if (have[std::size_t(i)]) continue;
      const auto& c = points_[std::size_t(i)];
      if (root_ && req_.verbose) progress_->message("point " + std::to_string(i + 1) + " resolved config:\n" + to_yaml(c));
      if (root_) progress_->begin(i, point_label(c));
      Kokkos::Timer timer;
      PointResult r;
      try {
        inject_failure(i);
        r = run_point(c, i, group_bw, group,
                      root_ ? PhaseReport([this](const std::string& what) { progress_->phase(what); }) : PhaseReport());
      } catch (const Interrupted& e) {
        return interrupted(e, i, exchange);
      } catch (const std::exception& e) {
        if (world_.size == 1) {
          progress_->clear();  // the error line must not run into the live line
          throw;
        }
        failed(e, i, c);
      }
      // Re-probed after every point (keeping the best figure), so a ceiling disturbed once does
      // not stand; the point's fractions are taken against the best seen so far.
      prov_.copy.keep_max(probe.measure(3));
      group_bw = group.sum(prov_.copy);
      apply_ceilings(r, group_bw);
      if (!group.leader()) continue;
      r.rank = world_.rank;
      if (!root_) {
        exchange.send(make_row(r));
        continue;
      }
      progress_->end(timer.seconds());
      keep_row(make_row(r), "");
      if (!req_.quiet && !req_.json) {
        print_point(std::cout, std::size_t(i), c, r, prov_.copy);
        check_stdout();
      }
      while (exchange.take(false)) {
      }
    }
    // Rank 0 waits for the last rows, still answering a signal (a blocking probe would not).
    while (root_ && rows_.size() < points_.size()) {
      if (exchange.take(false)) continue;
      if (const int sig = pending_interrupt()) {
        const Interrupted e(sig);
        exchange.drain();
        prov_.interrupted_by = e.what();
        write(false);
        progress_->message(std::string(e.what()) + " while waiting for other ranks; " + std::to_string(rows_.size()) +
                               " finished point(s) kept in " + out_path_ + " (continue with --resume)",
                           true);
        MPI_Abort(MPI_COMM_WORLD, 128 + sig);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    exchange.wait_sends();
  }
  if (root_ && req_.json) {
    std::cout << json_summary(out_path_, true, prov_, rows_) << "\n";
    check_stdout();
  } else if (root_) {
    std::cout << "wrote " << out_path_ << "\n";
  }
  return 0;
}

}  // namespace

int run_sweep(const SweepRequest& req) {
  const World world = World::query();
  std::vector<ExperimentConfig> points;
  std::vector<std::string> kokkos_args;
  try {
    if (req.output_given && req.output.empty()) throw InputError("-o/--output: empty path");
    kokkos_args = checked_kokkos_args(req.kokkos_args);
    points = load_experiment(req.config_path, req.load);
  } catch (const InputError&) {
    if (world.rank == 0) throw;  // every rank read the same file and met the same error
    return 2;
  }
  return Sweep(req, world, std::move(kokkos_args), std::move(points)).run();
}

}  // namespace kvsim
