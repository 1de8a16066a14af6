// Column: a typed, read-only view of one imported Arrow array (any offset), and its owner.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "buffer_pool.h"
#include "status.h"
#include "unique.h"

namespace cylon {

/// How the kernel reads a column's values; logical types map onto these
/// (dates, timestamps and decimal32/64 are signed integers, utf8 is binary).
/// kDecimal: decimal128/256, two's complement little-endian words (width 16 or 32).
/// kBinaryView: string_view/binary_view, 16-byte views into variadic buffers.
enum class Kind : uint8_t { kSigned, kUnsigned, kFloat, kBool, kBinary, kLargeBinary, kDecimal, kBinaryView };

struct Column {
  std::string name;      //!< for error messages
  std::string format;    //!< Arrow format string, e.g. "l", "u", "tsu:UTC"
  Kind kind = Kind::kSigned;
  int width = 8;         //!< bytes per value for fixed-width kinds
  int64_t length = 0;
  int64_t offset = 0;    //!< the array's own offset (sliced arrays)
  int64_t null_count = 0;
  const uint8_t* validity = nullptr;  //!< null when there are no nulls
  const uint8_t* data = nullptr;      //!< values, or characters for binary
  const int32_t* offsets32 = nullptr;
  const int64_t* offsets64 = nullptr;
  const void* const* variadic = nullptr;  //!< kBinaryView: the character buffers
  int64_t num_variadic = 0;
  int precision = 0;     //!< decimals: from the format "d:p,s[,bits]"
  int scale = 0;

  bool is_valid(int64_t i) const {
    if (validity == nullptr) return true;
    const int64_t j = i + offset;
    return (validity[j >> 3] >> (j & 7)) & 1;
  }
  bool has_nulls() const { return validity != nullptr && null_count != 0; }

  /// Signed/unsigned/bool value widened to 64 bits (bit pattern for unsigned).
  uint64_t int_bits(int64_t i) const {
    const int64_t j = i + offset;
    switch (kind) {
      case Kind::kBool:
        return (data[j >> 3] >> (j & 7)) & 1;
      case Kind::kSigned:
        switch (width) {
          case 1: return static_cast<uint64_t>(static_cast<int64_t>(reinterpret_cast<const int8_t*>(data)[j]));
          case 2: return static_cast<uint64_t>(static_cast<int64_t>(reinterpret_cast<const int16_t*>(data)[j]));
          case 4: return static_cast<uint64_t>(static_cast<int64_t>(reinterpret_cast<const int32_t*>(data)[j]));
          default: return static_cast<uint64_t>(reinterpret_cast<const int64_t*>(data)[j]);
        }
      default:  // kUnsigned
        switch (width) {
          case 1: return data[j];
          case 2: return reinterpret_cast<const uint16_t*>(data)[j];
          case 4: return reinterpret_cast<const uint32_t*>(data)[j];
          default: return reinterpret_cast<const uint64_t*>(data)[j];
        }
    }
  }
  double float_value(int64_t i) const {
    const int64_t j = i + offset;
    return width == 4 ? static_cast<double>(reinterpret_cast<const float*>(data)[j])
                      : reinterpret_cast<const double*>(data)[j];
  }
  std::string_view bytes(int64_t i) const {
    const int64_t j = i + offset;
    if (kind == Kind::kBinaryView) {
      // Arrow's view layout: length, then 12 inline bytes, or a 4-byte prefix,
      // the buffer index and the offset into that buffer.
      const uint8_t* v = data + 16 * j;
      int32_t len, buf, off;
      std::memcpy(&len, v, 4);
      if (len <= 12) return {reinterpret_cast<const char*>(v + 4), static_cast<size_t>(len)};
      std::memcpy(&buf, v + 8, 4);
      std::memcpy(&off, v + 12, 4);
      return {static_cast<const char*>(variadic[buf]) + off, static_cast<size_t>(len)};
    }
    if (kind == Kind::kBinary) {
      return {reinterpret_cast<const char*>(data) + offsets32[j],
              static_cast<size_t>(offsets32[j + 1] - offsets32[j])};
    }
    return {reinterpret_cast<const char*>(data) + offsets64[j],
            static_cast<size_t>(offsets64[j + 1] - offsets64[j])};
  }
  /// The 64-bit words of a decimal128/256 value, least significant first.
  const uint64_t* wide_words(int64_t i) const {
    return reinterpret_cast<const uint64_t*>(data + static_cast<size_t>(width) * (i + offset));
  }
  /// A decimal128 value, or a decimal256 one that fits 128 bits (fits set false otherwise).
  __int128 wide_value(int64_t i, bool* fits) const {
    const uint64_t* w = wide_words(i);
    __int128 v = static_cast<__int128>((static_cast<unsigned __int128>(w[1]) << 64) | w[0]);
    if (width == 32) {
      const uint64_t ext = static_cast<int64_t>(w[1]) < 0 ? ~0ULL : 0ULL;
      if (w[2] != ext || w[3] != ext) *fits = false;
    }
    return v;
  }
  bool is_binary() const {
    return kind == Kind::kBinary || kind == Kind::kLargeBinary || kind == Kind::kBinaryView;
  }
  bool is_fixed() const { return !is_binary() && kind != Kind::kBool; }
  /// True when every value is read as one 64-bit integer code (int_bits or float bits):
  /// the inline / radix paths that key on such codes apply.
  bool has_int_code() const { return !is_binary() && kind != Kind::kDecimal; }
};

/// Floats compare and hash by value with -0.0 == 0.0 and NaN == NaN (as DuckDB).
inline uint64_t canonical_float_bits(double v) {
  if (v == 0.0) return 0;  // folds -0.0
  if (std::isnan(v)) return 0x7ff8000000000000ULL;
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

/// Owns an imported array (and its schema) for the duration of one kernel call.
struct ImportedColumn {
  UniqueSchema schema;
  UniqueArray array;
  Column view;
};

/// Moves schema/array out of the caller's structs (they are left released) and
/// builds a view. Errors name the column and its Arrow format.
Status ImportColumn(ArrowSchema* schema, ArrowArray* array, const std::string& name,
                    ImportedColumn* out);

/// Columns of one table taking part in a call (keys, or values).
using Columns = std::vector<const Column*>;

/// Checks that paired key columns can be compared (same kind and width).
Status CheckComparable(const Columns& a, const Columns& b);

}  // namespace cylon
