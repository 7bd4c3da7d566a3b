#include "kvsim/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include "kvsim/error.hpp"
#include "kvsim/synthetic.hpp"

namespace kvsim {

const std::vector<std::string>& supported_dtypes() {
  static const std::vector<std::string> v{"fp32"};
  return v;
}
const std::vector<std::string>& supported_layouts() {
  static const std::vector<std::string> v{"contiguous"};
  return v;
}
const std::vector<std::string>& supported_policies() {
  static const std::vector<std::string> v{"ring"};
  return v;
}

namespace {

namespace fs = std::filesystem;

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

// Where each node came from, so an error can name the file and line, or the --set flag.
struct Source {
  std::string file;
  std::map<std::string, std::string> overrides;  // key path -> the --set text that set it

  [[noreturn]] void fail(const YAML::Node& node, const std::string& key, const std::string& what) const {
    for (const auto& [path, text] : overrides) {
      if (key == path || key.rfind(path + ".", 0) == 0) throw InputError("--set " + text + ": " + key + ": " + what);
    }
    std::string where = file;
    if (node.IsDefined() && node.Mark().line >= 0) where += ":" + std::to_string(node.Mark().line + 1);
    throw InputError(where + ": " + (key.empty() ? std::string("(top level)") : key) + ": " + what);
  }
};

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar: return node.Tag() == "!" ? "the string \"" + node.Scalar() + "\"" : "'" + node.Scalar() + "'";
    default: return "an undefined value";
  }
}

// A validated view of one YAML mapping: refuses duplicate and unknown keys up front.
class MapReader {
 public:
  MapReader(const Source& src, const YAML::Node& node, std::string path, std::vector<std::string> allowed)
      : src_(src), node_(node), path_(std::move(path)), allowed_(std::move(allowed)) {
    if (!node_.IsMap()) src_.fail(node_, path_, "expected a mapping, got " + describe(node_));
    std::vector<std::string> seen;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (!it->first.IsScalar()) src_.fail(it->first, path_, "keys must be plain names");
      const std::string key = it->first.Scalar();
      if (std::find(seen.begin(), seen.end(), key) != seen.end())
        src_.fail(it->first, child(key), "duplicate key");
      seen.push_back(key);
      if (std::find(allowed_.begin(), allowed_.end(), key) == allowed_.end()) {
        std::string hint;
        std::size_t best = 3;
        for (const auto& a : allowed_) {
          const std::size_t d = edit_distance(key, a);
          if (d < best) best = d, hint = a;
        }
        src_.fail(it->first, child(key),
                  "unknown key" + (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)") +
                      "; allowed: " + join(allowed_));
      }
    }
  }

  bool has(const std::string& key) const { return bool(node_[key]); }
  YAML::Node node() const { return node_; }

  YAML::Node required(const std::string& key) const {
    const YAML::Node v = node_[key];
    if (!v) src_.fail(node_, child(key), "missing required key");
    if (v.IsNull()) src_.fail(v, child(key), "has no value");
    return v;
  }

  std::int64_t integer(const std::string& key, std::int64_t lo, std::int64_t hi,
                       std::optional<std::int64_t> fallback = std::nullopt) const {
    if (!has(key) && fallback) return *fallback;
    const YAML::Node v = required(key);
    const std::string s = scalar(v, key, "an integer");
    if (v.Tag() == "!") src_.fail(v, child(key), "expected an integer, got " + describe(v));
    std::int64_t out = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc::result_out_of_range) src_.fail(v, child(key), "number too large: '" + s + "'");
    if (ec != std::errc() || end != s.data() + s.size()) src_.fail(v, child(key), "expected an integer, got " + describe(v));
    if (out < lo || out > hi)
      src_.fail(v, child(key), "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + s);
    return out;
  }

  std::uint64_t unsigned64(const std::string& key, std::uint64_t fallback) const {
    if (!has(key)) return fallback;
    const YAML::Node v = required(key);
    const std::string s = scalar(v, key, "a non-negative integer");
    if (v.Tag() == "!") src_.fail(v, child(key), "expected a non-negative integer, got " + describe(v));
    std::uint64_t out = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc::result_out_of_range) src_.fail(v, child(key), "number too large (maximum 2^64-1): '" + s + "'");
    if (ec != std::errc() || end != s.data() + s.size())
      src_.fail(v, child(key), "expected a non-negative integer, got " + describe(v));
    return out;
  }

  std::string choice(const std::string& key, const std::vector<std::string>& allowed,
                     std::optional<std::string> fallback = std::nullopt) const {
    if (!has(key) && fallback) return *fallback;
    const YAML::Node v = required(key);
    const std::string s = scalar(v, key, "one of: " + join(allowed));
    if (std::find(allowed.begin(), allowed.end(), s) == allowed.end())
      src_.fail(v, child(key), "unsupported value '" + s + "'; supported: " + join(allowed));
    return s;
  }

  std::string text(const std::string& key, std::optional<std::string> fallback = std::nullopt) const {
    if (!has(key) && fallback) return *fallback;
    const YAML::Node v = required(key);
    const std::string s = scalar(v, key, "a string");
    if (s.empty()) src_.fail(v, child(key), "must not be empty");
    return s;
  }

  bool boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const YAML::Node v = required(key);
    const std::string s = scalar(v, key, "true or false");
    if (v.Tag() != "!") {
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
    }
    src_.fail(v, child(key), "expected true or false, got " + describe(v));
  }

  MapReader map(const std::string& key, const std::vector<std::string>& allowed) const {
    return MapReader(src_, required(key), child(key), allowed);
  }

  std::string child(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const Source& source() const { return src_; }

 private:
  std::string scalar(const YAML::Node& v, const std::string& key, const std::string& expected) const {
    if (!v.IsScalar()) src_.fail(v, child(key), "expected " + expected + ", got " + describe(v));
    return v.Scalar();
  }

  const Source& src_;
  YAML::Node node_;
  std::string path_;
  std::vector<std::string> allowed_;
};

