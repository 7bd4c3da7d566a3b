// Loading an experiment: the file, its --set overrides, and the sweep/zip expansion into points.
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "config/read_point.hpp"

namespace kvsim {

using namespace config_detail;
namespace fs = std::filesystem;

namespace {

// Far beyond any sweep worth running (each point is minutes of device time).
constexpr std::size_t kMaxSweepPoints = 1000;

}  // namespace

std::vector<std::string> preset_search_path(const std::string& config_path, const LoadOptions& options) {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("KVSIM_PRESET_DIR")) {
    std::stringstream ss(env);
    for (std::string d; std::getline(ss, d, ':');)
      if (!d.empty()) dirs.push_back(d);
  }
  const fs::path cfg_dir = fs::path(config_path).parent_path();
  dirs.push_back(((cfg_dir.empty() ? fs::path(".") : cfg_dir) / ".." / "configs" / "models").lexically_normal().string());
  for (const auto& d : options.preset_dirs) dirs.push_back(d);
  return dirs;
}

std::vector<ExperimentConfig> load_experiment(const std::string& path, const LoadOptions& options) {
  // The tree is re-parsed for every point: copies of yaml-cpp nodes lose their line numbers.
  const std::string text = read_config_text(path);
  const auto read_tree = [&](Source& src) {
    YAML::Node root = parse_yaml_text(path, text);
    if (!root.IsMap()) src.fail(root, "", "the config must be a mapping of keys, got " + describe(root));
    for (const auto& spec : options.overrides) apply_override(root, spec, src);
    MapReader(src, root, "", keys_top());  // unknown top-level keys first, sweep or not
    return root;
  };
  Source src{path, {}};
  const YAML::Node root = read_tree(src);
  // Axes of the product: a sweep key is an axis of its own; the keys of `zip` share one axis,
  // their lists paired element by element.
  using Axis = std::vector<std::pair<std::string, YAML::Node>>;
  std::vector<Axis> axes;
  std::vector<std::string> sections;  // which of sweep/zip each axis came from, for messages
  const auto read_lists = [&](const char* section, bool paired) {
    const YAML::Node node = root[section];
    if (!node || node.IsNull()) return;  // `--set sweep=null` turns a file's sweep off
    if (!node.IsMap() || node.size() == 0)
      src.fail(node, section, "expected a mapping of dotted keys to lists of values, got " + describe(node));
    Axis zipped;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.Scalar();
      const std::string path = std::string(section) + "." + key;
      if (key.empty() || key.front() == '.' || key.back() == '.' || key.find("..") != std::string::npos)
        src.fail(it->first, path, "malformed key");
      if (key == "sweep" || key == "zip" || key.rfind("sweep.", 0) == 0 || key.rfind("zip.", 0) == 0 || key == "name")
        src.fail(it->first, path, "cannot be swept");
      if (key == "parallel" || key.rfind("parallel.", 0) == 0)
        src.fail(it->first, path, "cannot be swept: every point of a run uses the same ranks");
      if (!it->second.IsSequence() || it->second.size() == 0)
        src.fail(it->second, path, "expected a non-empty list of values, got " + describe(it->second));
      for (const auto& axis : axes)
        for (const auto& [other, list] : axis)
          if (other == key) src.fail(it->first, path, "is swept twice (in sweep and zip)");
      if (paired && !zipped.empty() && it->second.size() != zipped.front().second.size())
        src.fail(it->second, path, "has " + std::to_string(it->second.size()) + " values but zip." + zipped.front().first +
                                       " has " + std::to_string(zipped.front().second.size()) + ": zipped lists pair up");
      if (paired) {
        zipped.emplace_back(key, it->second);
      } else {
        axes.push_back(Axis{{key, it->second}});
        sections.push_back(section);
      }
    }
    if (paired) axes.push_back(zipped), sections.push_back(section);
  };
  read_lists("sweep", false);
  read_lists("zip", true);
  if (axes.empty()) return {read_point(path, root, src, options)};
  // Lists multiply, and YAML aliases repeat a list for a few bytes: without a bound a tiny file
  // expands to billions of points, each re-read and validated before anything runs.
  std::size_t count = 1;
  for (std::size_t a = 0; a < axes.size(); ++a) {
    count *= axes[a].front().second.size();  // count <= kMaxSweepPoints before: cannot overflow
    if (count > kMaxSweepPoints)
      src.fail(root[sections[a]], sections[a],
               "expands to more than " + std::to_string(kMaxSweepPoints) +
                   " points; split the experiment into several files");
  }

  std::vector<ExperimentConfig> points;
  std::vector<std::size_t> idx(axes.size(), 0);
  for (;;) {
    Source psrc{path, {}};
    YAML::Node point = read_tree(psrc);
    point.remove("sweep");
    point.remove("zip");
    std::vector<std::pair<std::string, std::string>> values;
    for (std::size_t a = 0; a < axes.size(); ++a) {
      for (const auto& [key, list] : axes[a]) {
        const YAML::Node v = list[idx[a]];
        const std::string origin = path + ":" + std::to_string(v.Mark().line + 1) + ": " + sections[a] + "." + key +
                                   "[" + std::to_string(idx[a]) + "]";
        set_dotted(point, key, YAML::Clone(v), origin, psrc);
        values.emplace_back(key, scalar_text(v));
      }
    }
    ExperimentConfig c = read_point(path, point, psrc, options);
    c.sweep = values;
    points.push_back(std::move(c));
    std::size_t a = axes.size();
    do {
      --a;
      if (++idx[a] < axes[a].front().second.size()) break;
      idx[a] = 0;
      if (a == 0) return points;
    } while (true);
  }
}

ExperimentConfig load_config(const std::string& path, const LoadOptions& options) {
  auto points = load_experiment(path, options);
  if (points.size() != 1)
    refuse(path + ": sweep: expected a single point here, the sweep makes " + std::to_string(points.size()));
  return points.front();
}

}  // namespace kvsim
