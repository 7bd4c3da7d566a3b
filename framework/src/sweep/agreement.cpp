#include "sweep/agreement.hpp"

#include <mpi.h>

namespace kvsim {

int agree(const World& world, const Agreement& mine) {
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

}  // namespace kvsim