// Reads a whole YAML file as exactly one mapping document; every failure names the file.
YAML::Node read_yaml_file(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw InputError(path + ": cannot read: no such file");
  if (fs::is_directory(st)) throw InputError(path + ": cannot read: is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot read: permission denied or unreadable");
  std::ostringstream buf;
  buf << in.rdbuf();
  const std::string content = buf.str();
  if (content.find('\0') != std::string::npos) throw InputError(path + ": not a YAML text file (contains NUL bytes)");
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(content);
  } catch (const YAML::Exception& e) {
    throw InputError(path + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  }
  if (docs.empty() || docs[0].IsNull()) throw InputError(path + ": empty config");
  if (docs.size() > 1) throw InputError(path + ": expected one YAML document, found " + std::to_string(docs.size()));
  return docs[0];
}

// Applies "a.b.c=value" onto the tree; the value is parsed as YAML so types stay checked later.
void apply_override(YAML::Node root, const std::string& spec, Source& src) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError("--set " + spec + ": expected KEY=VALUE (e.g. cache.max_positions=1024)");
  const std::string key = spec.substr(0, eq);
  const std::string value = spec.substr(eq + 1);
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string part; std::getline(ss, part, '.');) {
    if (part.empty()) throw InputError("--set " + spec + ": malformed key '" + key + "'");
    parts.push_back(part);
  }
  if (key.back() == '.') throw InputError("--set " + spec + ": malformed key '" + key + "'");
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw InputError("--set " + spec + ": value is not valid YAML: " + e.msg);
  }
  YAML::Node cur;
  cur.reset(root);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = cur[parts[i]];
    if (!next || next.IsNull()) {
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
    } else if (!next.IsMap()) {
      throw InputError("--set " + spec + ": '" + parts[i] + "' is not a mapping");
    }
    YAML::Node child = cur[parts[i]];
    cur.reset(child);
  }
  cur[parts.back()] = parsed;
  src.overrides[key] = spec;
}

bool valid_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

constexpr std::int64_t kMaxPositions = std::int64_t(1) << 31;

