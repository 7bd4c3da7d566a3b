#pragma once
// data.kind: recorded (docs/data.md): a model's K, V and queries read from an HDF5 file, one
// group /layer_<l> per layer with k, v [rows][kv_heads][head_dim], q [rows][heads][head_dim]
// and positions [rows], then tiled over the configured context (position p reads row
// p % rows). Read once per point into the point's memory space. Optional, in every layer or
// none: o_proj [hidden][heads * head_dim] and residual [rows][hidden], the layer's output
// projection and its input hidden states, from which the quality reference measures the error
// of the attention block's output (next_input_rel_err).
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"

namespace kvsim {

struct RecordedTable {
  std::int64_t rows = 0;
  std::vector<float> values;  // [layer][K, V, Q][row][head][dim] (DataSource's layout)
  float bound[2] = {0.0f, 0.0f};
  std::int64_t hidden = 0;      // o_proj's rows; 0: the file records no o_proj and residual
  std::vector<float> o_proj;    // [layer][hidden][heads * head_dim]
  std::vector<float> residual;  // [layer][row][hidden]
};

// Checks `path` against the model's shape and, with `values`, reads it. Every problem is an
// InputError of one line naming the file and the dataset: "PATH: /layer_1/k: ...".
RecordedTable read_recorded(const std::string& path, const ModelShape& model, bool values = true);

// The table of a recorded point in memory space Mem (nothing for other kinds).
template <class Mem>
class RecordedValues {
 public:
  template <class Exec>
  RecordedValues(const Exec& exec, const ExperimentConfig& c) {
    if (c.data.kind != DataKind::recorded) return;
    table_ = read_recorded(c.data.file, c.model);
    device_ = View1D<float, Mem>(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string("kvsim::data::recorded")),
                                 table_.values.size());
    copy_to_device(exec, table_.values, device_);
    exec.fence();
  }

  // Points `d` (the point's DataSource) at the table.
  void attach(DataSource& d) const {
    if (d.kind != DataKind::recorded) return;
    d.recorded = device_.data();
    d.recorded_host = table_.values.data();
    d.recorded_rows = table_.rows;
    d.recorded_bound[0] = table_.bound[0];
    d.recorded_bound[1] = table_.bound[1];
    d.recorded_hidden = table_.hidden;
    d.recorded_o_proj_host = table_.o_proj.data();
    d.recorded_residual_host = table_.residual.data();
  }

 private:
  RecordedTable table_;
  View1D<float, Mem> device_;
};

}  // namespace kvsim
