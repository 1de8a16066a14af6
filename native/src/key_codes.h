// Integer codes of (multi-column) keys whose value ranges are small enough to
// pack: code = sum over columns of (value - min, or the column's null code)
// times the product of the ranges of the columns after it, so codes order as
// the rows do (ascending, nulls last) and equal rows get equal codes.
// From DuckDB's perfect hash aggregate (statistics-sized ranges, one slot per
// possible key) and its and Polars' packing of fixed-width key columns into
// one integer row key.
#pragma once
#include <cstdint>
#include <vector>

#include "buffer_pool.h"
#include "column.h"

namespace cylon {

/// How each column contributes to a packed code.
struct KeyPacking {
  bool packable = false;        //!< every column integer-like and the ranges' product < 2^63
  unsigned __int128 range = 1;  //!< number of distinct codes (product of the column ranges)
  std::vector<int64_t> min;     //!< per column: smallest valid value (as signed or unsigned bits)
  std::vector<uint64_t> span;   //!< per column: max - min + 1, plus one for null when it has nulls
  std::vector<uint64_t> stride; //!< per column: product of the spans of the columns after it
};

/// Scans the key columns once (in parallel) for their ranges.
KeyPacking PlanKeyPacking(const Columns& keys, int64_t num_rows);

/// One packing for two comparable sets of key columns (a join's sides): the
/// ranges cover both, so equal rows on either side get equal codes.
KeyPacking PlanKeyPacking(const Columns& keys, int64_t num_rows, const Columns& other, int64_t other_rows);

/// A null-free uint64 column viewing `codes` (which must outlive it).
Column CodeColumn(const Vec<uint64_t>& codes);

/// Writes the packed code of every row (plan.packable must hold).
void PackKeys(const Columns& keys, int64_t num_rows, const KeyPacking& plan, uint64_t* codes);

/// Group ids by direct indexing when the keys pack into at most `max_slots`
/// codes (DuckDB's perfect hash aggregate): no hash table, one slot per
/// possible key. Groups are numbered by first appearance when `ordered`, else
/// by key (ascending, nulls last). Returns false when not applicable.
bool DirectGroupIds(const Columns& keys, int64_t num_rows, const KeyPacking& plan, uint64_t max_slots,
                    bool ordered, Vec<int64_t>* group_of_row, Vec<int64_t>* first_row);

/// The first row of every distinct key, ascending (first appearance), when the
/// keys pack into at most `max_slots` codes: DirectGroupIds without the group of
/// every row (what COUNT(DISTINCT) needs of its (group, value) pairs). Returns
/// false when not applicable.
bool DistinctFirstRows(const Columns& keys, int64_t num_rows, uint64_t max_slots, Vec<int64_t>* first_row);

/// The packed paths of group-by / DISTINCT: direct indexing for small key
/// ranges, else (several columns packing into 63 bits) one integer code per row
/// grouped as a single fixed-width key. Returns false when neither applies.
bool GroupIdsByPacking(const Columns& keys, int64_t num_rows, bool nulls_equal, bool ordered,
                       Vec<int64_t>* group_of_row, Vec<int64_t>* first_row);

}  // namespace cylon
