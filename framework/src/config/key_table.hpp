#pragma once
// What the key table (keys.hpp) gives the readers: each mapping's allowed keys, and a reader of
// its plain keys (req/opt). Cross-field rules stay in the section readers (read_*.cpp).
#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/yaml_source.hpp"

namespace kvsim::config_detail {

// Called with each key of a mapping, in table order, once the plain ones before it are read:
// where a section reads its custom keys and checks a key as soon as it is known (so that the
// first error of a file with several stays the one it always was).
using KeyVisitor = std::function<void(const std::string& key)>;

// keys_X(): the allowed keys of mapping X; read_keys_X: reads its req/opt keys into `s` (with
// `refine`, a req key may be absent: a preset gave it).
#define KVSIM_CONFIG_SECTION_API(sec, T, path, access, last)  \
  const std::vector<std::string>& keys_##sec();                \
  void read_keys_##sec(const MapReader& m, T& s, bool refine = false, const KeyVisitor& after = {});
KVSIM_CONFIG_SECTIONS(KVSIM_CONFIG_SECTION_API)
#undef KVSIM_CONFIG_SECTION_API

}  // namespace kvsim::config_detail
