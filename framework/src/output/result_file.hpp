#pragma once
// The HDF5 result file of one experiment (schema: docs/hdf5-schema.md). After every finished
// point the whole file is rewritten under OUT.partial.PID (this process's own name, created
// exclusively), flushed to disk and renamed over OUT, so OUT is always a valid snapshot,
// whatever moment the process is killed; its `complete` attribute is 1 only once every point is
// in. The run holds OUT.lock throughout (output_guard.hpp). `kvsim run --resume` reads the
// finished points back, after checking the file's checksum, and runs the rest.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "platform/bandwidth_probe.hpp"
#include "config/config.hpp"
#include "experiment/experiment.hpp"
#include "output/output_guard.hpp"

namespace kvsim {

struct RunProvenance {
  std::string backend;
  std::string device;
  std::string kokkos_version;
  std::string kokkos_config;  // Kokkos::print_configuration
  std::string host;
  std::int64_t mpi_ranks = 1;
  std::string config_yaml;
  std::string config_file;
  std::string config_hash;  // of the experiment's points as loaded (before `max` is resolved)
  std::string command_line;
  std::string created;
  std::int64_t resumed = 0;  // how many times --resume continued this file
  std::int64_t interrupted_point = -1;  // the point a signal stopped, -1: none
  std::string interrupted_by;
  CopyBandwidth copy;
  std::int64_t copy_probe_bytes = 0;        // the probe's buffer size
  std::int64_t last_level_cache_bytes = 0;  // the device's (0: unknown); a probe within 4x is flagged
};

// One finished point, as the file stores it: the summary columns in schema order, the raw
// per-repetition timings and the point's resolved config.
struct ResultRow {
  std::int64_t point = 0;
  std::vector<std::pair<std::string, std::int64_t>> ints;
  std::vector<std::pair<std::string, double>> reals;
  std::vector<std::pair<std::string, std::string>> texts;
  std::uint64_t checksum = 0;
  std::vector<std::pair<std::string, std::vector<double>>> seconds;  // fill_seconds, ...
  std::vector<std::int64_t> lengths;
  std::vector<std::vector<std::int64_t>> h2o_evicted;
  std::string config_yaml;
  std::string config_unresolved;  // before `max_positions: max` was resolved: what --resume matches
  std::int64_t warmup = 0, repetitions = 0;
};

ResultRow make_row(const PointResult& result);

// What a result file holds, for --resume.
struct StoredRun {
  std::string device;
  std::string config_hash;
  std::string created;
  std::int64_t resumed = 0;
  bool complete = false;
  std::vector<ResultRow> rows;
};
// InputError (exit 2) for a file that is not a readable kvsim result file: not a regular file,
// damaged (its checksum disagrees), or of another schema.
StoredRun read_result_file(const std::string& path);

// A fingerprint of the experiment's points: resuming under a different one is refused.
std::string experiment_hash(const std::vector<ExperimentConfig>& points);

class ResultFile {
 public:
  // Checks now that OUT may be written (check_output_path) and takes OUT.lock (InputError naming
  // the path), before anything runs; `config_path`: the config, which OUT must not be.
  explicit ResultFile(std::string final_path, const std::string& config_path = "");
  ~ResultFile();  // removes a snapshot left half-written by an exception
  ResultFile(const ResultFile&) = delete;
  ResultFile& operator=(const ResultFile&) = delete;

  const std::string& path() const { return final_path_; }
  const std::string& partial_path() const { return partial_path_; }

  // Writes `rows` (finished points, any order) as the new OUT, atomically. On failure (a full
  // disk: ENOSPC, EFBIG) throws RuntimeError naming OUT, the cause and what OUT still holds,
  // and removes OUT.partial.PID.
  void write(const RunProvenance& provenance, std::vector<ResultRow> rows, bool complete, const std::string& finished);

 private:
  std::string final_path_;
  std::string partial_path_;
  std::int64_t points_written_ = -1;  // in OUT by this object's last successful write; -1: none yet
  std::unique_ptr<OutputLock> lock_;  // released last, after OUT.partial.PID is gone
};

// Current UTC time as ISO 8601.
std::string utc_now_iso8601();

}  // namespace kvsim
