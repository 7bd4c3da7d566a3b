#pragma once
// Eight consecutive stored values of a row, loaded raw in one access and decoded later: the
// tiled attention kernel issues every load of a tile before it decodes any of them, so the raw
// form is what sits in registers while the loads are in flight. Decoding gives exactly what
// Codec<D>::decode gives for the same values (same conversions, same multiplication).
// Chunk8<D> is declared in registry.hpp and specialised in each format's file.
#include "kvsim/precision/registry.hpp"
