// Row hashing over key columns: one 64-bit value per row, identical in every
// process, machine and run (fixed seed, little-endian byte order), so that
// distributed workers agree on partitions.
//
// Definition (documented in docs/kernel.md):
//   v(col, i) = null        -> kNullHash
//               int / bool  -> the value sign- or zero-extended to 64 bits
//               float       -> canonical IEEE bits of the value as float64
//                              (-0.0 folded to 0.0, every NaN to one NaN)
//               binary/utf8 -> HashBytes(bytes, seed 0) (views and large types alike)
//               decimal     -> the unscaled value: its low word when it fits int64
//                              (as an integer, so decimal32/64/128/256 agree), else
//                              WideHash of its words without sign-extension words
//   h = kRowHashSeed; for each key column: h = Mix64((h * kGolden) ^ v)
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "column.h"

namespace cylon {

constexpr uint64_t kRowHashSeed = 0x43796C6F6E2D3031ULL;  // "Cylon-01"
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
constexpr uint64_t kNullHash = 0x6E756C6C6E756C6CULL;     // "nullnull"

/// murmur3's 64-bit finaliser: full avalanche, cheap.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

inline uint64_t Mum(uint64_t a, uint64_t b) {
  const __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

/// A wyhash-style byte hash: 8 bytes per step, little-endian loads.
inline uint64_t HashBytes(const char* p, size_t n, uint64_t seed) {
  uint64_t h = seed ^ (static_cast<uint64_t>(n) * kGolden);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = Mum(h ^ v, 0xa0761d6478bd642fULL);
    p += 8;
    n -= 8;
  }
  // The last n < 8 bytes as a little-endian integer, read without a byte-wise copy
  // into a stack word (whose 8-byte reload cannot be store-forwarded: it was the
  // hottest instruction of string hashing). Overlapping reads OR equal bytes.
  uint64_t tail = 0;
  if (n >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    tail = static_cast<uint64_t>(lo) | (static_cast<uint64_t>(hi) << ((n - 4) * 8));
  } else if (n > 0) {
    const auto* u = reinterpret_cast<const uint8_t*>(p);
    tail = static_cast<uint64_t>(u[0]) | (static_cast<uint64_t>(u[n / 2]) << ((n / 2) * 8)) |
           (static_cast<uint64_t>(u[n - 1]) << ((n - 1) * 8));
  }
  h = Mum(h ^ tail ^ (static_cast<uint64_t>(n) << 59), 0xe7037ed1a0b428dbULL);
  return Mix64(h);
}

/// Hash input of a two's complement value of n 64-bit words (least significant first).
inline uint64_t WideHash(const uint64_t* w, int n) {
  // Drop top words that only extend the sign of the word below.
  while (n > 1 && w[n - 1] == (static_cast<int64_t>(w[n - 2]) < 0 ? ~0ULL : 0ULL)) --n;
  uint64_t h = w[0];
  for (int k = 1; k < n; ++k) h = Mix64((h * kGolden) ^ w[k]);
  return h;
}

/// The per-value hash input v(col, i) defined above.
inline uint64_t ValueHash(const Column& c, int64_t i) {
  if (!c.is_valid(i)) return kNullHash;
  switch (c.kind) {
    case Kind::kFloat: return canonical_float_bits(c.float_value(i));
    case Kind::kBinary:
    case Kind::kLargeBinary:
    case Kind::kBinaryView: {
      const auto s = c.bytes(i);
      return HashBytes(s.data(), s.size(), 0);
    }
    case Kind::kDecimal: return WideHash(c.wide_words(i), c.width / 8);
    default: return c.int_bits(i);
  }
}

inline uint64_t CombineHash(uint64_t h, uint64_t v) { return Mix64((h * kGolden) ^ v); }

/// Hashes every row of `keys` into out (resized to the row count).
void HashRows(const Columns& keys, int64_t num_rows, Vec<uint64_t>* out);

/// Marks rows where any key is null (empty vector: no such row).
void NullKeyRows(const Columns& keys, int64_t num_rows, Vec<uint8_t>* out);

}  // namespace cylon
