// Export of kernel results (index arrays, aggregates) as Arrow C arrays that own their buffers.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "arrow_c_data.h"
#include "buffer_pool.h"

namespace cylon {

/// A primitive result column under construction: values plus an optional validity bitmap.
/// V = ScratchVec<T> for a result whose every value is written (no zero-fill on resize).
template <typename T, typename V = Vec<T>>
struct OutputColumn {
  V values;
  Vec<uint8_t> validity;  //!< empty means all valid
  int64_t null_count = 0;

  void set_null(int64_t i) {
    if (validity.empty()) validity.assign((values.size() + 7) / 8, 0xff);
    validity[i >> 3] &= static_cast<uint8_t>(~(1u << (i & 7)));
    ++null_count;
  }
};

/// Fills a childless, nullable schema struct (the name is empty).
void FillSchema(ArrowSchema* schema, const char* format, void* private_data, void (*release)(ArrowSchema*));

/// Format strings of the primitive types the kernel emits.
template <typename T> const char* FormatOf();
template <> inline const char* FormatOf<int64_t>() { return "l"; }
template <> inline const char* FormatOf<uint64_t>() { return "L"; }
template <> inline const char* FormatOf<double>() { return "g"; }
template <> inline const char* FormatOf<int32_t>() { return "i"; }
template <> inline const char* FormatOf<uint32_t>() { return "I"; }
template <> const char* FormatOf<__int128>();

/// Moves the column into freshly allocated (schema, array) structs whose release
/// callbacks free everything. The caller owns both and must release them.
template <typename T, typename V = Vec<T>>
void ExportColumn(OutputColumn<T, V>&& col, ArrowSchema* schema, ArrowArray* array);

/// As ExportColumn, under an explicit Arrow format string (e.g. "d:38,2" for
/// 16-byte decimal values).
template <typename T, typename V = Vec<T>>
void ExportColumnAs(OutputColumn<T, V>&& col, const std::string& format, ArrowSchema* schema, ArrowArray* array);

/// Exports `length` fixed-width values held in `bytes` under an Arrow format
/// string (e.g. "tsu:UTC"), with a validity bitmap unless `validity` is empty.
void ExportFixedBytes(Vec<uint8_t>&& bytes, int64_t length, const std::string& format, ArrowSchema* schema,
                      ArrowArray* array, Vec<uint8_t>&& validity = {}, int64_t null_count = 0);

/// Export of a validity-free vector.
template <typename T>
void ExportVector(Vec<T>&& values, ArrowSchema* schema, ArrowArray* array) {
  OutputColumn<T> col;
  col.values = std::move(values);
  ExportColumn(std::move(col), schema, array);
}

}  // namespace cylon
