// The key table (keys.hpp) expanded: allowed keys, the reader of plain keys, to_yaml and the
// schema document. Nothing here names a key.
#include "config/key_table.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "kvsim/core/synthetic.hpp"

namespace kvsim {
namespace config_detail {
namespace {

using namespace config_type;
using OptI = std::optional<std::int64_t>;

// --- reading one plain key into its field; `required`: no fallback to the field's value
[[maybe_unused]] void read_value(i64, const MapReader& m, const char* key, std::int64_t lo, std::int64_t hi, bool required,
                std::int64_t& v) {
  v = m.integer(key, lo, hi, required ? std::nullopt : OptI(v));
}
[[maybe_unused]] void read_value(u64, const MapReader& m, const char* key, std::int64_t, std::int64_t, bool, std::uint64_t& v) {
  v = m.unsigned64(key, v);
}
[[maybe_unused]] void read_value(text, const MapReader& m, const char* key, std::int64_t, std::int64_t, bool required, std::string& v) {
  v = m.text(key, required ? std::nullopt : std::optional<std::string>(v));
}
[[maybe_unused]] void read_value(flag, const MapReader& m, const char* key, std::int64_t, std::int64_t, bool, bool& v) {
  v = m.boolean(key, v);
}
template <class E, const std::vector<E>& (*V)(), const char* (*N)(E)>
[[maybe_unused]] void read_value(Choice<E, V, N> t, const MapReader& m, const char* key, std::int64_t, std::int64_t, bool required, E& v) {
  const std::string s = m.choice(key, t.names(), required ? std::nullopt : std::optional<std::string>(t.name(v)));
  for (E e : t.values())
    if (s == t.name(e)) v = e;
}

// --- writing one value
[[maybe_unused]] void emit_value(i64, YAML::Emitter& out, std::int64_t v) { out << v; }
[[maybe_unused]] void emit_value(u64, YAML::Emitter& out, std::uint64_t v) { out << v; }
[[maybe_unused]] void emit_value(text, YAML::Emitter& out, const std::string& v) { out << v; }
[[maybe_unused]] void emit_value(flag, YAML::Emitter& out, bool v) { out << v; }
[[maybe_unused]] void emit_value(positions, YAML::Emitter& out, std::int64_t v) {
  if (v == kMaxContext) out << "max"; else out << v;
}
[[maybe_unused]] void emit_value(lengths, YAML::Emitter& out, const std::vector<std::int64_t>& v) {
  out << YAML::Flow << YAML::BeginSeq;
  for (auto l : v) out << l;
  out << YAML::EndSeq;
}
template <class E, const std::vector<E>& (*V)(), const char* (*N)(E)>
[[maybe_unused]] void emit_value(Choice<E, V, N> t, YAML::Emitter& out, E v) { out << t.name(v); }

bool is_last(const char* key, const char* last) { return last && std::strcmp(key, last) == 0; }

#define KVSIM_EMIT_ENTRY(field, type, key, read, lo, hi, init, emit, ...) \
  if (is_last(key, last) == last_pass) KVSIM_EMIT_##read(field, type, key, emit)
#define KVSIM_EMIT_SCALAR(f, t, k, e)                                   \
  {                                                                     \
    const auto& v = s.f;                                                \
    (void)v;                                                            \
    if (e) {                                                            \
      out << YAML::Key << k << YAML::Value;                             \
      emit_value(config_type::t{}, out, v);                                          \
    }                                                                   \
  }
#define KVSIM_EMIT_MAPPING(f, t, k, e)                                  \
  if (e) {                                                              \
    out << YAML::Key << k << YAML::Value << YAML::BeginMap;             \
    emit_keys_##f(out, c);                                              \
    out << YAML::EndMap;                                                \
  }
#define KVSIM_EMIT_req KVSIM_EMIT_SCALAR
#define KVSIM_EMIT_opt KVSIM_EMIT_SCALAR
#define KVSIM_EMIT_custom KVSIM_EMIT_SCALAR
#define KVSIM_EMIT_section KVSIM_EMIT_MAPPING
#define KVSIM_EMIT_inline KVSIM_EMIT_MAPPING
#define KVSIM_EMIT_raw(f, t, k, e) {}

#define KVSIM_DECLARE_EMIT(sec, T, path, access, last) void emit_keys_##sec(YAML::Emitter& out, const ExperimentConfig& c);
KVSIM_CONFIG_SECTIONS(KVSIM_DECLARE_EMIT)
#undef KVSIM_DECLARE_EMIT

#define KVSIM_DEFINE_EMIT(sec, T, path, access, last_key)                          \
  [[maybe_unused]] void emit_keys_##sec(YAML::Emitter& out, const ExperimentConfig& c) {            \
    const T& s = access;                                                           \
    (void)s, (void)out;                                                                     \
    const char* last = last_key;                                                   \
    for (const bool last_pass : {false, true}) { KVSIM_KEYS_##sec(KVSIM_EMIT_ENTRY) } \
  }
KVSIM_CONFIG_SECTIONS(KVSIM_DEFINE_EMIT)
#undef KVSIM_DEFINE_EMIT

// --- the schema document
[[maybe_unused]] std::string range_text(i64, std::int64_t lo, std::int64_t hi) { return std::to_string(lo) + " .. " + std::to_string(hi); }
[[maybe_unused]] std::string range_text(positions, std::int64_t lo, std::int64_t hi) {
  return std::to_string(lo) + " .. " + std::to_string(hi) + ", `max`";
}
[[maybe_unused]] std::string range_text(u64, std::int64_t, std::int64_t) { return "0 .. 2^64-1"; }
[[maybe_unused]] std::string range_text(text, std::int64_t, std::int64_t) { return ""; }
[[maybe_unused]] std::string range_text(flag, std::int64_t, std::int64_t) { return "true, false"; }
[[maybe_unused]] std::string range_text(lengths, std::int64_t lo, std::int64_t hi) {
  return "[" + std::to_string(lo) + " .. " + std::to_string(hi) + ", ...]";
}
[[maybe_unused]] std::string range_text(mapping, std::int64_t, std::int64_t) { return ""; }
template <class E, const std::vector<E>& (*V)(), const char* (*N)(E)>
[[maybe_unused]] std::string range_text(Choice<E, V, N> t, std::int64_t, std::int64_t) { return join(t.names()); }

[[maybe_unused]] const char* type_text(i64) { return "integer"; }
[[maybe_unused]] const char* type_text(positions) { return "integer"; }
[[maybe_unused]] const char* type_text(u64) { return "integer"; }
[[maybe_unused]] const char* type_text(text) { return "string"; }
[[maybe_unused]] const char* type_text(flag) { return "boolean"; }
[[maybe_unused]] const char* type_text(lengths) { return "list or mapping"; }
[[maybe_unused]] const char* type_text(mapping) { return "mapping"; }
template <class E, const std::vector<E>& (*V)(), const char* (*N)(E)>
[[maybe_unused]] const char* type_text(Choice<E, V, N>) { return "choice"; }

[[maybe_unused]] std::string value_text(i64, std::int64_t v) { return std::to_string(v); }
[[maybe_unused]] std::string value_text(positions, std::int64_t v) { return std::to_string(v); }
[[maybe_unused]] std::string value_text(u64, std::uint64_t v) { return std::to_string(v); }
[[maybe_unused]] std::string value_text(text, const std::string& v) { return v; }
[[maybe_unused]] std::string value_text(flag, bool v) { return v ? "true" : "false"; }
[[maybe_unused]] std::string value_text(lengths, const std::vector<std::int64_t>&) { return ""; }
[[maybe_unused]] std::string value_text(mapping, int) { return ""; }
template <class E, const std::vector<E>& (*V)(), const char* (*N)(E)>
[[maybe_unused]] std::string value_text(Choice<E, V, N> t, E v) { return t.name(v); }

struct Row {
  std::string key, type, values, dflt, applies, doc;
};

std::string default_text(const char* dflt, bool required, const std::string& init) {
  if (*dflt) return dflt;
  return required ? "required" : init;
}

#define KVSIM_ROW_ENTRY(field, type, key, read, lo, hi, init, emit, dflt, applies, doc) \
  KVSIM_ROW_##read(type, key, lo, hi, init, dflt, applies, doc)
#define KVSIM_ROW_SCALAR(t, k, lo, hi, init, dflt, applies, doc, required)                  \
  {                                                                                         \
    using Type = config_type::t;                                                            \
    const Type::value_type v = init;                                                        \
    rows.push_back(Row{k, type_text(Type{}), range_text(Type{}, lo, hi),                    \
                       default_text(dflt, required, value_text(Type{}, v)), applies, doc}); \
  }
#define KVSIM_ROW_MAPPING(t, k, lo, hi, init, dflt, applies, doc, required) \
  rows.push_back(Row{k, "mapping", "", "", applies, doc});
#define KVSIM_ROW_req(...) KVSIM_ROW_SCALAR(__VA_ARGS__, true)
#define KVSIM_ROW_opt(...) KVSIM_ROW_SCALAR(__VA_ARGS__, false)
#define KVSIM_ROW_custom(...) KVSIM_ROW_SCALAR(__VA_ARGS__, false)
#define KVSIM_ROW_raw(...) KVSIM_ROW_SCALAR(__VA_ARGS__, false)
#define KVSIM_ROW_section(...) KVSIM_ROW_MAPPING(__VA_ARGS__, false)
#define KVSIM_ROW_inline(...) KVSIM_ROW_MAPPING(__VA_ARGS__, false)

void schema_table(std::ostringstream& os, const char* path, const std::vector<Row>& rows) {
  os << "\n### " << (*path ? "`" + std::string(path) + "`" : std::string("top level")) << "\n\n";
  os << "| key | type | values | default | applies when | meaning |\n| --- | --- | --- | --- | --- | --- |\n";
  for (const Row& r : rows)
    os << "| `" << r.key << "` | " << r.type << " | " << r.values << " | " << r.dflt << " | " << r.applies << " | "
       << r.doc << " |\n";
}

}  // namespace

#define KVSIM_KEY_NAME(field, type, key, ...) key,
#define KVSIM_READ_ENTRY(field, type, key, read, lo, hi, ...) \
  KVSIM_READ_##read(field, type, key, lo, hi) if (after) after(key);
#define KVSIM_READ_req(f, t, k, lo, hi) read_value(config_type::t{}, m, k, lo, hi, !refine, s.f);
#define KVSIM_READ_opt(f, t, k, lo, hi) read_value(config_type::t{}, m, k, lo, hi, false, s.f);
#define KVSIM_READ_custom(f, t, k, lo, hi)
#define KVSIM_READ_section(f, t, k, lo, hi)
#define KVSIM_READ_inline(f, t, k, lo, hi)
#define KVSIM_READ_raw(f, t, k, lo, hi)
#define KVSIM_DEFINE_SECTION(sec, T, path, access, last)                   \
  const std::vector<std::string>& keys_##sec() {                           \
    static const std::vector<std::string> keys{KVSIM_KEYS_##sec(KVSIM_KEY_NAME)}; \
    return keys;                                                           \
  }                                                                        \
  void read_keys_##sec(const MapReader& m, T& s, bool refine, const KeyVisitor& after) { \
    (void)m, (void)s, (void)refine;                                        \
    KVSIM_KEYS_##sec(KVSIM_READ_ENTRY)                                     \
  }
KVSIM_CONFIG_SECTIONS(KVSIM_DEFINE_SECTION)
#undef KVSIM_DEFINE_SECTION

}  // namespace config_detail

std::string to_yaml(const ExperimentConfig& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  config_detail::emit_keys_top(out, c);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string config_schema_markdown() {
  using namespace config_detail;
  std::ostringstream os;
  os << "## Keys\n\nGenerated from the key table (framework/src/config/keys.hpp) by `kvsim validate --schema`;\n"
        "tests/unit/config/test_config.cpp checks that this section equals it. \"applies when\": a key\n"
        "given outside it is refused.\n";
#define KVSIM_SCHEMA_SECTION(sec, T, path, access, last) \
  {                                                      \
    std::vector<Row> rows;                               \
    KVSIM_KEYS_##sec(KVSIM_ROW_ENTRY)                    \
    schema_table(os, path, rows);                        \
  }
  KVSIM_CONFIG_SECTIONS(KVSIM_SCHEMA_SECTION)
#undef KVSIM_SCHEMA_SECTION
  return os.str();
}

}  // namespace kvsim
