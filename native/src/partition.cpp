#include "partition.h"

#include <algorithm>

#include "parallel.h"
#include "row_compare.h"
#include "row_hash.h"

namespace cylon {

void PartitionByIds(const Vec<uint32_t>& pids, uint32_t num_partitions,
                    Vec<int64_t>* perm, Vec<int64_t>* offsets) {
  const int64_t n = static_cast<int64_t>(pids.size());
  const int threads = KernelThreads();
  // Per-chunk histograms make the scatter parallel and still stable: chunk c's
  // rows of partition p land after chunks 0..c-1's rows of p.
  Vec<Vec<int64_t>> hist(threads, Vec<int64_t>(num_partitions, 0));
  const int chunks = ParallelChunks(n, 1 << 16, [&](int c, int64_t b, int64_t e) {
    auto& h = hist[c];
    for (int64_t i = b; i < e; ++i) ++h[pids[i]];
  });
  offsets->assign(static_cast<size_t>(num_partitions) + 1, 0);
  Vec<Vec<int64_t>> cursor(chunks, Vec<int64_t>(num_partitions, 0));
  int64_t running = 0;
  for (uint32_t p = 0; p < num_partitions; ++p) {
    (*offsets)[p] = running;
    for (int c = 0; c < chunks; ++c) {
      cursor[c][p] = running;
      running += hist[c][p];
    }
  }
  (*offsets)[num_partitions] = running;
  perm->resize(static_cast<size_t>(n));
  int64_t* out = perm->data();
  ParallelChunks(n, 1 << 16, [&](int c, int64_t b, int64_t e) {
    auto& cur = cursor[c];
    for (int64_t i = b; i < e; ++i) out[cur[pids[i]]++] = i;
  });
}

Status HashPartition(const Columns& keys, int64_t num_rows, int64_t num_partitions,
                     Vec<int64_t>* perm, Vec<int64_t>* offsets) {
  if (num_partitions < 1 || num_partitions > (1 << 24)) {
    return Status::Invalid("num_partitions must be in [1, 16777216], found " + std::to_string(num_partitions));
  }
  Vec<uint64_t> hashes;
  HashRows(keys, num_rows, &hashes);
  Vec<uint32_t> pids(static_cast<size_t>(num_rows));
  const uint32_t np = static_cast<uint32_t>(num_partitions);
  ParallelFor(num_rows, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) pids[i] = PartitionOfHash(hashes[i], np);
  });
  PartitionByIds(pids, np, perm, offsets);
  return Status::OK();
}

Status RangePartition(const Columns& keys, int64_t num_rows, const Columns& splitters,
                      int64_t num_splitters, const Vec<uint8_t>& ascending,
                      Vec<int64_t>* perm, Vec<int64_t>* offsets) {
  CYLON_RETURN_NOT_OK(CheckComparable(keys, splitters));
  Vec<uint32_t> pids(static_cast<size_t>(num_rows));
  ParallelFor(num_rows, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      // First splitter s with row <= splitter[s]: lower bound on "splitter < row".
      int64_t lo = 0, hi = num_splitters;
      while (lo < hi) {
        const int64_t mid = (lo + hi) / 2;
        if (CompareRows(splitters, mid, keys, i, ascending) < 0) {
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      pids[i] = static_cast<uint32_t>(lo);
    }
  });
  PartitionByIds(pids, static_cast<uint32_t>(num_splitters + 1), perm, offsets);
  return Status::OK();
}

}  // namespace cylon
