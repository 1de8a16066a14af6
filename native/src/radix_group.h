// Partitioned grouping of one fixed-width key: dense group ids numbered by
// partition (not by first appearance), at cache speed for many groups.
#pragma once
#include <cstdint>

#include "buffer_pool.h"
#include "column.h"

namespace cylon {

/// Fills group_of_row and first_row (first row of each group) for a single
/// fixed-width key of fewer than 2^32 rows; returns false when not applicable.
/// Null keys form one group (the last) when nulls_equal, else get group -1.
bool RadixGroupIds(const Column& key, int64_t num_rows, bool nulls_equal, Vec<int64_t>* group_of_row,
                   Vec<int64_t>* first_row);

/// As RadixGroupIds for two fixed-width keys without nulls (e.g. two int64 columns whose
/// ranges are too wide to pack into one code): the pair is the partitioned table's key.
/// Returns false when not applicable (other kinds, nulls, 2^32 rows or more).
bool RadixGroupIdsPair(const Column& a, const Column& b, int64_t num_rows, Vec<int64_t>* group_of_row,
                       Vec<int64_t>* first_row);

}  // namespace cylon
