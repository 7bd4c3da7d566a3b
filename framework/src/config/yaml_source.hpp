#pragma once
// The YAML side of the config: reading the file, where each node came from (file:line or the
// --set flag), one-line refusals, and MapReader, a validated view of one mapping.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kvsim::config_detail {

std::string join(const std::vector<std::string>& items, const char* sep = ", ");
// A value quoted in a refusal, cut to a length one line can show.
std::string clip(const std::string& value);
// Throws the InputError of a refusal: one line, whatever the user's text holds.
[[noreturn]] void refuse(const std::string& message);
std::string describe(const YAML::Node& node);
bool valid_name(const std::string& s);
std::string scalar_text(const YAML::Node& n);

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

// A validated view of one YAML mapping: refuses duplicate and unknown keys up front. Every read
// takes its fallback when the key is absent, and is required when there is none.
class MapReader {
 public:
  MapReader(const Source& src, const YAML::Node& node, std::string path, std::vector<std::string> allowed);

  bool has(const std::string& key) const { return bool(node_[key]); }
  YAML::Node node() const { return node_; }
  YAML::Node required(const std::string& key) const;

  std::int64_t integer(const std::string& key, std::int64_t lo, std::int64_t hi,
                       std::optional<std::int64_t> fallback = std::nullopt) const;
  std::uint64_t unsigned64(const std::string& key, std::uint64_t fallback) const;
  std::string choice(const std::string& key, const std::vector<std::string>& allowed,
                     std::optional<std::string> fallback = std::nullopt) const;
  std::string text(const std::string& key, std::optional<std::string> fallback = std::nullopt) const;
  bool boolean(const std::string& key, bool fallback) const;
  MapReader map(const std::string& key, const std::vector<std::string>& allowed) const {
    return MapReader(src_, required(key), child(key), allowed);
  }

  std::string child(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const Source& source() const { return src_; }

 private:
  std::string scalar(const YAML::Node& v, const std::string& key, const std::string& expected) const;

  const Source& src_;
  YAML::Node node_;
  std::string path_;
  std::vector<std::string> allowed_;
};

// The file's bytes, read once (a config may be a pipe).
std::string read_config_text(const std::string& path);
// Parses a config's text as exactly one mapping document; every failure names the file.
YAML::Node parse_yaml_text(const std::string& path, const std::string& content);
// Applies "a.b.c=value" (a --set flag) onto the tree.
void apply_override(YAML::Node root, const std::string& full_spec, Source& src);
// Sets a dotted key, creating mappings on the way; `origin` is what errors in it will name.
void set_dotted(YAML::Node root, const std::string& key, const YAML::Node& parsed, const std::string& origin,
                Source& src);

}  // namespace kvsim::config_detail
