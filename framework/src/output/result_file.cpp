#include "output/result_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <tuple>

#include "kvsim/core/error.hpp"
#include "output/hdf5_image.hpp"
#include "output/hdf5_reader.hpp"
#include "output/hdf5_writer.hpp"
#include "output/output_guard.hpp"
#include "output/result_checksum.hpp"
#include "metrics/result_columns.hpp"
#include "kvsim/core/synthetic.hpp"
#include "metrics/timed_metrics.hpp"
#include "platform/version.hpp"

namespace kvsim {
namespace fs = std::filesystem;

namespace {

// A /points/<n>/ series' units attribute: seconds, or what its KVSIM_LAYERS entry declares.
const char* series_units(const std::string& name) {
  for (const RepetitionSeries& s : repetition_series())
    if (name == s.name) return s.units;
  return "s";
}

using I = std::int64_t;
// 2: user-block checksum, V110 metadata checksums, config_unresolved. 3: every summary column
// carries `kind` and `series` beside `units` and `better` (metrics.def).
constexpr I kSchema = 3;

// The attributes post-processing reads instead of keeping its own lists.
template <class T>
void describe_column(hid_t group, const Column<T>& c) {
  h5::tag_column(group, c.name, "kind", kind_name(c.kind));
  h5::tag_column(group, c.name, "better", better_name(c.better));
  h5::tag_column(group, c.name, "series", c.series);
}


// Forces a directory entry to stable storage (best effort: some file systems refuse to fsync
// a directory, and the renamed file's bytes are already synced).
void sync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

ResultRow make_row(const PointResult& r) {
  ResultRow row;
  row.point = r.point;
  for (const auto& c : int_columns()) row.ints.emplace_back(c.name, c.get(r));
  for (const auto& c : real_columns()) row.reals.emplace_back(c.name, c.get(r));
  for (const auto& c : text_columns()) row.texts.emplace_back(c.name, c.get(r));
  row.checksum = r.checksum;
  // Every phase that ran; the fill and retrieve series always (empty when retrieve.mode: none).
  for (const RepetitionSeries& s : repetition_series())
    if (!(r.*s.seconds).empty() || s.always) row.seconds.emplace_back(s.name, r.*s.seconds);
  row.lengths = r.config.lengths;
  row.h2o_evicted = r.h2o_evicted;
  row.config_yaml = to_yaml(r.config);
  row.config_unresolved = row.config_yaml;  // the caller knows the point before `max` was resolved
  row.warmup = r.config.run.warmup;
  row.repetitions = r.config.run.repetitions;
  return row;
}

std::string experiment_hash(const std::vector<ExperimentConfig>& points) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the points' resolved YAML
  const auto add = [&](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  };
  add(std::to_string(points.size()));
  for (const auto& p : points) add(to_yaml(p));
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(synthetic::mix64(h)));
  return buf;
}

namespace {

// Per process and exclusive: a second kvsim, or a symlink planted at the name, is never written
// through.
int create_exclusive(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
}

}  // namespace

ResultFile::ResultFile(std::string final_path, const std::string& config_path) : final_path_(std::move(final_path)) {
  check_output_path(final_path_, config_path);
  lock_ = std::make_unique<OutputLock>(final_path_);
  partial_path_ = final_path_ + ".partial." + std::to_string(::getpid());
  h5::silence_error_stack();
  int fd = create_exclusive(partial_path_);
  if (fd < 0 && errno == EEXIST) {
    // Left by a killed kvsim that had this pid: OUT's lock is ours, so no live run owns it.
    ::unlink(partial_path_.c_str());
    fd = create_exclusive(partial_path_);
  }
  if (fd < 0) throw InputError(final_path_ + ": output: cannot create '" + partial_path_ + "': " + std::strerror(errno));
  ::close(fd);
  ::unlink(partial_path_.c_str());
}

ResultFile::~ResultFile() { ::unlink(partial_path_.c_str()); }

