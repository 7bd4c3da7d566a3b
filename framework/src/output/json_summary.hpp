#pragma once
// `kvsim run --format json`: the run in one line of JSON on stdout, for scripts and CI (the
// result file stays the record). Every summary column of every point comes from the rows the
// file is written from, so the line and the file cannot disagree.
#include <string>
#include <vector>

#include "output/result_file.hpp"

namespace kvsim {

// {"output": ..., "complete": ..., "backend": ..., "device": ..., "copy_GBps": ...,
//  "points": [{"point": 1, <column>: <value>, ...}, ...]}: points numbered from 1 as the
// terminal numbers them (the file's `point` column + 1), NaN as null, the checksum as a
// decimal string (64 bits do not fit a JSON number exactly).
std::string json_summary(const std::string& output, bool complete, const RunProvenance& prov,
                         const std::vector<ResultRow>& rows);

// s as a JSON string literal, quotes included.
std::string json_string(const std::string& s);

}  // namespace kvsim
