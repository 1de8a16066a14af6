#include "key_codes.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "key_table.h"
#include "parallel.h"
#include "radix_group.h"

namespace cylon {
namespace {

bool IntegerLike(const Column& c) {
  return c.kind == Kind::kSigned || c.kind == Kind::kUnsigned || c.kind == Kind::kBool;
}

// Value of row i relative to the column's minimum (valid rows only).
inline uint64_t Offset(const Column& c, int64_t i, int64_t min) {
  return c.int_bits(i) - static_cast<uint64_t>(min);
}

// Range of the valid values of rows [b, e) as int64 (signed) or uint64 bit patterns.
template <typename T>
void TypedRange(const Column& c, int64_t b, int64_t e, T* lo, T* hi, bool* seen) {
  const T* v = reinterpret_cast<const T*>(c.data) + c.offset;
  T l = std::numeric_limits<T>::max(), h = std::numeric_limits<T>::lowest();
  if (!c.has_nulls()) {
    for (int64_t i = b; i < e; ++i) {
      l = std::min(l, v[i]);
      h = std::max(h, v[i]);
    }
    *seen = e > b;
  } else {
    for (int64_t i = b; i < e; ++i) {
      if (!c.is_valid(i)) continue;
      l = std::min(l, v[i]);
      h = std::max(h, v[i]);
      *seen = true;
    }
  }
  *lo = l;
  *hi = h;
}

// Smallest and largest valid value of an integer-like column, as a 128-bit
// range (signed values sign-extended, unsigned zero-extended); false if all null.
bool ColumnRange(const Column& c, int64_t num_rows, __int128* lo, __int128* hi) {
  const int threads = KernelThreads();
  std::vector<__int128> los(threads), his(threads);
  std::vector<char> any(threads, 0);
  ParallelChunks(num_rows, 1 << 16, [&](int t, int64_t b, int64_t e) {
    bool seen = false;
    auto run = [&](auto tag) {
      using T = decltype(tag);
      T l, h;
      TypedRange<T>(c, b, e, &l, &h, &seen);
      los[t] = l;
      his[t] = h;
    };
    if (c.kind == Kind::kBool) {
      los[t] = 0;
      his[t] = 1;
      seen = e > b;
    } else if (c.kind == Kind::kSigned) {
      switch (c.width) {
        case 1: run(int8_t{}); break;
        case 2: run(int16_t{}); break;
        case 4: run(int32_t{}); break;
        default: run(int64_t{}); break;
      }
    } else {
      switch (c.width) {
        case 1: run(uint8_t{}); break;
        case 2: run(uint16_t{}); break;
        case 4: run(uint32_t{}); break;
        default: run(uint64_t{}); break;
      }
    }
    any[t] = seen;
  });
  bool seen = false;
  for (int t = 0; t < threads; ++t) {
    if (!any[t]) continue;
    *lo = seen ? std::min(*lo, los[t]) : los[t];
    *hi = seen ? std::max(*hi, his[t]) : his[t];
    seen = true;
  }
  return seen;
}

}  // namespace

KeyPacking PlanKeyPacking(const Columns& keys, int64_t num_rows) { return PlanKeyPacking(keys, num_rows, {}, 0); }

KeyPacking PlanKeyPacking(const Columns& keys, int64_t num_rows, const Columns& other, int64_t other_rows) {
  KeyPacking plan;
  if (keys.empty() || num_rows + other_rows == 0) return plan;
  if (!other.empty() && other.size() != keys.size()) return plan;
  for (const Column* c : keys) {
    if (!IntegerLike(*c)) return plan;
  }
  for (size_t k = 0; k < keys.size(); ++k) {
    const Column* c = keys[k];
    __int128 lo = 0, hi = 0;
    bool seen = ColumnRange(*c, num_rows, &lo, &hi);
    bool nulls = c->has_nulls();
    if (!other.empty()) {
      __int128 olo = 0, ohi = 0;
      if (ColumnRange(*other[k], other_rows, &olo, &ohi)) {
        lo = seen ? std::min(lo, olo) : olo;
        hi = seen ? std::max(hi, ohi) : ohi;
        seen = true;
      }
      nulls = nulls || other[k]->has_nulls();
    }
    unsigned __int128 span = 0;
    if (seen) span = static_cast<unsigned __int128>(hi - lo) + 1;
    if (nulls) span += 1;  // the null code: after every value
    plan.range *= span;
    if (span == 0 || plan.range >= (static_cast<unsigned __int128>(1) << 63)) return KeyPacking{};
    plan.min.push_back(static_cast<int64_t>(static_cast<uint64_t>(lo)));
    plan.span.push_back(static_cast<uint64_t>(span));
  }
  plan.stride.assign(keys.size(), 1);
  for (size_t k = keys.size() - 1; k-- > 0;) plan.stride[k] = plan.stride[k + 1] * plan.span[k + 1];
  plan.packable = true;
  return plan;
}

namespace {

// Codes of rows [b, e) into out[0 .. e - b).
void PackRange(const Columns& keys, int64_t b, int64_t e, const KeyPacking& plan, uint64_t* out) {
  const int64_t n = e - b;
  for (int64_t j = 0; j < n; ++j) out[j] = 0;
  for (size_t k = 0; k < keys.size(); ++k) {
    const Column& c = *keys[k];
    const uint64_t stride = plan.stride[k], null_code = plan.span[k] - 1;
    const int64_t min = plan.min[k];
    if (c.has_nulls()) {
      for (int64_t j = 0; j < n; ++j) out[j] += (c.is_valid(b + j) ? Offset(c, b + j, min) : null_code) * stride;
    } else if ((c.kind == Kind::kSigned || c.kind == Kind::kUnsigned) && c.width == 8) {
      // The common case, without the per-row width switch.
      const uint64_t* v = reinterpret_cast<const uint64_t*>(c.data) + c.offset + b;
      for (int64_t j = 0; j < n; ++j) out[j] += (v[j] - static_cast<uint64_t>(min)) * stride;
    } else if (c.kind == Kind::kSigned && c.width == 4) {
      const int32_t* v = reinterpret_cast<const int32_t*>(c.data) + c.offset + b;
      for (int64_t j = 0; j < n; ++j) out[j] += (static_cast<uint64_t>(static_cast<int64_t>(v[j])) - static_cast<uint64_t>(min)) * stride;
    } else {
      for (int64_t j = 0; j < n; ++j) out[j] += Offset(c, b + j, min) * stride;
    }
  }
}

}  // namespace

void PackKeys(const Columns& keys, int64_t num_rows, const KeyPacking& plan, uint64_t* codes) {
  ParallelFor(num_rows, 1 << 16, [&](int64_t b, int64_t e) { PackRange(keys, b, e, plan, codes + b); });
}

namespace {

// The earliest row of every packed code (slot; -1: none): each thread packs its own
// chunk in blocks of 64K rows (still in cache) into codes_out when given, else into
// a block buffer of its own, and keeps its earliest row per slot; then the threads'
// answers merge (the earliest row wins).
Vec<int64_t> FirstRowPerSlot(const Columns& keys, int64_t num_rows, const KeyPacking& plan, uint64_t slots,
                             uint64_t* codes_out) {
  constexpr int64_t kBlock = int64_t{1} << 16;
  const int threads = KernelThreads();
  std::vector<Vec<int64_t>> firsts(threads);
  const int chunks = ParallelChunks(num_rows, kBlock, [&](int t, int64_t b, int64_t e) {
    Vec<int64_t>& f = firsts[t];
    f.assign(slots, -1);
    Vec<uint64_t> own(codes_out ? 0 : static_cast<size_t>(kBlock));
    for (int64_t block = b; block < e; block += kBlock) {
      const int64_t end = std::min(e, block + kBlock);
      const uint64_t* codes = codes_out ? codes_out + block : own.data();  // code of row i: codes[i - block]
      PackRange(keys, block, end, plan, codes_out ? codes_out + block : own.data());
      for (int64_t i = block; i < end; ++i) {
        int64_t& s = f[codes[i - block]];
        if (s < 0) s = i;
      }
    }
  });
  Vec<int64_t>& first = firsts[0];
  for (int t = 1; t < chunks; ++t) {
    for (uint64_t s = 0; s < slots; ++s) {
      if (first[s] < 0) first[s] = firsts[t][s];
    }
  }
  return std::move(first);
}

}  // namespace

bool DistinctFirstRows(const Columns& keys, int64_t num_rows, uint64_t max_slots, Vec<int64_t>* first_row) {
  const KeyPacking plan = PlanKeyPacking(keys, num_rows);
  if (!plan.packable || plan.range > max_slots || num_rows == 0) return false;
  const Vec<int64_t> first = FirstRowPerSlot(keys, num_rows, plan, static_cast<uint64_t>(plan.range), nullptr);
  first_row->clear();
  for (int64_t row : first) {
    if (row >= 0) first_row->push_back(row);
  }
  std::sort(first_row->begin(), first_row->end());  // first appearance, as the group-id paths number
  return true;
}

bool DirectGroupIds(const Columns& keys, int64_t num_rows, const KeyPacking& plan, uint64_t max_slots,
                    bool ordered, Vec<int64_t>* group_of_row, Vec<int64_t>* first_row) {
  if (!plan.packable || plan.range > max_slots) return false;
  const uint64_t slots = static_cast<uint64_t>(plan.range);
  group_of_row->resize(static_cast<size_t>(num_rows));
  int64_t* g = group_of_row->data();
  // The packed codes go straight into the output, then become group ids in place.
  static_assert(sizeof(int64_t) == sizeof(uint64_t));
  const Vec<int64_t> first = FirstRowPerSlot(keys, num_rows, plan, slots, reinterpret_cast<uint64_t*>(g));
  // Slot -> dense group id.
  Vec<int64_t> dense(slots, -1);
  first_row->clear();
  for (uint64_t s = 0; s < slots; ++s) {
    if (first[s] >= 0) {
      dense[s] = static_cast<int64_t>(first_row->size());
      first_row->push_back(first[s]);
    }
  }
  if (ordered) {
    // Number groups by first appearance, as the hash table does.
    const int64_t groups = static_cast<int64_t>(first_row->size());
    Vec<int64_t> order(static_cast<size_t>(groups));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return (*first_row)[a] < (*first_row)[b]; });
    Vec<int64_t> rank(static_cast<size_t>(groups));
    for (int64_t r = 0; r < groups; ++r) rank[order[r]] = r;
    for (uint64_t s = 0; s < slots; ++s) {
      if (dense[s] >= 0) dense[s] = rank[dense[s]];
    }
    std::sort(first_row->begin(), first_row->end());
  }
  // Every slot used and numbered by key: the codes already are the group ids.
  if (!(!ordered && first_row->size() == slots)) {
    ParallelFor(num_rows, 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) g[i] = dense[g[i]];
    });
  }
  return true;
}

