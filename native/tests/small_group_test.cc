// The few-groups path: thread-local tables merged in row order give the hash
// table's grouping and first-appearance numbering; too many groups give up.
#include <random>
#include <string>

#include "check.h"
#include "key_table.h"
#include "small_group.h"
#include "views.h"

using namespace cylon;

namespace {

using test::Imported;

void CheckLikeHashTable(const Columns& keys, int64_t n, int64_t max_inline_groups = 0) {
  Vec<int64_t> ids, first;
  CHECK(SmallGroupIds(keys, n, 4096, &ids, &first, max_inline_groups));
  KeyTable table;
  CHECK(table.Build(keys, n, true).ok());
  CHECK(ids == table.group_of_row());  // same numbering: first appearance
  CHECK(first == table.first_row());
}

}  // namespace

TEST_CASE(int_keys_with_nulls_and_skew) {
  std::mt19937_64 rng(3);
  const int64_t n = 200000;
  std::vector<int64_t> v(n), nulls;
  for (int64_t i = 0; i < n; ++i) {
    v[i] = rng() % 10 < 7 ? std::numeric_limits<int64_t>::min() : static_cast<int64_t>(rng() % 500) * 1000003;
    if (rng() % 13 == 0) nulls.push_back(i);
  }
  Imported k(test::Int64s(v, nulls));
  CheckLikeHashTable(Columns{&k.col.view}, n);
}

TEST_CASE(string_view_and_int_keys) {
  std::mt19937_64 rng(5);
  const int64_t n = 150000;
  std::vector<std::string> s(n);
  std::vector<int64_t> v(n), nulls;
  for (int64_t i = 0; i < n; ++i) {
    s[i] = "country-" + std::to_string(rng() % 40) + (rng() % 2 ? "-with-a-long-suffix" : "");
    v[i] = static_cast<int64_t>(rng() % 3);
    if (rng() % 17 == 0) nulls.push_back(i);
  }
  Imported a(test::StringViews(s, nulls)), b(test::Int64s(v));
  CheckLikeHashTable(Columns{&a.col.view, &b.col.view}, n);
}

// int64 key columns of `values` grouped as the hash table groups them.
void CheckInt64KeysLikeHashTable(const std::vector<std::vector<int64_t>>& values, int64_t n,
                                 int64_t max_inline_groups = 0) {
  std::vector<Imported> cols;
  cols.reserve(values.size());
  for (const auto& v : values) cols.emplace_back(test::Int64s(v));
  Columns keys;
  for (auto& c : cols) keys.push_back(&c.col.view);
  CheckLikeHashTable(keys, n, max_inline_groups);
}

// Null-free 8-byte keys, 1-4 columns, take the table with the key words in its
// slots (5 the generic one); wide values (limits included).
TEST_CASE(int64_key_columns_inline) {
  std::mt19937_64 rng(11);
  const int64_t n = 120000;
  for (int ncols = 1; ncols <= 5; ++ncols) {
    std::vector<std::vector<int64_t>> pools(ncols), values(ncols);
    for (auto& pool : pools) {
      pool = {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), 0, -1};
      while (pool.size() < 12) pool.push_back(static_cast<int64_t>(rng()));
    }
    for (int64_t i = 0; i < n; ++i) {
      for (int k = 0; k < ncols; ++k) values[k].push_back(pools[k][rng() % (k < 3 ? 8 : 2)]);
    }
    CheckInt64KeysLikeHashTable(values, n);
  }
}

TEST_CASE(too_many_groups_give_up) {
  const int64_t n = 100000;
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i * 7;
  Imported k(test::Int64s(v));
  Vec<int64_t> ids, first;
  CHECK(!SmallGroupIds(Columns{&k.col.view}, n, 4096, &ids, &first));
  CHECK(!SmallGroupIds(Columns{&k.col.view, &k.col.view}, n, 4096, &ids, &first));
}

// Enough groups that the inline table grows several times (load <= 1/16 from 256
// slots), with the zero key (an empty slot's words) among them.
TEST_CASE(int64_key_inline_table_grows) {
  std::mt19937_64 rng(12);
  const int64_t n = 150000;
  for (int ncols = 1; ncols <= 2; ++ncols) {
    std::vector<std::vector<int64_t>> values(ncols);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t g = static_cast<int64_t>(rng() % 3000);
      for (int k = 0; k < ncols; ++k) values[k].push_back(g == 7 ? 0 : (g - 1500) * (k + 1) * 0x10000001LL);
    }
    CheckInt64KeysLikeHashTable(values, n);
  }
}

// One int64 key with more groups than max_groups but many rows a group: the inline
// table takes them (past kSparseSlots it fills to 1/2); fewer rows a group give up.
TEST_CASE(one_int64_key_many_inline_groups) {
  std::mt19937_64 rng(13);
  const int64_t n = 600000;
  std::vector<std::vector<int64_t>> values(1);
  for (int64_t i = 0; i < n; ++i) values[0].push_back(static_cast<int64_t>(rng() % 6000) * -0x3000000011LL);
  CheckInt64KeysLikeHashTable(values, n, int64_t{1} << 18);
  Imported k(test::Int64s(values[0]));
  Vec<int64_t> ids, first;
  CHECK(!SmallGroupIds(Columns{&k.col.view}, n, 4096, &ids, &first));  // 6000 > 4096: not without the inline limit
  std::vector<int64_t> spread(n);
  for (int64_t i = 0; i < n; ++i) spread[i] = static_cast<int64_t>(rng() % 100000);
  Imported s(test::Int64s(spread));
  CHECK(!SmallGroupIds(Columns{&s.col.view}, n, 4096, &ids, &first, int64_t{1} << 18));  // 6 rows a group
}

int main() { return test::RunAll(); }
