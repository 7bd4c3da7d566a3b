#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

#include "catch_compat.hpp"
#include "kvsim/core/error.hpp"
#include "metrics/reduce.hpp"
#include "metrics/result_columns.hpp"
#include "metrics/timed_metrics.hpp"
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

// A point whose every metrics.def field holds its own value (the n-th field: n, n + 0.5, ...), so a
// field that a list drops or two lists swap shows up.
kvsim::PointResult every_field_set() {
  kvsim::PointResult r = sample_point();
  int n = 0;
  const auto set = [&n](auto& x) {
    using T = std::decay_t<decltype(x)>;
    ++n;
    if constexpr (std::is_same_v<T, bool>) x = true;
    else if constexpr (std::is_same_v<T, std::string>) x = "v" + std::to_string(n);
    else if constexpr (std::is_same_v<T, std::vector<double>>) x = {0.25 * n, 0.5 * n, 0.125 * n};
    else if constexpr (std::is_same_v<T, double>) x = n + 0.5;
    else x = T(1000 + n);
  };
#define KVSIM_METRIC(name, type, init, units, kind, better, reduce, series, doc) set(r.name);
#define KVSIM_TIMED(name, units, kind, better, series, work, doc) set(r.name);
#define KVSIM_FIELD(name, type, init, reduce, doc) set(r.name);
#define KVSIM_SERIES(name, phase, always, spread, doc) set(r.name);
#define KVSIM_LAYERS(name, of, units, doc) set(r.name);
#include "metrics/metrics.def"
  return r;
}

// The summary values and the series of two rows agree, name by name.
void check_same_summary(const kvsim::ResultRow& a, const kvsim::ResultRow& b) {
  CHECK(a.ints == b.ints);
  CHECK(a.reals == b.reals);
  CHECK(a.texts == b.texts);
  CHECK(a.seconds == b.seconds);
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
  check_same_summary(back, row);
  CHECK(back.checksum == row.checksum);
  CHECK(back.lengths == row.lengths);
  CHECK(back.h2o_evicted == row.h2o_evicted);
  CHECK(back.config_yaml == row.config_yaml);
  CHECK(back.warmup == row.warmup);
  CHECK(back.repetitions == row.repetitions);
  for (std::size_t cut : {std::size_t(0), std::size_t(3), bytes.size() / 2, bytes.size() - 1})
    CHECK_THROWS_AS(kvsim::unpack_row(bytes.substr(0, cut)), kvsim::RuntimeError);
  CHECK_THROWS_AS(kvsim::unpack_row(bytes + "x"), kvsim::RuntimeError);
}

TEST_CASE("every summary column declares units, kind and better, once", "[hdf5]") {
  std::vector<std::string> names = kvsim::column_names();
  const std::size_t n = names.size();
  std::sort(names.begin(), names.end());
  CHECK(std::unique(names.begin(), names.end()) == names.end());
  CHECK(n == kvsim::int_columns().size() + kvsim::real_columns().size() + kvsim::text_columns().size() + 1);
  const auto check = [](const auto& c, bool text) {
    INFO(c.name);
    CHECK(std::string(kvsim::kind_name(c.kind)).size() > 0);
    CHECK(std::string(kvsim::better_name(c.better)).size() > 0);
    CHECK(c.units.empty() == text);  // text columns are labels: no units
  };
  for (const auto& c : kvsim::int_columns()) check(c, false);
  for (const auto& c : kvsim::real_columns()) check(c, false);
  for (const auto& c : kvsim::text_columns()) check(c, true);
  check(kvsim::checksum_column(), false);
  for (const kvsim::TimedMetric& m : kvsim::timed_metrics()) {
    INFO(m.name);
    CHECK(m.better == (m.rate ? kvsim::Better::higher : kvsim::Better::lower));
  }

  // The file says the same, on every column.
  const std::string path = "kvsim_test_attributes.h5";
  {
    kvsim::ResultFile file(path);
    file.write(kvsim::RunProvenance{}, {kvsim::make_row(sample_point())}, true, "now");
  }
  kvsim::h5::Handle f = kvsim::h5::file_handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path);
  const auto in_file = [&](const auto& c) {
    INFO(c.name);
    kvsim::h5::Handle ds = kvsim::h5::dataset_handle(H5Dopen2(f, ("/summary/" + c.name).c_str(), H5P_DEFAULT), c.name);
    CHECK(read_string_attr(ds, "units") == c.units);
    CHECK(read_string_attr(ds, "kind") == kvsim::kind_name(c.kind));
    CHECK(read_string_attr(ds, "better") == kvsim::better_name(c.better));
    CHECK(read_string_attr(ds, "series") == c.series);
  };
  for (const auto& c : kvsim::int_columns()) in_file(c);
  for (const auto& c : kvsim::real_columns()) in_file(c);
  for (const auto& c : kvsim::text_columns()) in_file(c);
  in_file(kvsim::checksum_column());
  fs::remove(path);
}

TEST_CASE("every metric survives the row message and the file", "[hdf5]") {
  const kvsim::PointResult r = every_field_set();
  const kvsim::ResultRow row = kvsim::make_row(r);
  CHECK(row.ints.size() == kvsim::int_columns().size());
  CHECK(row.seconds.size() == kvsim::repetition_series().size());
  const kvsim::ResultRow back = kvsim::unpack_row(kvsim::pack_row(row));
  check_same_summary(back, row);
  CHECK(back.checksum == r.checksum);
  const std::string path = "kvsim_test_every_metric.h5";
  {
    kvsim::ResultFile file(path);
    file.write(kvsim::RunProvenance{}, {row}, false, "now");
  }
  const kvsim::StoredRun run = kvsim::read_result_file(path);
  REQUIRE(run.rows.size() == 1);
  check_same_summary(run.rows[0], row);
  fs::remove(path);
}

TEST_CASE("reduce_over_group over a group of one changes nothing", "[hdf5]") {
  const kvsim::PointResult before = every_field_set();
  kvsim::PointResult after = before;
  kvsim::reduce_over_group(after, kvsim::Group());
  check_same_summary(kvsim::make_row(after), kvsim::make_row(before));
  CHECK(after.mismatches == before.mismatches);
  CHECK(after.checksum == before.checksum);
  CHECK(after.shards == before.shards);
}

// docs/hdf5-schema.md's /summary table is metrics.def's, as `kvsim info --columns` prints it.
TEST_CASE("the committed summary table is metrics.def's", "[hdf5]") {
  std::ifstream in(std::string(KVSIM_SOURCE_DIR) + "/docs/hdf5-schema.md");
  REQUIRE(in.good());
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string begin = "<!-- generated: kvsim info --columns -->\n", end = "<!-- end generated -->\n";
  const auto from = doc.find(begin), to = doc.find(end);
  REQUIRE(from != std::string::npos);
  REQUIRE(to != std::string::npos);
  // On failure: regenerate the block with `kvsim info --columns`.
  CHECK(doc.substr(from + begin.size(), to - from - begin.size()) == kvsim::summary_columns_markdown());
}
