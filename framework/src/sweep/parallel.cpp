#include "sweep/parallel.hpp"

#include <cmath>
#include <limits>

#include "kvsim/core/error.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"

#if defined(KOKKOS_ENABLE_CUDA)
#include <cuda_runtime.h>
#endif

namespace kvsim {

namespace {
void check_mpi(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw RuntimeError(std::string("MPI: ") + what + " failed");
}
}  // namespace

World World::query() {
  World w;
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) return w;
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size);
  MPI_Comm node;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &node), "Comm_split_type");
  MPI_Comm_rank(node, &w.local_rank);
  MPI_Comm_size(node, &w.local_size);
  MPI_Comm_free(&node);
  return w;
}

Group::Group(const World& world, int shards) : shards_(shards) {
  KVSIM_REQUIRE(shards >= 1 && world.size % shards == 0, "context shards ", shards, " do not divide ", world.size, " ranks");
  index_ = world.rank / shards;
  count_ = world.size / shards;
  if (shards == 1) return;  // MPI_COMM_SELF: nothing to create
  check_mpi(MPI_Comm_split(MPI_COMM_WORLD, index_, world.rank, &comm_), "Comm_split");
  owned_ = true;
  MPI_Comm_rank(comm_, &shard_);
}

Group::~Group() {
  if (owned_) MPI_Comm_free(&comm_);
}

namespace {
MPI_Datatype mpi_type(double) { return MPI_DOUBLE; }
MPI_Datatype mpi_type(std::int64_t) { return MPI_INT64_T; }
MPI_Datatype mpi_type(std::uint64_t) { return MPI_UINT64_T; }

template <class T>
T all_reduce(const Group& g, T x, MPI_Op op) {
  if (g.sharded()) MPI_Allreduce(MPI_IN_PLACE, &x, 1, mpi_type(x), op, g.comm());
  return x;
}
}  // namespace

double Group::max(double x) const { return all_reduce(*this, x, MPI_MAX); }
double Group::sum(double x) const { return all_reduce(*this, x, MPI_SUM); }
std::int64_t Group::sum(std::int64_t x) const { return all_reduce(*this, x, MPI_SUM); }
std::uint64_t Group::sum_u64(std::uint64_t x) const { return all_reduce(*this, x, MPI_SUM); }
std::int64_t Group::max(std::int64_t x) const { return all_reduce(*this, x, MPI_MAX); }
void Group::max_each(std::vector<double>& v) const {
  if (!sharded() || v.empty()) return;
  MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_DOUBLE, MPI_MAX, comm_);
}
CopyBandwidth Group::sum(const CopyBandwidth& bw) const {
  CopyBandwidth s = bw;
  s.deep_copy_GBps = sum(bw.deep_copy_GBps);
  s.stream_copy_GBps = sum(bw.stream_copy_GBps);
  s.read_GBps = sum(bw.read_GBps);
  s.write_GBps = sum(bw.write_GBps);
  return s;
}
std::int64_t Group::broadcast(std::int64_t x) const {
  if (!sharded()) return x;
  MPI_Bcast(&x, 1, MPI_INT64_T, 0, comm_);
  return x;
}

void Group::merge_attention(float* out, float* lse, std::int64_t rows, std::int64_t dim) const {
  if (!sharded()) return;
  // Shift by the largest lse so no weight overflows; a shard that saw no position (-inf)
  // weighs nothing. Sums in double: the result must equal one rank's within fp32 rounding.
  std::vector<double> top(lse, lse + rows);
  MPI_Allreduce(MPI_IN_PLACE, top.data(), int(rows), MPI_DOUBLE, MPI_MAX, comm_);
  std::vector<double> acc(std::size_t(rows * (dim + 1)));
  for (std::int64_t r = 0; r < rows; ++r) {
    const double w = std::isinf(lse[r]) ? 0.0 : std::exp(double(lse[r]) - top[std::size_t(r)]);
    for (std::int64_t d = 0; d < dim; ++d) acc[std::size_t(r * dim + d)] = w * double(out[r * dim + d]);
    acc[std::size_t(rows * dim + r)] = w;
  }
  MPI_Allreduce(MPI_IN_PLACE, acc.data(), int(acc.size()), MPI_DOUBLE, MPI_SUM, comm_);
  for (std::int64_t r = 0; r < rows; ++r) {
    const double w = acc[std::size_t(rows * dim + r)];
    for (std::int64_t d = 0; d < dim; ++d) out[r * dim + d] = w > 0 ? float(acc[std::size_t(r * dim + d)] / w) : 0.0f;
    lse[r] = w > 0 ? float(top[std::size_t(r)] + std::log(w)) : -std::numeric_limits<float>::infinity();
  }
}

PointQueue::PointQueue(const World& world) {
  const MPI_Aint bytes = world.rank == 0 ? MPI_Aint(sizeof(std::int64_t)) : 0;
  check_mpi(MPI_Win_allocate(bytes, int(sizeof(std::int64_t)), MPI_INFO_NULL, MPI_COMM_WORLD, &counter_, &win_),
            "Win_allocate");
  if (world.rank == 0) *counter_ = 0;
  MPI_Barrier(MPI_COMM_WORLD);  // the counter is zero before anyone takes from it
  check_mpi(MPI_Win_lock_all(0, win_), "Win_lock_all");
}

PointQueue::~PointQueue() {
  MPI_Win_unlock_all(win_);
  MPI_Win_free(&win_);
}

std::int64_t PointQueue::next() {
  const std::int64_t one = 1;
  std::int64_t got = 0;
  check_mpi(MPI_Fetch_and_op(&one, &got, MPI_INT64_T, 0, 0, MPI_SUM, win_), "Fetch_and_op");
  check_mpi(MPI_Win_flush(0, win_), "Win_flush");
  return got;
}

int visible_device_count() {
#if defined(KOKKOS_ENABLE_CUDA)
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 1;
  return n > 0 ? n : 1;
#else
  return 1;
#endif
}

}  // namespace kvsim
