// Exact decimal128 arithmetic for the expression evaluator (runtime/expr): a + b, a - b, a * b.
//
// Arrow's decimal kernels rescale and check every value through its generic Decimal128 class:
// a multiply of 3M decimal(15,2) values took 0.2 s, 16x an int64 multiply, and the evaluator
// paid two more casts around it (to a wider operand type, then to DuckDB's result type). Here
// both operands are read as 128-bit integers, rescaled to the result's scale, combined with
// overflow-checked builtins and checked against the result precision: one pass, no casts.
#pragma once
#include <cstdint>
#include <string>

#include "column.h"
#include "export.h"
#include "status.h"

namespace cylon {

enum class DecimalOp : uint8_t { kAdd, kSub, kMul };

/// A decimal128 result: every value is written (0 under a null), so it is not zero-filled
/// first (3M rows: 48 MB of memset, a fifth of an operation).
using DecimalColumn = OutputColumn<__int128, ScratchVec<__int128>>;

/// `a op b` as decimal128(out_precision, out_scale); null where either operand is null.
///
/// a and b are decimal128 columns of equal length, or one of them has length 1 and is
/// broadcast. For kAdd/kSub out_scale must be >= both scales (operands are rescaled up to
/// it); for kMul it must equal a.scale + b.scale. A value that overflows 128 bits or does
/// not fit out_precision digits is an Invalid status naming the row, never a wrap.
Status DecimalArith(DecimalOp op, const Column& a, const Column& b, int out_precision, int out_scale,
                    DecimalColumn* out);

}  // namespace cylon
