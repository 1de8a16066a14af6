#include "row_hash.h"

#include "parallel.h"

namespace cylon {
namespace {

template <typename T>
void HashFixedColumn(const Column& c, int64_t begin, int64_t end, uint64_t* h) {
  const T* v = reinterpret_cast<const T*>(c.data) + c.offset;
  if (c.has_nulls()) {
    for (int64_t i = begin; i < end; ++i) {
      const uint64_t x = c.is_valid(i) ? static_cast<uint64_t>(static_cast<int64_t>(v[i])) : kNullHash;
      h[i] = CombineHash(h[i], x);
    }
  } else {
    for (int64_t i = begin; i < end; ++i) {
      h[i] = CombineHash(h[i], static_cast<uint64_t>(static_cast<int64_t>(v[i])));
    }
  }
}

template <typename T>
void HashUnsignedColumn(const Column& c, int64_t begin, int64_t end, uint64_t* h) {
  const T* v = reinterpret_cast<const T*>(c.data) + c.offset;
  for (int64_t i = begin; i < end; ++i) {
    const uint64_t x = c.is_valid(i) ? static_cast<uint64_t>(v[i]) : kNullHash;
    h[i] = CombineHash(h[i], x);
  }
}

void HashColumnRange(const Column& c, int64_t begin, int64_t end, uint64_t* h) {
  if (c.kind == Kind::kSigned) {
    switch (c.width) {
      case 1: return HashFixedColumn<int8_t>(c, begin, end, h);
      case 2: return HashFixedColumn<int16_t>(c, begin, end, h);
      case 4: return HashFixedColumn<int32_t>(c, begin, end, h);
      default: return HashFixedColumn<int64_t>(c, begin, end, h);
    }
  }
  if (c.kind == Kind::kUnsigned) {
    switch (c.width) {
      case 1: return HashUnsignedColumn<uint8_t>(c, begin, end, h);
      case 2: return HashUnsignedColumn<uint16_t>(c, begin, end, h);
      case 4: return HashUnsignedColumn<uint32_t>(c, begin, end, h);
      default: return HashUnsignedColumn<uint64_t>(c, begin, end, h);
    }
  }
  for (int64_t i = begin; i < end; ++i) h[i] = CombineHash(h[i], ValueHash(c, i));
}

}  // namespace

void HashRows(const Columns& keys, int64_t num_rows, Vec<uint64_t>* out) {
  out->resize(static_cast<size_t>(num_rows));
  uint64_t* h = out->data();
  ParallelFor(num_rows, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) h[i] = kRowHashSeed;
    for (const Column* c : keys) HashColumnRange(*c, begin, end, h);
  });
}

void NullKeyRows(const Columns& keys, int64_t num_rows, Vec<uint8_t>* out) {
  out->clear();
  bool any = false;
  for (const Column* c : keys) any = any || c->has_nulls();
  if (!any) return;
  out->assign(static_cast<size_t>(num_rows), 0);
  for (const Column* c : keys) {
    if (!c->has_nulls()) continue;
    for (int64_t i = 0; i < num_rows; ++i) (*out)[i] |= !c->is_valid(i);
  }
}

}  // namespace cylon
