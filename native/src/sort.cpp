#include "sort.h"

#include <algorithm>
#include <array>
#include <limits>
#include <cmath>
#include <cstring>
#include <numeric>
#include <queue>

#include "parallel.h"
#include "row_compare.h"

namespace cylon {
namespace {

// Order-preserving unsigned code of a fixed-width value in `width` bytes.
inline uint64_t SortCode(const Column& c, int64_t i, bool ascending) {
  const int bits = c.width * 8;
  const uint64_t mask = bits == 64 ? ~0ULL : ((1ULL << bits) - 1);
  uint64_t u;
  switch (c.kind) {
    case Kind::kSigned:
      u = (c.int_bits(i) & mask) ^ (1ULL << (bits - 1));
      break;
    case Kind::kFloat: {
      if (c.width == 4) {
        float f = static_cast<float>(c.float_value(i));
        if (std::isnan(f)) f = std::numeric_limits<float>::quiet_NaN();
        if (f == 0.0f) f = 0.0f;
        uint32_t b;
        std::memcpy(&b, &f, 4);
        u = (b >> 31) ? (~b & 0xffffffffULL) : (b | 0x80000000ULL);
      } else {
        double d = c.float_value(i);
        if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();
        if (d == 0.0) d = 0.0;
        uint64_t b;
        std::memcpy(&b, &d, 8);
        u = (b >> 63) ? ~b : (b | (1ULL << 63));
      }
      break;
    }
    default:
      u = c.int_bits(i) & mask;
  }
  return ascending ? u : (~u & mask);
}

// Stable LSD counting-sort passes over [begin, end) for the given digits,
// ping-ponging through scratch buffers; the result ends in codes/rows.
template <bool kRows>
void LsdRange(uint64_t* codes, int64_t* rows, int64_t begin, int64_t end, const std::vector<int>& digits,
              Vec<uint64_t>& tmp_codes, Vec<int64_t>& tmp_rows) {
  const int64_t n = end - begin;
  if (n < 2 || digits.empty()) return;
  if (static_cast<int64_t>(tmp_codes.size()) < n) {
    tmp_codes.resize(static_cast<size_t>(n));
    if (kRows) tmp_rows.resize(static_cast<size_t>(n));
  }
  uint64_t* src_c = codes + begin;
  int64_t* src_r = kRows ? rows + begin : nullptr;
  uint64_t* dst_c = tmp_codes.data();
  int64_t* dst_r = tmp_rows.data();
  for (int d : digits) {
    const int shift = d * 8;
    int64_t count[256] = {0};
    for (int64_t i = 0; i < n; ++i) ++count[(src_c[i] >> shift) & 0xff];
    if (*std::max_element(count, count + 256) == n) continue;  // digit constant in this range
    int64_t run = 0;
    for (int v = 0; v < 256; ++v) {
      const int64_t c = count[v];
      count[v] = run;
      run += c;
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t pos = count[(src_c[i] >> shift) & 0xff]++;
      dst_c[pos] = src_c[i];
      if (kRows) dst_r[pos] = src_r[i];
    }
    std::swap(src_c, dst_c);
    std::swap(src_r, dst_r);
  }
  if (src_c != codes + begin) {
    std::copy(src_c, src_c + n, codes + begin);
    if (kRows) std::copy(src_r, src_r + n, rows + begin);
  }
}

// Stable radix sort of (code, row) pairs on the low `bytes` bytes of code.
// One pass counts every digit; digits where all codes share a byte are
// skipped. Large inputs get one parallel MSD pass on the top varying digit,
// then each of its 256 buckets (cache-sized) is LSD-sorted by a thread.
template <bool kRows>
void RadixSort(Vec<uint64_t>& codes, Vec<int64_t>& rows, int bytes) {
  const int64_t n = static_cast<int64_t>(codes.size());
  if (n < 2) return;
  const int threads = KernelThreads();
  Vec<Vec<int64_t>> part_hist(threads, Vec<int64_t>(static_cast<size_t>(bytes) * 256, 0));
  const int hchunks = ParallelChunks(n, 1 << 16, [&](int c, int64_t b, int64_t e) {
    int64_t* h = part_hist[c].data();
    for (int64_t i = b; i < e; ++i) {
      uint64_t v = codes[i];
      for (int d = 0; d < bytes; ++d) {
        ++h[d * 256 + (v & 0xff)];
        v >>= 8;
      }
    }
  });
  std::vector<int> varying;
  for (int d = 0; d < bytes; ++d) {
    int64_t top = 0;
    for (int v = 0; v < 256; ++v) {
      int64_t sum = 0;
      for (int c = 0; c < hchunks; ++c) sum += part_hist[c][d * 256 + v];
      top = std::max(top, sum);
    }
    if (top != n) varying.push_back(d);
  }
  if (varying.empty()) return;
  if (n < (1 << 16) || varying.size() == 1) {
    Vec<uint64_t> tc;
    Vec<int64_t> tr;
    LsdRange<kRows>(codes.data(), rows.data(), 0, n, varying, tc, tr);
    return;
  }
  const int top = varying.back();
  varying.pop_back();
  const int shift = top * 8;
  // Stable parallel MSD scatter: chunk c's rows of bucket v follow chunks < c.
  Vec<std::array<int64_t, 256>> cursor(threads);
  const int chunks = ParallelChunks(n, 1 << 16, [&](int c, int64_t b, int64_t e) {
    auto& h = cursor[c];
    h.fill(0);
    for (int64_t i = b; i < e; ++i) ++h[(codes[i] >> shift) & 0xff];
  });
  std::array<int64_t, 257> bucket{};
  int64_t run = 0;
  for (int v = 0; v < 256; ++v) {
    bucket[v] = run;
    for (int c = 0; c < chunks; ++c) {
      const int64_t cnt = cursor[c][v];
      cursor[c][v] = run;
      run += cnt;
    }
  }
  bucket[256] = run;
  Vec<uint64_t> codes2(static_cast<size_t>(n));
  Vec<int64_t> rows2(kRows ? static_cast<size_t>(n) : 0);
  ParallelChunks(n, 1 << 16, [&](int c, int64_t b, int64_t e) {
    auto& cur = cursor[c];
    for (int64_t i = b; i < e; ++i) {
      const int64_t pos = cur[(codes[i] >> shift) & 0xff]++;
      codes2[pos] = codes[i];
      if (kRows) rows2[pos] = rows[i];
    }
  });
  codes.swap(codes2);
  rows.swap(rows2);
  ParallelTasks(256, [&](int64_t v) {
    thread_local Vec<uint64_t> tc;
    thread_local Vec<int64_t> tr;
    LsdRange<kRows>(codes.data(), rows.data(), bucket[v], bucket[v + 1], varying, tc, tr);
  });
}

void RadixSortPairs(Vec<uint64_t>& codes, Vec<int64_t>& rows, int bytes) { RadixSort<true>(codes, rows, bytes); }

// Inverse of SortCode for integer kinds: the value bits in `width` bytes.
inline uint64_t DecodeIntCode(uint64_t u, const Column& c, bool ascending) {
  const int bits = c.width * 8;
  const uint64_t mask = bits == 64 ? ~0ULL : ((1ULL << bits) - 1);
  if (!ascending) u = ~u & mask;
  return c.kind == Kind::kSigned ? (u ^ (1ULL << (bits - 1))) : u;
}

// One stable pass: reorders perm by column c (nulls last).
void StableSortByFixedColumn(const Column& c, bool ascending, Vec<int64_t>& perm) {
  const int64_t n = static_cast<int64_t>(perm.size());
  Vec<uint64_t> codes;
  Vec<int64_t> rows, nulls;
  if (!c.has_nulls()) {
    codes.resize(static_cast<size_t>(n));
    rows.resize(static_cast<size_t>(n));
    ParallelFor(n, 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        codes[k] = SortCode(c, perm[k], ascending);
        rows[k] = perm[k];
      }
    });
    RadixSortPairs(codes, rows, c.kind == Kind::kBool ? 1 : c.width);
    std::copy(rows.begin(), rows.end(), perm.begin());
    return;
  }
  codes.reserve(static_cast<size_t>(n));
  rows.reserve(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    const int64_t r = perm[k];
    if (!c.is_valid(r)) {
      nulls.push_back(r);
      continue;
    }
    codes.push_back(SortCode(c, r, ascending));
    rows.push_back(r);
  }
  RadixSortPairs(codes, rows, c.kind == Kind::kBool ? 1 : c.width);
  std::copy(rows.begin(), rows.end(), perm.begin());
  std::copy(nulls.begin(), nulls.end(), perm.begin() + static_cast<int64_t>(rows.size()));
}

