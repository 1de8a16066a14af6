// Parquet page pieces with no Python face: the RLE / bit-packed hybrid, Thrift page headers,
// and the decoder's edge cases (a null at every position, a dictionary-encoded page before its
// dictionary, an index past the dictionary, positions past the last row, truncated pages).
#include <cstring>
#include <vector>

#include "check.h"
#include "parquet_decode.h"

using namespace cylon;
using namespace cylon::parquet;

namespace {

std::vector<uint8_t> Uleb(uint64_t v) {
  std::vector<uint8_t> out;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    out.push_back(v ? (b | 0x80) : b);
  } while (v);
  return out;
}

void Append(std::vector<uint8_t>* to, const std::vector<uint8_t>& more) { to->insert(to->end(), more.begin(), more.end()); }

// A bit-packed run of `values` (padded to groups of 8) at `bw` bits.
std::vector<uint8_t> BitPacked(const std::vector<uint32_t>& values, int bw) {
  const size_t groups = (values.size() + 7) / 8;
  std::vector<uint8_t> out = Uleb((groups << 1) | 1);
  std::vector<uint8_t> bits(groups * bw, 0);
  for (size_t i = 0; i < values.size(); ++i) {
    for (int b = 0; b < bw; ++b) {
      if ((values[i] >> b) & 1) bits[(i * bw + b) / 8] |= static_cast<uint8_t>(1u << ((i * bw + b) % 8));
    }
  }
  Append(&out, bits);
  return out;
}

std::vector<uint8_t> Repeated(uint32_t value, uint64_t count, int bw) {
  std::vector<uint8_t> out = Uleb(count << 1);
  for (int b = 0; b < (bw + 7) / 8; ++b) out.push_back(static_cast<uint8_t>(value >> (8 * b)));
  return out;
}

// Thrift compact: field header (delta form) + zigzag varint i32.
void I32Field(std::vector<uint8_t>* h, int delta, int32_t v) {
  h->push_back(static_cast<uint8_t>((delta << 4) | 5));
  Append(h, Uleb((static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31)));
}

}  // namespace

TEST_CASE(rle_hybrid_mixes_runs_and_cuts_the_last_group) {
  std::vector<uint32_t> packed = {1, 2, 3, 4, 5, 6, 7, 0, 3, 3};
  for (int bw : {3, 4, 13, 32}) {
    std::vector<uint8_t> data = Repeated(5, 4, bw);
    Append(&data, BitPacked(packed, bw));
    std::vector<uint32_t> out(14);
    int64_t used = 0;
    CHECK(DecodeRleHybrid(data.data(), static_cast<int64_t>(data.size()), bw, 14, out.data(), &used).ok());
    std::vector<uint32_t> want = {5, 5, 5, 5, 1, 2, 3, 4, 5, 6, 7, 0, 3, 3};
    CHECK(out == want);
    // Asking for more values than the runs hold is an error, never a read past the end.
    std::vector<uint32_t> more(40);
    CHECK(!DecodeRleHybrid(data.data(), static_cast<int64_t>(data.size()), bw, 40, more.data(), &used).ok());
  }
  uint32_t zero[3] = {9, 9, 9};
  std::vector<uint8_t> empty_width = Repeated(0, 3, 0);
  int64_t used = 0;
  CHECK(DecodeRleHybrid(empty_width.data(), static_cast<int64_t>(empty_width.size()), 0, 3, zero, &used).ok());
  CHECK(zero[0] == 0 && zero[2] == 0);
  CHECK(!DecodeRleHybrid(empty_width.data(), 1, 33, 3, zero, &used).ok());
}

