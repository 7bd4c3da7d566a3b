#pragma once
// Typed reads of what hdf5_writer writes: for `kvsim run --resume`, which reloads finished
// points. Every failure is a RuntimeError naming the object.
#include <cstdint>
#include <string>
#include <vector>

#include "output/hdf5_handle.hpp"

namespace kvsim::h5 {

bool has_attribute(hid_t obj, const std::string& name);
bool has_link(hid_t obj, const std::string& name);
std::string read_string_attribute(hid_t obj, const std::string& name);
std::int64_t read_int_attribute(hid_t obj, const std::string& name);
std::uint64_t read_uint_attribute(hid_t obj, const std::string& name);
double read_double_attribute(hid_t obj, const std::string& name);
std::vector<double> read_double_column(hid_t group, const std::string& name);
std::vector<std::int64_t> read_int_column(hid_t group, const std::string& name);
// Names of the links (groups, datasets) directly inside a group.
std::vector<std::string> list_links(hid_t group);

}  // namespace kvsim::h5
