#include "sweep/row_exchange.hpp"

#include <chrono>
#include <thread>

#include "output/row_codec.hpp"

namespace kvsim {
namespace {
constexpr int kRowTag = 7301;
}  // namespace

RowExchange::RowExchange(const World& world, std::function<void(ResultRow, int)> on_row)
    : world_(world), on_row_(std::move(on_row)) {}

void RowExchange::send(const ResultRow& row) {
  buffers_.push_back(std::make_unique<std::string>(pack_row(row)));
  sends_.emplace_back();
  MPI_Isend(buffers_.back()->data(), int(buffers_.back()->size()), MPI_CHAR, 0, kRowTag, MPI_COMM_WORLD, &sends_.back());
}

bool RowExchange::take(bool wait) {
  MPI_Status st;
  int ready = 0;
  if (wait) {
    MPI_Probe(MPI_ANY_SOURCE, kRowTag, MPI_COMM_WORLD, &st);
    ready = 1;
  } else {
    MPI_Iprobe(MPI_ANY_SOURCE, kRowTag, MPI_COMM_WORLD, &ready, &st);
  }
  if (!ready) return false;
  int n = 0;
  MPI_Get_count(&st, MPI_CHAR, &n);
  std::string bytes(std::size_t(n), '\0');
  MPI_Recv(bytes.data(), n, MPI_CHAR, st.MPI_SOURCE, kRowTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  on_row_(unpack_row(bytes), st.MPI_SOURCE);
  return true;
}

void RowExchange::drain() {
  if (world_.size == 1) return;
  constexpr auto kDrainQuiet = std::chrono::milliseconds(300);
  auto quiet_since = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - quiet_since < kDrainQuiet) {
    if (take(false)) {
      quiet_since = std::chrono::steady_clock::now();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

void RowExchange::await_root_abort() {
  constexpr auto kRootGrace = std::chrono::seconds(10);
  const auto until = std::chrono::steady_clock::now() + kRootGrace;
  for (auto& req : sends_) {
    int done = 0;
    while (!done && std::chrono::steady_clock::now() < until) {
      MPI_Test(&req, &done, MPI_STATUS_IGNORE);
      if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  while (std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

void RowExchange::wait_sends() {
  if (!sends_.empty()) MPI_Waitall(int(sends_.size()), sends_.data(), MPI_STATUSES_IGNORE);
}

}  // namespace kvsim
