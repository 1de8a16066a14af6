#include "export.h"

#include <cstdlib>
#include <new>

namespace cylon {
namespace {

// Private data of an exported array: owns the buffers and the pointer table.
template <typename T, typename V>
struct ExportedArrayData {
  V values;
  Vec<uint8_t> validity;
  const void* buffers[2];
};

template <typename T, typename V>
void ReleaseArray(ArrowArray* array) noexcept {
  if (array->release == nullptr) return;
  delete static_cast<ExportedArrayData<T, V>*>(array->private_data);
  array->private_data = nullptr;
  array->release = nullptr;
}

void ReleaseSchema(ArrowSchema* schema) noexcept { schema->release = nullptr; }

void FillArray(ArrowArray* array, int64_t length, int64_t null_count, const void** buffers, void* private_data,
               void (*release)(ArrowArray*)) {
  array->length = length;
  array->null_count = null_count;
  array->offset = 0;
  array->n_buffers = 2;
  array->n_children = 0;
  array->buffers = buffers;
  array->children = nullptr;
  array->dictionary = nullptr;
  array->private_data = private_data;
  array->release = release;
}

}  // namespace

void FillSchema(ArrowSchema* schema, const char* format, void* private_data, void (*release)(ArrowSchema*)) {
  schema->format = format;
  schema->name = "";
  schema->metadata = nullptr;
  schema->flags = ARROW_FLAG_NULLABLE;
  schema->n_children = 0;
  schema->children = nullptr;
  schema->dictionary = nullptr;
  schema->private_data = private_data;
  schema->release = release;
}

template <typename T, typename V>
void ExportColumn(OutputColumn<T, V>&& col, ArrowSchema* schema, ArrowArray* array) {
  auto* data = new ExportedArrayData<T, V>();
  data->values = std::move(col.values);
  data->validity = std::move(col.validity);
  data->buffers[0] = data->validity.empty() ? nullptr : data->validity.data();
  // A zero-length vector may have a null data(); Arrow wants a non-null values pointer.
  static const uint64_t kEmpty = 0;
  data->buffers[1] = data->values.empty() ? static_cast<const void*>(&kEmpty) : data->values.data();

  FillArray(array, static_cast<int64_t>(data->values.size()), data->validity.empty() ? 0 : col.null_count,
            data->buffers, data, &ReleaseArray<T, V>);
  FillSchema(schema, FormatOf<T>(), nullptr, &ReleaseSchema);
}

namespace {

struct ExportedBytes {
  Vec<uint8_t> bytes;
  Vec<uint8_t> validity;
  const void* buffers[2];
};

struct ExportedFormat {
  std::string format;
};

void ReleaseBytes(ArrowArray* array) noexcept {
  if (array->release == nullptr) return;
  delete static_cast<ExportedBytes*>(array->private_data);
  array->private_data = nullptr;
  array->release = nullptr;
}

void ReleaseFormatSchema(ArrowSchema* schema) noexcept {
  if (schema->release == nullptr) return;
  delete static_cast<ExportedFormat*>(schema->private_data);
  schema->private_data = nullptr;
  schema->release = nullptr;
}

}  // namespace

void ExportFixedBytes(Vec<uint8_t>&& bytes, int64_t length, const std::string& format, ArrowSchema* schema,
                      ArrowArray* array, Vec<uint8_t>&& validity, int64_t null_count) {
  auto* data = new ExportedBytes();
  data->bytes = std::move(bytes);
  data->validity = std::move(validity);
  static const uint64_t kEmpty = 0;
  data->buffers[0] = data->validity.empty() ? nullptr : data->validity.data();
  data->buffers[1] = data->bytes.empty() ? static_cast<const void*>(&kEmpty) : data->bytes.data();
  FillArray(array, length, data->validity.empty() ? 0 : null_count, data->buffers, data, &ReleaseBytes);
  auto* fmt = new ExportedFormat{format};
  FillSchema(schema, fmt->format.c_str(), fmt, &ReleaseFormatSchema);
}

template <typename T, typename V>
void ExportColumnAs(OutputColumn<T, V>&& col, const std::string& format, ArrowSchema* schema, ArrowArray* array) {
  ExportColumn(std::move(col), schema, array);
  schema->release(schema);
  auto* fmt = new ExportedFormat{format};
  FillSchema(schema, fmt->format.c_str(), fmt, &ReleaseFormatSchema);
}

template <>
const char* FormatOf<__int128>() { return "d:38,0"; }

template void ExportColumnAs<__int128>(OutputColumn<__int128>&&, const std::string&, ArrowSchema*, ArrowArray*);
template void ExportColumnAs<__int128, ScratchVec<__int128>>(OutputColumn<__int128, ScratchVec<__int128>>&&,
                                                            const std::string&, ArrowSchema*, ArrowArray*);
template void ExportColumn<int64_t>(OutputColumn<int64_t>&&, ArrowSchema*, ArrowArray*);
template void ExportColumn<uint64_t>(OutputColumn<uint64_t>&&, ArrowSchema*, ArrowArray*);
template void ExportColumn<double>(OutputColumn<double>&&, ArrowSchema*, ArrowArray*);
template void ExportColumn<int32_t>(OutputColumn<int32_t>&&, ArrowSchema*, ArrowArray*);
template void ExportColumn<uint32_t>(OutputColumn<uint32_t>&&, ArrowSchema*, ArrowArray*);

}  // namespace cylon