// Big-endian first 8 bytes of a string, zero-padded: codes order as the
// strings' prefixes do (a normalised key prefix, as DuckDB's sort keys and
// Polars' row encoding), so a radix pass settles most comparisons.
inline uint64_t PrefixCode(std::string_view s, size_t skip) {
  uint64_t v = 0;
  if (s.size() > skip) std::memcpy(&v, s.data() + skip, std::min<size_t>(8, s.size() - skip));
  return __builtin_bswap64(v);
}

// Bytes every valid value of c starts with (keys often share a prefix: the
// 8 bytes after it are the ones that tell rows apart).
size_t CommonPrefix(const Column& c, int64_t num_rows) {
  int64_t ref = -1;
  size_t common = 0;
  for (int64_t i = 0; i < num_rows; ++i) {
    if (!c.is_valid(i)) continue;
    const std::string_view s = c.bytes(i);
    if (ref < 0) {
      ref = i;
      common = s.size();
      continue;
    }
    const std::string_view r = c.bytes(ref);
    size_t k = 0;
    const size_t m = std::min(common, s.size());
    while (k < m && r[k] == s[k]) ++k;
    common = k;
    if (common == 0) break;
  }
  return common;
}

// Sort with a binary first key: radix on its 8-byte prefixes, then each run of
// equal prefixes (in row order, the radix being stable) by full comparison.
void SortByStringPrefix(const Columns& keys, int64_t num_rows, const Vec<uint8_t>& ascending, Vec<int64_t>* out) {
  const Column& first = *keys[0];
  Vec<uint64_t> codes;
  Vec<int64_t> rows, nulls;
  codes.reserve(static_cast<size_t>(num_rows));
  rows.reserve(static_cast<size_t>(num_rows));
  const size_t skip = CommonPrefix(first, num_rows);
  for (int64_t i = 0; i < num_rows; ++i) {
    if (!first.is_valid(i)) {
      nulls.push_back(i);  // nulls last in both directions
      continue;
    }
    const uint64_t code = PrefixCode(first.bytes(i), skip);
    codes.push_back(ascending[0] ? code : ~code);
    rows.push_back(i);
  }
  RadixSortPairs(codes, rows, 8);
  // Runs of equal prefixes: sorted in parallel, each by the full key.
  std::vector<std::pair<int64_t, int64_t>> runs;
  const int64_t n = static_cast<int64_t>(rows.size());
  for (int64_t b = 0; b < n;) {
    int64_t e = b + 1;
    while (e < n && codes[e] == codes[b]) ++e;
    if (e - b > 1) runs.emplace_back(b, e);
    b = e;
  }
  auto less = [&](int64_t a, int64_t b) { return CompareRows(keys, a, keys, b, ascending) < 0; };
  ParallelTasks(static_cast<int64_t>(runs.size()), [&](int64_t r) {
    std::stable_sort(rows.begin() + runs[r].first, rows.begin() + runs[r].second, less);
  });
  if (keys.size() > 1) std::stable_sort(nulls.begin(), nulls.end(), less);
  std::copy(rows.begin(), rows.end(), out->begin());
  std::copy(nulls.begin(), nulls.end(), out->begin() + n);
}

}  // namespace

