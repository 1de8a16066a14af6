#include "radix_group.h"

#include <algorithm>

#include "key_table.h"
#include "parallel.h"
#include "radix_partition.h"

namespace cylon {
namespace {

inline uint64_t PairHash(uint64_t a, uint64_t b) { return CombineHash(CombineHash(kRowHashSeed, a), b); }

// PartitionTable's layout for a pair of codes (one partition's groups, reused across partitions).
class PairTable {
 public:
  void Reset(int64_t entries) {
    uint64_t cap = 16;
    while (static_cast<double>(cap) * 0.6 < static_cast<double>(entries)) cap <<= 1;
    if (slots_.size() < cap) slots_.resize(cap);
    mask_ = cap - 1;
    std::fill(slots_.begin(), slots_.begin() + static_cast<int64_t>(cap), Slot{0, 0, 0});
  }
  /// Inserts (a, b) with value; returns the value already stored for an equal pair, or -1.
  int64_t Insert(uint64_t a, uint64_t b, uint64_t hash, int64_t value) {
    uint64_t pos = hash & mask_;
    while (true) {
      Slot& s = slots_[pos];
      if (s.value_plus1 == 0) {
        s = Slot{a, b, value + 1};
        return -1;
      }
      if (s.a == a && s.b == b) return s.value_plus1 - 1;
      pos = (pos + 1) & mask_;
    }
  }

