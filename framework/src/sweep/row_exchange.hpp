#pragma once
// Finished rows travel from group leaders to rank 0, which alone writes the result file: each
// row is one message (output/row_codec), sent without waiting and taken whenever rank 0 is
// between points.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <mpi.h>

#include "output/result_file.hpp"
#include "sweep/parallel.hpp"

namespace kvsim {

class RowExchange {
 public:
  // `on_row` runs on rank 0 for every row taken, with the sending rank.
  RowExchange(const World& world, std::function<void(ResultRow, int)> on_row);
  RowExchange(const RowExchange&) = delete;
  RowExchange& operator=(const RowExchange&) = delete;

  void send(const ResultRow& row);  // a leader other than rank 0
  bool take(bool wait);             // rank 0: one row if one has arrived (or, waiting, the next)
  // On a signal, rank 0 takes every row already sent before writing the file; a row still on
  // its way after a quiet spell is the signalled rank's loss.
  void drain();
  // Another rank signalled (mpirun forwards SIGTERM to all): its sent rows must reach rank 0,
  // and rank 0 must write them before the job stops, so rank 0 aborts the job; a rank signalled
  // alone stops the job itself after a grace period.
  void await_root_abort();
  void wait_sends();

 private:
  World world_;
  std::function<void(ResultRow, int)> on_row_;
  std::vector<MPI_Request> sends_;
  std::vector<std::unique_ptr<std::string>> buffers_;
};

}  // namespace kvsim