void read_shape_keys(const MapReader& m, ModelShape& shape, bool required) {
  const auto opt = [&](std::int64_t current) {
    return required ? std::nullopt : std::optional<std::int64_t>(current);
  };
  shape.layers = m.integer("layers", 1, synthetic::max_layers - 1, opt(shape.layers));
  shape.heads = m.integer("heads", 1, synthetic::max_heads - 1, opt(shape.heads));
  shape.kv_heads = m.integer("kv_heads", 1, synthetic::max_heads - 1, opt(shape.kv_heads));
  shape.head_dim = m.integer("head_dim", 4, 4096, opt(shape.head_dim));
}

ModelShape read_model(const MapReader& top, const std::vector<std::string>& preset_dirs) {
  const MapReader m = top.map("model", {"preset", "layers", "heads", "kv_heads", "head_dim"});
  ModelShape shape;
  if (m.has("preset")) {
    shape.preset = m.text("preset");
    if (!valid_name(shape.preset))
      m.source().fail(m.required("preset"), "model.preset", "preset names use letters, digits, '-', '_' and '.'");
    std::string found;
    std::vector<std::string> known;
    for (const auto& dir : preset_dirs) {
      const fs::path candidate = fs::path(dir) / (shape.preset + ".yaml");
      std::error_code ec;
      if (found.empty() && fs::is_regular_file(candidate, ec)) found = candidate.string();
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.path().extension() == ".yaml") known.push_back(entry.path().stem().string());
      }
    }
    if (found.empty()) {
      std::sort(known.begin(), known.end());
      known.erase(std::unique(known.begin(), known.end()), known.end());
      m.source().fail(m.required("preset"), "model.preset",
                      "unknown preset '" + shape.preset + "'; known: " + (known.empty() ? "none found in " + join(preset_dirs) : join(known)));
    }
    Source preset_src{found, {}};
    const YAML::Node doc = read_yaml_file(found);
    const MapReader p(preset_src, doc, "", {"name", "description", "layers", "heads", "kv_heads", "head_dim"});
    if (p.has("name") && p.text("name") != shape.preset)
      preset_src.fail(p.required("name"), "name", "preset file name says '" + p.text("name") + "' but is stored as '" + shape.preset + ".yaml'");
    read_shape_keys(p, shape, true);
    read_shape_keys(m, shape, false);  // inline keys refine a preset
  } else {
    read_shape_keys(m, shape, true);
  }
  const YAML::Node at = m.node();
  if (shape.kv_heads > shape.heads)
    m.source().fail(at, "model.kv_heads", "must not exceed model.heads (" + std::to_string(shape.heads) + "), got " + std::to_string(shape.kv_heads));
  if (shape.heads % shape.kv_heads != 0)
    m.source().fail(at, "model.kv_heads", "must divide model.heads (" + std::to_string(shape.heads) + "), got " + std::to_string(shape.kv_heads));
  if (shape.head_dim % 4 != 0)
    m.source().fail(at, "model.head_dim", "must be a multiple of 4 (16-byte vector access), got " + std::to_string(shape.head_dim));
  return shape;
}

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

