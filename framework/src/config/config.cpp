#include "config/config.hpp"

#include <yaml-cpp/eventhandler.h>
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

#include "kvsim/attention/attention_kernel.hpp"
#include "kvsim/precision/codecs.hpp"
#include "kvsim/core/error.hpp"
#include "kvsim/core/synthetic.hpp"

namespace kvsim {

const std::vector<std::string>& supported_dtypes() {
  static const std::vector<std::string> v{"fp32", "fp16", "bf16", "int8", "fp8_e4m3", "int4"};
  return v;
}
const std::vector<std::string>& supported_layouts() {
  static const std::vector<std::string> v{"contiguous", "head_major", "paged"};
  return v;
}
const std::vector<std::string>& supported_policies() {
  static const std::vector<std::string> v{"ring", "window", "sinks", "h2o"};
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

// A value quoted in a refusal, cut to a length one line can show (a 10 MB --set value is not
// echoed whole).
std::string clip(const std::string& value) {
  constexpr std::size_t kShown = 80;
  if (value.size() <= kShown) return value;
  return value.substr(0, kShown) + "... (" + std::to_string(value.size()) + " bytes)";
}

// A refusal is one line (the CLI prints one, scripts read one), but the user's text it quotes
// may span lines (YAML folds blank lines into a plain scalar) or hold other control characters;
// and whatever a message quotes, the line stays short enough to read.
[[noreturn]] void refuse(const std::string& message) {
  constexpr std::size_t kLongest = 1000;
  std::string line;
  const std::string shown =
      message.size() <= kLongest ? message : message.substr(0, kLongest) + "... (message of " + std::to_string(message.size()) + " bytes cut)";
  for (const char ch : shown) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      line += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      const char hex[] = "0123456789abcdef";
      line += {'\\', 'x', hex[c >> 4], hex[c & 15]};
    } else {
      line += ch;
    }
  }
  throw InputError(line);
}

// Where each node came from, so an error can name the file and line, or the --set flag.
struct Source {
  std::string file;
  std::map<std::string, std::string> overrides;  // key path -> where its value came from ("--set k=v", "f.yaml:9")

  [[noreturn]] void fail(const YAML::Node& node, const std::string& key, const std::string& what) const {
    for (const auto& [path, origin] : overrides) {
      if (key == path || key.rfind(path + ".", 0) == 0) refuse(origin + ": " + key + ": " + what);
    }
    fail_in_file(node, key, what);
  }

  // An unknown key that a --set introduced (`--set cahce.dtype=fp16` adds `cahce`) is the flag's.
  [[noreturn]] void fail_unknown(const YAML::Node& node, const std::string& key, const std::string& what) const {
    for (const auto& [path, origin] : overrides)
      if (path.rfind(key + ".", 0) == 0 && origin.rfind("--set ", 0) == 0) refuse(origin + ": " + key + ": " + what);
    fail(node, key, what);
  }

