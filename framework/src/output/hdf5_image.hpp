#pragma once
// HDF5 files as bytes in memory (the core driver, no backing store): the result file is built in
// memory and written with plain write(2) (see result_file.cpp), and read back from bytes already
// checked against their checksum.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "output/hdf5_handle.hpp"

namespace kvsim::h5 {

// A new file in memory, written with metadata checksums (libver bounds V110: superblock v3, v2
// object headers) after a user block of `user_block` bytes.
class MemoryFile {
 public:
  MemoryFile(const std::string& name, std::size_t user_block);
  ~MemoryFile();
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  hid_t id() const { return file_.get(); }
  // Closes the file and returns its bytes, the user block (NUL bytes) included. H5Fget_file_image
  // is no substitute: on a V110 file that is still open it returns a superblock whose checksum
  // fails, and without the user block.
  std::vector<char> close();

 private:
  struct Capture;
  std::unique_ptr<Capture> capture_;
  std::string name_;
  std::size_t user_block_ = 0;
  Handle file_;  // closed before capture_ goes
};

// Opens a file's bytes read-only, in memory.
Handle open_image(const std::vector<char>& bytes, const std::string& name);

}  // namespace kvsim::h5
