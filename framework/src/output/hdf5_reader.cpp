#include "output/hdf5_reader.hpp"

namespace kvsim::h5 {
namespace {

Handle open_attr(hid_t obj, const std::string& name) {
  return attr_handle(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name);
}

template <class T>
std::vector<T> read_column(hid_t group, const std::string& name, hid_t mem_type) {
  Handle ds = dataset_handle(H5Dopen2(group, name.c_str(), H5P_DEFAULT), "opening dataset " + name);
  Handle space = space_handle(H5Dget_space(ds), "dataspace of " + name);
  if (H5Sget_simple_extent_ndims(space) != 1) throw RuntimeError("HDF5: dataset " + name + " is not 1-D");
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space, &n, nullptr);
  std::vector<T> out(n);
  if (n > 0 && H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw RuntimeError("HDF5: reading dataset " + name + " failed");
  return out;
}

herr_t collect(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}

}  // namespace

bool has_attribute(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }
bool has_link(hid_t obj, const std::string& name) { return H5Lexists(obj, name.c_str(), H5P_DEFAULT) > 0; }

std::string read_string_attribute(hid_t obj, const std::string& name) {
  Handle attr = open_attr(obj, name);
  Handle type = type_handle(H5Aget_type(attr), "type of " + name);
  if (H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) <= 0)
    throw RuntimeError("HDF5: attribute " + name + " is not a variable-length string");
  char* s = nullptr;
  if (H5Aread(attr, type, &s) < 0 || s == nullptr) throw RuntimeError("HDF5: reading attribute " + name + " failed");
  std::string out(s);
  H5free_memory(s);
  return out;
}

std::int64_t read_int_attribute(hid_t obj, const std::string& name) {
  Handle attr = open_attr(obj, name);
  std::int64_t v = 0;
  if (H5Aread(attr, H5T_NATIVE_INT64, &v) < 0) throw RuntimeError("HDF5: reading attribute " + name + " failed");
  return v;
}

std::uint64_t read_uint_attribute(hid_t obj, const std::string& name) {
  Handle attr = open_attr(obj, name);
  std::uint64_t v = 0;
  if (H5Aread(attr, H5T_NATIVE_UINT64, &v) < 0) throw RuntimeError("HDF5: reading attribute " + name + " failed");
  return v;
}

double read_double_attribute(hid_t obj, const std::string& name) {
  Handle attr = open_attr(obj, name);
  double v = 0;
  if (H5Aread(attr, H5T_NATIVE_DOUBLE, &v) < 0) throw RuntimeError("HDF5: reading attribute " + name + " failed");
  return v;
}

std::vector<double> read_double_column(hid_t group, const std::string& name) {
  return read_column<double>(group, name, H5T_NATIVE_DOUBLE);
}
std::vector<std::int64_t> read_int_column(hid_t group, const std::string& name) {
  return read_column<std::int64_t>(group, name, H5T_NATIVE_INT64);
}

std::vector<std::string> list_links(hid_t group) {
  std::vector<std::string> names;
  if (H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect, &names) < 0)
    throw RuntimeError("HDF5: listing a group failed");
  return names;
}

}  // namespace kvsim::h5