namespace {

// One complete snapshot of the run, built in memory (HDF5's core driver, no backing store) and
// returned as the file's bytes, sealed with the user block's checksum line. HDF5 never writes
// to the disk itself: a file whose close failed on a full disk stays open inside HDF5 1.10 and
// crashes its exit-time clean-up, and its errors do not say why the write failed; plain
// write(2) and fsync(2) give errno.
std::vector<char> snapshot_image(const std::string& name, const RunProvenance& p, const std::vector<ResultRow>& rows,
                                 bool complete, const std::string& finished) {
  h5::MemoryFile memory(name, kUserBlockBytes);
  {
    const hid_t file = memory.id();
    h5::write_attribute(file, "kvsim_schema", kSchema);
    h5::write_attribute(file, "kvsim_version", std::string(version()));
    h5::write_attribute(file, "git_sha", std::string(git_sha()));
    h5::write_attribute(file, "backend", p.backend);
    h5::write_attribute(file, "device", p.device);
    h5::write_attribute(file, "kokkos_version", p.kokkos_version);
    h5::write_attribute(file, "kokkos_config", p.kokkos_config);
    h5::write_attribute(file, "host", p.host);
    h5::write_attribute(file, "mpi_ranks", p.mpi_ranks);
    h5::write_attribute(file, "config", p.config_yaml);
    h5::write_attribute(file, "config_file", p.config_file);
    h5::write_attribute(file, "config_hash", p.config_hash);
    h5::write_attribute(file, "command_line", p.command_line);
    h5::write_attribute(file, "created", p.created);
    h5::write_attribute(file, "finished", finished);
    h5::write_attribute(file, "resumed", p.resumed);
    h5::write_attribute(file, "copy_GBps", p.copy.ceiling());
    h5::write_attribute(file, "deep_copy_GBps", p.copy.deep_copy_GBps);
    h5::write_attribute(file, "stream_copy_GBps", p.copy.stream_copy_GBps);
    h5::write_attribute(file, "read_GBps", p.copy.read_GBps);
    h5::write_attribute(file, "write_GBps", p.copy.write_GBps);
    h5::write_attribute(file, "copy_probe_bytes", p.copy_probe_bytes);
    h5::write_attribute(file, "last_level_cache_bytes", p.last_level_cache_bytes);
    {
      h5::Handle g = h5::create_group(file, "summary");
      const auto write = [&](const auto& columns, auto member) {
        for (std::size_t k = 0; k < columns.size(); ++k) {
          using V = typename std::decay_t<decltype(columns[k])>::value_type;
          std::vector<V> col;
          for (const auto& r : rows) col.push_back((r.*member)[k].second);
          h5::write_column(g, columns[k].name, col, columns[k].units);
          describe_column(g, columns[k]);
        }
      };
      write(int_columns(), &ResultRow::ints);
      write(real_columns(), &ResultRow::reals);
      write(text_columns(), &ResultRow::texts);
      std::vector<std::uint64_t> checksum;
      for (const auto& r : rows) checksum.push_back(r.checksum);
      h5::write_column(g, checksum_column().name, checksum, checksum_column().units);
      describe_column(g, checksum_column());
    }
    {
      h5::Handle pts = h5::create_group(file, "points");
      for (const auto& r : rows) {
        h5::Handle g = h5::create_group(pts, std::to_string(r.point));
        for (const auto& [name, values] : r.seconds) h5::write_column(g, name, values, series_units(name));
        h5::write_column(g, "lengths", r.lengths, "positions");
        if (!r.h2o_evicted.empty()) {
          h5::Handle ev = h5::create_group(g, "h2o_evicted");
          for (std::size_t s = 0; s < r.h2o_evicted.size(); ++s)
            h5::write_column(ev, std::to_string(s), r.h2o_evicted[s], "positions");
        }
        // The point's summary row again, as attributes: what --resume reads back.
        for (const auto& [name, v] : r.ints) h5::write_attribute(g, name, v);
        for (const auto& [name, v] : r.reals) h5::write_attribute(g, name, v);
        for (const auto& [name, v] : r.texts) h5::write_attribute(g, name, v);
        h5::write_attribute(g, "checksum", r.checksum);
        h5::write_attribute(g, "config", r.config_yaml);
        h5::write_attribute(g, "config_unresolved", r.config_unresolved);
        h5::write_attribute(g, "warmup", r.warmup);
        h5::write_attribute(g, "repetitions", r.repetitions);
      }
    }
    if (p.interrupted_point >= 0) {
      h5::write_attribute(file, "interrupted_point", p.interrupted_point);
      h5::write_attribute(file, "interrupted_by", p.interrupted_by);
    }
    h5::write_attribute(file, "complete", std::int64_t(complete ? 1 : 0));
  }
  std::vector<char> image = memory.close();
  seal_user_block(image);
  return image;
}

// Writes `bytes` as `path` and forces them to the disk; a full disk surfaces here as ENOSPC or
// EFBIG (the file-size limit), from write, or on network and delayed-allocation file systems
// only from fsync or close.
void write_synced(const std::string& path, const std::vector<char>& bytes) {
  const int fd = create_exclusive(path);
  const auto fail = [&](const char* step) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw RuntimeError(std::string(step) + " " + path + ": " + std::strerror(err));
  };
  if (fd < 0) fail("creating");
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("writing");
    done += std::size_t(w);
  }
  if (::fsync(fd) != 0) fail("syncing");
  if (::close(fd) != 0) {
    const int err = errno;
    throw RuntimeError("closing " + path + ": " + std::strerror(err));
  }
}

}  // namespace

