// KeyTable: a hash table from key rows to dense group ids (0, 1, ... in order
// of first appearance). The shared building block of joins (build side),
// group-by, DISTINCT and the set operations.
//
// Layout: open addressing with linear probing, power-of-two capacity at most
// half full, probes prefetched a few rows ahead (the table rarely fits in cache).
// A single fixed-width key is stored inline in the slot, so a probe costs one
// cache miss; other keys store a 32-bit hash tag and compare against the
// group's first row.
#pragma once
#include <cstdint>
#include <vector>

#include "column.h"
#include "status.h"

namespace cylon {

class KeyTable {
 public:
  /// Groups the rows of `keys`. With nulls_equal, rows with null keys form
  /// groups of their own (GROUP BY, DISTINCT); without, they get group -1 and
  /// never match (join keys).
  Status Build(const Columns& keys, int64_t num_rows, bool nulls_equal);

  /// Looks up each probe row (keys comparable with the build keys): out[j] is
  /// the build group or -1. Rows with a null key never match unless nulls_equal.
  void Probe(const Columns& probe_keys, int64_t num_rows, Vec<int64_t>* out) const;

  int64_t num_groups() const { return static_cast<int64_t>(first_row_.size()); }
  const Vec<int64_t>& group_of_row() const { return group_of_row_; }
  const Vec<int64_t>& first_row() const { return first_row_; }
  Vec<int64_t>& mutable_group_of_row() { return group_of_row_; }
  Vec<int64_t>& mutable_first_row() { return first_row_; }

 private:
  struct TagSlot {
    uint32_t tag;
    uint32_t group_plus1;  //!< 0 = empty
  };
  struct IntSlot {
    uint64_t key;
    uint64_t group_plus1;  //!< 0 = empty
  };

  template <bool kNullable>
  void BuildInline(const Column& key, int64_t n);
  void BuildTagged(int64_t n);
  /// The tagged build with `same(group, row)` as key equality and `added(row)` called
  /// on each new group.
  template <typename Same, typename Added>
  void BuildTaggedWith(int64_t n, const Same& same, const Added& added);
  template <bool kNullable>
  void ProbeInline(const Column& key, int64_t n, Vec<int64_t>* out) const;
  void ProbeTagged(const Columns& probe, int64_t n, Vec<int64_t>* out) const;

  Columns keys_;                      //!< build key columns (borrowed)
  bool nulls_equal_ = false;
  bool inline_key_ = false;           //!< single fixed-width key stored in IntSlot
  uint64_t mask_ = 0;
  Vec<TagSlot> tag_slots_;
  Vec<IntSlot> int_slots_;
  int64_t null_group_ = -1;           //!< inline mode: the group of null keys
  Vec<int64_t> group_of_row_;
  Vec<int64_t> first_row_;
};

/// Inline-key encoding of one fixed-width value: equal values, equal codes.
inline uint64_t InlineKey(const Column& c, int64_t i) {
  return c.kind == Kind::kFloat ? canonical_float_bits(c.float_value(i)) : c.int_bits(i);
}

}  // namespace cylon
