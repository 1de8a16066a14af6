// Gathering rows of string_view / binary_view arrays (Arrow's take has no
// kernel for them): the 16-byte views are copied, the character buffers are
// shared with the input, which the result keeps alive. And gathering per-value
// answers at dictionary indices into a row mask.
#pragma once
#include <cstdint>

#include "arrow_c_data.h"
#include "buffer_pool.h"
#include "column.h"
#include "status.h"

namespace cylon {

/// Exports src's rows at `indices` (an int64 column; a null index gives a null
/// row) as a view array of src's type. Moves src into the result, which owns it.
Status GatherViews(ImportedColumn&& src, const Column& indices, ArrowSchema* schema, ArrowArray* array);

/// A boolean per row: answers[indices[i]] (1 or 0), or `on_null` where the index is null.
/// Bit-packed into `bits` ((n + 7) / 8 bytes). A filter answered once per dictionary value
/// becomes a row mask this way (Arrow's take of booleans costs 5x more per row).
Status MaskAtIndices(const Column& indices, const uint8_t* answers, int64_t num_answers, bool on_null,
                     Vec<uint8_t>* bits);

}  // namespace cylon
