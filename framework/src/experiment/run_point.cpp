// The driver's one instantiation of the point: the default execution space (the GPU in a CUDA
// build) on an instance of its own (a stream the decode's launch graphs can capture);
// run_point_on serves any other.
#include "experiment/run_point.hpp"
#include "kvsim/core/exec_instance.hpp"

namespace kvsim {

PointResult run_point(const ExperimentConfig& c, std::int64_t point, const CopyBandwidth& bw, const Group& group,
                      const PhaseReport& phase) {
  const ExecInstance<DefaultExecSpace> instance;
  return run_point_on(instance.space(), c, point, bw, group, phase);
}

}  // namespace kvsim
