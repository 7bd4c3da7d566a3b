#pragma once
// The whole-file checksum of a result file (schema 2, docs/hdf5-schema.md): the file starts with
// a 512-byte HDF5 user block whose first line is "kvsim-result crc32=XXXXXXXX length=N\n", the
// CRC-32 (zlib's) of the N bytes after the block. A damaged file is refused before libhdf5
// parses it: libhdf5 may hang or crash on damaged metadata.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kvsim {

inline constexpr std::size_t kUserBlockBytes = 512;

// zlib's crc32(crc, data, n): the IEEE 802.3 polynomial, as Python's zlib.crc32.
std::uint32_t crc32(const char* data, std::size_t n, std::uint32_t crc = 0);

// Writes the line into image[0, 512), which HDF5 left as the user block (NUL bytes).
void seal_user_block(std::vector<char>& image);

enum class Seal { ok, missing, damaged };
struct SealCheck {
  Seal state = Seal::missing;
  std::string why;  // for damaged: what disagrees
};
// `missing`: no kvsim-result line (a schema-1 file, or not kvsim's).
SealCheck check_user_block(const std::vector<char>& bytes);

// True if an HDF5 superblock signature is at byte `at` (0: a file without a user block).
bool has_hdf5_signature(const std::vector<char>& bytes, std::size_t at);

}  // namespace kvsim
