#include "config/yaml_source.hpp"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kvsim/core/error.hpp"

namespace kvsim::config_detail {

namespace fs = std::filesystem;

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

namespace {

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

}  // namespace

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

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Sequence: return node.size() == 0 ? "an empty list" : "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar: return node.Tag() == "!" ? "the string \"" + clip(node.Scalar()) + "\"" : "'" + clip(node.Scalar()) + "'";
    default: return "an undefined value";
  }
}

MapReader::MapReader(const Source& src, const YAML::Node& node, std::string path, std::vector<std::string> allowed)
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

YAML::Node MapReader::required(const std::string& key) const {
  const YAML::Node v = node_[key];
  if (!v) src_.fail(node_, child(key), "missing required key");
  if (v.IsNull()) src_.fail(v, child(key), "has no value");
  return v;
}

std::int64_t MapReader::integer(const std::string& key, std::int64_t lo, std::int64_t hi,
                              std::optional<std::int64_t> fallback) const {
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

std::uint64_t MapReader::unsigned64(const std::string& key, std::uint64_t fallback) const {
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

std::string MapReader::choice(const std::string& key, const std::vector<std::string>& allowed,
                            std::optional<std::string> fallback) const {
  if (!has(key) && fallback) return *fallback;
  const YAML::Node v = required(key);
  const std::string s = scalar(v, key, "one of: " + join(allowed));
  if (std::find(allowed.begin(), allowed.end(), s) == allowed.end())
    src_.fail(v, child(key), "unsupported value '" + clip(s) + "'; supported: " + join(allowed));
  return s;
}

std::string MapReader::text(const std::string& key, std::optional<std::string> fallback) const {
  if (!has(key) && fallback) return *fallback;
  const YAML::Node v = required(key);
  const std::string s = scalar(v, key, "a string");
  if (s.empty()) src_.fail(v, child(key), "must not be empty");
  return s;
}

bool MapReader::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const YAML::Node v = required(key);
  const std::string s = scalar(v, key, "true or false");
  if (v.Tag() != "!") {
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  src_.fail(v, child(key), "expected true or false, got " + describe(v));
}

std::string MapReader::scalar(const YAML::Node& v, const std::string& key, const std::string& expected) const {
  if (!v.IsScalar()) src_.fail(v, child(key), "expected " + expected + ", got " + describe(v));
  return v.Scalar();
}

namespace {

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

}  // namespace

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
  if (parsed.IsNull()) {
    // KEY=null (or ~): the key is removed, as if the file had not named it; its default applies
    // (or "missing required key" where it has none).
    cur.remove(parts.back());
  } else {
    cur[parts.back()] = parsed;
  }
  src.overrides[key] = origin;
}

bool valid_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

}  // namespace kvsim::config_detail
