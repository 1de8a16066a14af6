// Hash join on multi-column keys: produces the matching row-index pairs; the
// Python layer materialises columns from them with Arrow's take.
#pragma once
#include <cstdint>

#include "column.h"
#include "export.h"
#include "status.h"

namespace cylon {

enum class JoinType { kInner, kLeft, kRight, kOuter, kSemi, kAnti };

Status ParseJoinType(const std::string& how, JoinType* out);

struct JoinIndices {
  OutputColumn<int64_t> left;   //!< left row per output row (null: no left row)
  OutputColumn<int64_t> right;  //!< right row per output row (null: no right row); empty for semi/anti
  /// Inner and left joins: the output's left rows are every left row once, in
  /// order (a fact table against unique dimension keys), and `left` is left
  /// empty: the caller uses the left table as it is instead of gathering it.
  bool left_identity = false;
};

/// Joins left and right on comparable key columns.
/// Output order: probe order (left rows in order; for right joins, right rows
/// in order), then for outer joins the unmatched right rows in order.
/// nulls_equal=false is SQL join semantics (a null key never matches);
/// true is used by INTERSECT/EXCEPT, which compare rows as DISTINCT does.
Status HashJoin(const Columns& left_keys, int64_t left_rows, const Columns& right_keys,
                int64_t right_rows, JoinType type, bool nulls_equal, JoinIndices* out);

}  // namespace cylon
