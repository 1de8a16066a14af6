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

// Stable LSD radix sort of (code, row) pairs on the low `bytes` bytes of code.
void RadixSortPairs(Vec<uint64_t>& codes, Vec<int64_t>& rows, int bytes) {
  const int64_t n = static_cast<int64_t>(codes.size());
  if (n < 2) return;
  // One pass over the data counts every digit; digits where all codes share a
  // byte value are skipped (keys in [0, 10M) need 3 passes, not 8).
  Vec<int64_t> hist(static_cast<size_t>(bytes) * 256, 0);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t c = codes[i];
    for (int d = 0; d < bytes; ++d) {
      ++hist[d * 256 + (c & 0xff)];
      c >>= 8;
    }
  }
  Vec<uint64_t> codes2(static_cast<size_t>(n));
  Vec<int64_t> rows2(static_cast<size_t>(n));
  const int threads = KernelThreads();
  for (int d = 0; d < bytes; ++d) {
    const int64_t* h = &hist[d * 256];
    if (*std::max_element(h, h + 256) == n) continue;
    const int shift = d * 8;
    // Per-chunk histograms of this digit keep the parallel scatter stable.
    Vec<std::array<int64_t, 256>> local(threads);
    const int chunks = ParallelChunks(n, 1 << 18, [&](int c, int64_t b, int64_t e) {
      auto& lh = local[c];
      lh.fill(0);
      for (int64_t i = b; i < e; ++i) ++lh[(codes[i] >> shift) & 0xff];
    });
    int64_t running = 0;
    for (int v = 0; v < 256; ++v) {
      for (int c = 0; c < chunks; ++c) {
        const int64_t cnt = local[c][v];
        local[c][v] = running;
        running += cnt;
      }
    }
    ParallelChunks(n, 1 << 18, [&](int c, int64_t b, int64_t e) {
      auto& cur = local[c];
      for (int64_t i = b; i < e; ++i) {
        const int64_t pos = cur[(codes[i] >> shift) & 0xff]++;
        codes2[pos] = codes[i];
        rows2[pos] = rows[i];
      }
    });
    codes.swap(codes2);
    rows.swap(rows2);
  }
}

// One stable pass: reorders perm by column c (nulls last).
void StableSortByFixedColumn(const Column& c, bool ascending, Vec<int64_t>& perm) {
  const int64_t n = static_cast<int64_t>(perm.size());
  Vec<uint64_t> codes;
  Vec<int64_t> rows, nulls;
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

}  // namespace

Status ArgSort(const Columns& keys, int64_t num_rows, const Vec<uint8_t>& ascending,
               Vec<int64_t>* out) {
  out->resize(static_cast<size_t>(num_rows));
  std::iota(out->begin(), out->end(), 0);
  if (num_rows < 2 || keys.empty()) return Status::OK();
  const bool all_fixed = std::all_of(keys.begin(), keys.end(), [](const Column* c) { return !c->is_binary(); });
  if (all_fixed && num_rows > 64) {
    for (size_t k = keys.size(); k-- > 0;) StableSortByFixedColumn(*keys[k], ascending[k], *out);
    return Status::OK();
  }
  std::stable_sort(out->begin(), out->end(), [&](int64_t a, int64_t b) {
    return CompareRows(keys, a, keys, b, ascending) < 0;
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
