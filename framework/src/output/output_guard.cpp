#include "output/output_guard.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "kvsim/core/error.hpp"

namespace kvsim {
namespace fs = std::filesystem;

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

[[noreturn]] void refuse(const std::string& out, const std::string& what) { throw InputError(out + ": output: " + what); }

// What kvsim writes starts with its user-block line (schema 2) or the HDF5 signature (schema 1),
// or, its line damaged, has the signature after the 512-byte user block.
bool looks_like_result_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  char head[520] = {};
  const ssize_t n = ::pread(fd, head, sizeof head, 0);
  ::close(fd);
  const char signature[] = "\x89HDF\r\n\x1a\n";
  return (n >= 19 && std::memcmp(head, "kvsim-result crc32=", 19) == 0) || (n >= 8 && std::memcmp(head, signature, 8) == 0) ||
         (n == 520 && std::memcmp(head + 512, signature, 8) == 0);
}

}  // namespace

void check_output_path(const std::string& out, const std::string& config_path) {
  if (out.empty()) throw InputError("-o/--output: empty path");
  const fs::path parent = fs::path(out).parent_path();
  struct stat st {};
  if (!parent.empty()) {
    if (::stat(parent.c_str(), &st) != 0)
      refuse(out, "directory '" + parent.string() + "' does not exist (kvsim creates no directories)");
    if (!S_ISDIR(st.st_mode)) refuse(out, "'" + parent.string() + "' is not a directory");
  }
  if (::lstat(out.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode))
      refuse(out, std::string("is ") + kind_of(st.st_mode) + "; kvsim writes only regular files it may replace");
    struct stat cfg {};
    if (!config_path.empty() && ::stat(config_path.c_str(), &cfg) == 0 && cfg.st_dev == st.st_dev && cfg.st_ino == st.st_ino)
      refuse(out, "is the config file itself");
    if (st.st_size > 0 && !looks_like_result_file(out))
      refuse(out, "exists and is not a kvsim result file; kvsim replaces only its own (remove it or choose another -o)");
  } else if (errno != ENOENT) {
    refuse(out, std::strerror(errno));
  }
}

OutputLock::OutputLock(const std::string& out) : out_(out), path_(out + ".lock") {
  for (int attempt = 0; attempt < 16; ++attempt) {
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
      refuse(out_, "lock file '" + path_ + "' is " + kind_of(st.st_mode) + ", not kvsim's; remove it");
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
    if (fd < 0) refuse(out_, "cannot create lock file '" + path_ + "': " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      char pid[32] = {};
      const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
      ::close(fd);
      if (err == EWOULDBLOCK) {
        std::string holder = n > 0 ? std::string(pid, std::size_t(n)) : "";
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
        refuse(out_, "another kvsim run is writing it (" + path_ + " is locked" + (holder.empty() ? "" : " by pid " + holder) +
                         "); wait for it or choose another -o");
      }
      refuse(out_, "cannot lock '" + path_ + "': " + std::strerror(err));
    }
    struct stat held {}, named {};
    if (::fstat(fd, &held) == 0 && ::lstat(path_.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      // The pid is a courtesy for a refused run's message; the lock itself is the flock.
      [[maybe_unused]] const bool noted = ::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) > 0;
      fd_ = fd;
      return;
    }
    ::close(fd);  // the holder removed the file we opened before we locked it: take the new one
  }
  refuse(out_, "cannot take the lock '" + path_ + "' (it keeps changing)");
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // still held: a waiter that opened this inode will see it is unlinked
  ::close(fd_);
}

}  // namespace kvsim