Column CodeColumn(const Vec<uint64_t>& codes) {
  Column code;
  code.name = "__packed_key";
  code.format = "L";
  code.kind = Kind::kUnsigned;
  code.width = 8;
  code.length = static_cast<int64_t>(codes.size());
  code.data = reinterpret_cast<const uint8_t*>(codes.data());
  return code;
}

bool GroupIdsByPacking(const Columns& keys, int64_t num_rows, bool nulls_equal, bool ordered,
                       Vec<int64_t>* group_of_row, Vec<int64_t>* first_row) {
  bool any_nulls = false;
  for (const Column* c : keys) any_nulls = any_nulls || c->has_nulls();
  if (any_nulls && !nulls_equal) return false;  // join keys: null rows must stay unmatched
  const KeyPacking plan = PlanKeyPacking(keys, num_rows);
  if (!plan.packable) return false;
  // One slot per possible key while the slot tables stay small next to the input
  // (each thread keeps one: they must stay cache-sized to beat hashing).
  const uint64_t max_slots = std::min<uint64_t>(uint64_t{1} << 20, std::max<int64_t>(4096, num_rows / 2));
  if (DirectGroupIds(keys, num_rows, plan, max_slots, ordered, group_of_row, first_row)) return true;
  if (keys.size() == 1) return false;  // one column: the caller's single-key paths already apply
  Vec<uint64_t> codes(static_cast<size_t>(num_rows));
  PackKeys(keys, num_rows, plan, codes.data());
  const Column code = CodeColumn(codes);
  if (!ordered && num_rows >= 65536 && RadixGroupIds(code, num_rows, true, group_of_row, first_row)) return true;
  KeyTable table;
  if (!table.Build(Columns{&code}, num_rows, true).ok()) return false;
  *group_of_row = std::move(table.mutable_group_of_row());
  *first_row = std::move(table.mutable_first_row());
  return true;
}

}  // namespace cylon
