// libFuzzer target over the config loader and validator (tests/fuzz/run_fuzz.sh builds and runs it).
//
// The input is a YAML config file. Lines starting with "#set " are also passed as --set overrides
// (YAML reads them as comments), so one input exercises both paths and the corpus stays readable.
// An InputError is the expected answer to bad input; anything else escaping is a finding, as is a
// crash, a sanitizer report, a leak or a hang. Every accepted point must survive to_yaml: loading
// the emitted YAML gives exactly one point that emits the same YAML (what --resume relies on).
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "kvsim/core/error.hpp"

#ifndef KVSIM_FUZZ_PRESET_DIR
#error "KVSIM_FUZZ_PRESET_DIR must name configs/models"
#endif

namespace {

std::string g_dir;  // per-process scratch directory; the loader reads files, not buffers

void remove_scratch() {
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
}

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "fuzz_config finding: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void write_file(const std::string& path, const char* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data, std::streamsize(size));
  if (!out) finding("cannot write scratch file " + path);
}

std::vector<std::string> override_lines(const std::string& text) {
  std::vector<std::string> sets;
  std::size_t pos = 0;
  while (pos < text.size() && sets.size() < 8) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (text.compare(pos, 5, "#set ") == 0) sets.push_back(text.substr(pos + 5, end - pos - 5));
    pos = end + 1;
  }
  return sets;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Only the committed presets, whatever the caller's environment says: results must replay.
  unsetenv("KVSIM_PRESET_DIR");
  const char* base = std::getenv("KVSIM_FUZZ_TMPDIR");
  if (!base) base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string tmpl = std::string(base) + "/kvsim-fuzz-XXXXXX";
  if (!mkdtemp(tmpl.data())) finding("mkdtemp failed under " + std::string(base));
  g_dir = tmpl;
  std::atexit(remove_scratch);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string path = g_dir + "/config.yaml";
  write_file(path, text.data(), text.size());

  kvsim::LoadOptions options;
  options.preset_dirs = {KVSIM_FUZZ_PRESET_DIR};
  options.overrides = override_lines(text);
  std::vector<kvsim::ExperimentConfig> points;
  try {
    points = kvsim::load_experiment(path, options);
  } catch (const kvsim::InputError& e) {
    const std::string msg = e.what();
    const bool control = std::any_of(msg.begin(), msg.end(), [](char c) { return (c >= 0 && c < 0x20) || c == 0x7f; });
    if (msg.empty() || control) finding("refusal is not one line of text: '" + msg + "'");
    return 0;
  } catch (const std::exception& e) {
    finding(std::string("non-InputError exception escaped the loader: ") + e.what());
  } catch (...) {
    finding("non-standard exception escaped the loader");
  }
  if (points.empty()) finding("an accepted config has no points");

  options.overrides.clear();  // they are folded into the emitted YAML
  const std::string again = g_dir + "/roundtrip.yaml";
  for (std::size_t i = 0; i < points.size(); ++i) {
    // Points of a sweep differ only in swept values: a few of them show a round-trip bug, all
    // of a large sweep would only slow the search down.
    if (i >= 8 && i + 1 != points.size()) continue;
    const std::string yaml = kvsim::to_yaml(points[i]);
    write_file(again, yaml.data(), yaml.size());
    std::vector<kvsim::ExperimentConfig> back;
    try {
      back = kvsim::load_experiment(again, options);
    } catch (const std::exception& e) {
      finding("to_yaml output is refused: " + std::string(e.what()) + "\n--- emitted:\n" + yaml);
    }
    if (back.size() != 1) finding("to_yaml output loads as " + std::to_string(back.size()) + " points");
    const std::string yaml2 = kvsim::to_yaml(back.front());
    if (yaml2 != yaml) finding("to_yaml round trip differs\n--- first:\n" + yaml + "--- reloaded:\n" + yaml2);
  }
  return 0;
}
