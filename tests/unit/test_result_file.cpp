#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "catch_compat.hpp"
#include "kvsim/core/error.hpp"
#include "output/hdf5_handle.hpp"
#include "output/output_guard.hpp"
#include "output/result_checksum.hpp"
#include "output/result_file.hpp"
#include "output/row_codec.hpp"

namespace fs = std::filesystem;

namespace {

kvsim::PointResult sample_point() {
  kvsim::PointResult r;
  r.point = 0;
  r.config.name = "t";
  r.config.model = {"", 2, 4, 2, 8};
  r.config.cache.max_positions = 64;
  r.config.cache.dtype = kvsim::codec::DType::fp32;
  r.config.cache.layout = kvsim::LayoutKind::contiguous;
  r.config.cache.policy = kvsim::PolicyKind::ring;
  r.config.fill = {kvsim::FillMode::token, 70, 256};
  r.config.lengths = {70};
  r.config.lengths_spec = "fill.positions";
  r.config.retrieve = {kvsim::RetrieveMode::per_layer, kvsim::codec::DType::fp32, true};
  r.config.run = {1, 3, 4, 16};
  r.config.output = "x.h5";
  r.valid_positions = 64;
  r.kv_cache_bytes = 2 * 2 * 64 * 16 * 4;
  r.fill_seconds = {0.5, 0.25, 0.75};
  r.retrieve_seconds = {0.125, 0.0625, 0.25};
  r.fill_positions_per_s = 140.0;
  r.retrieve_GBps = 1.5;
  r.verified = true;
  r.checksum = 0xfedcba9876543210ULL;
  return r;
}

std::string read_string_attr(hid_t obj, const char* name) {
  kvsim::h5::Handle attr = kvsim::h5::attr_handle(H5Aopen(obj, name, H5P_DEFAULT), name);
  kvsim::h5::Handle type = kvsim::h5::type_handle(H5Aget_type(attr), name);
  char* s = nullptr;
  REQUIRE(H5Aread(attr, type, &s) >= 0);
  std::string out(s);
  H5free_memory(s);
  return out;
}

}  // namespace

TEST_CASE("a written result file holds the summary and raw timings", "[hdf5]") {
  const std::string path = "kvsim_test_result.h5";
  fs::remove(path);
  {
    kvsim::ResultFile file(path);
    CHECK_FALSE(fs::exists(path));  // nothing under the final name before a point is written
    kvsim::RunProvenance p;
    p.backend = "TestBackend";
    p.config_yaml = "name: t\n";
    p.copy = {3.0, 2.5, 3.5, 2.0};
    file.write(p, {kvsim::make_row(sample_point())}, true, "2026-01-01T00:00:00Z");
    CHECK_FALSE(fs::exists(file.partial_path()));
  }
  REQUIRE(fs::exists(path));
  kvsim::h5::Handle f = kvsim::h5::file_handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path);
  CHECK(read_string_attr(f, "backend") == "TestBackend");
  CHECK(read_string_attr(f, "config") == "name: t\n");
  std::int64_t complete = 0;
  {
    kvsim::h5::Handle a = kvsim::h5::attr_handle(H5Aopen(f, "complete", H5P_DEFAULT), "complete");
    REQUIRE(H5Aread(a, H5T_NATIVE_INT64, &complete) >= 0);
  }
  CHECK(complete == 1);
  {
    kvsim::h5::Handle ds = kvsim::h5::dataset_handle(H5Dopen2(f, "/points/0/fill_seconds", H5P_DEFAULT), "fill_seconds");
    double v[3] = {};
    REQUIRE(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    CHECK(v[0] == 0.5);
    CHECK(v[2] == 0.75);
    CHECK(read_string_attr(ds, "units") == "s");
  }
  {
    kvsim::h5::Handle ds = kvsim::h5::dataset_handle(H5Dopen2(f, "/summary/checksum", H5P_DEFAULT), "checksum");
    std::uint64_t v = 0;
    REQUIRE(H5Dread(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) >= 0);
    CHECK(v == 0xfedcba9876543210ULL);
  }
  {
    kvsim::h5::Handle ds = kvsim::h5::dataset_handle(H5Dopen2(f, "/summary/positions", H5P_DEFAULT), "positions");
    std::int64_t v = 0;
    REQUIRE(H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) >= 0);
    CHECK(v == 70);
    CHECK(read_string_attr(ds, "units") == "positions");
  }
  fs::remove(path);
}

