#include "group_ids.h"

#include "key_codes.h"
#include "key_table.h"
#include "radix_group.h"
#include "small_group.h"

namespace cylon {
namespace {

// Groups per thread chunk up to which the small-group path runs (its tables stay in L1/L2).
constexpr int64_t kSmallGroups = 4096;

}  // namespace

// In order of preference:
//  1. integer keys with small ranges: direct indexing, or several columns as one
//     packed code (key_codes.h);
//  2. few groups of any key types: thread-local tables merged (small_group.h);
//  3. one fixed-width key, many rows, order free: radix partitions (radix_group.h);
//  4. a global hash table (key_table.h).
Status GroupRows(const Columns& keys, int64_t num_rows, bool nulls_equal, bool ordered, Vec<int64_t>* group_of_row,
                Vec<int64_t>* first_row) {
  if (GroupIdsByPacking(keys, num_rows, nulls_equal, ordered, group_of_row, first_row)) return Status::OK();
  if (nulls_equal && SmallGroupIds(keys, num_rows, kSmallGroups, group_of_row, first_row)) return Status::OK();
  if (!ordered && keys.size() == 1 && num_rows >= 65536 &&
      RadixGroupIds(*keys[0], num_rows, nulls_equal, group_of_row, first_row)) {
    return Status::OK();
  }
  KeyTable table;
  CYLON_RETURN_NOT_OK(table.Build(keys, num_rows, nulls_equal));
  *group_of_row = std::move(table.mutable_group_of_row());
  *first_row = std::move(table.mutable_first_row());
  return Status::OK();
}

}  // namespace cylon
