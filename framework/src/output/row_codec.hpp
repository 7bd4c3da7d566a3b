#pragma once
// A finished point's row as bytes, for sending from a group leader to rank 0 (which writes the
// file). Little more than length-prefixed fields; both ends run the same kvsim build.
#include <string>

#include "output/result_file.hpp"

namespace kvsim {

std::string pack_row(const ResultRow& row);
// RuntimeError if the bytes are not a whole row.
ResultRow unpack_row(const std::string& bytes);

}  // namespace kvsim
