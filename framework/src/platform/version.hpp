#pragma once
#include <string>

namespace kvsim {
// Set at build time from the git work tree (see cmake/GitVersion.cmake).
const char* version();
const char* git_sha();
}  // namespace kvsim
