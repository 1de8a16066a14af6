// Group-by aggregation over dense group ids (KeyTable's numbering).
// Every function skips null values; results for a group with no valid value
// are null (sum, min, max, mean) or 0 (count, nunique), as in SQL.
// Mergeable partial states: sum+count, (count, mean, M2) for var/std.
#pragma once
#include <cstdint>
#include <vector>

#include "column.h"
#include "export.h"
#include "status.h"

namespace cylon {

/// Group id of each row, and the number of groups.
/// Null ids: every row is in group 0 (a global aggregate, no ids array needed).
struct GroupIds {
  const int64_t* ids = nullptr;
  int64_t rows = 0;
  int64_t groups = 0;
  int64_t id(int64_t i) const { return ids != nullptr ? ids[i] : 0; }
};

Status SumSigned(const GroupIds& g, const Column& v, OutputColumn<int64_t>* out);
Status SumUnsigned(const GroupIds& g, const Column& v, OutputColumn<uint64_t>* out);
Status SumDouble(const GroupIds& g, const Column& v, OutputColumn<double>* out);
Status CountValid(const GroupIds& g, const Column& v, OutputColumn<int64_t>* out);

/// Row of each group's minimum (or maximum) valid value; null if none.
Status ArgExtreme(const GroupIds& g, const Column& v, bool is_max, OutputColumn<int64_t>* out);

/// Rows of each group's minimum and maximum valid values in one pass; null if none.
Status ArgMinMax(const GroupIds& g, const Column& v, OutputColumn<int64_t>* min_out, OutputColumn<int64_t>* max_out);

/// Row of each group's first (or last) row, null values included (as DuckDB's first/last);
/// null for a group without rows (the one group of a global aggregate over no rows).
Status FirstLastRow(const GroupIds& g, bool last, OutputColumn<int64_t>* out);

/// Row of each group's first valid value (DuckDB's any_value); null if none.
Status FirstValidRow(const GroupIds& g, const Column& v, OutputColumn<int64_t>* out);

/// Exact sum of decimal (or integer) values in a 128-bit accumulator; the result
/// is decimal(38, scale) as in DuckDB, and a sum that does not fit 38 digits is
/// an Overflow error, never a wrapped value. Null for groups without values.
/// With `partial_state`, only the 128-bit range is checked: a two-phase state
/// may pass 38 digits when the final sum does not (worker sums that cancel).
Status SumDecimal(const GroupIds& g, const Column& v, OutputColumn<__int128>* out, bool partial_state = false);

/// avg of a decimal from its exact sum (decimal128) and count per row, as DuckDB
/// computes it: the sum cast to the nearest double, divided by the count.
Status DecimalMean(const Column& sum, const Column& count, int scale, OutputColumn<double>* out);

/// Welford: per group count of valid values, their mean and M2 (sum of squared deviations).
Status Moments(const GroupIds& g, const Column& v, OutputColumn<int64_t>* count,
               OutputColumn<double>* mean, OutputColumn<double>* m2);

/// Chan et al.'s merge of (count, mean, M2) states that share a group.
Status MergeMoments(const GroupIds& g, const Column& count, const Column& mean, const Column& m2,
                    OutputColumn<int64_t>* count_out, OutputColumn<double>* mean_out,
                    OutputColumn<double>* m2_out);

/// Number of distinct valid values per group; `pair_rows` receives the first
/// row of every distinct (group, valid value) pair, in row order.
Status CountDistinct(const GroupIds& g, const Column& v, OutputColumn<int64_t>* out,
                     Vec<int64_t>* pair_rows);

}  // namespace cylon
