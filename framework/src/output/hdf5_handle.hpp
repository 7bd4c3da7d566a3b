#pragma once
// RAII over HDF5 C-API identifiers: every id is closed exactly once, on every path.
#include <hdf5.h>

#include <string>
#include <utility>

#include "kvsim/core/error.hpp"

namespace kvsim::h5 {

class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer, const std::string& what) : id_(id), closer_(closer) {
    if (id_ < 0) throw RuntimeError("HDF5: " + what + " failed");
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), closer_(o.closer_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      closer_ = o.closer_;
    }
    return *this;
  }
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  // Closes now, reporting failure (a file's close is where buffered data reaches the disk).
  void close(const std::string& what) {
    if (id_ >= 0) {
      const herr_t rc = closer_(std::exchange(id_, H5I_INVALID_HID));
      if (rc < 0) throw RuntimeError("HDF5: closing " + what + " failed");
    }
  }

 private:
  void reset() noexcept {
    if (id_ >= 0) closer_(std::exchange(id_, H5I_INVALID_HID));
  }
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

inline Handle file_handle(hid_t id, const std::string& what) { return Handle(id, H5Fclose, what); }
inline Handle group_handle(hid_t id, const std::string& what) { return Handle(id, H5Gclose, what); }
inline Handle dataset_handle(hid_t id, const std::string& what) { return Handle(id, H5Dclose, what); }
inline Handle space_handle(hid_t id, const std::string& what) { return Handle(id, H5Sclose, what); }
inline Handle type_handle(hid_t id, const std::string& what) { return Handle(id, H5Tclose, what); }
inline Handle attr_handle(hid_t id, const std::string& what) { return Handle(id, H5Aclose, what); }
inline Handle plist_handle(hid_t id, const std::string& what) { return Handle(id, H5Pclose, what); }

}  // namespace kvsim::h5