void ResultFile::write(const RunProvenance& p, std::vector<ResultRow> rows, bool complete, const std::string& finished) {
  std::sort(rows.begin(), rows.end(), [](const ResultRow& a, const ResultRow& b) { return a.point < b.point; });
  std::error_code ec;
  try {
    write_synced(partial_path_, snapshot_image(partial_path_, p, rows, complete, finished));
    fs::rename(partial_path_, final_path_, ec);  // atomic: OUT is the old snapshot or the new one
    if (ec) throw RuntimeError("renaming " + partial_path_ + " failed: " + ec.message());
  } catch (const RuntimeError& e) {
    // A full disk or a vanished directory: OUT still holds the last good snapshot; say so, and
    // leave no half-written OUT.partial behind.
    fs::remove(partial_path_, ec);
    const std::string kept = points_written_ < 0
                                 ? final_path_ + " is left as it was"
                                 : final_path_ + " keeps the " + std::to_string(points_written_) +
                                       " point(s) written before (complete = 0; continue with --resume once there is room)";
    throw RuntimeError(final_path_ + ": cannot write the result file: " + e.what() + "; " + kept);
  }
  points_written_ = std::int64_t(rows.size());
  const fs::path parent = fs::path(final_path_).parent_path();
  sync_path(parent.empty() ? "." : parent.string());
}

namespace {

// The whole file, from a regular file only: a FIFO would block the open and the read forever.
std::vector<char> read_regular_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw InputError(path + ": --resume: cannot read: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(path + ": --resume: not a regular file");
  }
  std::vector<char> bytes(std::size_t(st.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t r = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    done += std::size_t(r);
  }
  ::close(fd);
  bytes.resize(done);
  return bytes;
}

// What a file written by another kvsim holds that this one does not, and the reverse: "columns
// added: a, b; removed: c" (added: this kvsim writes them), in this kvsim's column order.
std::string column_changes(hid_t file) {
  if (!h5::has_link(file, "summary")) return "no /summary columns";
  h5::Handle summary = h5::group_handle(H5Gopen2(file, "summary", H5P_DEFAULT), "opening /summary");
  const std::vector<std::string> have = h5::list_links(summary), want = column_names();
  const auto contains = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  std::string added, removed;
  for (const auto& c : want)
    if (!contains(have, c)) added += (added.empty() ? "" : ", ") + c;
  for (const auto& c : have)
    if (!contains(want, c)) removed += (removed.empty() ? "" : ", ") + c;
  if (added.empty() && removed.empty()) return "columns unchanged";
  std::string out;
  if (!added.empty()) out = "columns added: " + added;
  if (!removed.empty()) out += (out.empty() ? "columns removed: " : "; removed: ") + removed;
  return out;
}

// Refuses, in one line, a file of another schema or another set of summary columns.
void check_schema(const std::string& path, hid_t file, std::int64_t schema) {
  const std::string changes = column_changes(file);
  if (schema == kSchema && changes == "columns unchanged") return;
  throw InputError(path + ": --resume: written by schema " + std::to_string(schema) + ", this kvsim writes " +
                   std::to_string(kSchema) + ": " + changes + "; rerun without --resume");
}

// The bytes, checked: a file of this schema whose checksum holds, opened in memory. Anything
// else is refused in one line before libhdf5 parses a byte of it (damaged metadata can hang or
// crash it).
h5::Handle open_checked(const std::string& path, const std::vector<char>& bytes) {
  const SealCheck seal = check_user_block(bytes);
  if (seal.state == Seal::damaged) throw InputError(path + ": damaged result file (checksum mismatch: " + seal.why + ")");
  if (seal.state == Seal::missing) {
    if (has_hdf5_signature(bytes, 0)) {
      // No user block: a schema-1 file (written before the checksum), or not kvsim's.
      h5::Handle old;
      std::int64_t schema = -1;
      try {
        old = h5::open_image(bytes, path);
        if (h5::has_attribute(old, "kvsim_schema")) schema = h5::read_int_attribute(old, "kvsim_schema");
      } catch (const RuntimeError&) {
      }
      if (schema == 1) check_schema(path, old, schema);
      throw InputError(path + ": --resume: not a kvsim result file (no kvsim-result checksum line)");
    }
    if (has_hdf5_signature(bytes, kUserBlockBytes))
      throw InputError(path + ": damaged result file (checksum mismatch: the kvsim-result line is missing)");
    throw InputError(path + ": --resume: not a readable HDF5 file");
  }
  h5::Handle file = h5::open_image(bytes, path);
  const std::int64_t schema = h5::has_attribute(file, "kvsim_schema") ? h5::read_int_attribute(file, "kvsim_schema") : -1;
  check_schema(path, file, schema);
  return file;
}

}  // namespace

