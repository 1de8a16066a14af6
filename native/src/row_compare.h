// Row equality and ordering across two sets of comparable key columns.
// SQL semantics: equality may treat nulls as equal (DISTINCT, set ops, group-by)
// or never equal (join keys); ordering puts nulls last in both directions and
// NaN above every other float (as DuckDB); strings compare by bytes.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "column.h"

namespace cylon {

/// Equality of a[i] and b[j] in one key column; both valid.
inline bool ValuesEqual(const Column& a, int64_t i, const Column& b, int64_t j) {
  switch (a.kind) {
    case Kind::kFloat: return canonical_float_bits(a.float_value(i)) == canonical_float_bits(b.float_value(j));
    case Kind::kBinary:
    case Kind::kLargeBinary:
    case Kind::kBinaryView: return a.bytes(i) == b.bytes(j);
    // Two's complement is a unique representation: equal values, equal bytes.
    case Kind::kDecimal: return std::memcmp(a.wide_words(i), b.wide_words(j), static_cast<size_t>(a.width)) == 0;
    default: return a.int_bits(i) == b.int_bits(j);
  }
}

inline bool RowsEqual(const Columns& a, int64_t i, const Columns& b, int64_t j, bool nulls_equal) {
  for (size_t k = 0; k < a.size(); ++k) {
    const bool va = a[k]->is_valid(i), vb = b[k]->is_valid(j);
    if (!va || !vb) {
      if (nulls_equal && !va && !vb) continue;
      return false;
    }
    if (!ValuesEqual(*a[k], i, *b[k], j)) return false;
  }
  return true;
}

/// Three-way comparison of valid values a[i] and b[j] (ascending).
inline int CompareValues(const Column& a, int64_t i, const Column& b, int64_t j) {
  switch (a.kind) {
    case Kind::kSigned: {
      const int64_t x = static_cast<int64_t>(a.int_bits(i)), y = static_cast<int64_t>(b.int_bits(j));
      return (x > y) - (x < y);
    }
    case Kind::kUnsigned:
    case Kind::kBool: {
      const uint64_t x = a.int_bits(i), y = b.int_bits(j);
      return (x > y) - (x < y);
    }
    case Kind::kDecimal: {
      // The top word is signed, the others unsigned, most significant first.
      const uint64_t* x = a.wide_words(i);
      const uint64_t* y = b.wide_words(j);
      int w = a.width / 8 - 1;
      const int64_t xt = static_cast<int64_t>(x[w]), yt = static_cast<int64_t>(y[w]);
      if (xt != yt) return xt < yt ? -1 : 1;
      while (w-- > 0) {
        if (x[w] != y[w]) return x[w] < y[w] ? -1 : 1;
      }
      return 0;
    }
    case Kind::kFloat: {
      const double x = a.float_value(i), y = b.float_value(j);
      const bool nx = std::isnan(x), ny = std::isnan(y);
      if (nx || ny) return static_cast<int>(nx) - static_cast<int>(ny);  // NaN is largest
      return (x > y) - (x < y);
    }
    default: {
      const auto x = a.bytes(i), y = b.bytes(j);
      const size_t n = std::min(x.size(), y.size());
      const int c = n ? std::memcmp(x.data(), y.data(), n) : 0;
      if (c != 0) return c < 0 ? -1 : 1;
      return (x.size() > y.size()) - (x.size() < y.size());
    }
  }
}

/// Three-way row comparison under per-column directions; nulls last always.
inline int CompareRows(const Columns& a, int64_t i, const Columns& b, int64_t j,
                       const Vec<uint8_t>& ascending) {
  for (size_t k = 0; k < a.size(); ++k) {
    const bool va = a[k]->is_valid(i), vb = b[k]->is_valid(j);
    if (!va || !vb) {
      if (va == vb) continue;
      return va ? -1 : 1;  // the null one sorts after
    }
    int c = CompareValues(*a[k], i, *b[k], j);
    if (c != 0) return ascending[k] ? c : -c;
  }
  return 0;
}

}  // namespace cylon