 private:
  struct Slot {
    uint64_t a, b;
    int64_t value_plus1;  //!< 0 = empty
  };
  Vec<Slot> slots_;
  uint64_t mask_ = 0;
};

}  // namespace

bool RadixGroupIdsPair(const Column& ka, const Column& kb, int64_t num_rows, Vec<int64_t>* group_of_row,
                       Vec<int64_t>* first_row) {
  if (!ka.has_int_code() || !kb.has_int_code() || ka.has_nulls() || kb.has_nulls() ||
      num_rows >= (int64_t{1} << 32)) {
    return false;
  }
  // Scatter (a, b, row) into 2^bits partitions by the top bits of the pair's hash, stable
  // within each partition (rows ascending), as RadixScatter does for one code.
  const int bits = RadixBits(num_rows);
  const uint32_t np = 1u << bits;
  const int shift = 64 - bits;
  auto pid_of = [&](uint64_t h) -> uint32_t { return bits == 0 ? 0 : static_cast<uint32_t>(h >> shift); };
  const int threads = KernelThreads();
  Vec<Vec<int64_t>> hist(threads, Vec<int64_t>(np, 0));
  const int chunks = ParallelChunks(num_rows, 1 << 16, [&](int c, int64_t b, int64_t e) {
    auto& h = hist[c];
    for (int64_t i = b; i < e; ++i) ++h[pid_of(PairHash(InlineKey(ka, i), InlineKey(kb, i)))];
  });
  Vec<int64_t> offsets(np + 1, 0);
  int64_t running = 0;
  for (uint32_t p = 0; p < np; ++p) {
    offsets[p] = running;
    for (int c = 0; c < chunks; ++c) {
      const int64_t cnt = hist[c][p];
      hist[c][p] = running;
      running += cnt;
    }
  }
  offsets[np] = running;
  ScratchVec<uint64_t> codes_a(static_cast<size_t>(num_rows)), codes_b(static_cast<size_t>(num_rows));
  ScratchVec<uint32_t> rows(static_cast<size_t>(num_rows));
  ParallelChunks(num_rows, 1 << 16, [&](int c, int64_t b, int64_t e) {
    auto& cur = hist[c];
    for (int64_t i = b; i < e; ++i) {
      const uint64_t x = InlineKey(ka, i), y = InlineKey(kb, i);
      const int64_t pos = cur[pid_of(PairHash(x, y))]++;
      codes_a[pos] = x;
      codes_b[pos] = y;
      rows[pos] = static_cast<uint32_t>(i);
    }
  });
  ScratchVec<uint32_t> local(static_cast<size_t>(num_rows));
  ScratchVec<int64_t> firsts(static_cast<size_t>(num_rows));
  Vec<int64_t> counts(np, 0);
  ParallelTasks(np, [&](int64_t q) {
    thread_local PairTable table;
    const int64_t begin = offsets[q], end = offsets[q + 1];
    table.Reset(end - begin);
    int64_t groups = 0;
    for (int64_t k = begin; k < end; ++k) {
      const int64_t found = table.Insert(codes_a[k], codes_b[k], PairHash(codes_a[k], codes_b[k]), groups);
      if (found >= 0) {
        local[k] = static_cast<uint32_t>(found);
      } else {
        local[k] = static_cast<uint32_t>(groups);
        firsts[begin + groups] = rows[k];
        ++groups;
      }
    }
    counts[q] = groups;
  });
  Vec<int64_t> base(np + 1, 0);
  for (uint32_t q = 0; q < np; ++q) base[q + 1] = base[q] + counts[q];
  group_of_row->resize(static_cast<size_t>(num_rows));
  first_row->resize(static_cast<size_t>(base[np]));
  int64_t* g = group_of_row->data();
  int64_t* f = first_row->data();
  ParallelTasks(np, [&](int64_t q) {
    const int64_t begin = offsets[q], end = offsets[q + 1];
    for (int64_t k = begin; k < end; ++k) g[rows[k]] = base[q] + local[k];
    for (int64_t j = 0; j < counts[q]; ++j) f[base[q] + j] = firsts[begin + j];
  });
  return true;
}

bool RadixGroupIds(const Column& key, int64_t num_rows, bool nulls_equal, Vec<int64_t>* group_of_row,
                   Vec<int64_t>* first_row) {
  if (!key.has_int_code() || num_rows >= (int64_t{1} << 32)) return false;
  RadixPartitions parts;
  RadixScatter(key, num_rows, RadixBits(num_rows), &parts);
  const uint32_t np = parts.num_partitions();
  const int64_t entries = parts.offsets[np];
  // Local group ids per entry; a partition's groups number fewer than its
  // entries, so its first rows fit in its own entry range of `firsts`.
  ScratchVec<uint32_t> local(static_cast<size_t>(entries));
  ScratchVec<int64_t> firsts(static_cast<size_t>(entries));
  Vec<int64_t> counts(np, 0);
  ParallelTasks(np, [&](int64_t q) {
    thread_local PartitionTable table;
    const int64_t begin = parts.offsets[q], end = parts.offsets[q + 1];
    table.Reset(end - begin);
    int64_t groups = 0;
    for (int64_t k = begin; k < end; ++k) {
      const uint64_t code = parts.codes[k];
      const int64_t found = table.Insert(code, CodeHash(code), groups);
      if (found >= 0) {
        local[k] = static_cast<uint32_t>(found);
      } else {
        local[k] = static_cast<uint32_t>(groups);
        firsts[begin + groups] = parts.rows[k];
        ++groups;
      }
    }
    counts[q] = groups;
  });
  Vec<int64_t> base(np + 1, 0);
  for (uint32_t q = 0; q < np; ++q) base[q + 1] = base[q] + counts[q];
  const int64_t total = base[np];
  const bool null_group = nulls_equal && parts.null_rows > 0;
  group_of_row->resize(static_cast<size_t>(num_rows));
  first_row->resize(static_cast<size_t>(total + (null_group ? 1 : 0)));
  int64_t* g = group_of_row->data();
  int64_t* f = first_row->data();
  ParallelTasks(np, [&](int64_t q) {
    const int64_t begin = parts.offsets[q], end = parts.offsets[q + 1];
    for (int64_t k = begin; k < end; ++k) g[parts.rows[k]] = base[q] + local[k];
    for (int64_t j = 0; j < counts[q]; ++j) f[base[q] + j] = firsts[begin + j];
  });
  if (parts.null_rows > 0) {
    const int64_t null_gid = null_group ? total : -1;
    bool first_seen = false;
    for (int64_t i = 0; i < num_rows; ++i) {
      if (key.is_valid(i)) continue;
      g[i] = null_gid;
      if (null_group && !first_seen) {
        f[total] = i;
        first_seen = true;
      }
    }
  }
  return true;
}

}  // namespace cylon
