// string_view read natively: inline and out-of-line values, hashing and
// comparison as utf8 bytes (so views and strings partition alike).
#include <sys/mman.h>

#include "check.h"
#include "column.h"
#include "group_ids.h"
#include "row_compare.h"
#include "row_hash.h"
#include "views.h"

using namespace cylon;

namespace {

test::TestArray Utf8(const std::vector<std::string>& values, const std::vector<int64_t>& nulls = {}) {
  test::TestArray t;
  t.format = "u";
  t.length = static_cast<int64_t>(values.size());
  t.null_count = static_cast<int64_t>(nulls.size());
  std::vector<int32_t> offsets{0};
  std::vector<uint8_t> chars;
  for (const auto& s : values) {
    chars.insert(chars.end(), s.begin(), s.end());
    offsets.push_back(static_cast<int32_t>(chars.size()));
  }
  if (chars.empty()) chars.push_back(0);
  t.buffers = {nulls.empty() ? std::vector<uint8_t>{} : test::Validity(t.length, nulls), test::Bytes(offsets), chars};
  return t;
}

}  // namespace

TEST_CASE(views_hash_and_compare_as_their_bytes) {
  const std::vector<std::string> values{"", "twelve bytes", "thirteen byte", "日本語のテキスト", "a"};
  test::Imported vi(test::StringViews(values), "v"), si(Utf8(values), "s");
  const ImportedColumn &v = vi.col, &s = si.col;
  CHECK(v.view.kind == Kind::kBinaryView && v.view.is_binary());
  CHECK(CheckComparable(Columns{&v.view}, Columns{&s.view}).ok());
  for (int64_t i = 0; i < 5; ++i) {
    CHECK(v.view.bytes(i) == values[i]);
    CHECK(ValueHash(v.view, i) == ValueHash(s.view, i));
    for (int64_t j = 0; j < 5; ++j) {
      CHECK_EQ(CompareValues(v.view, i, s.view, j), CompareValues(s.view, i, s.view, j));
      CHECK(ValuesEqual(v.view, i, s.view, j) == (i == j));
    }
  }
}

TEST_CASE(sliced_views_read_from_their_offset) {
  test::TestArray vt = test::StringViews({"skip me", "a long value past the inline part", "x"});
  ArrowSchema vs;
  ArrowArray va;
  vt.Export(&vs, &va);
  va.offset = 1;
  va.length = 2;
  ImportedColumn v;
  CHECK(ImportColumn(&vs, &va, "v", &v).ok());
  CHECK(v.view.bytes(0) == "a long value past the inline part");
  CHECK(v.view.bytes(1) == "x");
}


namespace {

// The row hash's byte hash spelled out byte by byte (docs/kernel.md): 8-byte
// little-endian words, then the zero-padded tail with its length in the top bits.
uint64_t ReferenceHashBytes(const char* p, size_t n, uint64_t seed) {
  const auto byte = [p](size_t i) { return static_cast<uint64_t>(static_cast<uint8_t>(p[i])); };
  const size_t whole = n / 8 * 8;
  uint64_t h = seed ^ (static_cast<uint64_t>(n) * kGolden);
  for (size_t w = 0; w < whole; w += 8) {
    uint64_t word = 0;
    for (size_t b = 0; b < 8; ++b) word |= byte(w + b) << (8 * b);
    h = Mum(h ^ word, 0xa0761d6478bd642fULL);
  }
  uint64_t rest = 0;
  for (size_t b = whole; b < n; ++b) rest |= byte(b) << (8 * (b - whole));
  return Mix64(Mum(h ^ rest ^ (static_cast<uint64_t>(n - whole) << 59), 0xe7037ed1a0b428dbULL));
}

}  // namespace

TEST_CASE(byte_hash_tail_reads_keep_the_contract) {
  std::string s;
  for (int n = 0; n < 40; ++n) {
    CHECK(HashBytes(s.data(), s.size(), 0) == ReferenceHashBytes(s.data(), s.size(), 0));
    CHECK(HashBytes(s.data(), s.size(), 7) == ReferenceHashBytes(s.data(), s.size(), 7));
    s.push_back(static_cast<char>(0x80 + n * 37));
  }
}

