#include "key_table.h"

#include <algorithm>
#include <limits>
#include <string>
#include <string_view>

#include "parallel.h"

#include "row_compare.h"
#include "row_hash.h"

namespace cylon {
namespace {

constexpr int64_t kPrefetchDistance = 16;

// Load factor at most 0.7: linear probing stays short, and the table is half
// the size (and half the page faults) of a 0.5-loaded one. A small build side
// (a dimension table: at most kSparseRows rows) gets a table at most 1/8 full,
// still cache-resident (<= 512 KiB): most probes then end at their first slot,
// where at 0.5 the probe loop's exit mispredicts often (1M probes into 1k int64
// keys: 8.7 -> 5.0 ms; DuckDB sizes its join table at 2x and filters by salt).
constexpr int64_t kSparseRows = 4096;

uint64_t CapacityFor(int64_t n) {
  uint64_t cap = 16;
  const double load = n <= kSparseRows ? 0.125 : 0.7;
  while (static_cast<double>(cap) * load < static_cast<double>(n)) cap <<= 1;
  return cap;
}

// Hash of an inline key: the row hash of a one-column row, so the same
// function serves partitioning and lookup.
inline uint64_t InlineHash(uint64_t key) { return CombineHash(kRowHashSeed, key); }

}  // namespace

Status KeyTable::Build(const Columns& keys, int64_t num_rows, bool nulls_equal) {
  keys_ = keys;
  nulls_equal_ = nulls_equal;
  if (num_rows >= std::numeric_limits<uint32_t>::max() - 1) {
    return Status::NotSupported("the kernel groups at most 4294967294 rows per call, found " +
                                std::to_string(num_rows));
  }
  mask_ = CapacityFor(num_rows) - 1;
  group_of_row_.assign(static_cast<size_t>(num_rows), -1);
  first_row_.clear();
  inline_key_ = keys.size() == 1 && keys[0]->has_int_code();
  if (inline_key_) {
    int_slots_.assign(mask_ + 1, IntSlot{0, 0});
    if (keys[0]->has_nulls()) {
      BuildInline<true>(*keys[0], num_rows);
    } else {
      BuildInline<false>(*keys[0], num_rows);
    }
  } else {
    tag_slots_.assign(mask_ + 1, TagSlot{0, 0});
    BuildTagged(num_rows);
  }
  return Status::OK();
}

template <bool kNullable>
void KeyTable::BuildInline(const Column& key, int64_t n) {
  // Keys are decoded once into a dense array so the prefetch can look ahead.
  Vec<uint64_t> codes(static_cast<size_t>(n));
  ParallelFor(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) codes[i] = InlineKey(key, i);
  });
  for (int64_t i = 0; i < n; ++i) {
    if (i + kPrefetchDistance < n) {
      __builtin_prefetch(&int_slots_[InlineHash(codes[i + kPrefetchDistance]) & mask_], 1);
    }
    if (kNullable && !key.is_valid(i)) {
      if (nulls_equal_) {
        if (null_group_ < 0) {
          null_group_ = num_groups();
          first_row_.push_back(i);
        }
        group_of_row_[i] = null_group_;
      }
      continue;
    }
    const uint64_t code = codes[i];
    uint64_t pos = InlineHash(code) & mask_;
    while (true) {
      IntSlot& s = int_slots_[pos];
      if (s.group_plus1 == 0) {
        s.key = code;
        s.group_plus1 = static_cast<uint64_t>(num_groups()) + 1;
        group_of_row_[i] = num_groups();
        first_row_.push_back(i);
        break;
      }
      if (s.key == code) {
        group_of_row_[i] = static_cast<int64_t>(s.group_plus1 - 1);
        break;
      }
      pos = (pos + 1) & mask_;
    }
  }
}

void KeyTable::BuildTagged(int64_t n) {
  const Column& key = *keys_[0];
  if (keys_.size() == 1 && key.is_binary() && !key.has_nulls()) {
    // One string key: each group's bytes are copied into one compact arena as the group
    // starts, and a row is compared with those, not with its group's first row in the
    // input (a random read into all of the input's bytes; DuckDB's hash table keeps its
    // own copies of string keys the same way).
    std::string arena;
    Vec<size_t> starts{0};  // group g's bytes: arena[starts[g], starts[g + 1])
    BuildTaggedWith(
        n,
        [&](int64_t group, int64_t i) {
          return std::string_view(arena.data() + starts[group], starts[group + 1] - starts[group]) == key.bytes(i);
        },
        [&](int64_t i) {
          arena.append(key.bytes(i));
          starts.push_back(arena.size());
        });
    return;
  }
  BuildTaggedWith(
      n, [&](int64_t group, int64_t i) { return RowsEqual(keys_, first_row_[group], keys_, i, nulls_equal_); },
      [](int64_t) {});
}

