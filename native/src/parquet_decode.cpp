#include "parquet_decode.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace cylon::parquet {
namespace {

// -- Thrift compact protocol: just what a PageHeader needs, every other field skipped -------
enum ThriftType : int {
  kStop = 0, kBoolTrue = 1, kBoolFalse = 2, kByte = 3, kI16 = 4, kI32 = 5, kI64 = 6, kDouble = 7,
  kBinary = 8, kList = 9, kSet = 10, kMap = 11, kStruct = 12
};

class ThriftReader {
 public:
  ThriftReader(const uint8_t* p, int64_t size) : p_(p), start_(p), end_(p + size) {}

  int64_t consumed() const { return p_ - start_; }
  bool ok() const { return ok_; }

  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return Fail();
      const uint8_t b = *p_++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return Fail();
  }
  int64_t ZigZag() {
    const uint64_t v = Varint();
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }

  // Next field of the current struct: its type (kStop at the end) and id.
  int FieldBegin(int16_t* id, int16_t* last) {
    if (p_ >= end_) return Fail(), kStop;
    const uint8_t b = *p_++;
    const int type = b & 0x0f;
    if (type == kStop) return kStop;
    const int delta = b >> 4;
    *id = delta != 0 ? static_cast<int16_t>(*last + delta) : static_cast<int16_t>(ZigZag());
    *last = *id;
    return type;
  }

  void Skip(int type, int depth = 0) {
    if (depth > 32) return void(Fail());
    switch (type) {
      case kBoolTrue: case kBoolFalse: return;
      case kByte: return Advance(1);
      case kI16: case kI32: case kI64: Varint(); return;
      case kDouble: return Advance(8);
      case kBinary: return Advance(static_cast<int64_t>(Varint()));
      case kList: case kSet: {
        if (p_ >= end_) return void(Fail());
        const uint8_t h = *p_++;
        int64_t n = h >> 4;
        if (n == 15) n = static_cast<int64_t>(Varint());
        const int elem = h & 0x0f;
        for (int64_t i = 0; i < n && ok_; ++i) {
          if (elem == kBoolTrue || elem == kBoolFalse) Advance(1); else Skip(elem, depth + 1);
        }
        return;
      }
      case kMap: {
        const int64_t n = static_cast<int64_t>(Varint());
        if (n == 0) return;
        if (p_ >= end_) return void(Fail());
        const uint8_t kinds = *p_++;
        for (int64_t i = 0; i < n && ok_; ++i) {
          Skip(kinds >> 4, depth + 1);
          Skip(kinds & 0x0f, depth + 1);
        }
        return;
      }
      case kStruct: {
        int16_t last = 0, id = 0;
        for (int t; ok_ && (t = FieldBegin(&id, &last)) != kStop;) Skip(t, depth + 1);
        return;
      }
      default: return void(Fail());
    }
  }

  int32_t I32(int type) {
    if (type != kI32) return Skip(type), Fail(), 0;
    return static_cast<int32_t>(ZigZag());
  }

 private:
  uint64_t Fail() { ok_ = false; p_ = end_; return 0; }
  void Advance(int64_t n) {
    if (n < 0 || end_ - p_ < n) return void(Fail());
    p_ += n;
  }
  const uint8_t* p_;
  const uint8_t* start_;
  const uint8_t* end_;
  bool ok_ = true;
};

// DataPageHeader, DictionaryPageHeader and DataPageHeaderV2 share field 1 (num_values) and
// differ in the rest; `kind` says which struct is being read.
void ReadPageStruct(ThriftReader& r, int kind, PageHeader* h) {
  int16_t last = 0, id = 0;
  for (int t; r.ok() && (t = r.FieldBegin(&id, &last)) != kStop;) {
    if (id == 1) { h->num_values = r.I32(t); continue; }
    if (kind == kDataPage) {
      if (id == 2) h->encoding = r.I32(t);
      else if (id == 3) h->def_encoding = r.I32(t);
      else r.Skip(t);
    } else if (kind == kDictionaryPage) {
      if (id == 2) h->encoding = r.I32(t);
      else r.Skip(t);
    } else {
      if (id == 2) h->num_nulls = r.I32(t);
      else if (id == 4) h->encoding = r.I32(t);
      else if (id == 5) h->def_bytes = r.I32(t);
      else if (id == 6) h->rep_bytes = r.I32(t);
      else if (id == 7 && (t == kBoolTrue || t == kBoolFalse)) h->compressed = t == kBoolTrue;
      else r.Skip(t);
    }
  }
}

