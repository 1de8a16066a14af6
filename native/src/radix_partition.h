// Radix partitioning of one fixed-width key column into cache-sized pieces:
// the first phase of the partitioned hash join and hash aggregation.
// A table of 10M entries does not fit in cache; 2^bits tables of ~16K entries
// each do, so build and probe run at cache speed instead of DRAM latency.
#pragma once
#include <cstdint>

#include "buffer_pool.h"
#include "column.h"
#include "key_table.h"
#include "row_hash.h"

namespace cylon {

/// (code, row) entries of the non-null rows, grouped by partition.
struct RadixPartitions {
  int bits = 0;
  Vec<int64_t> offsets;  //!< 2^bits + 1 entry offsets
  ScratchVec<uint64_t> codes;  //!< InlineKey codes in partition order
  ScratchVec<uint32_t> rows;   //!< source rows in partition order (ascending within a partition)
  int64_t null_rows = 0;

  uint32_t num_partitions() const { return 1u << bits; }
};

/// Hash of an inline key code (the one-column row hash).
inline uint64_t CodeHash(uint64_t code) { return CombineHash(kRowHashSeed, code); }

/// Partition bits so that partitions hold about `target` entries.
int RadixBits(int64_t rows, int64_t target = 16384);

/// Scatters the non-null rows of `key` (rows < 2^32) into 2^bits partitions by
/// the top bits of CodeHash, stable within each partition.
void RadixScatter(const Column& key, int64_t num_rows, int bits, RadixPartitions* out);

/// A small open-addressing table over one partition's codes (reused across partitions).
class PartitionTable {
 public:
  void Reset(int64_t entries);
  /// Inserts code with value; returns the value already stored for an equal code, or -1.
  /// (Inline: a call per entry through the PLT was 15% of grouping 1M int64 rows in 100k groups.)
  int64_t Insert(uint64_t code, uint64_t hash, int64_t value) {
    for (uint64_t pos = hash & mask_;; pos = (pos + 1) & mask_) {
      Slot& s = slots_[pos];
      if (s.value_plus1 == 0) {
        s.code = code;
        s.value_plus1 = value + 1;
        return -1;
      }
      if (s.code == code) return s.value_plus1 - 1;
    }
  }
  int64_t Find(uint64_t code, uint64_t hash) const {
    for (uint64_t pos = hash & mask_;; pos = (pos + 1) & mask_) {
      const Slot& s = slots_[pos];
      if (s.value_plus1 == 0) return -1;
      if (s.code == code) return s.value_plus1 - 1;
    }
  }

 private:
  struct Slot {
    uint64_t code;
    int64_t value_plus1;  //!< 0 = empty
  };
  Vec<Slot> slots_;
  uint64_t mask_ = 0;
};

}  // namespace cylon
