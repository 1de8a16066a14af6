// Group ids when the groups are few (whatever the key types): every thread
// groups its own contiguous chunk in a small, cache-resident hash table, the
// chunks' groups are merged in row order (so numbering is by first
// appearance), then each chunk's local ids are renumbered. Polars' and
// DuckDB's thread-local pre-aggregation; it gives up as soon as a chunk sees
// more than `max_groups` groups (a partitioned or global table then pays off).
#pragma once
#include <cstdint>

#include "buffer_pool.h"
#include "column.h"

namespace cylon {

/// Group id of every row and the first row of every group, numbered by first
/// appearance; null keys form groups (nulls_equal). False when not applicable.
/// One null-free 8-byte integer key (kept in the table) may have up to
/// max_inline_groups per chunk where that is the larger and the rows allow.
bool SmallGroupIds(const Columns& keys, int64_t num_rows, int64_t max_groups, Vec<int64_t>* group_of_row,
                   Vec<int64_t>* first_row, int64_t max_inline_groups = 0);

}  // namespace cylon
