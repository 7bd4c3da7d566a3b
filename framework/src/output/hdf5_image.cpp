#include "output/hdf5_image.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace kvsim::h5 {

// The core driver's buffer, kept by our own allocation callbacks so that its last contents, those
// of the closed file, can be copied out when the driver frees it.
struct MemoryFile::Capture {
  std::size_t size = 0;
  std::vector<char> image;
  bool closed = false;

  static void* on_malloc(std::size_t size, H5FD_file_image_op_t, void* self) {
    static_cast<Capture*>(self)->size = size;
    return std::malloc(size);
  }
  static void* on_memcpy(void* dest, const void* src, std::size_t size, H5FD_file_image_op_t, void*) {
    return std::memcpy(dest, src, size);
  }
  static void* on_realloc(void* ptr, std::size_t size, H5FD_file_image_op_t, void* self) {
    static_cast<Capture*>(self)->size = size;
    return std::realloc(ptr, size);
  }
  static herr_t on_free(void* ptr, H5FD_file_image_op_t op, void* self) {
    auto* c = static_cast<Capture*>(self);
    if (ptr && op == H5FD_FILE_IMAGE_OP_FILE_CLOSE) {
      const char* p = static_cast<const char*>(ptr);
      c->image.assign(p, p + c->size);
      c->closed = true;
    }
    std::free(ptr);
    return 0;
  }
  static void* share(void* self) { return self; }  // property-list copies point at the one Capture
  static herr_t unshare(void*) { return 0; }
};

namespace {

// The driver's buffer grows in whole increments; the file ends where its v2/v3 superblock says
// (end-of-file address, 28 bytes in, relative to the superblock's base address = the user block).
void trim_to_end_of_file(std::vector<char>& image, std::size_t user_block) {
  constexpr std::size_t kEofOffset = 28;
  if (image.size() < user_block + kEofOffset + 8) return;
  std::uint64_t eof = 0;
  for (int b = 7; b >= 0; --b) eof = (eof << 8) | static_cast<unsigned char>(image[user_block + kEofOffset + std::size_t(b)]);
  if (eof > 0 && user_block + eof <= image.size()) image.resize(user_block + std::size_t(eof));
}

}  // namespace

MemoryFile::MemoryFile(const std::string& name, std::size_t user_block)
    : capture_(std::make_unique<Capture>()), name_(name) {
  Handle fapl = plist_handle(H5Pcreate(H5P_FILE_ACCESS), "file access property list");
  H5FD_file_image_callbacks_t callbacks{&Capture::on_malloc, &Capture::on_memcpy, &Capture::on_realloc, &Capture::on_free,
                                        &Capture::share,     &Capture::unshare,   capture_.get()};
  if (H5Pset_fapl_core(fapl, std::size_t(64) << 10, 0) < 0 || H5Pset_file_image_callbacks(fapl, &callbacks) < 0 ||
      H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0)
    throw RuntimeError("HDF5: setting up the in-memory driver failed");
  Handle fcpl = plist_handle(H5Pcreate(H5P_FILE_CREATE), "file creation property list");
  if (H5Pset_userblock(fcpl, hsize_t(user_block)) < 0) throw RuntimeError("HDF5: setting the user block failed");
  file_ = file_handle(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, fcpl, fapl), "creating " + name);
  user_block_ = user_block;
}

MemoryFile::~MemoryFile() = default;

std::vector<char> MemoryFile::close() {
  file_.close(name_);
  if (!capture_->closed) throw RuntimeError("HDF5: the in-memory image of " + name_ + " was not released at close");
  std::vector<char> image = std::move(capture_->image);
  trim_to_end_of_file(image, user_block_);
  return image;
}

Handle open_image(const std::vector<char>& bytes, const std::string& name) {
  Handle fapl = plist_handle(H5Pcreate(H5P_FILE_ACCESS), "file access property list");
  if (H5Pset_fapl_core(fapl, std::size_t(64) << 10, 0) < 0 ||
      H5Pset_file_image(fapl, const_cast<char*>(bytes.data()), bytes.size()) < 0)
    throw RuntimeError("HDF5: setting up the in-memory driver failed");
  // The core driver refuses an image under the name of a file that exists on disk.
  return file_handle(H5Fopen("/nonexistent-kvsim/in-memory.h5", H5F_ACC_RDONLY, fapl), "opening " + name);
}

}  // namespace kvsim::h5