// -- RLE / bit-packed hybrid ------------------------------------------------------------------
void Unpack(const uint8_t* p, int64_t avail, int bw, int64_t n, uint32_t* out) {
  const uint64_t mask = bw == 32 ? 0xffffffffull : ((1ull << bw) - 1);
  int64_t i = 0;
  // 8-byte loads while they stay inside the buffer; a byte-wise tail after.
  const int64_t fast = avail >= 8 ? std::min<int64_t>(n, ((avail - 8) * 8) / std::max(bw, 1) + 1) : 0;
  for (; i < fast; ++i) {
    const int64_t bit = i * bw;
    uint64_t w;
    std::memcpy(&w, p + (bit >> 3), 8);
    out[i] = static_cast<uint32_t>((w >> (bit & 7)) & mask);
  }
  for (; i < n; ++i) {
    const int64_t bit = i * bw;
    const int64_t byte = bit >> 3;
    uint64_t w = 0;
    std::memcpy(&w, p + byte, static_cast<size_t>(std::min<int64_t>(8, avail - byte)));
    out[i] = static_cast<uint32_t>((w >> (bit & 7)) & mask);
  }
}

}  // namespace

Status DecodeRleHybrid(const uint8_t* data, int64_t size, int bit_width, int64_t count, uint32_t* out,
                       int64_t* consumed) {
  if (bit_width < 0 || bit_width > 32) return Status::Invalid("bit width " + std::to_string(bit_width) + " > 32");
  const uint8_t* p = data;
  const uint8_t* end = data + size;
  const int value_bytes = (bit_width + 7) / 8;
  int64_t done = 0;
  while (done < count) {
    uint64_t header = 0;
    int shift = 0;
    for (;; shift += 7) {
      if (p >= end || shift > 35) return Status::Invalid("RLE run header past the end of the page");
      const uint8_t b = *p++;
      header |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) break;
    }
    if (header & 1) {  // bit-packed: groups of 8 values
      const int64_t groups = static_cast<int64_t>(header >> 1);
      const int64_t take = std::min<int64_t>(groups * 8, count - done);
      const int64_t need = (take * bit_width + 7) / 8;
      if (end - p < need) return Status::Invalid("bit-packed run past the end of the page");
      if (bit_width == 0) std::fill(out + done, out + done + take, 0u);
      else Unpack(p, end - p, bit_width, take, out + done);
      p += std::min<int64_t>(groups * bit_width, end - p);  // a last run may be cut short
      done += take;
    } else {  // a repeated value
      const int64_t run = static_cast<int64_t>(header >> 1);
      if (end - p < value_bytes) return Status::Invalid("RLE run value past the end of the page");
      uint32_t v = 0;
      std::memcpy(&v, p, static_cast<size_t>(value_bytes));
      p += value_bytes;
      const int64_t take = std::min<int64_t>(run, count - done);
      std::fill(out + done, out + done + take, v);
      done += take;
      if (run == 0) return Status::Invalid("empty RLE run");
    }
  }
  *consumed = p - data;
  return Status::OK();
}

