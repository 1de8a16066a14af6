// Sorting: stable argsort on multi-column keys (nulls last, NaN largest,
// per-column direction), and a k-way merge of already sorted runs.
#pragma once
#include <cstdint>
#include <vector>

#include "column.h"
#include "status.h"

namespace cylon {

/// Stable sort permutation of the rows of `keys`.
/// Fixed-width keys use an LSD radix sort (one stable pass per key column,
/// least significant column first, skipping bytes that never vary); keys with
/// strings use a comparison sort.
Status ArgSort(const Columns& keys, int64_t num_rows, const Vec<uint8_t>& ascending,
               Vec<int64_t>* out);

/// Sorted copy of a null-free integer (or date/time/timestamp) column's values,
/// without a permutation: the radix sort moves 8-byte codes only.
Status SortValues(const Column& c, bool ascending, Vec<uint8_t>* out);

/// Merges sorted runs: rows [run_offsets[r], run_offsets[r+1]) of `keys` are
/// each sorted; the result is the permutation that sorts them all, stable
/// (ties keep run order, then row order).
Status MergeSorted(const Columns& keys, const Vec<int64_t>& run_offsets,
                   const Vec<uint8_t>& ascending, Vec<int64_t>* out);

}  // namespace cylon
