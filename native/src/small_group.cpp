#include "small_group.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "key_table.h"
#include "parallel.h"
#include "row_compare.h"
#include "row_hash.h"

namespace cylon {
namespace {

// Slots up to which a table stays at most 1/16 full (inline, K = 1: 256 KB).
constexpr uint64_t kSparseSlots = uint64_t{1} << 14;
// Rows per group a chunk must have for more than max_groups inline groups.
constexpr int64_t kRowsPerInlineGroup = 32;

// Whether a table of `slots` slots holding `used` groups must grow. At most 1/16 full
// while small: a probe that passes its first slot is a mispredicted branch, and at 1/4
// that cost more than the larger table's misses (1M int64 rows, 1k groups, one thread:
// 5.2 -> 3.2 ms; 1M strings in 1k groups 9.2 -> 8.1 ms). Past kSparseSlots, at most 1/2:
// a table of many groups lives in L3 either way, and a sparser one only spreads its misses.
bool Overfull(uint64_t used, uint64_t slots) { return used * (slots < kSparseSlots ? 16 : 2) > slots; }

// A growable open-addressing table of (hash, group), kept sparse (Overfull); the
// caller says when two keys with equal hashes are equal (for a single integer key the
// hash is the key itself, so equal hashes suffice).
class SmallTable {
 public:
  SmallTable() { Resize(256); }

  /// The group whose key matches (hash h, then `equal(group)`); when absent, a
  /// new group numbered `next` (the caller records its first row). Sets `inserted`.
  template <typename Equal>
  int64_t FindOrInsert(uint64_t h, int64_t next, const Equal& equal, bool* inserted) {
    for (uint64_t pos = Slot0(h);; pos = (pos + 1) & mask_) {
      Slot& s = slots_[pos];
      if (s.group < 0) {
        if (Overfull(static_cast<uint64_t>(used_ + 1), slots_.size())) {
          Grow();
          return FindOrInsert(h, next, equal, inserted);
        }
        s = Slot{h, next};
        ++used_;
        *inserted = true;
        return next;
      }
      if (s.hash == h && equal(s.group)) {
        *inserted = false;
        return s.group;
      }
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    int64_t group = -1;
  };
  // The first slot of hash h: its high bits folded down, one multiply, the product's
  // top bits (Fibonacci hashing). Half Mix64's work per row; a key that differs only
  // in its high bits still spreads (the fold), and equal hashes still compare keys.
  uint64_t Slot0(uint64_t h) const { return ((h ^ (h >> 32)) * kGolden) >> shift_; }

  void Resize(size_t n) {
    shift_ = static_cast<unsigned>(64 - __builtin_ctzll(n));
    slots_.assign(n, Slot{});
    mask_ = n - 1;
    used_ = 0;
  }
  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    Resize(old.size() * 2);
    for (const Slot& s : old) {
      if (s.group < 0) continue;
      uint64_t pos = Slot0(s.hash);
      while (slots_[pos].group >= 0) pos = (pos + 1) & mask_;
      slots_[pos] = s;
      ++used_;
    }
  }

  std::vector<Slot> slots_;
  uint64_t mask_ = 0;
  unsigned shift_ = 64;
  int64_t used_ = 0;
};

// Groups of rows [b, e) in one chunk's own SmallTable: local ids into g, each
// local group's first row into f; false as soon as there are more than max_groups.
template <typename HashOf, typename Same>
struct HashedChunk {
  const HashOf& hash_of;
  const Same& same;
  bool operator()(int64_t b, int64_t e, int64_t max_groups, int64_t* g, Vec<int64_t>* f,
                  const std::atomic<bool>& too_many) const {
    SmallTable table;
    for (int64_t i = b; i < e; ++i) {
      bool inserted;
      g[i] = table.FindOrInsert(hash_of(i), static_cast<int64_t>(f->size()),
                                [&](int64_t group) { return same((*f)[group], i); }, &inserted);
      if (inserted) {
        f->push_back(i);
        if (static_cast<int64_t>(f->size()) > max_groups || too_many.load(std::memory_order_relaxed)) return false;
      }
    }
    return true;
  }
};

// K null-free 8-byte key columns grouped with their words kept in the slots: a
// probe compares the row's words with the slot's, where the generic table reads the
// group's first row back through the columns (a chain of dependent loads per row:
// 1M rows of two int64 keys in 10 groups, 7.0 -> 2.9 ms; DuckDB also compares
// against the keys stored in its hash table's rows, not the input's).
template <int K>
struct InlineKeyChunk {
  const uint64_t* const* cols;

  struct Slot {
    uint64_t key[K];
    int64_t group;
  };

  static uint64_t Hash(const uint64_t (&key)[K]) {
    uint64_t h = kRowHashSeed;
    for (int k = 0; k < K; ++k) h = (h ^ key[k]) * kGolden + (h >> 29);
    return h;
  }
  // The first slot: the fold's high bits folded down, one multiply, the product's top
  // bits (as SmallTable::Slot0).
  static uint64_t Slot0(uint64_t h, unsigned shift) { return ((h ^ (h >> 32)) * kGolden) >> shift; }

