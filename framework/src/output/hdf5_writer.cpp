#include "output/hdf5_writer.hpp"

namespace kvsim::h5 {
namespace {

Handle utf8_string_type() {
  Handle t = type_handle(H5Tcopy(H5T_C_S1), "string type");
  if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) throw RuntimeError("HDF5: string type set-up failed");
  return t;
}

Handle scalar_space() { return space_handle(H5Screate(H5S_SCALAR), "scalar dataspace"); }

Handle vector_space(std::size_t n) {
  const hsize_t dims[1] = {static_cast<hsize_t>(n)};
  return space_handle(H5Screate_simple(1, dims, nullptr), "dataspace");
}

void write_attr_raw(hid_t obj, const std::string& name, hid_t type, const void* data) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle space = scalar_space();
  Handle attr = attr_handle(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "creating attribute " + name);
  if (H5Awrite(attr, type, data) < 0) throw RuntimeError("HDF5: writing attribute " + name + " failed");
}

// A 1-D dataset of `n` elements of `file_type`, written from `data` (of `mem_type`), with units.
void write_vector(hid_t group, const std::string& name, std::size_t n, const void* data, hid_t mem_type, hid_t file_type,
                  const std::string& units) {
  Handle space = vector_space(n);
  Handle ds = dataset_handle(H5Dcreate2(group, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                             "creating dataset " + name);
  if (n > 0 && H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    throw RuntimeError("HDF5: writing dataset " + name + " failed");
  write_attribute(ds, "units", units);
}

template <class T>
void write_numeric_column(hid_t group, const std::string& name, const std::vector<T>& values, hid_t mem_type,
                          hid_t file_type, const std::string& units) {
  write_vector(group, name, values.size(), values.data(), mem_type, file_type, units);
}

}  // namespace

void silence_error_stack() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

Handle create_group(hid_t parent, const std::string& name) {
  return group_handle(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "creating group " + name);
}

void write_attribute(hid_t obj, const std::string& name, const std::string& value) {
  Handle t = utf8_string_type();
  const char* p = value.c_str();
  write_attr_raw(obj, name, t, &p);
}

void write_attribute(hid_t obj, const std::string& name, std::int64_t value) {
  write_attr_raw(obj, name, H5T_NATIVE_INT64, &value);
}

void write_attribute(hid_t obj, const std::string& name, std::uint64_t value) {
  write_attr_raw(obj, name, H5T_NATIVE_UINT64, &value);
}

void write_attribute(hid_t obj, const std::string& name, double value) {
  write_attr_raw(obj, name, H5T_NATIVE_DOUBLE, &value);
}

void write_column(hid_t group, const std::string& name, const std::vector<std::int64_t>& values, const std::string& units) {
  write_numeric_column(group, name, values, H5T_NATIVE_INT64, H5T_STD_I64LE, units);
}

void write_column(hid_t group, const std::string& name, const std::vector<std::uint64_t>& values, const std::string& units) {
  write_numeric_column(group, name, values, H5T_NATIVE_UINT64, H5T_STD_U64LE, units);
}

void write_column(hid_t group, const std::string& name, const std::vector<double>& values, const std::string& units) {
  write_numeric_column(group, name, values, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, units);
}

void write_column(hid_t group, const std::string& name, const std::vector<std::string>& values, const std::string& units) {
  Handle t = utf8_string_type();
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (const auto& v : values) ptrs.push_back(v.c_str());
  write_vector(group, name, values.size(), ptrs.data(), t, t, units);
}

}  // namespace kvsim::h5

namespace kvsim::h5 {

void tag_column(hid_t group, const std::string& name, const std::string& attribute, const std::string& value) {
  Handle ds = dataset_handle(H5Dopen2(group, name.c_str(), H5P_DEFAULT), "opening dataset " + name);
  write_attribute(ds, attribute, value);
}

}  // namespace kvsim::h5
