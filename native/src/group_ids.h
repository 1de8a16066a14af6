// Dense group ids of key rows: the one entry point of group-by, DISTINCT and
// the set operations, choosing the algorithm by the data (see group_ids.cpp).
#pragma once
#include <cstdint>

#include "buffer_pool.h"
#include "column.h"
#include "status.h"

namespace cylon {

/// Group id of every row (-1 for rows with a null key unless nulls_equal) and
/// the first row of every group. ordered: groups numbered by first appearance;
/// otherwise in any order.
Status GroupRows(const Columns& keys, int64_t num_rows, bool nulls_equal, bool ordered, Vec<int64_t>* group_of_row,
                Vec<int64_t>* first_row);

}  // namespace cylon