ExperimentConfig load_config(const std::string& path, const LoadOptions& options) {
  Source src{path, {}};
  YAML::Node root = read_yaml_file(path);
  if (!root.IsMap()) src.fail(root, "", "the config must be a mapping of keys, got " + describe(root));
  for (const auto& spec : options.overrides) apply_override(root, spec, src);

  const MapReader top(src, root, "", {"name", "seed", "model", "cache", "workload", "run", "output"});
  ExperimentConfig c;
  c.source_file = path;
  c.name = top.text("name");
  if (!valid_name(c.name)) src.fail(top.required("name"), "name", "use letters, digits, '-', '_' and '.' only, got '" + c.name + "'");
  c.seed = top.unsigned64("seed", 0);
  c.model = read_model(top, preset_search_path(path, options));

  const MapReader cache = top.map("cache", {"max_positions", "dtype", "layout", "policy"});
  c.cache.max_positions = cache.integer("max_positions", 1, kMaxPositions);
  c.cache.dtype = cache.choice("dtype", supported_dtypes());
  c.cache.layout = cache.choice("layout", supported_layouts(), std::string("contiguous"));
  c.cache.policy = cache.choice("policy", supported_policies(), std::string("ring"));

  c.fill = FillSpec{"token", c.cache.max_positions};
  c.retrieve = RetrieveSpec{"per_layer", true};
  if (top.has("workload")) {
    const MapReader w = top.map("workload", {"fill", "retrieve"});
    if (w.has("fill")) {
      const MapReader f = w.map("fill", {"mode", "positions"});
      c.fill.mode = f.choice("mode", {"token"}, std::string("token"));
      c.fill.positions = f.integer("positions", 1, std::int64_t(1) << 40, c.cache.max_positions);
    }
    if (w.has("retrieve")) {
      const MapReader r = w.map("retrieve", {"mode", "verify"});
      c.retrieve.mode = r.choice("mode", {"per_layer"}, std::string("per_layer"));
      c.retrieve.verify = r.boolean("verify", true);
    }
  }

  c.run = RunSpec{1, 5, 1024};
  if (top.has("run")) {
    const MapReader r = top.map("run", {"warmup", "repetitions", "copy_probe_mb"});
    c.run.warmup = r.integer("warmup", 0, 1000, c.run.warmup);
    c.run.repetitions = r.integer("repetitions", 1, 100000, c.run.repetitions);
    c.run.copy_probe_mb = r.integer("copy_probe_mb", 1, 65536, c.run.copy_probe_mb);
  }
  c.output = top.text("output", "results/" + c.name + ".h5");

  // The cache must be addressable: elements per allocation fit comfortably in int64.
  const long double elements = static_cast<long double>(c.model.layers) * 2 * c.cache.max_positions *
                               c.model.kv_heads * c.model.head_dim;
  if (elements > static_cast<long double>(std::numeric_limits<std::int64_t>::max() / 8))
    src.fail(cache.required("max_positions"), "cache.max_positions", "cache of this size is not addressable");
  return c;
}

std::string to_yaml(const ExperimentConfig& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << c.name;
  out << YAML::Key << "seed" << YAML::Value << c.seed;
  out << YAML::Key << "model" << YAML::Value << YAML::BeginMap;
  if (!c.model.preset.empty()) out << YAML::Key << "preset" << YAML::Value << c.model.preset;
  out << YAML::Key << "layers" << YAML::Value << c.model.layers;
  out << YAML::Key << "heads" << YAML::Value << c.model.heads;
  out << YAML::Key << "kv_heads" << YAML::Value << c.model.kv_heads;
  out << YAML::Key << "head_dim" << YAML::Value << c.model.head_dim;
  out << YAML::EndMap;
  out << YAML::Key << "cache" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "max_positions" << YAML::Value << c.cache.max_positions;
  out << YAML::Key << "dtype" << YAML::Value << c.cache.dtype;
  out << YAML::Key << "layout" << YAML::Value << c.cache.layout;
  out << YAML::Key << "policy" << YAML::Value << c.cache.policy;
  out << YAML::EndMap;
  out << YAML::Key << "workload" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "fill" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "mode" << YAML::Value << c.fill.mode;
  out << YAML::Key << "positions" << YAML::Value << c.fill.positions;
  out << YAML::EndMap;
  out << YAML::Key << "retrieve" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "mode" << YAML::Value << c.retrieve.mode;
  out << YAML::Key << "verify" << YAML::Value << c.retrieve.verify;
  out << YAML::EndMap;
  out << YAML::EndMap;
  out << YAML::Key << "run" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "warmup" << YAML::Value << c.run.warmup;
  out << YAML::Key << "repetitions" << YAML::Value << c.run.repetitions;
  out << YAML::Key << "copy_probe_mb" << YAML::Value << c.run.copy_probe_mb;
  out << YAML::EndMap;
  out << YAML::Key << "output" << YAML::Value << c.output;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace kvsim