Status ArgSort(const Columns& keys, int64_t num_rows, const Vec<uint8_t>& ascending,
               Vec<int64_t>* out) {
  out->resize(static_cast<size_t>(num_rows));
  std::iota(out->begin(), out->end(), 0);
  if (num_rows < 2 || keys.empty()) return Status::OK();
  const bool all_fixed = std::all_of(keys.begin(), keys.end(), [](const Column* c) { return c->has_int_code(); });
  if (all_fixed && num_rows > 64) {
    for (size_t k = keys.size(); k-- > 0;) StableSortByFixedColumn(*keys[k], ascending[k], *out);
    return Status::OK();
  }
  if (keys[0]->is_binary() && num_rows > 64) {
    SortByStringPrefix(keys, num_rows, ascending, out);
    return Status::OK();
  }
  std::stable_sort(out->begin(), out->end(), [&](int64_t a, int64_t b) {
    return CompareRows(keys, a, keys, b, ascending) < 0;
  });
  return Status::OK();
}

Status SortValues(const Column& c, bool ascending, Vec<uint8_t>* out) {
  if (c.has_nulls() || !(c.kind == Kind::kSigned || c.kind == Kind::kUnsigned)) {
    return Status::Invalid("column '" + c.name + "': sorting values in place needs a null-free integer column");
  }
  const int64_t n = c.length;
  Vec<uint64_t> codes(static_cast<size_t>(n));
  ParallelFor(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) codes[i] = SortCode(c, i, ascending);
  });
  Vec<int64_t> no_rows;
  RadixSort<false>(codes, no_rows, c.width);
  out->resize(static_cast<size_t>(n) * c.width);
  ParallelFor(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const uint64_t v = DecodeIntCode(codes[i], c, ascending);
      switch (c.width) {
        case 1: reinterpret_cast<uint8_t*>(out->data())[i] = static_cast<uint8_t>(v); break;
        case 2: reinterpret_cast<uint16_t*>(out->data())[i] = static_cast<uint16_t>(v); break;
        case 4: reinterpret_cast<uint32_t*>(out->data())[i] = static_cast<uint32_t>(v); break;
        default: reinterpret_cast<uint64_t*>(out->data())[i] = v;
      }
    }
  });
  return Status::OK();
}

