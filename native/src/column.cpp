#include "column.h"

#include <cstdio>
#include <cstring>

namespace cylon {
namespace {

// Maps an Arrow format string to how the kernel reads it. Returns false for
// types the kernel cannot key on (nested, decimal, float16, views, dictionaries).
bool ParseFormat(const std::string& f, Kind* kind, int* width) {
  if (f.size() == 1) {
    switch (f[0]) {
      case 'c': *kind = Kind::kSigned; *width = 1; return true;
      case 'C': *kind = Kind::kUnsigned; *width = 1; return true;
      case 's': *kind = Kind::kSigned; *width = 2; return true;
      case 'S': *kind = Kind::kUnsigned; *width = 2; return true;
      case 'i': *kind = Kind::kSigned; *width = 4; return true;
      case 'I': *kind = Kind::kUnsigned; *width = 4; return true;
      case 'l': *kind = Kind::kSigned; *width = 8; return true;
      case 'L': *kind = Kind::kUnsigned; *width = 8; return true;
      case 'f': *kind = Kind::kFloat; *width = 4; return true;
      case 'g': *kind = Kind::kFloat; *width = 8; return true;
      case 'b': *kind = Kind::kBool; *width = 1; return true;
      case 'u': case 'z': *kind = Kind::kBinary; *width = 0; return true;
      case 'U': case 'Z': *kind = Kind::kLargeBinary; *width = 0; return true;
      default: return false;
    }
  }
  if (f == "tdD") { *kind = Kind::kSigned; *width = 4; return true; }   // date32
  if (f == "tdm") { *kind = Kind::kSigned; *width = 8; return true; }   // date64
  if (f == "tts" || f == "ttm") { *kind = Kind::kSigned; *width = 4; return true; }  // time32
  if (f == "ttu" || f == "ttn") { *kind = Kind::kSigned; *width = 8; return true; }  // time64
  if (f.rfind("ts", 0) == 0 && f.size() >= 4 && f[3] == ':') {  // timestamp[unit, tz]
    *kind = Kind::kSigned; *width = 8; return true;
  }
  if (f.rfind("tD", 0) == 0 && f.size() == 3) { *kind = Kind::kSigned; *width = 8; return true; }  // duration
  if (f == "vu" || f == "vz") { *kind = Kind::kBinaryView; *width = 16; return true; }  // string_view, binary_view
  return false;
}

// Decimals "d:p,s[,bits]": decimal32/64 are read as signed integers (their
// unscaled values), decimal128/256 as wide two's complement words.
bool ParseDecimal(const std::string& f, Column* c) {
  if (f.rfind("d:", 0) != 0) return false;
  int p = 0, s = 0, bits = 128;
  const int n = std::sscanf(f.c_str() + 2, "%d,%d,%d", &p, &s, &bits);
  if (n < 2) return false;
  c->precision = p;
  c->scale = s;
  switch (bits) {
    case 32: c->kind = Kind::kSigned; c->width = 4; return true;
    case 64: c->kind = Kind::kSigned; c->width = 8; return true;
    case 128: c->kind = Kind::kDecimal; c->width = 16; return true;
    case 256: c->kind = Kind::kDecimal; c->width = 32; return true;
    default: return false;
  }
}

}  // namespace

Status ImportColumn(ArrowSchema* schema, ArrowArray* array, const std::string& name,
                    ImportedColumn* out) {
  out->schema = UniqueSchema(schema);
  out->array = UniqueArray(array);
  const ArrowSchema* s = out->schema.get();
  const ArrowArray* a = out->array.get();
  Column& c = out->view;
  c.name = name;
  c.format = s->format ? s->format : "";
  if (s->dictionary != nullptr) {
    return Status::NotSupported("column '" + name +
                                "' is dictionary-encoded; decode it before calling the kernel");
  }
  if (!ParseFormat(c.format, &c.kind, &c.width) && !ParseDecimal(c.format, &c)) {
    return Status::NotSupported("column '" + name + "' has Arrow format '" + c.format +
                                "', which the kernel cannot use as a key");
  }
  const int64_t expected_buffers = (c.kind == Kind::kBinary || c.kind == Kind::kLargeBinary) ? 3 : 2;
  if (c.kind == Kind::kBinaryView) {
    // validity, views, the variadic character buffers, and their sizes last.
    if (a->n_buffers < 3) {
      return Status::Invalid("column '" + name + "' (format '" + c.format + "'): expected at least 3 buffers, found " +
                             std::to_string(a->n_buffers));
    }
    c.length = a->length;
    c.offset = a->offset;
    c.null_count = a->null_count;
    c.validity = c.null_count == 0 ? nullptr : static_cast<const uint8_t*>(a->buffers[0]);
    c.data = static_cast<const uint8_t*>(a->buffers[1]);
    c.variadic = a->buffers + 2;
    c.num_variadic = a->n_buffers - 3;
    if (c.length > 0 && c.data == nullptr) return Status::Invalid("column '" + name + "' has no views buffer");
    return Status::OK();
  }
  if (a->n_buffers != expected_buffers) {
    return Status::Invalid("column '" + name + "' (format '" + c.format + "'): expected " +
                           std::to_string(expected_buffers) + " buffers, found " +
                           std::to_string(a->n_buffers));
  }
  c.length = a->length;
  c.offset = a->offset;
  c.null_count = a->null_count;
  c.validity = static_cast<const uint8_t*>(a->buffers[0]);
  if (c.null_count == 0) c.validity = nullptr;
  if (expected_buffers == 2) {
    c.data = static_cast<const uint8_t*>(a->buffers[1]);
  } else {
    if (c.kind == Kind::kBinary) {
      c.offsets32 = static_cast<const int32_t*>(a->buffers[1]);
    } else {
      c.offsets64 = static_cast<const int64_t*>(a->buffers[1]);
    }
    c.data = static_cast<const uint8_t*>(a->buffers[2]);
    static const uint8_t kEmpty[1] = {0};
    if (c.data == nullptr) c.data = kEmpty;
  }
  if (c.length > 0 && c.data == nullptr) {
    return Status::Invalid("column '" + name + "' has no data buffer");
  }
  return Status::OK();
}

Status CheckComparable(const Columns& a, const Columns& b) {
  if (a.size() != b.size()) {
    return Status::Invalid("expected the same number of key columns on both sides, found " +
                           std::to_string(a.size()) + " and " + std::to_string(b.size()));
  }
  for (size_t k = 0; k < a.size(); ++k) {
    const bool a_bin = a[k]->is_binary();
    const bool b_bin = b[k]->is_binary();
    // Decimals compare by unscaled value, so both sides need the same scale too.
    const bool scales_differ = a[k]->format.rfind("d:", 0) == 0 && a[k]->scale != b[k]->scale;
    if (a_bin != b_bin || (!a_bin && (a[k]->kind != b[k]->kind || a[k]->width != b[k]->width)) || scales_differ) {
      return Status::Invalid("key columns '" + a[k]->name + "' (format '" + a[k]->format +
                             "') and '" + b[k]->name + "' (format '" + b[k]->format +
                             "') have different types");
    }
  }
  return Status::OK();
}

}  // namespace cylon