Status ReadPageHeaders(const uint8_t* bytes, int64_t size, std::vector<PageHeader>* out) {
  int64_t at = 0;
  while (at < size) {
    ThriftReader r(bytes + at, size - at);
    PageHeader h;
    int16_t last = 0, id = 0;
    for (int t; r.ok() && (t = r.FieldBegin(&id, &last)) != kStop;) {
      switch (id) {
        case 1: h.kind = r.I32(t); break;
        case 2: h.uncompressed_size = r.I32(t); break;
        case 3: h.compressed_size = r.I32(t); break;
        case 5: case 7: case 8:
          if (t != kStruct) return Status::Invalid("page header field " + std::to_string(id) + " is not a struct");
          ReadPageStruct(r, id == 5 ? kDataPage : id == 7 ? kDictionaryPage : kDataPageV2, &h);
          break;
        default: r.Skip(t);
      }
    }
    if (!r.ok()) return Status::Invalid("page header at byte " + std::to_string(at) + " cannot be read");
    if (h.compressed_size < 0 || h.uncompressed_size < 0 || h.num_values < 0 ||
        r.consumed() + h.compressed_size > size - at) {
      return Status::Invalid("page at byte " + std::to_string(at) + " runs past its column chunk");
    }
    h.header_bytes = r.consumed();
    at += h.header_bytes + h.compressed_size;
    out->push_back(h);
  }
  return Status::OK();
}

namespace {

// Writes one value of `width` bytes at `src` as `out_width` bytes at `dst` (16: sign-extended).
template <int W, int O>
inline void Put(uint8_t* dst, const uint8_t* src) {
  if constexpr (O == W) {
    std::memcpy(dst, src, W);
  } else {
    static_assert(O == 16);
    using S = std::conditional_t<W == 4, int32_t, int64_t>;
    S v;
    std::memcpy(&v, src, W);
    const __int128 wide = v;
    std::memcpy(dst, &wide, 16);
  }
}

struct Cursor {  // where the next selected position is
  const int64_t* positions;
  int64_t count;
  int64_t next = 0;
};

template <int W, int O>
class Decoder {
 public:
  Decoder(const DecodeRequest& req, DecodedColumn* out) : req_(req), out_(out) {}

  Status Run(const std::vector<Page>& pages) {
    const bool all = req_.positions == nullptr;
    const int64_t rows_out = all ? req_.num_rows : req_.num_positions;
    dictionary_mode_ = req_.as_dictionary && std::all_of(pages.begin(), pages.end(), [](const Page& p) {
      return p.kind == kDictionaryPage || p.kind == kIndexPage ||
             p.encoding == kRleDictionary || p.encoding == kPlainDictionary;
    });
    out_->dictionary = dictionary_mode_;
    out_->length = rows_out;
    if (dictionary_mode_) out_->indices.resize(static_cast<size_t>(rows_out));
    else out_->values.resize(static_cast<size_t>(rows_out) * O);
    int64_t row = 0;
    Cursor cur{req_.positions, req_.num_positions};
    for (const Page& page : pages) {
      if (page.kind == kIndexPage) continue;
      if (page.kind == kDictionaryPage) {
        CYLON_RETURN_NOT_OK(Dictionary(page));
        continue;
      }
      if (page.kind != kDataPage && page.kind != kDataPageV2) {
        return Status::NotSupported("page type " + std::to_string(page.kind));
      }
      CYLON_RETURN_NOT_OK(DataPage(page, row, all, &cur));
      row += page.num_values;
    }
    if (row != req_.num_rows) {
      return Status::Invalid("pages hold " + std::to_string(row) + " rows, the footer says " +
                             std::to_string(req_.num_rows));
    }
    if (!all && cur.next != cur.count) return Status::Invalid("a position is past the last row");
    if (dictionary_mode_) {
      out_->dictionary_length = static_cast<int64_t>(all_dicts_.size() / W);
      out_->values.resize(all_dicts_.size() / W * O);
      for (int64_t i = 0; i < out_->dictionary_length; ++i) Put<W, O>(out_->values.data() + i * O, all_dicts_.data() + i * W);
    }
    return Status::OK();
  }

 private:
  Status Dictionary(const Page& page) {
    if (page.encoding != kPlain && page.encoding != kPlainDictionary) {
      return Status::NotSupported("dictionary page encoding " + std::to_string(page.encoding));
    }
    if (page.body_size < static_cast<int64_t>(page.num_values) * W) {
      return Status::Invalid("dictionary page holds fewer values than its header says");
    }
    // The page's values are read in place (the caller keeps the pages alive). In dictionary
    // mode the chunks' dictionaries are also laid end to end, and each chunk's indices are
    // shifted past the ones before (Arrow allows repeated dictionary values).
    dict_values_ = page.body;
    dict_size_ = page.num_values;
    if (dictionary_mode_) {
      base_ = static_cast<int64_t>(all_dicts_.size() / W);
      all_dicts_.insert(all_dicts_.end(), page.body, page.body + static_cast<int64_t>(page.num_values) * W);
    }
    return Status::OK();
  }

