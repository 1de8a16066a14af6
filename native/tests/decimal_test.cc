// Decimal pieces: exact sums with the overflow error, DuckDB's avg rounding,
// hashing and ordering across decimal128 / decimal256.
#include <cmath>

#include "aggregate.h"
#include "check.h"
#include "decimal_arith.h"
#include "row_compare.h"
#include "row_hash.h"

using namespace cylon;

namespace {

using test::Imported;

test::TestArray Decimals(const std::vector<__int128>& v, int width, const char* format,
                         const std::vector<int64_t>& nulls = {}) {
  test::TestArray t;
  t.format = format;
  t.length = static_cast<int64_t>(v.size());
  t.null_count = static_cast<int64_t>(nulls.size());
  std::vector<uint8_t> bytes(v.size() * width);
  for (size_t i = 0; i < v.size(); ++i) {
    std::memcpy(bytes.data() + i * width, &v[i], 16);
    const uint8_t ext = v[i] < 0 ? 0xff : 0;
    for (int b = 16; b < width; ++b) bytes[i * width + b] = ext;
  }
  t.buffers = {nulls.empty() ? std::vector<uint8_t>{} : test::Validity(t.length, nulls), bytes};
  return t;
}

__int128 Pow10(int n) {
  __int128 p = 1;
  while (n-- > 0) p *= 10;
  return p;
}

}  // namespace

TEST_CASE(formats_parse_precision_scale_and_width) {
  Imported d128(Decimals({1}, 16, "d:15,2"));
  CHECK(d128.col.view.kind == Kind::kDecimal && d128.col.view.width == 16 && d128.col.view.scale == 2);
  Imported d256(Decimals({1}, 32, "d:50,3,256"));
  CHECK(d256.col.view.width == 32 && d256.col.view.precision == 50 && d256.col.view.scale == 3);
}

