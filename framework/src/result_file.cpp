#include "kvsim/result_file.hpp"

#include <ctime>
#include <filesystem>
#include <system_error>

#include "kvsim/error.hpp"
#include "kvsim/hdf5_writer.hpp"
#include "kvsim/version.hpp"

namespace kvsim {
namespace fs = std::filesystem;

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

ResultFile::ResultFile(std::string final_path) : final_path_(std::move(final_path)) {
  partial_path_ = final_path_ + ".partial";
  h5::silence_error_stack();
  const fs::path parent = fs::path(final_path_).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::exists(parent, ec)) {
    fs::create_directories(parent, ec);
    if (ec) throw InputError(final_path_ + ": output: cannot create directory '" + parent.string() + "': " + ec.message());
  }
  if (fs::is_directory(final_path_, ec)) throw InputError(final_path_ + ": output: is a directory");
  const hid_t id = H5Fcreate(partial_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) throw InputError(final_path_ + ": output: cannot create '" + partial_path_ + "' (permission denied or invalid path)");
  file_id_ = id;
}

ResultFile::~ResultFile() {
  if (file_id_ >= 0) H5Fclose(static_cast<hid_t>(file_id_));
  if (!committed_) {
    std::error_code ec;
    fs::remove(partial_path_, ec);
  }
}

void ResultFile::commit(const RunProvenance& p, const std::vector<PointResult>& points, const std::string& finished) {
  h5::Handle file = h5::file_handle(static_cast<hid_t>(file_id_), "result file");
  file_id_ = -1;  // owned by the handle from here on

  h5::write_attribute(file, "kvsim_schema", std::int64_t(1));
  h5::write_attribute(file, "kvsim_version", std::string(version()));
  h5::write_attribute(file, "git_sha", std::string(git_sha()));
  h5::write_attribute(file, "backend", p.backend);
  h5::write_attribute(file, "device", p.device);
  h5::write_attribute(file, "kokkos_version", p.kokkos_version);
  h5::write_attribute(file, "config", p.config_yaml);
  h5::write_attribute(file, "config_file", p.config_file);
  h5::write_attribute(file, "command_line", p.command_line);
  h5::write_attribute(file, "created", p.created);
  h5::write_attribute(file, "finished", finished);
  h5::write_attribute(file, "copy_GBps", p.copy.ceiling());
  h5::write_attribute(file, "deep_copy_GBps", p.copy.deep_copy_GBps);
  h5::write_attribute(file, "stream_copy_GBps", p.copy.stream_copy_GBps);

  std::vector<std::int64_t> point, positions, max_positions, valid, layers, heads, kv_heads, head_dim, bytes, used, verified;
  std::vector<std::string> dtype, layout, policy;
  std::vector<double> fill_pps, fill_gbps, ret_ops, ret_gbps, ret_frac;
  std::vector<std::uint64_t> checksum;
  for (const auto& r : points) {
    const auto& c = r.config;
    point.push_back(r.point);
    positions.push_back(c.fill.positions);
    max_positions.push_back(c.cache.max_positions);
    valid.push_back(r.valid_positions);
    layers.push_back(c.model.layers);
    heads.push_back(c.model.heads);
    kv_heads.push_back(c.model.kv_heads);
    head_dim.push_back(c.model.head_dim);
    dtype.push_back(c.cache.dtype);
    layout.push_back(c.cache.layout);
    policy.push_back(c.cache.policy);
    fill_pps.push_back(r.fill_positions_per_s);
    fill_gbps.push_back(r.fill_GBps);
    ret_ops.push_back(r.retrieve_ops_per_s);
    ret_gbps.push_back(r.retrieve_GBps);
    ret_frac.push_back(r.retrieve_fraction_of_copy);
    bytes.push_back(r.kv_cache_bytes);
    used.push_back(r.device_memory_used_bytes);
    verified.push_back(r.verified ? 1 : 0);
    checksum.push_back(r.checksum);
  }
  {
    h5::Handle g = h5::create_group(file, "summary");
    h5::write_column(g, "point", point, "1");
    h5::write_column(g, "positions", positions, "positions");
    h5::write_column(g, "max_positions", max_positions, "positions");
    h5::write_column(g, "valid_positions", valid, "positions");
    h5::write_column(g, "layers", layers, "1");
    h5::write_column(g, "heads", heads, "1");
    h5::write_column(g, "kv_heads", kv_heads, "1");
    h5::write_column(g, "head_dim", head_dim, "1");
    h5::write_column(g, "dtype", dtype, "");
    h5::write_column(g, "layout", layout, "");
    h5::write_column(g, "policy", policy, "");
    h5::write_column(g, "fill_positions_per_s", fill_pps, "positions/s");
    h5::write_column(g, "fill_GBps", fill_gbps, "GB/s");
    h5::write_column(g, "retrieve_ops_per_s", ret_ops, "ops/s");
    h5::write_column(g, "retrieve_GBps", ret_gbps, "GB/s");
    h5::write_column(g, "retrieve_fraction_of_copy", ret_frac, "1");
    h5::write_column(g, "kv_cache_bytes", bytes, "bytes");
    h5::write_column(g, "device_memory_used_bytes", used, "bytes");
    h5::write_column(g, "verified", verified, "1");
    h5::write_column(g, "checksum", checksum, "1");
  }
  {
    h5::Handle pts = h5::create_group(file, "points");
    for (const auto& r : points) {
      h5::Handle g = h5::create_group(pts, std::to_string(r.point));
      h5::write_column(g, "fill_seconds", r.fill_seconds, "s");
      h5::write_column(g, "retrieve_seconds", r.retrieve_seconds, "s");
      h5::write_attribute(g, "config", to_yaml(r.config));
      h5::write_attribute(g, "warmup", std::int64_t(r.config.run.warmup));
      h5::write_attribute(g, "repetitions", std::int64_t(r.config.run.repetitions));
    }
  }
  h5::write_attribute(file, "complete", std::int64_t(1));
  if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) throw RuntimeError("HDF5: flushing " + partial_path_ + " failed");
  file.close(partial_path_);
  std::error_code ec;
  fs::rename(partial_path_, final_path_, ec);
  if (ec) throw RuntimeError("cannot rename " + partial_path_ + " to " + final_path_ + ": " + ec.message());
  committed_ = true;
}

}  // namespace kvsim
