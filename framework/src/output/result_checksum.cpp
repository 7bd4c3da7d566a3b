#include "output/result_checksum.hpp"

#include <array>
#include <cstdio>
#include <cstring>

namespace kvsim {
namespace {

constexpr char kPrefix[] = "kvsim-result crc32=";
constexpr char kHdf5Signature[] = "\x89HDF\r\n\x1a\n";

std::array<std::uint32_t, 256> crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    t[n] = c;
  }
  return t;
}

}  // namespace

std::uint32_t crc32(const char* data, std::size_t n, std::uint32_t crc) {
  static const std::array<std::uint32_t, 256> table = crc_table();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ static_cast<unsigned char>(data[i])) & 0xff] ^ (crc >> 8);
  return ~crc;
}

void seal_user_block(std::vector<char>& image) {
  const std::size_t length = image.size() - kUserBlockBytes;
  char line[96];
  const int n = std::snprintf(line, sizeof line, "%s%08x length=%zu\n", kPrefix,
                              crc32(image.data() + kUserBlockBytes, length), length);
  std::memset(image.data(), 0, kUserBlockBytes);
  std::memcpy(image.data(), line, std::size_t(n));
}

SealCheck check_user_block(const std::vector<char>& bytes) {
  SealCheck out;
  const std::size_t prefix = sizeof kPrefix - 1;
  if (bytes.size() < prefix || std::memcmp(bytes.data(), kPrefix, prefix) != 0) return out;  // missing
  out.state = Seal::damaged;
  if (bytes.size() < kUserBlockBytes) {
    out.why = "the file is " + std::to_string(bytes.size()) + " bytes, shorter than its user block";
    return out;
  }
  const std::string block(bytes.data(), kUserBlockBytes);
  unsigned crc = 0;
  unsigned long long length = 0;
  char end = 0;
  if (std::sscanf(block.c_str(), "kvsim-result crc32=%8x length=%llu%c", &crc, &length, &end) != 3 || end != '\n') {
    out.why = "malformed kvsim-result line";
    return out;
  }
  if (length != bytes.size() - kUserBlockBytes) {
    out.why = "length=" + std::to_string(length) + " but the file holds " + std::to_string(bytes.size() - kUserBlockBytes) +
              " bytes after its user block";
    return out;
  }
  const std::uint32_t actual = crc32(bytes.data() + kUserBlockBytes, std::size_t(length));
  if (actual != crc) {
    char why[80];
    std::snprintf(why, sizeof why, "crc32=%08x stored, %08x computed", crc, actual);
    out.why = why;
    return out;
  }
  out.state = Seal::ok;
  return out;
}

bool has_hdf5_signature(const std::vector<char>& bytes, std::size_t at) {
  return bytes.size() >= at + 8 && std::memcmp(bytes.data() + at, kHdf5Signature, 8) == 0;
}

}  // namespace kvsim