template <typename Same, typename Added>
void KeyTable::BuildTaggedWith(int64_t n, const Same& same, const Added& added) {
  Vec<uint64_t> hashes;
  HashRows(keys_, n, &hashes);
  Vec<uint8_t> null_rows;
  if (!nulls_equal_) NullKeyRows(keys_, n, &null_rows);
  for (int64_t i = 0; i < n; ++i) {
    if (i + kPrefetchDistance < n) __builtin_prefetch(&tag_slots_[hashes[i + kPrefetchDistance] & mask_], 1);
    if (!null_rows.empty() && null_rows[i]) continue;
    const uint64_t h = hashes[i];
    const uint32_t tag = static_cast<uint32_t>(h >> 32);
    uint64_t pos = h & mask_;
    while (true) {
      TagSlot& s = tag_slots_[pos];
      if (s.group_plus1 == 0) {
        s.tag = tag;
        s.group_plus1 = static_cast<uint32_t>(num_groups() + 1);
        group_of_row_[i] = num_groups();
        first_row_.push_back(i);
        added(i);
        break;
      }
      if (s.tag == tag && same(s.group_plus1 - 1, i)) {
        group_of_row_[i] = s.group_plus1 - 1;
        break;
      }
      pos = (pos + 1) & mask_;
    }
  }
}

void KeyTable::Probe(const Columns& probe_keys, int64_t num_rows, Vec<int64_t>* out) const {
  out->assign(static_cast<size_t>(num_rows), -1);
  if (first_row_.empty()) return;
  if (inline_key_) {
    if (probe_keys[0]->has_nulls()) {
      ProbeInline<true>(*probe_keys[0], num_rows, out);
    } else {
      ProbeInline<false>(*probe_keys[0], num_rows, out);
    }
  } else {
    ProbeTagged(probe_keys, num_rows, out);
  }
}

template <bool kNullable>
void KeyTable::ProbeInline(const Column& key, int64_t n, Vec<int64_t>* out) const {
  int64_t* result = out->data();
  // Probing only reads the table: rows are split across the kernel's threads.
  ParallelFor(n, 1 << 16, [&](int64_t b, int64_t e) {
    constexpr int64_t kBatch = 64;
    uint64_t codes[kBatch], first[kBatch];  // hashed once: the first slot is kept
    for (int64_t base = b; base < e; base += kBatch) {
      const int64_t m = std::min<int64_t>(kBatch, e - base);
      for (int64_t k = 0; k < m; ++k) {
        codes[k] = InlineKey(key, base + k);
        first[k] = InlineHash(codes[k]) & mask_;
        __builtin_prefetch(&int_slots_[first[k]], 0);
      }
      for (int64_t k = 0; k < m; ++k) {
        const int64_t i = base + k;
        if (kNullable && !key.is_valid(i)) {
          if (nulls_equal_) result[i] = null_group_;
          continue;
        }
        const uint64_t code = codes[k];
        uint64_t pos = first[k];
        while (true) {
          const IntSlot& s = int_slots_[pos];
          if (s.group_plus1 == 0) break;
          if (s.key == code) {
            result[i] = static_cast<int64_t>(s.group_plus1 - 1);
            break;
          }
          pos = (pos + 1) & mask_;
        }
      }
    }
  });
}

void KeyTable::ProbeTagged(const Columns& probe, int64_t n, Vec<int64_t>* out) const {
  Vec<uint64_t> hashes;
  HashRows(probe, n, &hashes);
  Vec<uint8_t> null_rows;
  if (!nulls_equal_) NullKeyRows(probe, n, &null_rows);
  int64_t* result = out->data();
  ParallelFor(n, 1 << 14, [&](int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) {
    if (i + kPrefetchDistance < e) __builtin_prefetch(&tag_slots_[hashes[i + kPrefetchDistance] & mask_], 0);
    if (!null_rows.empty() && null_rows[i]) continue;
    const uint64_t h = hashes[i];
    const uint32_t tag = static_cast<uint32_t>(h >> 32);
    uint64_t pos = h & mask_;
    while (true) {
      const TagSlot& s = tag_slots_[pos];
      if (s.group_plus1 == 0) break;
      if (s.tag == tag && RowsEqual(keys_, first_row_[s.group_plus1 - 1], probe, i, nulls_equal_)) {
        result[i] = s.group_plus1 - 1;
        break;
      }
      pos = (pos + 1) & mask_;
    }
  }
  });
}

}  // namespace cylon
