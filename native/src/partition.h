// Partitioning: which rows go to which worker. Results are a permutation that
// groups rows by partition (stable within a partition) plus partition offsets;
// Python takes once with the permutation and slices zero-copy.
#pragma once
#include <cstdint>
#include <vector>

#include "column.h"
#include "status.h"

namespace cylon {

/// Partition of a row hash: floor(hi32(hash) * n / 2^32), the "fast range" map.
inline uint32_t PartitionOfHash(uint64_t hash, uint32_t n) {
  return static_cast<uint32_t>(((hash >> 32) * static_cast<uint64_t>(n)) >> 32);
}

/// Stable counting sort of rows by partition id.
void PartitionByIds(const Vec<uint32_t>& pids, uint32_t num_partitions,
                    Vec<int64_t>* perm, Vec<int64_t>* offsets);

/// Hash partitioning on key columns (row hash in row_hash.h): the permutation
/// (when want_perm) and, for each of `scatter` (fixed-width, null-free columns),
/// its values already in partition order — one sequential read, 2^k write
/// streams, instead of a gather through the permutation.
Status HashPartition(const Columns& keys, int64_t num_rows, int64_t num_partitions, bool want_perm,
                     const Columns& scatter, Vec<int64_t>* perm, Vec<int64_t>* offsets,
                     std::vector<Vec<uint8_t>>* scattered);

/// Range partitioning against sorted splitter rows: row r goes to the number of
/// splitters that sort strictly before it (under `ascending`, nulls last), so
/// partition p holds keys in (splitter[p-1], splitter[p]].
Status RangePartition(const Columns& keys, int64_t num_rows, const Columns& splitters,
                      int64_t num_splitters, const Vec<uint8_t>& ascending,
                      Vec<int64_t>* perm, Vec<int64_t>* offsets);

}  // namespace cylon
