#pragma once
// `kvsim run`: every point of an experiment over the MPI ranks of the job. Groups of context
// shards take points from a shared queue; rank 0 alone reads what an earlier run finished
// (--resume) and writes the result file after every finished point; errors one rank meets are
// agreed on, signals keep every finished point.
#include <string>
#include <vector>

#include "config/config.hpp"

namespace kvsim {

struct SweepRequest {
  std::string config_path;
  LoadOptions load;
  std::vector<std::string> kokkos_args;  // --kokkos-* flags, as given
  std::string output;                    // -o, if output_given
  bool output_given = false;
  bool resume = false;
  bool force = false;
  std::string command_line;  // stored in the result file
  bool quiet = false;        // -q: no progress, no per-point results; warnings, errors and the output path
  bool verbose = false;      // -v: also Kokkos' configuration and each point's resolved config (stderr)
  bool json = false;         // --format json: stdout is one JSON line at the end (output/json_summary.hpp)
};

// The process's exit code: 0, 1 (a run failure), 2 (bad input), 128 + signal. Rank 0 throws
// the errors it reports; the others return their code.
int run_sweep(const SweepRequest& request);

}  // namespace kvsim
