#include "radix_partition.h"

#include <algorithm>

#include "parallel.h"

namespace cylon {

int RadixBits(int64_t rows, int64_t target) {
  int bits = 0;
  while (bits < 12 && (rows >> bits) > target) ++bits;
  return bits;
}

void RadixScatter(const Column& key, int64_t num_rows, int bits, RadixPartitions* out) {
  out->bits = bits;
  const uint32_t parts = 1u << bits;
  const int shift = 64 - bits;
  auto pid_of = [&](uint64_t code) -> uint32_t {
    return bits == 0 ? 0 : static_cast<uint32_t>(CodeHash(code) >> shift);
  };
  const int threads = KernelThreads();
  Vec<Vec<int64_t>> hist(threads, Vec<int64_t>(parts, 0));
  Vec<int64_t> nulls(threads, 0);
  const bool nullable = key.has_nulls();
  const int chunks = ParallelChunks(num_rows, 1 << 16, [&](int c, int64_t b, int64_t e) {
    auto& h = hist[c];
    for (int64_t i = b; i < e; ++i) {
      if (nullable && !key.is_valid(i)) {
        ++nulls[c];
        continue;
      }
      ++h[pid_of(InlineKey(key, i))];
    }
  });
  out->offsets.assign(parts + 1, 0);
  int64_t running = 0;
  out->null_rows = 0;
  for (int c = 0; c < chunks; ++c) out->null_rows += nulls[c];
  for (uint32_t p = 0; p < parts; ++p) {
    out->offsets[p] = running;
    for (int c = 0; c < chunks; ++c) {
      const int64_t cnt = hist[c][p];
      hist[c][p] = running;  // becomes chunk c's cursor in partition p
      running += cnt;
    }
  }
  out->offsets[parts] = running;
  out->codes.resize(static_cast<size_t>(running));
  out->rows.resize(static_cast<size_t>(running));
  uint64_t* codes = out->codes.data();
  uint32_t* rows = out->rows.data();
  ParallelChunks(num_rows, 1 << 16, [&](int c, int64_t b, int64_t e) {
    auto& cur = hist[c];
    for (int64_t i = b; i < e; ++i) {
      if (nullable && !key.is_valid(i)) continue;
      const uint64_t code = InlineKey(key, i);
      const int64_t pos = cur[pid_of(code)]++;
      codes[pos] = code;
      rows[pos] = static_cast<uint32_t>(i);
    }
  });
}

void PartitionTable::Reset(int64_t entries) {
  uint64_t cap = 16;
  while (static_cast<double>(cap) * 0.6 < static_cast<double>(entries)) cap <<= 1;
  if (slots_.size() < cap) slots_.resize(cap);
  mask_ = cap - 1;
  std::fill(slots_.begin(), slots_.begin() + static_cast<int64_t>(cap), Slot{0, 0});
}

}  // namespace cylon
