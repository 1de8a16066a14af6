#include "group_ids.h"

#include <cstring>

#include <atomic>
#include <memory>
#include <vector>

#include "key_codes.h"
#include "parallel.h"
#include "key_table.h"
#include "radix_group.h"
#include "small_group.h"

namespace cylon {
namespace {

// Groups per thread chunk up to which the small-group path runs (its tables stay in L1/L2).
constexpr int64_t kSmallGroups = 4096;
// The same for one null-free 8-byte integer key with enough rows a group (its table keeps the key).
constexpr int64_t kInlineGroups = int64_t{1} << 18;

// Key columns the integer paths can take once rewritten as 8-byte integers: the
// rewritten columns (kept alive here) and the keys with them swapped in.
struct NarrowedKeys {
  std::vector<std::unique_ptr<Column>> columns;
  std::vector<ScratchVec<int64_t>> storage;
  Columns views;
};

// An 8-byte value per row of c (indexed from c's own offset, as c is), from the
// buffer pool (no first-touch page faults) and left uninitialised: every caller
// writes all num_rows values (zero-filling first was 11-13% of grouping 3M rows by
// two short-string flags).
int64_t* NarrowedStorage(const Column& c, int64_t num_rows, NarrowedKeys* out) {
  return out->storage.emplace_back(static_cast<size_t>(num_rows + c.offset)).data();
}

// Key k becomes `values` read as `kind`: same validity, offset and name as c.
void UseNarrowed(const Column& c, size_t k, Kind kind, const char* format, const int64_t* values,
                 NarrowedKeys* out) {
  auto narrow = std::make_unique<Column>(c);
  narrow->kind = kind;
  narrow->width = 8;
  narrow->format = format;
  narrow->data = reinterpret_cast<const uint8_t*>(values);
  narrow->offsets32 = nullptr;
  narrow->offsets64 = nullptr;
  narrow->variadic = nullptr;
  narrow->num_variadic = 0;
  out->views[k] = narrow.get();
  out->columns.push_back(std::move(narrow));
}

// decimal128 keys whose values all fit 64 bits (every decimal(p <= 18) does) as
// int64 columns of their unscaled values, so the integer paths apply; equal
// values stay equal and the row hash is the same (docs/kernel.md).
void NarrowDecimal(const Column& c, int64_t num_rows, size_t k, NarrowedKeys* out) {
  // One pass checks and copies (a check pass, then a copy pass, read the 16-byte
  // values twice: 1M decimal(15,2) keys in 1k groups, 3.4 -> 2.8 ms of group ids).
  std::atomic<bool> fits{true};
  int64_t* low = NarrowedStorage(c, num_rows, out);
  ParallelFor(num_rows, 1 << 16, [&](int64_t b, int64_t e) {
    bool local = true;
    for (int64_t i = b; i < e; ++i) {
      const uint64_t* w = c.wide_words(i);
      local &= w[1] == (static_cast<int64_t>(w[0]) < 0 ? ~0ULL : 0ULL) || !c.is_valid(i);
      low[i + c.offset] = static_cast<int64_t>(w[0]);
    }
    if (!local) fits = false;
  });
  if (!fits) {
    out->storage.pop_back();
    return;
  }
  UseNarrowed(c, k, Kind::kSigned, "l", low, out);
}

// string/binary keys whose valid values all have at most kMaxShortBytes bytes, as
// unsigned integer codes: the bytes big-endian, zero-padded to the longest
// length L, times (L + 1), plus the length. Equal values get equal codes (the
// length tells "a" from "a\0"), codes order as the bytes do (lexicographic,
// shorter first on a common prefix), and a column of few short values (flags,
// statuses, modes: TPC-H's l_returnflag) has a small code range, so the direct
// index or the packed code applies instead of hashing bytes (DuckDB keeps short
// strings inline in its string_t and its perfect hash aggregate keys on them).
constexpr int kMaxShortBytes = 7;

// A view's length (its first 4 bytes).
int32_t ViewLength(const Column& c, int64_t i) {
  int32_t len;
  std::memcpy(&len, c.data + 16 * (i + c.offset), 4);
  return len;
}

// The code of a view of at most 7 bytes (so inline): its 12 inline bytes start 4 bytes in,
// so 8 of them load at once, byte-swapped to big-endian, and the bytes past its length
// masked off; no loop over the bytes (3M TPC-H flags: 11 -> 3 ns a row).
uint64_t ShortViewCode(const Column& c, int64_t i, int width) {
  static constexpr uint64_t kTop[kMaxShortBytes + 1] = {
      0, ~0ULL << 56, ~0ULL << 48, ~0ULL << 40, ~0ULL << 32, ~0ULL << 24, ~0ULL << 16, ~0ULL << 8};
  const uint8_t* v = c.data + 16 * (i + c.offset);
  int32_t len;
  uint64_t word;
  std::memcpy(&len, v, 4);
  std::memcpy(&word, v + 4, 8);
  const uint64_t padded = (__builtin_bswap64(word) & kTop[len]) >> (64 - 8 * width);  // the bytes, padded to width
  return padded * static_cast<uint64_t>(width + 1) + static_cast<uint64_t>(len);
}

void NarrowShortStrings(const Column& c, int64_t num_rows, size_t k, NarrowedKeys* out) {
  std::atomic<int> longest{0};
  std::atomic<bool> fits{true};
  const bool views = c.kind == Kind::kBinaryView;
  ParallelFor(num_rows, 1 << 16, [&](int64_t b, int64_t e) {
    int local = 0;
    for (int64_t i = b; i < e; ++i) {
      if (!c.is_valid(i)) continue;
      const int n = views ? ViewLength(c, i) : static_cast<int>(c.bytes(i).size());
      if (n > kMaxShortBytes) {
        fits = false;
        return;
      }
      local = n > local ? n : local;
    }
    int seen = longest.load();
    while (local > seen && !longest.compare_exchange_weak(seen, local)) {
    }
  });
  if (!fits) return;
  const int width = longest.load();
  int64_t* codes = NarrowedStorage(c, num_rows, out);
  ParallelFor(num_rows, 1 << 16, [&](int64_t b, int64_t e) {
    if (views && width > 0) {
      for (int64_t i = b; i < e; ++i) {
        codes[i + c.offset] = c.is_valid(i) ? static_cast<int64_t>(ShortViewCode(c, i, width)) : 0;
      }
      return;
    }
    for (int64_t i = b; i < e; ++i) {
      uint64_t code = 0;
      if (c.is_valid(i)) {
        const std::string_view v = c.bytes(i);
        for (unsigned char ch : v) code = (code << 8) | ch;
        code <<= 8 * (width - static_cast<int>(v.size()));
        code = code * static_cast<uint64_t>(width + 1) + v.size();
      }
      codes[i + c.offset] = static_cast<int64_t>(code);
    }
  });
  UseNarrowed(c, k, Kind::kUnsigned, "L", codes, out);
}

void NarrowKeys(const Columns& keys, int64_t num_rows, NarrowedKeys* out) {
  out->views = keys;
  for (size_t k = 0; k < keys.size(); ++k) {
    const Column& c = *keys[k];
    if (c.kind == Kind::kDecimal && c.width == 16) NarrowDecimal(c, num_rows, k, out);
    if (c.is_binary()) NarrowShortStrings(c, num_rows, k, out);
  }
}

// Several fixed-width key columns without nulls that do not pack (wide ranges) but
// each hold few distinct values (ids, codes: the matrix's pairs of random 62-bit
// columns with ~32 and ~316 values each) as dense per-column codes, each from a
// small per-thread table over that column alone, then packed and directly
// indexed: a cheap pass per column instead of hashing and comparing every column's
// words per row in one table (Polars encodes each key column first the same way).
constexpr int64_t kDenseColumnValues = 1024;

bool GroupIdsByDenseCodes(const Columns& keys, int64_t num_rows, bool nulls_equal, bool ordered,
                          Vec<int64_t>* group_of_row, Vec<int64_t>* first_row) {
  if (keys.size() < 2 || num_rows < (1 << 16)) return false;
  for (const Column* c : keys) {
    if (!c->has_int_code() || c->has_nulls()) return false;
  }
  std::vector<Vec<int64_t>> codes(keys.size());
  std::vector<Column> columns(keys.size());
  uint64_t product = 1;
  for (size_t k = 0; k < keys.size(); ++k) {
    Vec<int64_t> first;
    if (!SmallGroupIds(Columns{keys[k]}, num_rows, kDenseColumnValues, &codes[k], &first)) return false;
    product *= static_cast<uint64_t>(first.size());
    if (product > (uint64_t{1} << 20)) return false;  // past what the direct index takes
    Column& c = columns[k];
    c.name = keys[k]->name;
    c.format = "l";
    c.kind = Kind::kSigned;
    c.width = 8;
    c.length = num_rows;
    c.data = reinterpret_cast<const uint8_t*>(codes[k].data());
  }
  Columns views;
  for (const Column& c : columns) views.push_back(&c);
  return GroupIdsByPacking(views, num_rows, nulls_equal, ordered, group_of_row, first_row);
}

}  // namespace

// In order of preference:
//  1. integer keys with small ranges: direct indexing, or several columns as one
//     packed code (key_codes.h);
//  2. few groups of any key types: thread-local tables merged (small_group.h);
//     more groups over several columns of few values each: dense per-column
//     codes, then 1.;
//  3. one fixed-width key, or two without nulls, many rows, order free: radix
//     partitions (radix_group.h);
//  4. a global hash table (key_table.h).
// decimal128 keys that fit 64 bits, and strings of at most 7 bytes, take the integer paths.
Status GroupRows(const Columns& original_keys, int64_t num_rows, bool nulls_equal, bool ordered,
                 Vec<int64_t>* group_of_row, Vec<int64_t>* first_row) {
  NarrowedKeys narrowed;
  NarrowKeys(original_keys, num_rows, &narrowed);
  const Columns& keys = narrowed.views;
  if (GroupIdsByPacking(keys, num_rows, nulls_equal, ordered, group_of_row, first_row)) return Status::OK();
  if (nulls_equal && SmallGroupIds(keys, num_rows, kSmallGroups, group_of_row, first_row, kInlineGroups)) {
    return Status::OK();
  }
  if (GroupIdsByDenseCodes(keys, num_rows, nulls_equal, ordered, group_of_row, first_row)) return Status::OK();
  if (!ordered && keys.size() == 1 && num_rows >= 65536 &&
      RadixGroupIds(*keys[0], num_rows, nulls_equal, group_of_row, first_row)) {
    return Status::OK();
  }
  if (!ordered && keys.size() == 2 && num_rows >= 65536 &&
      RadixGroupIdsPair(*keys[0], *keys[1], num_rows, group_of_row, first_row)) {
    return Status::OK();
  }
  KeyTable table;
  CYLON_RETURN_NOT_OK(table.Build(keys, num_rows, nulls_equal));
  *group_of_row = std::move(table.mutable_group_of_row());
  *first_row = std::move(table.mutable_first_row());
  return Status::OK();
}

}  // namespace cylon