Status MergeSorted(const Columns& keys, const Vec<int64_t>& run_offsets,
                   const Vec<uint8_t>& ascending, Vec<int64_t>* out) {
  const size_t runs = run_offsets.empty() ? 0 : run_offsets.size() - 1;
  const int64_t total = runs ? run_offsets.back() : 0;
  out->clear();
  out->reserve(static_cast<size_t>(total));
  struct Head {
    int64_t row;
    size_t run;
  };
  // The priority queue pops the greatest, so "greater" means "sorts later".
  auto later = [&](const Head& a, const Head& b) {
    const int c = CompareRows(keys, a.row, keys, b.row, ascending);
    return c != 0 ? c > 0 : a.run > b.run;
  };
  std::priority_queue<Head, Vec<Head>, decltype(later)> heap(later);
  Vec<int64_t> end(runs);
  for (size_t r = 0; r < runs; ++r) {
    end[r] = run_offsets[r + 1];
    if (run_offsets[r] < end[r]) heap.push({run_offsets[r], r});
  }
  while (!heap.empty()) {
    Head h = heap.top();
    heap.pop();
    out->push_back(h.row);
    if (h.row + 1 < end[h.run]) heap.push({h.row + 1, h.run});
  }
  return Status::OK();
}

}  // namespace cylon