TEST_CASE(large_binary_offsets_beyond_four_gib) {
  // 5 GiB of address space reserved; only the pages holding the values are touched.
  const size_t reserve = size_t{5} << 30;
  void* base = mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  CHECK(base != MAP_FAILED);
  if (base == MAP_FAILED) return;
  auto* chars = static_cast<char*>(base);
  const std::vector<std::string> values{"same value past 4 GiB", "another one", "same value past 4 GiB"};
  std::vector<int64_t> offsets{(int64_t{1} << 32) + 5};
  for (const std::string& v : values) {
    std::memcpy(chars + offsets.back(), v.data(), v.size());
    offsets.push_back(offsets.back() + static_cast<int64_t>(v.size()));
  }
  Column c;
  c.name = "big";
  c.format = "Z";  // large_binary
  c.kind = Kind::kLargeBinary;
  c.length = 3;
  c.offsets64 = offsets.data();
  c.data = reinterpret_cast<const uint8_t*>(chars);
  test::Imported small(Utf8(values), "s");
  for (int64_t i = 0; i < 3; ++i) {
    CHECK(c.bytes(i) == values[i]);
    CHECK(ValueHash(c, i) == ValueHash(small.col.view, i));
  }
  Vec<int64_t> groups, first;
  CHECK(GroupRows(Columns{&c}, 3, true, true, &groups, &first).ok());
  CHECK_EQ(static_cast<int64_t>(first.size()), 2);
  CHECK_EQ(groups[0], groups[2]);
  munmap(base, reserve);
}

TEST_CASE(short_string_keys_group_by_their_packed_codes) {
  // At most 7 bytes: packed codes. "a" and "a\0" differ only by length; "" and "\0" too.
  const std::vector<std::string> values{"a", std::string("a\0", 2), "", std::string("\0", 1), "seven b", "a",
                                        std::string("a\0", 2), "b", "", "seven b"};
  const std::vector<int64_t> want{0, 1, 2, 3, 4, 0, 1, 5, 2, 4};  // first-appearance ids
  test::Imported vi(test::StringViews(values), "v"), si(Utf8(values), "s");
  for (const ImportedColumn* c : {&vi.col, &si.col}) {
    Vec<int64_t> groups, first;
    CHECK(GroupRows(Columns{&c->view}, static_cast<int64_t>(values.size()), true, true, &groups, &first).ok());
    CHECK_EQ(static_cast<int64_t>(first.size()), 6);
    for (size_t i = 0; i < values.size(); ++i) {
      for (size_t j = 0; j < values.size(); ++j) CHECK((groups[i] == groups[j]) == (want[i] == want[j]));
    }
    CHECK(GroupRows(Columns{&c->view}, static_cast<int64_t>(values.size()), true, false, &groups, &first).ok());
    CHECK_EQ(static_cast<int64_t>(first.size()), 6);
    for (size_t i = 0; i < values.size(); ++i) {
      for (size_t j = 0; j < values.size(); ++j) CHECK((groups[i] == groups[j]) == (want[i] == want[j]));
    }
  }
  // Views (codes from 8 loaded bytes) and offsets (codes byte by byte) give the same codes:
  // numbered by key, the two groupings are the same ids, nulls (one group) included.
  const std::vector<int64_t> nulls{2, 6};
  test::Imported vn(test::StringViews(values, nulls), "vn"), sn(Utf8(values, nulls), "sn");
  Vec<int64_t> by_view, by_utf8, first_view, first_utf8;
  CHECK(GroupRows(Columns{&vn.col.view}, static_cast<int64_t>(values.size()), true, false, &by_view, &first_view).ok());
  CHECK(GroupRows(Columns{&sn.col.view}, static_cast<int64_t>(values.size()), true, false, &by_utf8, &first_utf8).ok());
  CHECK(by_view == by_utf8);
  // one value past 7 bytes: the byte paths, same groups
  std::vector<std::string> longer = values;
  longer.push_back("eight by");
  test::Imported li(Utf8(longer), "l");
  Vec<int64_t> groups, first;
  CHECK(GroupRows(Columns{&li.col.view}, static_cast<int64_t>(longer.size()), true, true, &groups, &first).ok());
  CHECK_EQ(static_cast<int64_t>(first.size()), 7);
  for (size_t i = 0; i < values.size(); ++i) CHECK_EQ(groups[i], want[i]);
}

int main() { return test::RunAll(); }