  Status DataPage(const Page& page, int64_t row0, bool all, Cursor* cur) {
    const int64_t n = page.num_values;
    const uint8_t* values = page.body;
    int64_t values_size = page.body_size;
    // Definition levels: which rows hold a value.
    defs_.clear();
    int64_t present = n;
    if (req_.max_def > 0) {
      const uint8_t* lv = page.levels;
      int64_t lv_size = page.levels_size;
      if (!page.v2) {
        if (page.def_encoding != kRle) return Status::NotSupported("definition level encoding " + std::to_string(page.def_encoding));
        if (values_size < 4) return Status::Invalid("data page too short for its definition levels");
        uint32_t len;
        std::memcpy(&len, values, 4);
        if (len > values_size - 4) return Status::Invalid("definition levels run past the page");
        lv = values + 4;
        lv_size = len;
        values += 4 + len;
        values_size -= 4 + static_cast<int64_t>(len);
      }
      defs_.resize(static_cast<size_t>(n));
      int64_t used = 0;
      CYLON_RETURN_NOT_OK(DecodeRleHybrid(lv, lv_size, 1, n, defs_.data(), &used));
      present = 0;
      for (int64_t i = 0; i < n; ++i) present += defs_[i];
      if (present == n) defs_.clear();  // no null in this page: the dense loops
    }
    const bool dict_encoded = page.encoding == kRleDictionary || page.encoding == kPlainDictionary;
    if (dict_encoded) {
      if (dict_size_ < 0) return Status::Invalid("a dictionary-encoded page before any dictionary page");
      if (values_size < 1 && present > 0) return Status::Invalid("dictionary page body is empty");
      idx_.resize(static_cast<size_t>(present));
      int64_t used = 0;
      if (present > 0) {
        CYLON_RETURN_NOT_OK(DecodeRleHybrid(values + 1, values_size - 1, values[0], present, idx_.data(), &used));
        uint32_t top = 0;
        for (int64_t i = 0; i < present; ++i) top = std::max(top, idx_[i]);
        if (top >= static_cast<uint32_t>(dict_size_)) {
          return Status::Invalid("dictionary index " + std::to_string(top) + " past a dictionary of " +
                                 std::to_string(dict_size_));
        }
      }
    } else if (page.encoding == kPlain) {
      if (values_size < present * W) return Status::Invalid("PLAIN page holds fewer values than its levels say");
    } else {
      return Status::NotSupported("encoding " + std::to_string(page.encoding));
    }
    if (defs_.empty()) return Dense(values, dict_encoded, row0, n, all, cur);
    // With nulls the k-th present value is found by counting definition levels.
    auto emit = [&](int64_t o, int64_t r, int64_t k) {  // output row o from page row r, k-th present value
      if (defs_[r] == 0) {
        SetNull(o);
        if (dictionary_mode_) out_->indices[o] = 0;
      } else if (dictionary_mode_) {
        out_->indices[o] = static_cast<int32_t>(idx_[k] + base_);
      } else if (dict_encoded) {
        Put<W, O>(out_->values.data() + o * O, dict_values_ + static_cast<size_t>(idx_[k]) * W);
      } else {
        Put<W, O>(out_->values.data() + o * O, values + k * W);
      }
    };
    int64_t k = 0;
    if (all) {
      for (int64_t r = 0; r < n; ++r) {
        emit(row0 + r, r, k);
        k += defs_[r];
      }
    } else {
      int64_t r = 0;
      for (; cur->next < cur->count && cur->positions[cur->next] < row0 + n; ++cur->next) {
        const int64_t want = cur->positions[cur->next] - row0;  // ascending: checked up front
        for (; r < want; ++r) k += defs_[r];
        emit(cur->next, want, k);
      }
    }
    return Status::OK();
  }

