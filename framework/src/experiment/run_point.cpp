// The driver's one instantiation of the point: the default execution space (the GPU in a CUDA
// build); run_point_on serves any other.
#include "experiment/run_point.hpp"

namespace kvsim {

PointResult run_point(const ExperimentConfig& c, std::int64_t point, const CopyBandwidth& bw, const Group& group) {
  return run_point_on(DefaultExecSpace(), c, point, bw, group);
}

}  // namespace kvsim