  [[noreturn]] void fail_in_file(const YAML::Node& node, const std::string& key, const std::string& what) const {
    std::string where = file;
    if (node.IsDefined() && node.Mark().line >= 0) where += ":" + std::to_string(node.Mark().line + 1);
    refuse(where + ": " + (key.empty() ? std::string("(top level)") : key) + ": " + what);
  }
};

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Sequence: return node.size() == 0 ? "an empty list" : "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar: return node.Tag() == "!" ? "the string \"" + clip(node.Scalar()) + "\"" : "'" + clip(node.Scalar()) + "'";
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
        src_.fail_unknown(it->first, child(key),
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
    if (ec == std::errc::result_out_of_range) src_.fail(v, child(key), "number too large: '" + clip(s) + "'");
    if (ec != std::errc() || end != s.data() + s.size()) src_.fail(v, child(key), "expected an integer, got " + describe(v));
    if (out < lo || out > hi)
      src_.fail(v, child(key), "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + clip(s));
    return out;
  }

  std::uint64_t unsigned64(const std::string& key, std::uint64_t fallback) const {
    if (!has(key)) return fallback;
    const YAML::Node v = required(key);
    const std::string s = scalar(v, key, "a non-negative integer");
    if (v.Tag() == "!") src_.fail(v, child(key), "expected a non-negative integer, got " + describe(v));
    std::uint64_t out = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc::result_out_of_range) src_.fail(v, child(key), "number too large (maximum 2^64-1): '" + clip(s) + "'");
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
      src_.fail(v, child(key), "unsupported value '" + clip(s) + "'; supported: " + join(allowed));
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

// Sees where each document of a stream starts, building nothing.
class DocumentStarts : public YAML::EventHandler {
 public:
  YAML::Mark last;
  void OnDocumentStart(const YAML::Mark& mark) override { last = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Instead of YAML::LoadAll: at a token no node starts with (a stray ',') yaml-cpp 0.7 hands out
// the same empty document forever, and LoadAll collects them until memory runs out
// (jbeder/yaml-cpp#1040, found by tests/fuzz; fixed upstream after 0.8.0 by #1319, Debian 12
// ships 0.7). A document that starts where the previous one did is that loop.
std::size_t count_documents(const std::string& path, const std::string& content) {
  std::istringstream in(content);
  YAML::Parser parser(in);
  DocumentStarts starts;
  std::size_t count = 0;
  int previous = -1;
  while (parser.HandleNextDocument(starts)) {
    const YAML::Mark at = starts.last;
    if (at.pos == previous) {
      const bool shown = at.pos >= 0 && std::size_t(at.pos) < content.size() &&
                         std::isgraph(static_cast<unsigned char>(content[std::size_t(at.pos)]));
      refuse(path + ":" + std::to_string(at.line + 1) + ": YAML syntax error: unexpected " +
             (shown ? "'" + std::string(1, content[std::size_t(at.pos)]) + "'" : std::string("token")));
    }
    previous = at.pos;
    ++count;
  }
  return count;
}

// The file's bytes, read once: a config may be a pipe (`kvsim run <(gen)`) that a second read
// would find empty.
std::string read_config_text(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) refuse(path + ": cannot read: no such file");
  if (fs::is_directory(st)) refuse(path + ": cannot read: is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) refuse(path + ": cannot read: permission denied or unreadable");
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Parses a config's text as exactly one mapping document; every failure names the file.
YAML::Node parse_yaml_text(const std::string& path, const std::string& content) {
  if (content.find('\0') != std::string::npos) refuse(path + ": not a YAML text file (contains NUL bytes)");
  std::size_t documents = 0;
  YAML::Node root;
  try {
    documents = count_documents(path, content);
    if (documents > 0) root = YAML::Load(content);  // the first document
  } catch (const YAML::Exception& e) {
    refuse(path + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  }
  if (documents == 0 || root.IsNull()) refuse(path + ": empty config");
  if (documents > 1) refuse(path + ": expected one YAML document, found " + std::to_string(documents));
  return root;
}

// Applies "a.b.c=value" onto the tree; the value is parsed as YAML so types stay checked later.
void set_dotted(YAML::Node root, const std::string& key, const YAML::Node& parsed, const std::string& origin,
                Source& src);

void apply_override(YAML::Node root, const std::string& full_spec, Source& src) {
  const std::string spec = clip(full_spec);  // what messages show; the value itself is full_spec's
  const auto eq = full_spec.find('=');
  if (eq == std::string::npos || eq == 0) refuse("--set " + spec + ": expected KEY=VALUE (e.g. cache.max_positions=1024)");
  const std::string key = full_spec.substr(0, eq);
  const std::string value = full_spec.substr(eq + 1);
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string part; std::getline(ss, part, '.');) {
    if (part.empty()) refuse("--set " + spec + ": malformed key '" + clip(key) + "'");
    parts.push_back(part);
  }
  if (key.back() == '.') refuse("--set " + spec + ": malformed key '" + clip(key) + "'");
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    refuse("--set " + spec + ": value is not valid YAML: " + e.msg);
  }
  set_dotted(root, key, parsed, "--set " + spec, src);
}

// Sets a dotted key, creating mappings on the way; `origin` is what errors in it will name.
void set_dotted(YAML::Node root, const std::string& key, const YAML::Node& parsed, const std::string& origin,
                Source& src) {
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  YAML::Node cur;
  cur.reset(root);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = cur[parts[i]];
    if (!next || next.IsNull()) {
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
    } else if (!next.IsMap()) {
      refuse(origin + ": '" + parts[i] + "' is not a mapping");
    }
    YAML::Node child = cur[parts[i]];
    cur.reset(child);
  }
  const YAML::Node existing = cur[parts.back()];
  if (parsed.IsMap() && existing && existing.IsMap()) {  // a mapping merges into a mapping
    for (auto it = parsed.begin(); it != parsed.end(); ++it)
      set_dotted(root, key + "." + it->first.Scalar(), it->second, origin, src);
    return;
  }
  cur[parts.back()] = parsed;
  src.overrides[key] = origin;
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
  shape.sliding_window = m.integer("sliding_window", 0, kMaxPositions, shape.sliding_window);
  shape.weight_bytes = m.integer("weight_bytes", 0, std::int64_t(1) << 44, shape.weight_bytes);
}

const std::vector<std::string> kModelKeys{"preset", "layers", "heads", "kv_heads", "head_dim", "sliding_window",
                                          "weight_bytes"};

ModelShape read_model(const MapReader& top, const std::vector<std::string>& preset_dirs) {
  const MapReader m = top.map("model", kModelKeys);
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
                      "unknown preset '" + clip(shape.preset) + "'; known: " + (known.empty() ? "none found in " + join(preset_dirs) : join(known)));
    }
    Source preset_src{found, {}};
    const YAML::Node doc = parse_yaml_text(found, read_config_text(found));
    std::vector<std::string> preset_keys = kModelKeys;
    preset_keys.erase(preset_keys.begin());
    preset_keys.insert(preset_keys.end(), {"name", "description"});
    const MapReader p(preset_src, doc, "", preset_keys);
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

void read_cache(const MapReader& top, ExperimentConfig& c) {
  const MapReader cache = top.map("cache", {"max_positions", "dtype", "layout", "page_size", "pool_pages", "policy",
                                            "window", "sinks", "heavy", "recent"});
  const Source& src = cache.source();
  CacheSpec& k = c.cache;
  const YAML::Node mp = cache.required("max_positions");
  if (mp.IsScalar() && mp.Tag() != "!" && mp.Scalar() == "max") {
    k.max_positions = kMaxContext;
  } else {
    k.max_positions = cache.integer("max_positions", 1, kMaxPositions);
  }
  k.dtype = cache.choice("dtype", supported_dtypes());
  k.layout = cache.choice("layout", supported_layouts(), std::string("contiguous"));
  k.page_size = cache.integer("page_size", 1, 1 << 16, 16);
  if (k.page_size & (k.page_size - 1))
    src.fail(cache.required("page_size"), "cache.page_size", "must be a power of two, got " + std::to_string(k.page_size));
  if (cache.has("page_size") && k.layout != "paged")
    src.fail(cache.required("page_size"), "cache.page_size", "only applies to layout: paged");
  k.pool_pages = cache.integer("pool_pages", 1, std::int64_t(1) << 31, 0);
  if (cache.has("pool_pages") && k.layout != "paged")
    src.fail(cache.required("pool_pages"), "cache.pool_pages", "only applies to layout: paged");
  k.policy = cache.choice("policy", supported_policies(), std::string("ring"));
  {
    // A codec unit (16 bytes of storage; a 32-value scale group for int8/int4) never spans heads.
    const int unit = codec::unit_values(*codec::parse_dtype(k.dtype));
    if (c.model.head_dim % unit != 0)
      src.fail(cache.required("dtype"), "cache.dtype",
               k.dtype + " stores head_dim in units of " + std::to_string(unit) + " values, but head_dim is " +
                   std::to_string(c.model.head_dim));
  }

  const auto only_for = [&](const char* key, std::initializer_list<const char*> policies) {
    if (!cache.has(key)) return;
    for (const char* p : policies)
      if (k.policy == p) return;
    src.fail(cache.required(key), std::string("cache.") + key, "does not apply to policy " + k.policy);
  };
  only_for("window", {"window", "sinks"});
  only_for("sinks", {"sinks"});
  only_for("heavy", {"h2o"});
  only_for("recent", {"h2o"});
  const bool is_max = k.max_positions == kMaxContext;
  if (is_max && k.policy != "ring" && !(k.policy == "window" && !cache.has("window")))
    src.fail(mp, "cache.max_positions", "'max' works with policy ring, or window without an explicit window");
  const std::int64_t cap = is_max ? kMaxPositions : k.max_positions;
  const auto bounded = [&](const char* key, std::int64_t lo, std::int64_t fallback) {
    return cache.integer(key, lo, cap, fallback);
  };
  if (k.policy == "window") {
    const std::int64_t dflt = c.model.sliding_window > 0 && c.model.sliding_window <= cap ? c.model.sliding_window : cap;
    k.window = is_max ? 0 : bounded("window", 1, dflt);
  } else if (k.policy == "sinks") {
    k.sinks = cache.integer("sinks", 1, cap - 1);
    k.window = bounded("window", 1, cap - k.sinks);
    if (k.sinks >= k.window)
      src.fail(cache.required("sinks"), "cache.sinks", "must be smaller than cache.window (" + std::to_string(k.window) + ")");
    if (k.sinks + k.window > cap)
      src.fail(cache.node(), "cache.window", "sinks + window (" + std::to_string(k.sinks + k.window) +
                                                 ") exceed cache.max_positions (" + std::to_string(cap) + ")");
  } else if (k.policy == "h2o") {
    k.recent = bounded("recent", 1, std::max<std::int64_t>(1, cap / 2));
    k.heavy = bounded("heavy", 1, cap - k.recent);
    if (k.heavy < 1)
      src.fail(cache.node(), "cache.heavy", "h2o needs at least one heavy-hitter slot (max_positions > recent)");
    if (k.heavy + k.recent > cap)
      src.fail(cache.node(), "cache.heavy", "heavy + recent (" + std::to_string(k.heavy + k.recent) +
                                                ") exceed cache.max_positions (" + std::to_string(cap) + ")");
  }
}

void read_workload(const MapReader& top, ExperimentConfig& c) {
  const Source& src = top.source();
  c.fill = FillSpec{"token", c.cache.max_positions, 256};
  c.retrieve = RetrieveSpec{"per_layer", "fp32", true};
  c.batch = 1;
  bool positions_given = false;
  std::optional<MapReader> w;
  if (top.has("workload")) w.emplace(top.map("workload", {"batch", "lengths", "fill", "retrieve", "decode", "prefill"}));
  if (w && w->has("fill")) {
    const MapReader f = w->map("fill", {"mode", "positions", "chunk"});
    c.fill.mode = f.choice("mode", {"token", "chunk", "bulk"}, std::string("token"));
    positions_given = f.has("positions");
    if (positions_given) c.fill.positions = f.integer("positions", 1, std::int64_t(1) << 40);
    c.fill.chunk = f.integer("chunk", 1, 1 << 20, 256);
    if (f.has("chunk") && c.fill.mode != "chunk")
      src.fail(f.required("chunk"), "workload.fill.chunk", "only applies to fill.mode chunk");
    if (c.cache.policy == "h2o" && c.fill.mode != "token")
      src.fail(f.required("mode"), "workload.fill.mode", "policy h2o evicts one position per step: use mode token");
  }
  if (w && w->has("retrieve")) {
    const MapReader r = w->map("retrieve", {"mode", "output", "verify"});
    c.retrieve.mode = r.choice("mode", {"per_layer", "none"}, std::string("per_layer"));
    if (c.retrieve.mode == "none") c.retrieve.verify = false;
    c.retrieve.output = r.choice("output", {"fp32", "fp16"}, std::string("fp32"));
    c.retrieve.verify = r.boolean("verify", c.retrieve.mode != "none");
    if (c.retrieve.verify && c.retrieve.mode == "none")
      src.fail(r.required("verify"), "workload.retrieve.verify", "nothing is retrieved to verify with mode: none");
  }
  if (w) c.batch = w->integer("batch", 1, 1 << 16, 1);
  if (w && w->has("decode")) {
    const MapReader dec = w->map("decode", {"tokens", "splits", "kernel"});
    c.decode_tokens = dec.integer("tokens", 1, 1 << 24);
    c.decode_splits = dec.integer("splits", 0, 1 << 16, 0);
    c.decode_kernel = dec.choice("kernel", {"auto", "lane_groups", "tiled", "serial"}, std::string("auto"));
    AttentionKernel kernel = AttentionKernel::automatic;
    parse_attention_kernel(c.decode_kernel, kernel);
    constexpr bool gpu = !std::is_same<DefaultMemSpace, HostMemSpace>::value;
    const int bits = int(codec::data_bytes(*codec::parse_dtype(c.cache.dtype), 8));
    if (!attention_kernel_covers(kernel, bits, c.model.head_dim, c.model.heads / c.model.kv_heads, gpu))
      src.fail(dec.required("kernel"), "workload.decode.kernel",
               !gpu && kernel != AttentionKernel::serial
                   ? "'" + c.decode_kernel + "' needs a GPU build; this one runs on the host (use auto or serial)"
                   : "'" + c.decode_kernel + "' does not cover head_dim " + std::to_string(c.model.head_dim) + " of " +
                         c.cache.dtype + " with " + std::to_string(c.model.heads / c.model.kv_heads) +
                         " query heads per KV head");
    if (w->has("lengths"))
      src.fail(dec.required("tokens"), "workload.decode.tokens",
               "token generation runs sequences of one length: give workload.fill.positions, not workload.lengths");
    if (c.cache.max_positions == kMaxContext)
      src.fail(dec.required("tokens"), "workload.decode.tokens", "needs an explicit cache.max_positions");
  }
  if (w && w->has("prefill")) {
    const MapReader pre = w->map("prefill", {"chunk"});
    c.prefill_chunk = pre.integer("chunk", 1, std::int64_t(1) << 31);
    const auto at = pre.required("chunk");
    if (w->has("lengths"))
      src.fail(at, "workload.prefill.chunk", "prefill attention runs sequences of one length: give workload.fill.positions, not workload.lengths");
    if (c.cache.max_positions == kMaxContext) src.fail(at, "workload.prefill.chunk", "needs an explicit cache.max_positions");
    const std::int64_t context = (positions_given ? c.fill.positions : c.cache.max_positions) + c.decode_tokens;
    std::int64_t capacity = c.cache.max_positions;
    if (c.cache.policy == "window") capacity = c.cache.window;
    if (c.cache.policy == "sinks") capacity = c.cache.sinks + c.cache.window;
    if (c.cache.policy == "h2o") capacity = c.cache.heavy + c.cache.recent;
    if (context > capacity)
      src.fail(at, "workload.prefill.chunk",
               "prefill attention needs the whole context in the cache: " + std::to_string(context) +
                   " positions (fill + decode) but the policy keeps " + std::to_string(capacity));
    if (c.retrieve.mode == "none")
      src.fail(at, "workload.prefill.chunk", "prefill attention reads the dense retrieve: workload.retrieve.mode none turns it off");
    if (c.prefill_chunk > context)
      src.fail(at, "workload.prefill.chunk",
               "chunk " + std::to_string(c.prefill_chunk) + " is longer than the context (" + std::to_string(context) + ")");
  }
  c.lengths_follow_capacity = !positions_given && c.cache.max_positions == kMaxContext;
  if (w && w->has("lengths")) {
    if (positions_given)
      src.fail(w->required("lengths"), "workload.lengths", "give either workload.lengths or workload.fill.positions");
    const YAML::Node l = w->required("lengths");
    if (l.IsSequence()) {
      if (std::int64_t(l.size()) != c.batch)
        src.fail(l, "workload.lengths", "lists " + std::to_string(l.size()) + " lengths for batch " + std::to_string(c.batch));
      for (std::size_t i = 0; i < l.size(); ++i) {
        const YAML::Node v = l[i];
        const std::string key = "workload.lengths[" + std::to_string(i) + "]";
        std::int64_t n = 0;
        const std::string s = v.IsScalar() ? v.Scalar() : std::string();
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (!v.IsScalar() || v.Tag() == "!" || ec != std::errc() || end != s.data() + s.size() || n < 1 ||
            n > (std::int64_t(1) << 40))
          src.fail(v, key, "expected a positive integer, got " + describe(v));
        c.lengths.push_back(n);
      }
      c.lengths_spec = "list";
    } else {
      const MapReader d = w->map("lengths", {"distribution", "min", "max"});
      d.choice("distribution", {"uniform"});
      const std::int64_t lo = d.integer("min", 1, std::int64_t(1) << 40);
      const std::int64_t hi = d.integer("max", lo, std::int64_t(1) << 40);
      for (std::int64_t s = 0; s < c.batch; ++s)
        c.lengths.push_back(lo + std::int64_t(synthetic::mix64(c.seed ^ 0x4c454e475448ULL ^ std::uint64_t(s)) %
                                              std::uint64_t(hi - lo + 1)));
      c.lengths_spec = "uniform " + std::to_string(lo) + ".." + std::to_string(hi);
    }
    c.lengths_follow_capacity = false;
    c.fill.positions = *std::max_element(c.lengths.begin(), c.lengths.end());
  } else {
    c.lengths.assign(c.batch, c.fill.positions);
    c.lengths_spec = "fill.positions";
  }
}

// Far beyond any sweep worth running (each point is minutes of device time).
constexpr std::size_t kMaxSweepPoints = 1000;

const std::vector<std::string> kTopKeys{"name", "seed", "model", "cache", "workload", "parallel", "run", "output", "sweep", "zip"};

void read_parallel(const MapReader& top, ExperimentConfig& c) {
  if (!top.has("parallel")) return;
  const Source& src = top.source();
  const MapReader par = top.map("parallel", {"context_shards"});
  c.context_shards = par.integer("context_shards", 1, 1 << 16, 1);
  if (!par.has("context_shards")) return;
  const YAML::Node at = par.required("context_shards");
  c.context_shards_origin = src.file + ":" + std::to_string(at.Mark().line + 1);
  if (const auto o = src.overrides.find("parallel.context_shards"); o != src.overrides.end()) c.context_shards_origin = o->second;
  if (c.context_shards == 1) return;
  const std::string key = "parallel.context_shards";
  if (c.cache.policy != "ring") src.fail(at, key, "context shards split a ring cache that never wraps; cache.policy is " + c.cache.policy);
  if (c.cache.max_positions == kMaxContext) src.fail(at, key, "needs an explicit cache.max_positions");
  if (c.lengths_spec != "fill.positions") src.fail(at, key, "shards split sequences of one length: give workload.fill.positions, not workload.lengths");
  if (c.fill.positions + c.decode_tokens > c.cache.max_positions)
    src.fail(at, key, "the cache must hold the whole context: fill.positions + decode.tokens = " +
                          std::to_string(c.fill.positions + c.decode_tokens) + " > cache.max_positions = " +
                          std::to_string(c.cache.max_positions));
  if (c.fill.positions < c.context_shards)
    src.fail(at, key, std::to_string(c.context_shards) + " shards but only " + std::to_string(c.fill.positions) + " positions");
  if (c.prefill_chunk > 0) src.fail(at, key, "prefill attention is not sharded: drop workload.prefill");
}

// One point from a tree with no sweep left in it.
ExperimentConfig read_point(const std::string& path, const YAML::Node& root, const Source& src, const LoadOptions& options) {
  const MapReader top(src, root, "", kTopKeys);
  ExperimentConfig c;
  c.source_file = path;
  c.name = top.text("name");
  if (!valid_name(c.name)) src.fail(top.required("name"), "name", "use letters, digits, '-', '_' and '.' only, got '" + clip(c.name) + "'");
  c.seed = top.unsigned64("seed", 0);
  c.model = read_model(top, preset_search_path(path, options));
  read_cache(top, c);
  read_workload(top, c);
  read_parallel(top, c);
  c.run = RunSpec{1, 5, 1024, 512};
  if (top.has("run")) {
    const MapReader r = top.map("run", {"warmup", "repetitions", "copy_probe_mb", "stage_mb"});
    c.run.warmup = r.integer("warmup", 0, 1000, c.run.warmup);
    c.run.repetitions = r.integer("repetitions", 1, 100000, c.run.repetitions);
    c.run.copy_probe_mb = r.integer("copy_probe_mb", 1, 65536, c.run.copy_probe_mb);
    c.run.stage_mb = r.integer("stage_mb", 1, 1 << 20, c.run.stage_mb);
  }
  c.output = top.text("output", "results/" + c.name + ".h5");
  // Never meant in a path, and yaml-cpp keeps a carriage return that ends the file in a plain
  // scalar but writes it back unquoted, so to_yaml would not load back to the same path.
  if (std::any_of(c.output.begin(), c.output.end(), [](char ch) { return std::iscntrl(static_cast<unsigned char>(ch)); }))
    src.fail(top.required("output"), "output", "must not contain control characters, got '" + clip(c.output) + "'");

  if (c.cache.max_positions != kMaxContext) {
    // Elements of the largest allocation must fit comfortably in int64.
    const long double elements = static_cast<long double>(c.model.layers) * 2 * c.cache.max_positions * c.batch *
                                 c.model.kv_heads * c.model.head_dim;
    if (elements > static_cast<long double>(std::numeric_limits<std::int64_t>::max() / 8))
      src.fail(root["cache"]["max_positions"], "cache.max_positions", "cache of this size is not addressable");
    if (c.cache.layout == "paged" && c.cache.pool_pages > 0) {
      std::int64_t need = 0;
      const std::int64_t cap = c.cache.policy == "ring" ? c.cache.max_positions
                               : c.cache.policy == "h2o" ? c.cache.heavy + c.cache.recent
                                                         : c.cache.sinks + c.cache.window;
      for (std::int64_t len : c.lengths) need += (std::min(len, cap) + c.cache.page_size - 1) / c.cache.page_size;
      if (need > c.cache.pool_pages)
        src.fail(root["cache"]["pool_pages"], "cache.pool_pages",
                 "the batch needs " + std::to_string(need) + " pages of " + std::to_string(c.cache.page_size) +
                     " positions, the pool has " + std::to_string(c.cache.pool_pages));
    }
  }
  return c;
}

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
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

std::vector<ExperimentConfig> load_experiment(const std::string& path, const LoadOptions& options) {
  // The tree is re-parsed for every point: copies of yaml-cpp nodes lose their line numbers.
  const std::string text = read_config_text(path);
  const auto read_tree = [&](Source& src) {
    YAML::Node root = parse_yaml_text(path, text);
    if (!root.IsMap()) src.fail(root, "", "the config must be a mapping of keys, got " + describe(root));
    for (const auto& spec : options.overrides) apply_override(root, spec, src);
    MapReader(src, root, "", kTopKeys);  // unknown top-level keys first, sweep or not
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
  // Beside a preset a 0 is written too: it may override the preset's own value.
  const bool beside_preset = !c.model.preset.empty();
  if (c.model.sliding_window > 0 || beside_preset)
    out << YAML::Key << "sliding_window" << YAML::Value << c.model.sliding_window;
  if (c.model.weight_bytes > 0 || beside_preset)
    out << YAML::Key << "weight_bytes" << YAML::Value << c.model.weight_bytes;
  out << YAML::EndMap;
  out << YAML::Key << "cache" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "max_positions" << YAML::Value;
  if (c.cache.max_positions == kMaxContext) out << "max"; else out << c.cache.max_positions;
  out << YAML::Key << "dtype" << YAML::Value << c.cache.dtype;
  out << YAML::Key << "layout" << YAML::Value << c.cache.layout;
  if (c.cache.layout == "paged") {
    out << YAML::Key << "page_size" << YAML::Value << c.cache.page_size;
    if (c.cache.pool_pages > 0) out << YAML::Key << "pool_pages" << YAML::Value << c.cache.pool_pages;
  }
  out << YAML::Key << "policy" << YAML::Value << c.cache.policy;
  if (c.cache.policy == "window" && c.cache.window > 0) out << YAML::Key << "window" << YAML::Value << c.cache.window;
  if (c.cache.policy == "sinks") {
    out << YAML::Key << "window" << YAML::Value << c.cache.window;
    out << YAML::Key << "sinks" << YAML::Value << c.cache.sinks;
  }
  if (c.cache.policy == "h2o") {
    out << YAML::Key << "heavy" << YAML::Value << c.cache.heavy;
    out << YAML::Key << "recent" << YAML::Value << c.cache.recent;
  }
  out << YAML::EndMap;
  out << YAML::Key << "workload" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "batch" << YAML::Value << c.batch;
  if (c.lengths_spec != "fill.positions") {
    out << YAML::Key << "lengths" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (auto l : c.lengths) out << l;
    out << YAML::EndSeq;
  }
  out << YAML::Key << "fill" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "mode" << YAML::Value << c.fill.mode;
  if (c.lengths_spec == "fill.positions" && !c.lengths_follow_capacity)
    out << YAML::Key << "positions" << YAML::Value << c.fill.positions;
  if (c.fill.mode == "chunk") out << YAML::Key << "chunk" << YAML::Value << c.fill.chunk;
  out << YAML::EndMap;
  if (c.decode_tokens > 0) {
    out << YAML::Key << "decode" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "tokens" << YAML::Value << c.decode_tokens;
    if (c.decode_splits > 0) out << YAML::Key << "splits" << YAML::Value << c.decode_splits;
    if (c.decode_kernel != "auto") out << YAML::Key << "kernel" << YAML::Value << c.decode_kernel;
    out << YAML::EndMap;
  }
  if (c.prefill_chunk > 0) {
    out << YAML::Key << "prefill" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "chunk" << YAML::Value << c.prefill_chunk;
    out << YAML::EndMap;
  }
  out << YAML::Key << "retrieve" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "mode" << YAML::Value << c.retrieve.mode;
  out << YAML::Key << "output" << YAML::Value << c.retrieve.output;
  out << YAML::Key << "verify" << YAML::Value << c.retrieve.verify;
  out << YAML::EndMap;
  out << YAML::EndMap;
  if (c.context_shards > 1) {
    out << YAML::Key << "parallel" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "context_shards" << YAML::Value << c.context_shards;
    out << YAML::EndMap;
  }
  out << YAML::Key << "run" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "warmup" << YAML::Value << c.run.warmup;
  out << YAML::Key << "repetitions" << YAML::Value << c.run.repetitions;
  out << YAML::Key << "copy_probe_mb" << YAML::Value << c.run.copy_probe_mb;
  out << YAML::Key << "stage_mb" << YAML::Value << c.run.stage_mb;
  out << YAML::EndMap;
  out << YAML::Key << "output" << YAML::Value << c.output;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace kvsim
