#include "experiment/recorded_data.hpp"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "kvsim/core/error.hpp"
#include "output/hdf5_handle.hpp"
#include "output/hdf5_writer.hpp"

namespace kvsim {
namespace {

// A wanted extent of 0 is any number, printed as `any`.
std::string shape_text(const std::vector<hsize_t>& dims, const char* any = nullptr) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i)
    s += (i ? ", " : "") + (any && dims[i] == 0 ? std::string(any) : std::to_string(dims[i]));
  return s + "]";
}

struct Reader {
  const std::string& path;
  hid_t file;

  [[noreturn]] void fail(const std::string& dataset, const std::string& what) const {
    throw InputError(path + ": " + dataset + ": " + what);
  }

  bool has(const std::string& name) const { return H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0; }

  // The dataset's shape, which must be `want` (0: any extent, named `any`; every extent > 0);
  // `meaning` names the extents in the message.
  std::vector<hsize_t> shape(const std::string& name, const std::vector<hsize_t>& want, H5T_class_t type_class,
                             const char* meaning, const char* any = "rows") const {
    if (H5Lexists(file, name.c_str(), H5P_DEFAULT) <= 0 || H5Oexists_by_name(file, name.c_str(), H5P_DEFAULT) <= 0)
      fail(name, "missing");
    const hid_t id = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
    if (id < 0) fail(name, "not a dataset");
    h5::Handle ds = h5::dataset_handle(id, name);
    h5::Handle type = h5::type_handle(H5Dget_type(ds), name);
    if (H5Tget_class(type) != type_class)
      fail(name, type_class == H5T_FLOAT ? "holds no floating-point numbers" : "holds no integers");
    h5::Handle space = h5::space_handle(H5Dget_space(ds), name);
    const int rank = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> dims(std::size_t(std::max(rank, 0)));
    if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    bool ok = dims.size() == want.size();
    for (std::size_t i = 0; ok && i < dims.size(); ++i) ok = want[i] == 0 || dims[i] == want[i];
    for (std::size_t i = 0; ok && i < dims.size(); ++i) ok = dims[i] > 0;
    if (!ok) fail(name, "has shape " + shape_text(dims) + ", expected " + shape_text(want, any) + " (" + meaning + ")");
    return dims;
  }

  void read_floats(const std::string& name, float* out) const {
    h5::Handle ds = h5::dataset_handle(H5Dopen2(file, name.c_str(), H5P_DEFAULT), name);
    if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) fail(name, "cannot be read");
  }

  void require_finite(const std::string& name, const float* x, std::size_t n) const {
    for (std::size_t i = 0; i < n; ++i)
      if (!std::isfinite(x[i])) fail(name, "holds a value that is not finite at element " + std::to_string(i));
  }
};

}  // namespace

RecordedTable read_recorded(const std::string& path, const ModelShape& m, bool values) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(path + ": no such file (data.file)");
  h5::silence_error_stack();
#if H5_VERSION_GE(1, 12, 0)
  const htri_t is_hdf5 = H5Fis_accessible(path.c_str(), H5P_DEFAULT);
