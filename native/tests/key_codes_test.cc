// The key encoders and the direct-indexed (perfect hash) group-by path:
// packed codes order as rows do and are equal exactly for equal rows; group ids
// agree with the hash table's grouping in the edge cases (empty, one group,
// all nulls, skew, keys at the type's limits).
#include <limits>
#include <map>
#include <random>

#include "check.h"
#include "key_codes.h"
#include "key_table.h"
#include "row_compare.h"

using namespace cylon;

namespace {

using test::Imported;

test::TestArray Int8s(const std::vector<int8_t>& v, const std::vector<int64_t>& nulls = {}) {
  test::TestArray t;
  t.format = "c";
  t.length = static_cast<int64_t>(v.size());
  t.null_count = static_cast<int64_t>(nulls.size());
  t.buffers = {nulls.empty() ? std::vector<uint8_t>{} : test::Validity(t.length, nulls), test::Bytes(v)};
  return t;
}

// Same partition of rows into groups, and the same first rows when ordered.
void CheckSameGrouping(const Columns& keys, int64_t n, bool ordered) {
  Vec<int64_t> ids, first;
  CHECK(GroupIdsByPacking(keys, n, true, ordered, &ids, &first) || n == 0);
  if (n == 0) return;
  KeyTable table;
  CHECK(table.Build(keys, n, true).ok());
  CHECK_EQ(static_cast<int64_t>(first.size()), table.num_groups());
  std::map<int64_t, int64_t> ours_to_hash;
  for (int64_t i = 0; i < n; ++i) {
    auto [it, inserted] = ours_to_hash.emplace(ids[i], table.group_of_row()[i]);
    CHECK(it->second == table.group_of_row()[i]);
    CHECK(ids[i] >= 0 && ids[i] < static_cast<int64_t>(first.size()));
    CHECK(RowsEqual(keys, first[ids[i]], keys, i, true));
  }
  if (ordered) {
    for (int64_t g = 0; g < table.num_groups(); ++g) CHECK_EQ(first[g], table.first_row()[g]);
  }
}

}  // namespace

TEST_CASE(empty_input_is_not_packed) {
  Imported k(test::Int64s({}));
  const KeyPacking plan = PlanKeyPacking(Columns{&k.col.view}, 0);
  CHECK(!plan.packable);
}

TEST_CASE(full_int64_range_does_not_pack) {
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  Imported k(test::Int64s({lo, 0, hi}));
  CHECK(!PlanKeyPacking(Columns{&k.col.view}, 3).packable);
}

TEST_CASE(int8_limits_and_nulls_pack_in_row_order) {
  Imported a(Int8s({-128, 127, 0, -128, 5, 127}, {2}));
  Imported b(test::Int64s({10, -3, 7, 10, 10, -3}, {4}));
  const Columns keys{&a.col.view, &b.col.view};
  const KeyPacking plan = PlanKeyPacking(keys, 6);
  CHECK(plan.packable);
  CHECK_EQ(plan.span[0], uint64_t{257});  // 256 values and the null code
  CHECK_EQ(plan.span[1], uint64_t{15});   // -3..10 and null
  std::vector<uint64_t> codes(6);
  PackKeys(keys, 6, plan, codes.data());
  const Vec<uint8_t> asc{1, 1};
  for (int64_t i = 0; i < 6; ++i) {
    for (int64_t j = 0; j < 6; ++j) {
      const int c = CompareRows(keys, i, keys, j, asc);
      CHECK((codes[i] < codes[j]) == (c < 0));
      CHECK((codes[i] == codes[j]) == (c == 0));
    }
  }
}

TEST_CASE(unsigned_values_above_int64_pack) {
  test::TestArray t;
  t.format = "L";
  t.length = 3;
  t.buffers = {{}, test::Bytes(std::vector<uint64_t>{~0ULL, ~0ULL - 5, ~0ULL})};
  Imported k(std::move(t));
  const KeyPacking plan = PlanKeyPacking(Columns{&k.col.view}, 3);
  CHECK(plan.packable);
  CHECK_EQ(plan.span[0], uint64_t{6});
  CheckSameGrouping(Columns{&k.col.view}, 3, true);
}

TEST_CASE(direct_groups_match_the_hash_table) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(rng() % 5000);
    const int64_t range = 1 + static_cast<int64_t>(rng() % 300);
    const bool skew = trial % 3 == 0, nulls = trial % 2 == 0, all_null = trial % 11 == 0;
    std::vector<int64_t> v(n), null_rows;
    for (int64_t i = 0; i < n; ++i) {
      v[i] = (skew && rng() % 10 < 8) ? -42 : static_cast<int64_t>(rng() % range) - range / 2;
      if (all_null || (nulls && rng() % 7 == 0)) null_rows.push_back(i);
    }
    Imported k(test::Int64s(v, null_rows));
    Imported k2(Int8s(std::vector<int8_t>(n, 3)));
    CheckSameGrouping(Columns{&k.col.view}, n, true);
    CheckSameGrouping(Columns{&k.col.view}, n, false);
    CheckSameGrouping(Columns{&k.col.view, &k2.col.view}, n, true);
  }
}

TEST_CASE(one_group_and_unordered_numbering_by_key) {
  Imported k(test::Int64s({9, 9, 9, 9}));
  Vec<int64_t> ids, first;
  CHECK(GroupIdsByPacking(Columns{&k.col.view}, 4, true, false, &ids, &first));
  CHECK_EQ(static_cast<int64_t>(first.size()), 1);
  for (int64_t id : ids) CHECK_EQ(id, 0);
  Imported u(test::Int64s({5, 3, 4, 3}, {2}));
  CHECK(GroupIdsByPacking(Columns{&u.col.view}, 4, true, false, &ids, &first));
  // By key: 3 -> 0, 5 -> 1, null -> 2 (nulls last).
  CHECK_EQ(ids[0], 1);
  CHECK_EQ(ids[1], 0);
  CHECK_EQ(ids[2], 2);
  CHECK_EQ(ids[3], 0);
}

TEST_CASE(join_keys_with_nulls_are_not_packed) {
  Imported k(test::Int64s({1, 2}, {1}));
  Vec<int64_t> ids, first;
  CHECK(!GroupIdsByPacking(Columns{&k.col.view}, 2, false, true, &ids, &first));
}

TEST_CASE(wide_multi_column_keys_use_a_packed_code) {
  // 3 x 2^20 values: beyond the direct-index slots, within 63 bits.
  std::vector<int64_t> a, b;
  for (int64_t i = 0; i < 3000; ++i) {
    a.push_back(i % 3);
    b.push_back((i * 7919) % (int64_t{1} << 20) + ((i % 5 == 0) ? (int64_t{1} << 20) : 0));
  }
  Imported ka(test::Int64s(a)), kb(test::Int64s(b));
  const Columns keys{&ka.col.view, &kb.col.view};
  CHECK(PlanKeyPacking(keys, 3000).range > (uint64_t{1} << 20));
  CheckSameGrouping(keys, 3000, true);
  CheckSameGrouping(keys, 3000, false);
}

int main() { return test::RunAll(); }
