#pragma once
// Typed writes of attributes and 1-D column datasets, behind RAII handles.
#include <cstdint>
#include <string>
#include <vector>

#include "output/hdf5_handle.hpp"

namespace kvsim::h5 {

// Silences HDF5's own stderr error stack: failures surface as exceptions with context instead.
void silence_error_stack();

Handle create_group(hid_t parent, const std::string& name);

void write_attribute(hid_t obj, const std::string& name, const std::string& value);
void write_attribute(hid_t obj, const std::string& name, std::int64_t value);
void write_attribute(hid_t obj, const std::string& name, std::uint64_t value);
void write_attribute(hid_t obj, const std::string& name, double value);

// 1-D dataset with a `units` string attribute.
void write_column(hid_t group, const std::string& name, const std::vector<std::int64_t>& values, const std::string& units);
void write_column(hid_t group, const std::string& name, const std::vector<std::uint64_t>& values, const std::string& units);
void write_column(hid_t group, const std::string& name, const std::vector<double>& values, const std::string& units);
void write_column(hid_t group, const std::string& name, const std::vector<std::string>& values, const std::string& units);

// A string attribute on an existing dataset of `group` (e.g. a column's `better`).
void tag_column(hid_t group, const std::string& name, const std::string& attribute, const std::string& value);

}  // namespace kvsim::h5
