#pragma once
// The storage precisions' codecs: each codec encodes and decodes a unit of consecutive values
// along head_dim (what one 16-byte storage vector holds; a 32-value scale group for int8 and
// int4). The same functions run on the device and, as host twins, in tests and references, so
// both sides agree bit for bit. The formats and everything derived from them are declared in
// registry.hpp; this header is the name most callers include.
#include "kvsim/precision/registry.hpp"
