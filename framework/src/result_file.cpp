#include "kvsim/result_file.hpp"

#include <ctime>
#include <filesystem>
#include <system_error>
#include <tuple>

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
  h5::write_attribute(file, "read_GBps", p.copy.read_GBps);
  h5::write_attribute(file, "write_GBps", p.copy.write_GBps);

  // Columns are declared once, with their units, as (name, units, value of a point).
  using I = std::int64_t;
  const std::vector<std::tuple<const char*, const char*, I (*)(const PointResult&)>> ints{
      {"point", "1", [](const PointResult& r) { return r.point; }},
      {"positions", "positions", [](const PointResult& r) { return r.config.fill.positions; }},
      {"max_positions", "positions", [](const PointResult& r) { return r.config.cache.max_positions; }},
      {"capacity", "positions", [](const PointResult& r) { return r.capacity; }},
      {"batch", "sequences", [](const PointResult& r) { return r.config.batch; }},
      {"appended_positions", "positions", [](const PointResult& r) { return r.appended_positions; }},
      {"valid_positions", "positions", [](const PointResult& r) { return r.valid_positions; }},
      {"evicted_positions", "positions", [](const PointResult& r) { return r.evicted_positions; }},
      {"layers", "1", [](const PointResult& r) { return r.config.model.layers; }},
      {"heads", "1", [](const PointResult& r) { return r.config.model.heads; }},
      {"kv_heads", "1", [](const PointResult& r) { return r.config.model.kv_heads; }},
      {"head_dim", "1", [](const PointResult& r) { return r.config.model.head_dim; }},
      {"page_size", "positions", [](const PointResult& r) { return r.config.cache.layout == "paged" ? r.config.cache.page_size : I(0); }},
      {"chunk", "positions", [](const PointResult& r) { return r.config.fill.mode == "chunk" ? r.config.fill.chunk : I(0); }},
      {"kv_cache_bytes", "bytes", [](const PointResult& r) { return r.kv_cache_bytes; }},
      {"bytes_per_position", "bytes", [](const PointResult& r) { return r.bytes_per_position; }},
      {"device_memory_used_bytes", "bytes", [](const PointResult& r) { return r.device_memory_used_bytes; }},
      {"fill_bytes", "bytes", [](const PointResult& r) { return r.fill_bytes; }},
      {"retrieve_bytes", "bytes", [](const PointResult& r) { return r.retrieve_bytes; }},
      {"fill_read_bytes", "bytes", [](const PointResult& r) { return r.fill_read_bytes; }},
      {"retrieve_read_bytes", "bytes", [](const PointResult& r) { return r.retrieve_read_bytes; }},
      {"verified", "1", [](const PointResult& r) { return I(r.verified ? 1 : 0); }},
      {"decode_tokens", "tokens", [](const PointResult& r) { return r.config.decode_tokens; }},
      {"attention_bytes", "bytes", [](const PointResult& r) { return r.attention_bytes; }},
      {"weight_bytes", "bytes", [](const PointResult& r) { return r.config.model.weight_bytes; }},
  };
  const std::vector<std::tuple<const char*, const char*, double (*)(const PointResult&)>> reals{
      {"fill_positions_per_s", "positions/s", [](const PointResult& r) { return r.fill_positions_per_s; }},
      {"fill_GBps", "GB/s", [](const PointResult& r) { return r.fill_GBps; }},
      {"fill_fraction_of_copy", "1", [](const PointResult& r) { return r.fill_fraction_of_copy; }},
      {"retrieve_ops_per_s", "ops/s", [](const PointResult& r) { return r.retrieve_ops_per_s; }},
      {"retrieve_GBps", "GB/s", [](const PointResult& r) { return r.retrieve_GBps; }},
      {"retrieve_fraction_of_copy", "1", [](const PointResult& r) { return r.retrieve_fraction_of_copy; }},
      {"fill_fraction_of_roofline", "1", [](const PointResult& r) { return r.fill_fraction_of_roofline; }},
      {"retrieve_fraction_of_roofline", "1", [](const PointResult& r) { return r.retrieve_fraction_of_roofline; }},
      {"recon_rel_l2", "1", [](const PointResult& r) { return r.recon_rel_l2; }},
      {"recon_max_abs", "1", [](const PointResult& r) { return r.recon_max_abs; }},
      {"tokens_per_s", "tokens/s", [](const PointResult& r) { return r.tokens_per_s; }},
      {"append_ms", "ms/token", [](const PointResult& r) { return r.append_ms; }},
      {"attention_ms", "ms/token", [](const PointResult& r) { return r.attention_ms; }},
      {"weights_ms", "ms/token", [](const PointResult& r) { return r.weights_ms; }},
      {"attention_GBps", "GB/s", [](const PointResult& r) { return r.attention_GBps; }},
      {"attention_fraction_of_read", "1", [](const PointResult& r) { return r.attention_fraction_of_read; }},
      {"weights_GBps", "GB/s", [](const PointResult& r) { return r.weights_GBps; }},
      {"attention_rel_err", "1", [](const PointResult& r) { return r.attention_rel_err; }},
  };
  const std::vector<std::tuple<const char*, std::string (*)(const PointResult&)>> texts{
      {"dtype", [](const PointResult& r) { return r.config.cache.dtype; }},
      {"layout", [](const PointResult& r) { return r.config.cache.layout; }},
      {"policy", [](const PointResult& r) { return r.config.cache.policy; }},
      {"fill_mode", [](const PointResult& r) { return r.config.fill.mode; }},
      {"retrieve_output", [](const PointResult& r) { return r.config.retrieve.output; }},
      {"lengths", [](const PointResult& r) { return r.config.lengths_spec; }},
      {"sweep", [](const PointResult& r) {
         std::string s;
         for (const auto& [k, v] : r.config.sweep) s += (s.empty() ? "" : ",") + k + "=" + v;
         return s;
       }},
  };
  {
    h5::Handle g = h5::create_group(file, "summary");
    for (const auto& [name, units, get] : ints) {
      std::vector<I> col;
      for (const auto& r : points) col.push_back(get(r));
      h5::write_column(g, name, col, units);
    }
    for (const auto& [name, units, get] : reals) {
      std::vector<double> col;
      for (const auto& r : points) col.push_back(get(r));
      h5::write_column(g, name, col, units);
    }
    for (const auto& [name, get] : texts) {
      std::vector<std::string> col;
      for (const auto& r : points) col.push_back(get(r));
      h5::write_column(g, name, col, "");
    }
    std::vector<std::uint64_t> checksum;
    for (const auto& r : points) checksum.push_back(r.checksum);
    h5::write_column(g, "checksum", checksum, "1");
  }
  {
    h5::Handle pts = h5::create_group(file, "points");
    for (const auto& r : points) {
      h5::Handle g = h5::create_group(pts, std::to_string(r.point));
      h5::write_column(g, "fill_seconds", r.fill_seconds, "s");
      h5::write_column(g, "retrieve_seconds", r.retrieve_seconds, "s");
      h5::write_column(g, "lengths", r.config.lengths, "positions");
      if (!r.decode_seconds.empty()) h5::write_column(g, "decode_seconds", r.decode_seconds, "s");
      if (!r.h2o_evicted.empty()) {
        h5::Handle ev = h5::create_group(g, "h2o_evicted");
        for (std::size_t s = 0; s < r.h2o_evicted.size(); ++s)
          h5::write_column(ev, std::to_string(s), r.h2o_evicted[s], "positions");
      }
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