  // The probe loop keeps the table, its mask and shift and the group count in locals
  // and writes ids through a restrict pointer: with them behind references the compiler
  // reloaded each from the stack on every row (one int64 key, 1M rows, 1k groups, one
  // thread: 5.5 -> 3.3 ms of group ids).
  bool operator()(int64_t b, int64_t e, int64_t max_groups, int64_t* __restrict g, Vec<int64_t>* f,
                  const std::atomic<bool>& too_many) const {
    const uint64_t* col[K];
    for (int k = 0; k < K; ++k) col[k] = cols[k];
    std::vector<Slot> slots(256, Slot{{}, -1});
    Slot* table = slots.data();
    uint64_t mask = slots.size() - 1;
    unsigned shift = 64 - 8;  // 2^8 slots
    int64_t groups = static_cast<int64_t>(f->size());
    for (int64_t i = b; i < e; ++i) {
      uint64_t key[K];
      for (int k = 0; k < K; ++k) key[k] = col[k][i];
      uint64_t pos = Slot0(Hash(key), shift);
      for (;;) {
        const Slot& s = table[pos];
        bool equal = true;
        for (int k = 0; k < K; ++k) equal &= s.key[k] == key[k];
        // An empty slot's key is zeros: the group test tells a zero key's hit from it.
        if (equal && s.group >= 0) {
          g[i] = s.group;
          break;
        }
        if (s.group < 0) {
          const int64_t group = groups++;
          f->push_back(i);
          if (group >= max_groups || too_many.load(std::memory_order_relaxed)) return false;
          std::copy(key, key + K, table[pos].key);
          table[pos].group = group;
          g[i] = group;
          if (Overfull(static_cast<uint64_t>(groups), slots.size())) {
            std::vector<Slot> old = std::move(slots);
            slots.assign(old.size() * 2, Slot{{}, -1});
            table = slots.data();
            mask = slots.size() - 1;
            --shift;
            for (const Slot& o : old) {
              if (o.group < 0) continue;
              uint64_t p = Slot0(Hash(o.key), shift);
              while (table[p].group >= 0) p = (p + 1) & mask;
              table[p] = o;
            }
          }
          break;
        }
        pos = (pos + 1) & mask;
      }
    }
    return true;
  }
};

// Groups per chunk (chunk_groups, as HashedChunk), merged in row order, renumbered.
// hash_of(i) is row i's key hash; same(a, b) says whether rows a and b (with equal
// hashes) have equal keys: the merge's, over the chunks' first rows only.
template <typename HashOf, typename Same, typename ChunkGroups>
bool GroupByChunksWith(int64_t num_rows, int64_t max_groups, const HashOf& hash_of, const Same& same,
                       const ChunkGroups& chunk_groups, Vec<int64_t>* group_of_row, Vec<int64_t>* first_row) {
  group_of_row->resize(static_cast<size_t>(num_rows));
  int64_t* g = group_of_row->data();
  const int threads = KernelThreads();
  std::vector<Vec<int64_t>> firsts(threads);  // per chunk: first row of each local group
  std::vector<int64_t> begin(threads, 0), end(threads, 0);
  std::atomic<bool> too_many{false};
  const int chunks = ParallelChunks(num_rows, 1 << 16, [&](int t, int64_t b, int64_t e) {
    begin[t] = b;
    end[t] = e;
    if (!chunk_groups(b, e, max_groups, g, &firsts[t], too_many)) too_many = true;
  });
  if (too_many) return false;
  // Merge the chunks' groups in row order: numbering by first appearance.
  SmallTable global;
  first_row->clear();
  std::vector<Vec<int64_t>> renumber(chunks);
  for (int t = 0; t < chunks; ++t) {
    renumber[t].resize(firsts[t].size());
    for (size_t local = 0; local < firsts[t].size(); ++local) {
      const int64_t row = firsts[t][local];
      bool inserted;
      renumber[t][local] = global.FindOrInsert(hash_of(row), static_cast<int64_t>(first_row->size()),
                                               [&](int64_t group) { return same((*first_row)[group], row); },
                                               &inserted);
      if (inserted) first_row->push_back(row);
    }
  }
  ParallelTasks(chunks, [&](int64_t t) {
    const Vec<int64_t>& map = renumber[t];
    // The first chunk's numbering is the global one (its groups were merged
    // first, in order); any chunk whose map is the identity is left as it is.
    bool identity = true;
    for (size_t k = 0; k < map.size() && identity; ++k) identity = map[k] == static_cast<int64_t>(k);
    if (identity) return;
    for (int64_t i = begin[t]; i < end[t]; ++i) g[i] = map[g[i]];
  });
  return true;
}

template <typename HashOf, typename Same>
bool GroupByChunks(int64_t num_rows, int64_t max_groups, const HashOf& hash_of, const Same& same,
                   Vec<int64_t>* group_of_row, Vec<int64_t>* first_row) {
  return GroupByChunksWith(num_rows, max_groups, hash_of, same, HashedChunk<HashOf, Same>{hash_of, same},
                           group_of_row, first_row);
}

template <int K>
bool GroupByInlineKeys(const std::vector<const uint64_t*>& cols, int64_t num_rows, int64_t max_groups,
                       Vec<int64_t>* group_of_row, Vec<int64_t>* first_row) {
  auto hash_of = [&cols](int64_t i) {
    uint64_t key[K];
    for (int k = 0; k < K; ++k) key[k] = cols[k][i];
    return InlineKeyChunk<K>::Hash(key);
  };
  auto same = [&cols](int64_t a, int64_t b) {
    for (int k = 0; k < K; ++k) {
      if (cols[k][a] != cols[k][b]) return false;
    }
    return true;
  };
  return GroupByChunksWith(num_rows, max_groups, hash_of, same, InlineKeyChunk<K>{cols.data()}, group_of_row,
                           first_row);
}

}  // namespace

bool SmallGroupIds(const Columns& keys, int64_t num_rows, int64_t max_groups, Vec<int64_t>* group_of_row,
                   Vec<int64_t>* first_row, int64_t max_inline_groups) {
  if (keys.empty() || num_rows < (1 << 16)) return false;
  // Many groups pay off per thread only with many rows per group (a chunk's table then
  // lives in L3; merging and renumbering are per group): at least kRowsPerInlineGroup.
  // One key only: 10M rows of one int64 key in 100k groups, 115 -> 60 ms (the radix path
  // scattered every row twice); two keys in 100k groups, 70 -> 83 ms (their dense
  // per-column codes are the faster path there).
  const int64_t chunk_rows = num_rows / KernelThreads();
  const int64_t inline_groups = std::max(max_groups, std::min(max_inline_groups, chunk_rows / kRowsPerInlineGroup));
  auto all_same = [](int64_t, int64_t) { return true; };
  if (keys.size() == 1 && keys[0]->has_int_code() && !keys[0]->has_nulls()) {
    // One fixed-width key: its 64-bit code is the hash, equal codes are equal keys.
    const Column& key = *keys[0];
    if (key.width == 8 && key.kind != Kind::kFloat) {  // its words in the slots, read without the kind switch
      return GroupByInlineKeys<1>({reinterpret_cast<const uint64_t*>(key.data) + key.offset}, num_rows,
                                  inline_groups, group_of_row, first_row);
    }
    return GroupByChunks(num_rows, max_groups, [&key](int64_t i) { return InlineKey(key, i); }, all_same,
                         group_of_row, first_row);
  }
  bool plain = true;  // several null-free 8-byte integer keys: compared as words, hashed inline
  for (const Column* c : keys) plain = plain && c->has_int_code() && !c->has_nulls() && c->width == 8 && c->kind != Kind::kFloat;
  if (plain) {
    std::vector<const uint64_t*> cols;
    for (const Column* c : keys) cols.push_back(reinterpret_cast<const uint64_t*>(c->data) + c->offset);
    switch (cols.size()) {
      case 2: return GroupByInlineKeys<2>(cols, num_rows, max_groups, group_of_row, first_row);
      case 3: return GroupByInlineKeys<3>(cols, num_rows, max_groups, group_of_row, first_row);
      case 4: return GroupByInlineKeys<4>(cols, num_rows, max_groups, group_of_row, first_row);
      default:
        return GroupByChunks(
            num_rows, max_groups,
            [&cols](int64_t i) {
              // A cheap fold: the table mixes the result once (Mix64) before using it.
              uint64_t h = kRowHashSeed;
              for (const uint64_t* v : cols) h = (h ^ v[i]) * kGolden + (h >> 29);
              return h;
            },
            [&cols](int64_t a, int64_t b) {
              for (const uint64_t* v : cols) {
                if (v[a] != v[b]) return false;
              }
              return true;
            },
            group_of_row, first_row);
    }
  }
  if (keys.size() == 1 && keys[0]->is_binary()) {
    // One string key, hashed as it is read (no hash array): equal hashes compare
    // length, then bytes (string_view's ==), nulls equal to each other.
    const Column& key = *keys[0];
    return GroupByChunks(
        num_rows, max_groups, [&key](int64_t i) { return ValueHash(key, i); },
        [&key](int64_t a, int64_t b) {
          const bool va = key.is_valid(a), vb = key.is_valid(b);
          return va && vb ? key.bytes(a) == key.bytes(b) : va == vb;
        },
        group_of_row, first_row);
  }
  Vec<uint64_t> hashes;
  HashRows(keys, num_rows, &hashes);
  return GroupByChunks(
      num_rows, max_groups, [&hashes](int64_t i) { return hashes[i]; },
      [&keys](int64_t a, int64_t b) { return RowsEqual(keys, a, keys, b, true); }, group_of_row, first_row);
}

}  // namespace cylon
