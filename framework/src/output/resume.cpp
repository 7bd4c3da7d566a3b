#include "output/resume.hpp"

#include <algorithm>
#include <filesystem>

#include "kvsim/core/error.hpp"

namespace kvsim {

ResumedRun read_resumable(const std::string& path, const std::string& hash, const std::vector<std::string>& unresolved,
                          bool force, RunProvenance& prov) {
  ResumedRun run;
  run.have.assign(unresolved.size(), 0);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return run;
  StoredRun stored = read_result_file(path);
  run.device = stored.device;
  if (stored.config_hash != hash && !force)
    throw InputError(path + ": --resume: the experiment's config changed since this file was written "
                            "(--force keeps the points whose config is unchanged and reruns the rest)");
  for (auto& row : stored.rows) {
    const auto n = std::size_t(row.point);
    if (row.point >= 0 && n < unresolved.size() && !run.have[n] && row.config_unresolved == unresolved[n]) {
      run.have[n] = 1;
      run.rows.push_back(std::move(row));
    }
  }
  prov.created = stored.created;
  prov.resumed = stored.resumed + 1;
  return run;
}

void forget_other_device(ResumedRun& run, const std::string& device, const std::vector<char>& is_max) {
  if (run.device.empty() || run.device == device) return;
  for (std::size_t n = 0; n < run.have.size(); ++n) {
    if (!run.have[n] || !is_max[n]) continue;
    run.have[n] = 0;
    run.rows.erase(std::remove_if(run.rows.begin(), run.rows.end(), [&](const ResultRow& r) { return r.point == std::int64_t(n); }),
                   run.rows.end());
  }
}

}  // namespace kvsim