#else
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
#endif
  if (is_hdf5 <= 0) throw InputError(path + ": not an HDF5 file (data.file)");
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) throw InputError(path + ": cannot be opened as HDF5 (data.file)");
  h5::Handle file = h5::file_handle(id, path);
  const Reader r{path, file};
  const hsize_t kvh = hsize_t(m.kv_heads), h = hsize_t(m.heads), hd = hsize_t(m.head_dim);
  RecordedTable t;
  bool next_input = false;
  for (std::int64_t layer = 0; layer < m.layers; ++layer) {
    const std::string g = "/layer_" + std::to_string(layer);
    if (H5Lexists(file, g.c_str(), H5P_DEFAULT) <= 0)
      r.fail(g, "missing: the file records " + std::to_string(layer) + " layers, the model has " + std::to_string(m.layers));
    const hsize_t rows = hsize_t(t.rows);
    const char* per_head = "rows, heads, head_dim; rows > 0";
    const auto k = r.shape(g + "/k", {rows, kvh, hd}, H5T_FLOAT, per_head);
    if (t.rows == 0) t.rows = std::int64_t(k[0]);
    r.shape(g + "/v", {hsize_t(t.rows), kvh, hd}, H5T_FLOAT, per_head);
    r.shape(g + "/q", {hsize_t(t.rows), h, hd}, H5T_FLOAT, per_head);
    r.shape(g + "/positions", {hsize_t(t.rows)}, H5T_INTEGER, "rows > 0");
    // o_proj and residual: both in every layer, or in none (layer 0 decides).
    const bool o_proj = r.has(g + "/o_proj"), residual = r.has(g + "/residual");
    if (layer == 0) next_input = o_proj || residual;
    for (const auto& [name, present] : {std::pair{"o_proj", o_proj}, std::pair{"residual", residual}})
      if (present != next_input)
        r.fail(g + "/" + name, present ? "present, but /layer_0 records no o_proj and residual"
                                       : std::string("missing (o_proj and residual come together, in every layer)"));
    if (next_input) {
      const auto w = r.shape(g + "/o_proj", {hsize_t(t.hidden), h * hd}, H5T_FLOAT, "hidden, heads * head_dim", "hidden");
      if (t.hidden == 0) t.hidden = std::int64_t(w[0]);
      r.shape(g + "/residual", {hsize_t(t.rows), hsize_t(t.hidden)}, H5T_FLOAT, "rows, hidden");
    }
    std::vector<std::int64_t> pos(static_cast<std::size_t>(t.rows));
    {
      h5::Handle ds = h5::dataset_handle(H5Dopen2(file, (g + "/positions").c_str(), H5P_DEFAULT), g + "/positions");
      if (H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, pos.data()) < 0) r.fail(g + "/positions", "cannot be read");
    }
    // Tiling repeats the rows in order: they must be consecutive positions from 0.
    for (std::int64_t i = 0; i < t.rows; ++i)
      if (pos[std::size_t(i)] != i)
        r.fail(g + "/positions", "row " + std::to_string(i) + " holds position " + std::to_string(pos[std::size_t(i)]) +
                                     ", expected " + std::to_string(i) + " (rows are positions 0, 1, ...)");
  }
  if (!values) return t;
  const std::size_t kv = std::size_t(t.rows) * kvh * hd, q = std::size_t(t.rows) * h * hd;
  t.values.resize(std::size_t(m.layers) * (2 * kv + q));
  for (std::int64_t layer = 0; layer < m.layers; ++layer) {
    const std::string g = "/layer_" + std::to_string(layer);
    float* base = t.values.data() + std::size_t(layer) * (2 * kv + q);
    r.read_floats(g + "/k", base);
    r.read_floats(g + "/v", base + kv);
    r.read_floats(g + "/q", base + 2 * kv);
    for (int which = 0; which < 2; ++which)
      for (std::size_t i = 0; i < kv; ++i) {
        const float x = base[std::size_t(which) * kv + i];
        if (!std::isfinite(x)) r.fail(g + (which ? "/v" : "/k"), "holds a value that is not finite at element " + std::to_string(i));
        t.bound[which] = std::max(t.bound[which], std::fabs(x));
      }
    r.require_finite(g + "/q", base + 2 * kv, q);
  }
  if (t.hidden > 0) {
    const std::size_t w = std::size_t(t.hidden) * h * hd, x = std::size_t(t.rows) * std::size_t(t.hidden);
    t.o_proj.resize(std::size_t(m.layers) * w);
    t.residual.resize(std::size_t(m.layers) * x);
    for (std::int64_t layer = 0; layer < m.layers; ++layer) {
      const std::string g = "/layer_" + std::to_string(layer);
      r.read_floats(g + "/o_proj", t.o_proj.data() + std::size_t(layer) * w);
      r.require_finite(g + "/o_proj", t.o_proj.data() + std::size_t(layer) * w, w);
      r.read_floats(g + "/residual", t.residual.data() + std::size_t(layer) * x);
      r.require_finite(g + "/residual", t.residual.data() + std::size_t(layer) * x, x);
    }
  }
  for (float& b : t.bound) b = b > 0 ? b : 1.0f;
  return t;
}

}  // namespace kvsim
