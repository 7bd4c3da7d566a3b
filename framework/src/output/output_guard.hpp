#pragma once
// The result file's path, checked before anything runs, and the lock that makes one kvsim run
// at a time the writer of OUT. kvsim replaces OUT by rename(2); that would replace a device node,
// a FIFO or a symlink itself (not write through it), so anything at OUT but a regular file is
// refused, never replaced. kvsim creates no directories.
#include <string>

namespace kvsim {

// InputError naming OUT unless it may be written: a non-empty path whose directory exists, OUT
// absent, empty or a regular file that is a result file (HDF5; not a symlink), and not the
// config file itself (`config_path`, may be empty).
void check_output_path(const std::string& out, const std::string& config_path);

// An advisory lock (flock) on OUT.lock, held for the object's lifetime: a second run on the same
// OUT is refused (InputError) before it touches anything. The lock file is opened with
// O_NOFOLLOW and removed only by its holder, still holding it; a taker that locked a file the
// holder removed meanwhile sees that the name no longer points at the inode it locked, and retries.
class OutputLock {
 public:
  explicit OutputLock(const std::string& out);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string out_;
  std::string path_;
  int fd_ = -1;
};

}  // namespace kvsim