  // A page without nulls: page row r holds the r-th value. Tight loops, one per case.
  Status Dense(const uint8_t* values, bool dict_encoded, int64_t row0, int64_t n, bool all, Cursor* cur) {
    const uint32_t* idx = idx_.data();
    if (all) {
      if (dictionary_mode_) {
        int32_t* o = out_->indices.data() + row0;
        const int32_t base = static_cast<int32_t>(base_);
        for (int64_t r = 0; r < n; ++r) o[r] = static_cast<int32_t>(idx[r]) + base;
      } else if (dict_encoded) {
        uint8_t* o = out_->values.data() + row0 * O;
        for (int64_t r = 0; r < n; ++r) Put<W, O>(o + r * O, dict_values_ + static_cast<size_t>(idx[r]) * W);
      } else if constexpr (O == W) {
        std::memcpy(out_->values.data() + row0 * O, values, static_cast<size_t>(n) * W);
      } else {
        uint8_t* o = out_->values.data() + row0 * O;
        for (int64_t r = 0; r < n; ++r) Put<W, O>(o + r * O, values + r * W);
      }
      return Status::OK();
    }
    const int64_t* pos = cur->positions;
    int64_t i = cur->next;
    int64_t end = i;
    while (end < cur->count && pos[end] < row0 + n) ++end;
    cur->next = end;
    if (dictionary_mode_) {
      int32_t* o = out_->indices.data();
      const int32_t base = static_cast<int32_t>(base_);
      for (; i < end; ++i) o[i] = static_cast<int32_t>(idx[pos[i] - row0]) + base;
    } else if (dict_encoded) {
      uint8_t* o = out_->values.data();
      for (; i < end; ++i) Put<W, O>(o + i * O, dict_values_ + static_cast<size_t>(idx[pos[i] - row0]) * W);
    } else {
      uint8_t* o = out_->values.data();
      for (; i < end; ++i) Put<W, O>(o + i * O, values + (pos[i] - row0) * W);
    }
    return Status::OK();
  }

  void SetNull(int64_t o) {
    if (out_->validity.empty()) out_->validity.assign(static_cast<size_t>((out_->length + 7) / 8), 0xff);
    out_->validity[o >> 3] &= static_cast<uint8_t>(~(1u << (o & 7)));
    ++out_->null_count;
  }

  const DecodeRequest& req_;
  DecodedColumn* out_;
  bool dictionary_mode_ = false;
  const uint8_t* dict_values_ = nullptr;  //!< the current chunk's dictionary, W bytes a value
  int64_t dict_size_ = -1;
  Vec<uint8_t> all_dicts_;                //!< dictionary mode: every chunk's, end to end
  int64_t base_ = 0;
  ScratchVec<uint32_t> defs_;
  ScratchVec<uint32_t> idx_;
};

template <int W, int O>
Status Decode(const std::vector<Page>& pages, const DecodeRequest& req, DecodedColumn* out) {
  return Decoder<W, O>(req, out).Run(pages);
}

}  // namespace

Status DecodeFixedColumn(const std::vector<Page>& pages, const DecodeRequest& req, DecodedColumn* out) {
  if (req.max_def < 0 || req.max_def > 1) return Status::NotSupported("nested columns (max definition level > 1)");
  if (req.positions != nullptr) {
    for (int64_t i = 1; i < req.num_positions; ++i) {
      if (req.positions[i] <= req.positions[i - 1]) return Status::Invalid("row positions must be strictly ascending");
    }
    if (req.num_positions > 0 && req.positions[0] < 0) return Status::Invalid("a row position is negative");
  }
  if (req.width == 4 && req.out_width == 4) return Decode<4, 4>(pages, req, out);
  if (req.width == 8 && req.out_width == 8) return Decode<8, 8>(pages, req, out);
  if (req.width == 4 && req.out_width == 16) return Decode<4, 16>(pages, req, out);
  if (req.width == 8 && req.out_width == 16) return Decode<8, 16>(pages, req, out);
  return Status::NotSupported("physical width " + std::to_string(req.width) + " as " +
                              std::to_string(req.out_width) + " bytes");
}

}  // namespace cylon::parquet
