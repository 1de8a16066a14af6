#include "gather.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "export.h"
#include "parallel.h"

namespace cylon {
namespace {

// Private data of a gathered view array: the input (whose character buffers
// the views point into), the new views and validity, and the buffer table.
struct GatheredViews {
  ImportedColumn src;
  Vec<uint8_t> views;
  Vec<uint8_t> validity;
  std::vector<const void*> buffers;
  std::string format;
};

void ReleaseGathered(ArrowArray* array) noexcept {
  if (array->release == nullptr) return;
  delete static_cast<GatheredViews*>(array->private_data);  // releases the input it owns
  array->private_data = nullptr;
  array->release = nullptr;
}

void ReleaseGatheredSchema(ArrowSchema* schema) noexcept {
  if (schema->release == nullptr) return;
  delete static_cast<std::string*>(schema->private_data);
  schema->private_data = nullptr;
  schema->release = nullptr;
}

}  // namespace

Status GatherViews(ImportedColumn&& src, const Column& indices, ArrowSchema* schema, ArrowArray* array) {
  const Column& c = src.view;
  if (c.kind != Kind::kBinaryView) {
    return Status::Invalid("column '" + c.name + "': gathering views needs a string_view or binary_view array, found '" +
                           c.format + "'");
  }
  if (indices.kind != Kind::kSigned || indices.width != 8) {
    return Status::Invalid("gather indices must be int64, found '" + indices.format + "'");
  }
  const int64_t n = indices.length;
  const int64_t* idx = reinterpret_cast<const int64_t*>(indices.data) + indices.offset;
  for (int64_t i = 0; i < n; ++i) {
    if (indices.is_valid(i) && (idx[i] < 0 || idx[i] >= c.length)) {
      return Status::Invalid("gather index " + std::to_string(idx[i]) + " out of bounds for column '" + c.name +
                             "' of " + std::to_string(c.length) + " rows");
    }
  }
  auto data = std::make_unique<GatheredViews>();
  data->views.resize(static_cast<size_t>(n) * 16);
  const bool nullable = c.has_nulls() || indices.has_nulls();
  if (nullable) data->validity.assign(static_cast<size_t>((n + 7) / 8), 0);
  const uint8_t* in = c.data + 16 * c.offset;
  uint8_t* out = data->views.data();
  uint8_t* valid = data->validity.data();
  // Validity bytes are written by whole bytes per thread: chunks start on multiples of 8 rows.
  ParallelFor((n + 7) / 8, 1 << 13, [&](int64_t b8, int64_t e8) {
    const int64_t b = b8 * 8, e = std::min(n, e8 * 8);
    for (int64_t i = b; i < e; ++i) {
      const bool ok = indices.is_valid(i) && c.is_valid(idx[i]);
      if (ok) {
        std::memcpy(out + 16 * i, in + 16 * idx[i], 16);
        if (nullable) valid[i >> 3] |= static_cast<uint8_t>(1u << (i & 7));
      } else {
        std::memset(out + 16 * i, 0, 16);
      }
    }
  });
  int64_t nulls = 0;
  if (nullable) {
    for (int64_t i = 0; i < n; ++i) nulls += !((valid[i >> 3] >> (i & 7)) & 1);
  }
  const ArrowArray* a = src.array.get();
  data->buffers.assign(static_cast<size_t>(a->n_buffers), nullptr);
  data->buffers[0] = nullable ? data->validity.data() : nullptr;
  static const uint64_t kEmpty[2] = {0, 0};
  data->buffers[1] = n ? static_cast<const void*>(data->views.data()) : kEmpty;
  for (int64_t b = 2; b < a->n_buffers; ++b) data->buffers[b] = a->buffers[b];  // characters and their sizes
  data->format = c.format;
  data->src = std::move(src);

  array->length = n;
  array->null_count = nulls;
  array->offset = 0;
  array->n_buffers = static_cast<int64_t>(data->buffers.size());
  array->n_children = 0;
  array->buffers = data->buffers.data();
  array->children = nullptr;
  array->dictionary = nullptr;
  auto* fmt = new std::string(data->format);
  array->private_data = data.release();
  array->release = &ReleaseGathered;

  FillSchema(schema, fmt->c_str(), fmt, &ReleaseGatheredSchema);
  return Status::OK();
}

namespace {

template <typename I>
Status MaskLoop(const I* idx, const Column& indices, const uint8_t* answers, int64_t num_answers, bool on_null,
                uint8_t* out) {
  const int64_t n = indices.length;
  const bool nulls = indices.has_nulls();
  uint64_t bad = 0;
  for (int64_t base = 0; base < n; base += 8) {
    const int64_t end = std::min<int64_t>(n, base + 8);
    uint8_t byte = 0;
    for (int64_t i = base; i < end; ++i) {
      const uint64_t v = static_cast<uint64_t>(static_cast<int64_t>(idx[i]));
      bad |= v >= static_cast<uint64_t>(num_answers) ? 1 : 0;
      const uint8_t a = answers[v < static_cast<uint64_t>(num_answers) ? v : 0];
      byte |= static_cast<uint8_t>((a & 1) << (i - base));
    }
    out[base >> 3] = byte;
  }
  if (nulls) {
    for (int64_t i = 0; i < n; ++i) {
      if (!indices.is_valid(i)) {
        out[i >> 3] = static_cast<uint8_t>((out[i >> 3] & ~(1u << (i & 7))) | (on_null ? 1u << (i & 7) : 0));
      }
    }
  } else if (bad) {
    return Status::Invalid("a dictionary index is past the " + std::to_string(num_answers) + " answers");
  }
  return Status::OK();
}
}  // namespace

Status MaskAtIndices(const Column& indices, const uint8_t* answers, int64_t num_answers, bool on_null,
                     Vec<uint8_t>* bits) {
  bits->assign(static_cast<size_t>((indices.length + 7) / 8), 0);
  if (num_answers == 0) {
    if (indices.length > indices.null_count) return Status::Invalid("dictionary indices with no dictionary");
    num_answers = 1;  // every index is null; answers[0] is never used for a valid row
    static const uint8_t kZero = 0;
    answers = &kZero;
  }
  if (indices.kind != Kind::kSigned || (indices.width != 4 && indices.width != 8)) {
    return Status::NotSupported("dictionary indices of format '" + indices.format + "'");
  }
  if (indices.width == 4) {
    return MaskLoop(reinterpret_cast<const int32_t*>(indices.data) + indices.offset, indices, answers, num_answers,
                    on_null, bits->data());
  }
  return MaskLoop(reinterpret_cast<const int64_t*>(indices.data) + indices.offset, indices, answers, num_answers,
                  on_null, bits->data());
}

}  // namespace cylon