TEST_CASE("finished points read back exactly, and an unfinished file says so", "[hdf5]") {
  const std::string path = "kvsim_test_resume.h5";
  kvsim::PointResult a = sample_point(), b = sample_point();
  b.point = 3;
  b.config.cache.dtype = kvsim::codec::DType::int8;
  b.retrieve_GBps = 2.25;
  b.checksum = 42;
  b.h2o_evicted = {{1, 5, 9}, {}};
  b.decode_seconds = {0.125};
  kvsim::RunProvenance p;
  p.config_hash = "abc";
  p.created = "2026-01-01T00:00:00Z";
  p.resumed = 2;
  {
    kvsim::ResultFile file(path);
    file.write(p, {kvsim::make_row(b), kvsim::make_row(a)}, false, "now");
  }
  const kvsim::StoredRun run = kvsim::read_result_file(path);
  CHECK_FALSE(run.complete);
  CHECK(run.config_hash == "abc");
  CHECK(run.created == "2026-01-01T00:00:00Z");
  CHECK(run.resumed == 2);
  REQUIRE(run.rows.size() == 2);
  const auto& r0 = run.rows[0].point == 0 ? run.rows[0] : run.rows[1];
  const auto& r3 = run.rows[0].point == 3 ? run.rows[0] : run.rows[1];
  const kvsim::ResultRow want_a = kvsim::make_row(a), want_b = kvsim::make_row(b);
  CHECK(r0.ints == want_a.ints);
  CHECK(r0.reals == want_a.reals);
  CHECK(r3.ints == want_b.ints);
  CHECK(r3.reals == want_b.reals);
  CHECK(r3.texts == want_b.texts);
  CHECK(r3.checksum == 42);
  CHECK(r3.seconds == want_b.seconds);
  CHECK(r3.h2o_evicted == want_b.h2o_evicted);
  CHECK(r3.config_yaml == want_b.config_yaml);
  CHECK(r3.config_unresolved == want_b.config_unresolved);
  fs::remove(path);
  CHECK_THROWS_AS(kvsim::read_result_file(path), kvsim::InputError);
}

TEST_CASE("an abandoned result file leaves nothing behind", "[hdf5]") {
  const std::string path = "kvsim_test_abandoned.h5";
  std::string partial;
  {
    kvsim::ResultFile file(path);
    partial = file.partial_path();
  }
  CHECK_FALSE(fs::exists(partial));
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("an unwritable output path is refused before the run", "[hdf5][bad-input]") {
  fs::create_directories("kvsim_test_dir.h5");
  CHECK_THROWS_AS(kvsim::ResultFile("kvsim_test_dir.h5"), kvsim::InputError);
  fs::remove("kvsim_test_dir.h5");
  CHECK_THROWS_AS(kvsim::ResultFile("/proc/kvsim-cannot-write-here/x.h5"), kvsim::InputError);
}

TEST_CASE("the user-block checksum is zlib's CRC-32 and finds any damage", "[hdf5]") {
  CHECK(kvsim::crc32("123456789", 9) == 0xcbf43926u);  // the CRC-32 check value
  CHECK(kvsim::crc32("", 0) == 0u);
  const std::string path = "kvsim_test_sealed.h5";
  {
    kvsim::ResultFile file(path);
    file.write(kvsim::RunProvenance{}, {kvsim::make_row(sample_point())}, true, "now");
  }
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > kvsim::kUserBlockBytes);
  CHECK(kvsim::check_user_block(bytes).state == kvsim::Seal::ok);
  CHECK(kvsim::has_hdf5_signature(bytes, kvsim::kUserBlockBytes));
  for (std::size_t at : {kvsim::kUserBlockBytes, bytes.size() / 2, bytes.size() - 1}) {
    std::vector<char> damaged = bytes;
    damaged[at] ^= 0x01;
    CHECK(kvsim::check_user_block(damaged).state == kvsim::Seal::damaged);
  }
  std::vector<char> shorter(bytes.begin(), bytes.end() - 1);
  CHECK(kvsim::check_user_block(shorter).state == kvsim::Seal::damaged);
  std::vector<char> unsealed = bytes;
  unsealed[0] = 'K';
  CHECK(kvsim::check_user_block(unsealed).state == kvsim::Seal::missing);
  fs::remove(path);
}

TEST_CASE("one writer per output: a second lock on OUT is refused", "[hdf5][bad-input]") {
  const std::string path = "kvsim_test_locked.h5";
  {
    kvsim::ResultFile first(path);
    CHECK(fs::exists(path + ".lock"));
    CHECK_THROWS_AS(kvsim::ResultFile(path), kvsim::InputError);  // flock is per open file, even in one process
    CHECK_THROWS_AS(kvsim::OutputLock(path), kvsim::InputError);
  }
  CHECK_FALSE(fs::exists(path + ".lock"));  // its holder removed it
  kvsim::OutputLock again(path);            // and the next run takes it
}

// The row a group leader sends to rank 0 arrives whole and equal; anything cut short is refused.
TEST_CASE("a result row survives packing for MPI, and a damaged message is refused", "[hdf5]") {
  kvsim::PointResult r = sample_point();
  r.h2o_evicted = {{3, 9}, {}, {1}};
  r.rank = 3;
  const kvsim::ResultRow row = kvsim::make_row(r);
  const std::string bytes = kvsim::pack_row(row);
  const kvsim::ResultRow back = kvsim::unpack_row(bytes);
  CHECK(back.point == row.point);
  CHECK(back.ints == row.ints);
  CHECK(back.reals == row.reals);
  CHECK(back.texts == row.texts);
  CHECK(back.checksum == row.checksum);
  CHECK(back.seconds == row.seconds);
  CHECK(back.lengths == row.lengths);
  CHECK(back.h2o_evicted == row.h2o_evicted);
  CHECK(back.config_yaml == row.config_yaml);
  CHECK(back.warmup == row.warmup);
  CHECK(back.repetitions == row.repetitions);
  for (std::size_t cut : {std::size_t(0), std::size_t(3), bytes.size() / 2, bytes.size() - 1})
    CHECK_THROWS_AS(kvsim::unpack_row(bytes.substr(0, cut)), kvsim::RuntimeError);
  CHECK_THROWS_AS(kvsim::unpack_row(bytes + "x"), kvsim::RuntimeError);
}