TEST_CASE(sums_are_exact_and_overflow_is_an_error) {
  Imported v(Decimals({Pow10(37), -5, Pow10(37), 7}, 16, "d:38,0", {3}));
  const int64_t ids[] = {0, 0, 1, 1};
  OutputColumn<__int128> out;
  CHECK(SumDecimal(GroupIds{ids, 4, 2}, v.col.view, &out).ok());
  CHECK(out.values[0] == Pow10(37) - 5);
  CHECK(out.values[1] == Pow10(37));
  const int64_t one[] = {0, 0, 0, 0};
  Imported big(Decimals({Pow10(38) - 1, 1, 0, 0}, 16, "d:38,0"));
  const Status st = SumDecimal(GroupIds{one, 4, 1}, big.col.view, &out);
  CHECK(!st.ok());
  CHECK(st.message().find("does not fit decimal(38, 0)") != std::string::npos);
  // Few groups sum in four interleaved copies: an overflow that appears only when the copies
  // are folded is still an error, and rows past the last multiple of four are summed too.
  const __int128 quarter = static_cast<__int128>(1) << 125;
  Imported wide(Decimals({quarter, quarter, quarter, quarter, quarter}, 16, "d:38,0"));
  const int64_t five[] = {0, 0, 0, 0, 0};
  CHECK(!SumDecimal(GroupIds{five, 5, 1}, wide.col.view, &out).ok());
  Imported odd(Decimals({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 16, "d:10,0"));
  const int64_t three[] = {0, 1, 2, 0, 1, 2, 0, 0, 0, 1, 2};
  CHECK(SumDecimal(GroupIds{three, 11, 3}, odd.col.view, &out).ok());
  CHECK(out.values[0] == 1 + 4 + 7 + 8 + 9 && out.values[1] == 2 + 5 + 10 && out.values[2] == 3 + 6 + 11);
  // A group with only nulls sums to null.
  Imported nulls(Decimals({1, 2}, 16, "d:10,1", {0, 1}));
  CHECK(SumDecimal(GroupIds{ids, 2, 1}, nulls.col.view, &out).ok());
  CHECK_EQ(out.null_count, 1);
}

TEST_CASE(decimal256_beyond_128_bits_is_an_overflow) {
  test::TestArray t = Decimals({1}, 32, "d:60,0,256");
  t.buffers[1][20] = 1;  // a bit above 2^128
  Imported v(std::move(t));
  const int64_t ids[] = {0};
  OutputColumn<__int128> out;
  CHECK(!SumDecimal(GroupIds{ids, 1, 1}, v.col.view, &out).ok());
}

TEST_CASE(mean_rounds_as_duckdb) {
  // DuckDB 2.0: avg(x) = CAST(sum AS DOUBLE) / CAST(count AS DOUBLE); values from DuckDB 2.0.1.
  Imported sum(Decimals({-1, Pow10(30) + 1, 0}, 16, "d:38,2", {2}));
  test::TestArray counts = test::Int64s({17, 3, 0});
  Imported c(std::move(counts));
  OutputColumn<double> out;
  CHECK(DecimalMean(sum.col.view, c.col.view, 2, &out).ok());
  CHECK(out.values[0] == -0.0005882352941176471);
  CHECK(out.values[1] == 1e28 / 3.0);
  CHECK_EQ(out.null_count, 1);
}

TEST_CASE(hash_and_order_agree_across_widths) {
  const std::vector<__int128> v{-Pow10(20), -1, 0, 1, Pow10(30)};
  Imported narrow(Decimals(v, 16, "d:38,2")), wide(Decimals(v, 32, "d:60,2,256"));
  test::TestArray ints = test::Int64s({0, -1, 0, 1, 0});
  Imported i64(std::move(ints));
  for (int64_t i = 0; i < 5; ++i) {
    CHECK(ValueHash(narrow.col.view, i) == ValueHash(wide.col.view, i));
    if (i >= 1 && i <= 3) CHECK(ValueHash(narrow.col.view, i) == ValueHash(i64.col.view, i));  // fits int64
    for (int64_t j = 0; j < 5; ++j) {
      const int expect = (v[i] > v[j]) - (v[i] < v[j]);
      CHECK_EQ(CompareValues(narrow.col.view, i, narrow.col.view, j), expect);
      CHECK_EQ(CompareValues(wide.col.view, i, wide.col.view, j), expect);
      CHECK(ValuesEqual(wide.col.view, i, wide.col.view, j) == (i == j));
    }
  }
}

TEST_CASE(arithmetic_rescales_broadcasts_and_refuses_overflow) {
  Imported a(Decimals({12345, -5, 0}, 16, "d:15,2", {2}));  // 123.45, -0.05, null
  Imported one(Decimals({1}, 16, "d:1,0"));
  DecimalColumn out;
  CHECK(DecimalArith(DecimalOp::kSub, one.col.view, a.col.view, 16, 2, &out).ok());  // 1 - a
  CHECK(out.values[0] == 100 - 12345 && out.values[1] == 105 && out.null_count == 1);
  DecimalColumn prod;
  CHECK(DecimalArith(DecimalOp::kMul, a.col.view, a.col.view, 31, 4, &prod).ok());
  CHECK(prod.values[0] == static_cast<__int128>(12345) * 12345 && prod.values[1] == 25 && prod.null_count == 1);
  DecimalColumn sum;
  CHECK(DecimalArith(DecimalOp::kAdd, a.col.view, one.col.view, 16, 2, &sum).ok());
  CHECK(sum.values[0] == 12445);
  // 10^37 * 10 does not fit 38 digits; 10^30 * 10^30 overflows 128 bits: errors, never a wrap
  Imported big(Decimals({Pow10(37)}, 16, "d:38,0")), ten(Decimals({10}, 16, "d:2,0"));
  const Status st = DecimalArith(DecimalOp::kMul, big.col.view, ten.col.view, 38, 0, &out);
  CHECK(!st.ok() && st.message().find("do not fit DECIMAL(38,0)") != std::string::npos);
  Imported huge(Decimals({Pow10(30)}, 16, "d:31,0"));
  CHECK(!DecimalArith(DecimalOp::kMul, huge.col.view, huge.col.view, 38, 0, &out).ok());
  CHECK(!DecimalArith(DecimalOp::kMul, a.col.view, a.col.view, 31, 2, &out).ok());  // wrong scale
  // Operands that fit 64 bits take the int64 path; a product past int64 goes on in 128 bits,
  // and a result within int64 but past the result's precision is still the overflow error.
  Imported e10(Decimals({Pow10(10), -Pow10(10), 3}, 16, "d:18,0"));
  DecimalColumn wide;
  CHECK(DecimalArith(DecimalOp::kMul, e10.col.view, e10.col.view, 36, 0, &wide).ok());
  CHECK(wide.values[0] == Pow10(20) && wide.values[1] == Pow10(20) && wide.values[2] == 9);
  Imported nine(Decimals({99999, 2}, 16, "d:5,0"));
  DecimalColumn small;
  const Status past = DecimalArith(DecimalOp::kAdd, nine.col.view, nine.col.view, 5, 0, &small);
  CHECK(!past.ok() && past.message().find("at row 0") != std::string::npos);
}

int main() { return test::RunAll(); }