StoredRun read_result_file(const std::string& path) {
  h5::silence_error_stack();
  const std::vector<char> bytes = read_regular_file(path);
  StoredRun run;
  try {
    h5::Handle file = open_checked(path, bytes);
    run.device = h5::has_attribute(file, "device") ? h5::read_string_attribute(file, "device") : "";
    run.config_hash = h5::has_attribute(file, "config_hash") ? h5::read_string_attribute(file, "config_hash") : "";
    run.created = h5::read_string_attribute(file, "created");
    run.resumed = h5::has_attribute(file, "resumed") ? h5::read_int_attribute(file, "resumed") : 0;
    run.complete = h5::read_int_attribute(file, "complete") == 1;
    h5::Handle pts = h5::group_handle(H5Gopen2(file, "points", H5P_DEFAULT), "opening /points");
    for (const auto& name : h5::list_links(pts)) {
      h5::Handle g = h5::group_handle(H5Gopen2(pts, name.c_str(), H5P_DEFAULT), "opening /points/" + name);
      ResultRow row;
      for (const auto& c : int_columns()) row.ints.emplace_back(c.name, h5::read_int_attribute(g, c.name));
      for (const auto& c : real_columns()) row.reals.emplace_back(c.name, h5::read_double_attribute(g, c.name));
      for (const auto& c : text_columns()) row.texts.emplace_back(c.name, h5::read_string_attribute(g, c.name));
      row.point = row.ints.front().second;
      row.checksum = h5::read_uint_attribute(g, "checksum");
      for (const RepetitionSeries& s : repetition_series())
        if (h5::has_link(g, s.name)) row.seconds.emplace_back(s.name, h5::read_double_column(g, s.name));
      row.lengths = h5::read_int_column(g, "lengths");
      if (h5::has_link(g, "h2o_evicted")) {
        h5::Handle ev = h5::group_handle(H5Gopen2(g, "h2o_evicted", H5P_DEFAULT), "opening h2o_evicted");
        for (std::size_t s = 0; h5::has_link(ev, std::to_string(s)); ++s)
          row.h2o_evicted.push_back(h5::read_int_column(ev, std::to_string(s)));
      }
      row.config_yaml = h5::read_string_attribute(g, "config");
      row.config_unresolved = h5::read_string_attribute(g, "config_unresolved");
      row.warmup = h5::read_int_attribute(g, "warmup");
      row.repetitions = h5::read_int_attribute(g, "repetitions");
      run.rows.push_back(std::move(row));
    }
  } catch (const RuntimeError& e) {
    throw InputError(path + ": --resume: not a kvsim result file this version can continue (" + e.what() + ")");
  }
  return run;
}

}  // namespace kvsim
