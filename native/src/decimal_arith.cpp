#include "decimal_arith.h"

#include <algorithm>
#include <cstdint>

namespace cylon {
namespace {

__int128 Pow10(int n) {
  __int128 p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

std::string ToString(__int128 v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  unsigned __int128 u = neg ? -static_cast<unsigned __int128>(v) : static_cast<unsigned __int128>(v);
  char digits[48];
  int n = 0;
  while (u != 0) {
    digits[n++] = static_cast<char>('0' + static_cast<int>(u % 10));
    u /= 10;
  }
  std::string s(neg ? 1 : 0, '-');
  while (n > 0) s.push_back(digits[--n]);
  return s;
}

Status CheckOperand(const Column& c, const char* which) {
  if (c.kind != Kind::kDecimal || c.width != 16) {
    return Status::Invalid(std::string("decimal arithmetic needs decimal128 operands; operand ") + which +
                           " is '" + c.format + "'");
  }
  return Status::OK();
}


template <DecimalOp kOp, bool kChecked>
bool Combine(__int128 x, __int128 y, __int128 fa, __int128 fb, __int128* r) {
  if constexpr (kOp == DecimalOp::kMul) {
    if constexpr (kChecked) return __builtin_mul_overflow(x, y, r);
    *r = x * y;
    return false;
  } else {
    if constexpr (kChecked) {
      __int128 xs, ys;
      return __builtin_mul_overflow(x, fa, &xs) || __builtin_mul_overflow(y, fb, &ys) ||
             (kOp == DecimalOp::kAdd ? __builtin_add_overflow(xs, ys, r) : __builtin_sub_overflow(xs, ys, r));
    }
    *r = kOp == DecimalOp::kAdd ? x * fa + y * fb : x * fa - y * fb;
    return false;
  }
}

// The loop, specialised: without 128-bit overflow checks where the operand precisions
// bound the result below 10^38 (every TPC-H expression), and without validity reads
// where neither side has nulls. Returns the first failing row, or -1.
// The same operation on values that fit 64 bits (every decimal(p <= 18) value does, and
// TPC-H's money products fit too): int64 arithmetic with overflow checks, the 128-bit path
// only for a value or result that does not fit. False: use the 128-bit path.
template <DecimalOp kOp>
inline bool Combine64(const uint64_t* x, const uint64_t* y, int64_t fa, int64_t fb, int64_t limit, __int128* r) {
  const int64_t xl = static_cast<int64_t>(x[0]), yl = static_cast<int64_t>(y[0]);
  if (static_cast<int64_t>(x[1]) != (xl >> 63) || static_cast<int64_t>(y[1]) != (yl >> 63)) return false;
  int64_t v;
  if constexpr (kOp == DecimalOp::kMul) {
    if (__builtin_mul_overflow(xl, yl, &v)) return false;
  } else {
    int64_t xs, ys;
    if (__builtin_mul_overflow(xl, fa, &xs) || __builtin_mul_overflow(yl, fb, &ys)) return false;
    if (kOp == DecimalOp::kAdd ? __builtin_add_overflow(xs, ys, &v) : __builtin_sub_overflow(xs, ys, &v)) return false;
  }
  if (limit > 0 && (v >= limit || v <= -limit)) return false;  // the 128-bit path names the overflow
  *r = v;
  return true;
}

template <DecimalOp kOp, bool kChecked, bool kNullable>
int64_t Loop(const Column& a, const Column& b, int64_t n, __int128 fa, __int128 fb, __int128 limit,
             DecimalColumn* out) {
  const int64_t sa = a.length == 1 ? 0 : 1, sb = b.length == 1 ? 0 : 1;  // strides: 0 broadcasts
  bool fits = true;
  __int128* dst = out->values.data();
  // 64-bit fast path factors and limit (limit 0: every int64 result is within the precision).
  const __int128 kMax64 = static_cast<__int128>(INT64_MAX);
  const bool fast = fa <= kMax64 && fb <= kMax64;  // both operands are decimal128 (CheckOperand)
  const int64_t fa64 = fast ? static_cast<int64_t>(fa) : 0, fb64 = fast ? static_cast<int64_t>(fb) : 0;
  const int64_t limit64 = limit > kMax64 ? 0 : static_cast<int64_t>(limit);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t ia = i * sa, ib = i * sb;
    if constexpr (kNullable) {
      if (!a.is_valid(ia) || !b.is_valid(ib)) {
        dst[i] = 0;
        out->set_null(i);
        continue;
      }
    }
    __int128 r;
    if (fast && Combine64<kOp>(a.wide_words(ia), b.wide_words(ib), fa64, fb64, limit64, &r)) {
      dst[i] = r;
      continue;
    }
    if (Combine<kOp, kChecked>(a.wide_value(ia, &fits), b.wide_value(ib, &fits), fa, fb, &r) || r >= limit ||
        r <= -limit) {
      return i;
    }
    dst[i] = r;
  }
  return -1;
}

template <DecimalOp kOp>
int64_t Dispatch(bool checked, bool nullable, const Column& a, const Column& b, int64_t n, __int128 fa,
                 __int128 fb, __int128 limit, DecimalColumn* out) {
  if (checked) {
    return nullable ? Loop<kOp, true, true>(a, b, n, fa, fb, limit, out) : Loop<kOp, true, false>(a, b, n, fa, fb, limit, out);
  }
  return nullable ? Loop<kOp, false, true>(a, b, n, fa, fb, limit, out) : Loop<kOp, false, false>(a, b, n, fa, fb, limit, out);
}

}  // namespace

Status DecimalArith(DecimalOp op, const Column& a, const Column& b, int out_precision, int out_scale,
                    DecimalColumn* out) {
  CYLON_RETURN_NOT_OK(CheckOperand(a, "a"));
  CYLON_RETURN_NOT_OK(CheckOperand(b, "b"));
  if (out_precision < 1 || out_precision > 38) {
    return Status::Invalid("decimal result precision must be 1..38, found " + std::to_string(out_precision));
  }
  if (a.length != b.length && a.length != 1 && b.length != 1) {
    return Status::Invalid("decimal operands have " + std::to_string(a.length) + " and " +
                           std::to_string(b.length) + " rows");
  }
  const bool mul = op == DecimalOp::kMul;
  if (mul ? out_scale != a.scale + b.scale : (out_scale < a.scale || out_scale < b.scale)) {
    return Status::Invalid("decimal result scale " + std::to_string(out_scale) + " does not match operand scales " +
                           std::to_string(a.scale) + " and " + std::to_string(b.scale));
  }
  const int64_t n = (a.length == 1 && b.length == 1) ? 1 : (a.length == 1 ? b.length : a.length);
  // add/sub: operands rescaled up to the result scale (mul: the scales add up by themselves)
  const __int128 fa = mul ? 1 : Pow10(out_scale - a.scale);
  const __int128 fb = mul ? 1 : Pow10(out_scale - b.scale);
  // Digits the result can have by the operands' declared precisions: up to 38 no 128-bit
  // intermediate can overflow (|v| < 10^38 < 2^127), so the builtins' checks are skipped.
  const int bound = mul ? a.precision + b.precision
                        : std::max(a.precision + out_scale - a.scale, b.precision + out_scale - b.scale) + 1;
  const bool checked = bound > 38 || a.precision == 0 || b.precision == 0;
  const bool nullable = a.has_nulls() || b.has_nulls();
  const __int128 limit = Pow10(out_precision);  // |value| < 10^precision
  out->values.resize(static_cast<size_t>(n));  // uninitialised: the loop writes every row
  const int64_t bad = op == DecimalOp::kAdd   ? Dispatch<DecimalOp::kAdd>(checked, nullable, a, b, n, fa, fb, limit, out)
                      : op == DecimalOp::kSub ? Dispatch<DecimalOp::kSub>(checked, nullable, a, b, n, fa, fb, limit, out)
                                              : Dispatch<DecimalOp::kMul>(checked, nullable, a, b, n, fa, fb, limit, out);
  if (bad < 0) return Status::OK();
  bool fits = true;
  const __int128 x = a.wide_value(a.length == 1 ? 0 : bad, &fits), y = b.wide_value(b.length == 1 ? 0 : bad, &fits);
  const char* name = op == DecimalOp::kAdd ? "addition" : op == DecimalOp::kSub ? "subtraction" : "multiplication";
  return Status::Invalid(std::string("decimal overflow in ") + name + " at row " + std::to_string(bad) + ": " +
                         ToString(x) + " (scale " + std::to_string(a.scale) + ") and " + ToString(y) + " (scale " +
                         std::to_string(b.scale) + ") do not fit DECIMAL(" + std::to_string(out_precision) + "," +
                         std::to_string(out_scale) + ")");
}

}  // namespace cylon