TEST_CASE(page_headers_are_read_and_unknown_fields_skipped) {
  // PageHeader{type=DICTIONARY_PAGE, uncompressed=16, compressed=16, crc (skipped),
  //            dictionary_page_header{num_values=2, encoding=PLAIN}} + 16 body bytes,
  // then a DATA_PAGE with num_values=3, RLE_DICTIONARY and a statistics struct to skip.
  std::vector<uint8_t> chunk;
  I32Field(&chunk, 1, kDictionaryPage);
  I32Field(&chunk, 1, 16);
  I32Field(&chunk, 1, 16);
  I32Field(&chunk, 1, 12345);  // crc
  chunk.push_back(0x3c);       // field 7 (delta 3), struct
  I32Field(&chunk, 1, 2);
  I32Field(&chunk, 1, kPlain);
  chunk.push_back(0x00);  // end of dictionary_page_header
  chunk.push_back(0x00);  // end of PageHeader
  const size_t dict_header = chunk.size();
  int64_t dict_values[2] = {-7, 1LL << 40};
  chunk.insert(chunk.end(), reinterpret_cast<uint8_t*>(dict_values), reinterpret_cast<uint8_t*>(dict_values) + 16);
  std::vector<uint8_t> body = {1};  // bit width 1
  Append(&body, BitPacked({1, 0, 1}, 1));
  I32Field(&chunk, 1, kDataPage);
  I32Field(&chunk, 1, static_cast<int32_t>(body.size()));
  I32Field(&chunk, 1, static_cast<int32_t>(body.size()));
  chunk.push_back(0x2c);  // field 5 (delta 2), struct
  I32Field(&chunk, 1, 3);
  I32Field(&chunk, 1, kRleDictionary);
  I32Field(&chunk, 1, kRle);
  I32Field(&chunk, 1, kRle);
  chunk.push_back(0x1c);  // field 5: statistics struct, skipped
  chunk.push_back(0x18);  // binary field 1
  chunk.push_back(0x02);
  chunk.push_back('a');
  chunk.push_back('b');
  chunk.push_back(0x00);
  chunk.push_back(0x00);
  chunk.push_back(0x00);
  const size_t data_header = chunk.size() - (dict_header + 16);
  Append(&chunk, body);

  std::vector<PageHeader> headers;
  CHECK(ReadPageHeaders(chunk.data(), static_cast<int64_t>(chunk.size()), &headers).ok());
  CHECK_EQ(headers.size(), 2u);
  CHECK_EQ(headers[0].kind, kDictionaryPage);
  CHECK_EQ(headers[0].num_values, 2);
  CHECK_EQ(headers[0].header_bytes, static_cast<int64_t>(dict_header));
  CHECK_EQ(headers[1].kind, kDataPage);
  CHECK_EQ(headers[1].encoding, kRleDictionary);
  CHECK_EQ(headers[1].num_values, 3);
  CHECK_EQ(headers[1].header_bytes, static_cast<int64_t>(data_header));
  // A chunk cut inside a page is an error.
  std::vector<PageHeader> cut;
  CHECK(!ReadPageHeaders(chunk.data(), static_cast<int64_t>(chunk.size()) - 1, &cut).ok());

  // Decode it: values, positions, dictionary mode, and decimal128 widening.
  std::vector<Page> pages(2);
  pages[0] = Page{kDictionaryPage, kPlain, kRle, 2, nullptr, 0, chunk.data() + dict_header, 16, false};
  pages[1] = Page{kDataPage, kRleDictionary, kRle, 3, nullptr, 0, chunk.data() + chunk.size() - body.size(),
                  static_cast<int64_t>(body.size()), false};
  DecodeRequest req;
  req.width = 8;
  req.out_width = 8;
  req.num_rows = 3;
  DecodedColumn out;
  CHECK(DecodeFixedColumn(pages, req, &out).ok());
  int64_t got[3];
  std::memcpy(got, out.values.data(), 24);
  CHECK(got[0] == (1LL << 40) && got[1] == -7 && got[2] == (1LL << 40));
  int64_t pos[1] = {1};
  req.positions = pos;
  req.num_positions = 1;
  req.out_width = 16;
  DecodedColumn one;
  CHECK(DecodeFixedColumn(pages, req, &one).ok());
  __int128 wide;
  std::memcpy(&wide, one.values.data(), 16);
  CHECK(one.length == 1 && wide == -7);
  int64_t past[1] = {3};
  req.positions = past;
  DecodedColumn none;
  CHECK(!DecodeFixedColumn(pages, req, &none).ok());
  req.positions = nullptr;
  req.as_dictionary = true;
  req.out_width = 8;
  DecodedColumn dict;
  CHECK(DecodeFixedColumn(pages, req, &dict).ok());
  CHECK(dict.dictionary && dict.dictionary_length == 2 && dict.indices[0] == 1 && dict.indices[1] == 0);
  // The data page alone: dictionary-encoded with no dictionary before it.
  std::vector<Page> orphan = {pages[1]};
  DecodedColumn bad;
  CHECK(!DecodeFixedColumn(orphan, req, &bad).ok());
}

TEST_CASE(optional_columns_take_nulls_from_v1_and_v2_levels) {
  // Rows: 10, null, 30, null; the levels say 1 0 1 0, the values are the two present.
  std::vector<uint8_t> levels = BitPacked({1, 0, 1, 0}, 1);
  int32_t values[2] = {10, 30};
  std::vector<uint8_t> v1;
  const uint32_t len = static_cast<uint32_t>(levels.size());
  v1.insert(v1.end(), reinterpret_cast<const uint8_t*>(&len), reinterpret_cast<const uint8_t*>(&len) + 4);
  Append(&v1, levels);
  v1.insert(v1.end(), reinterpret_cast<uint8_t*>(values), reinterpret_cast<uint8_t*>(values) + 8);
  std::vector<uint8_t> plain(reinterpret_cast<uint8_t*>(values), reinterpret_cast<uint8_t*>(values) + 8);
  for (bool v2 : {false, true}) {
    Page p{kDataPage, kPlain, kRle, 4, nullptr, 0, v1.data(), static_cast<int64_t>(v1.size()), false};
    if (v2) p = Page{kDataPageV2, kPlain, kRle, 4, levels.data(), static_cast<int64_t>(levels.size()), plain.data(),
                     static_cast<int64_t>(plain.size()), true};
    DecodeRequest req;
    req.width = 4;
    req.out_width = 4;
    req.max_def = 1;
    req.num_rows = 4;
    DecodedColumn out;
    CHECK(DecodeFixedColumn({p}, req, &out).ok());
    CHECK_EQ(out.null_count, 2);
    CHECK(out.validity.size() == 1 && (out.validity[0] & 0x0f) == 0x05);
    int32_t got[4];
    std::memcpy(got, out.values.data(), 16);
    CHECK(got[0] == 10 && got[2] == 30);
    int64_t pos[2] = {1, 2};
    req.positions = pos;
    req.num_positions = 2;
    DecodedColumn some;
    CHECK(DecodeFixedColumn({p}, req, &some).ok());
    std::memcpy(got, some.values.data(), 8);
    CHECK(some.null_count == 1 && (some.validity[0] & 0x03) == 0x02 && got[1] == 30);
    // The footer's row count is checked.
    req.positions = nullptr;
    req.num_rows = 5;
    DecodedColumn wrong;
    CHECK(!DecodeFixedColumn({p}, req, &wrong).ok());
  }
}

int main() { return test::RunAll(); }
