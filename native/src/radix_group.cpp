#include "radix_group.h"

#include "parallel.h"
#include "radix_partition.h"

namespace cylon {

bool RadixGroupIds(const Column& key, int64_t num_rows, bool nulls_equal, Vec<int64_t>* group_of_row,
                   Vec<int64_t>* first_row) {
  if (!key.has_int_code() || num_rows >= (int64_t{1} << 32)) return false;
  RadixPartitions parts;
  RadixScatter(key, num_rows, RadixBits(num_rows), &parts);
  const uint32_t np = parts.num_partitions();
  const int64_t entries = parts.offsets[np];
  // Local group ids per entry; a partition's groups number fewer than its
  // entries, so its first rows fit in its own entry range of `firsts`.
  Vec<uint32_t> local(static_cast<size_t>(entries));
  Vec<int64_t> firsts(static_cast<size_t>(entries));
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
