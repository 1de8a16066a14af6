// Gathering rows of string_view / binary_view arrays (Arrow's take has no
// kernel for them): the 16-byte views are copied, the character buffers are
// shared with the input, which the result keeps alive.
#pragma once
#include <cstdint>

#include "arrow_c_data.h"
#include "column.h"
#include "status.h"

namespace cylon {

/// Exports src's rows at `indices` (an int64 column; a null index gives a null
/// row) as a view array of src's type. Moves src into the result, which owns it.
Status GatherViews(ImportedColumn&& src, const Column& indices, ArrowSchema* schema, ArrowArray* array);

}  // namespace cylon
