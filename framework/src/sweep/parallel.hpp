#pragma once
// kvsim across MPI ranks, one GPU per rank. Ranks form groups of `parallel.context_shards`
// (1 unless sharded): a group runs one point together, each rank holding a contiguous shard of
// every sequence's positions. Group leaders take points from a shared queue (load balancing),
// and send their finished rows to rank 0, which alone writes the result file.
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "platform/bandwidth_probe.hpp"

namespace kvsim {

struct World {
  int rank = 0, size = 1;
  int local_rank = 0, local_size = 1;  // within the node (MPI_COMM_TYPE_SHARED)
  static World query();
};

// The ranks that run one point together. All collectives are no-ops for a group of one.
class Group {
 public:
  Group() = default;  // one rank, itself
  Group(const World& world, int shards);  // collective over MPI_COMM_WORLD
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int shard() const { return shard_; }    // this rank's place in the group
  int shards() const { return shards_; }
  int index() const { return index_; }    // which group
  int count() const { return count_; }    // groups in the run
  bool leader() const { return shard_ == 0; }
  bool sharded() const { return shards_ > 1; }
  MPI_Comm comm() const { return comm_; }

  double max(double x) const;
  double sum(double x) const;
  std::int64_t sum(std::int64_t x) const;
  std::uint64_t sum_u64(std::uint64_t x) const;  // modulo 2^64, like the checksum itself
  std::int64_t max(std::int64_t x) const;
  void max_each(std::vector<double>& v) const;   // element-wise maximum over the group
  CopyBandwidth sum(const CopyBandwidth& bw) const;  // the group's combined bandwidths
  std::int64_t broadcast(std::int64_t x) const;  // the leader's value

  // Merges context shards' decode attention outputs for `rows` (seq, head) pairs of `dim`
  // values: out_k weighted by exp(lse_k - max_k lse_k), renormalised; out and lse are host
  // arrays, replaced by the merged result on every rank.
  void merge_attention(float* out, float* lse, std::int64_t rows, std::int64_t dim) const;

 private:
  MPI_Comm comm_ = MPI_COMM_SELF;
  bool owned_ = false;
  int shard_ = 0, shards_ = 1, index_ = 0, count_ = 1;
};

// Point indices for group leaders, first come first served: a counter on rank 0 advanced with
// MPI_Fetch_and_op under a passive-target lock, so no rank waits for a coordinator to be free.
// Collective to construct and destroy (MPI_COMM_WORLD).
class PointQueue {
 public:
  explicit PointQueue(const World& world);
  ~PointQueue();
  PointQueue(const PointQueue&) = delete;
  PointQueue& operator=(const PointQueue&) = delete;
  std::int64_t next();  // leaders only

 private:
  MPI_Win win_ = MPI_WIN_NULL;
  std::int64_t* counter_ = nullptr;
};

// Number of GPUs this process can see (1 on host backends). Callable before Kokkos starts.
int visible_device_count();

}  // namespace kvsim
