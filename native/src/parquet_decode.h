// Fixed-width Parquet column chunks (INT32 / INT64 / FLOAT / DOUBLE, flat) decoded without
// Arrow: page headers (Thrift compact protocol), RLE / bit-packed definition levels and
// dictionary indices, PLAIN values, and only the rows asked for materialised.
//
// Why: Arrow's reader decodes every row of every column it is asked for. A query that
// keeps 2% of lineitem (TPC-H Q6, Q14, Q19) still paid for 16-byte decimals built for all
// rows of l_extendedprice. DuckDB's Parquet scan decodes the filter's columns first and
// then only the selected rows of the others; this is that second half. Decompression
// stays with the caller (Arrow's codecs, from Python), so the kernel links no codec.
#pragma once
#include <cstdint>
#include <vector>

#include "buffer_pool.h"
#include "status.h"

namespace cylon::parquet {

/// Parquet's PageType values.
enum PageKind : int32_t { kDataPage = 0, kIndexPage = 1, kDictionaryPage = 2, kDataPageV2 = 3 };

/// Parquet's Encoding values that this decoder reads.
enum Encoding : int32_t { kPlain = 0, kPlainDictionary = 2, kRle = 3, kRleDictionary = 8 };

/// One page header as stored in front of its page.
struct PageHeader {
  int32_t kind = -1;
  int64_t header_bytes = 0;       //!< bytes of the Thrift header itself
  int32_t compressed_size = 0;    //!< bytes of the page body as stored
  int32_t uncompressed_size = 0;  //!< bytes of the page body once decompressed
  int32_t num_values = 0;         //!< values (= rows for a flat column), nulls included
  int32_t encoding = -1;          //!< of the values
  int32_t def_encoding = kRle;    //!< v1 definition levels
  int32_t num_nulls = -1;         //!< v2 only
  int32_t def_bytes = 0;          //!< v2: bytes of definition levels (never compressed)
  int32_t rep_bytes = 0;          //!< v2: bytes of repetition levels
  bool compressed = true;         //!< v2: whether the values section is compressed
};

/// Parses the headers of the pages of one column chunk laid out at `bytes` (page after page).
Status ReadPageHeaders(const uint8_t* bytes, int64_t size, std::vector<PageHeader>* out);

/// One page, decompressed.
struct Page {
  int32_t kind = kDataPage;
  int32_t encoding = kPlain;
  int32_t def_encoding = kRle;
  int32_t num_values = 0;
  const uint8_t* levels = nullptr;  //!< v2: the definition levels; v1: none (they open the body)
  int64_t levels_size = 0;
  const uint8_t* body = nullptr;    //!< v1: levels then values; v2 and dictionary pages: values
  int64_t body_size = 0;
  bool v2 = false;
};

/// What to decode from a run of pages (one column, one or more row groups in order).
struct DecodeRequest {
  int width = 8;             //!< physical bytes per value: 4 or 8
  int out_width = 8;         //!< bytes per output value: the width, or 16 (decimal128, sign-extended)
  int max_def = 0;           //!< 0 (required) or 1 (optional)
  bool as_dictionary = false;  //!< indices + dictionary when every data page is dictionary-encoded
  const int64_t* positions = nullptr;  //!< ascending row positions to keep (null: every row)
  int64_t num_positions = 0;
  int64_t num_rows = 0;      //!< rows in the pages, for checking
};

/// The decoded column: values, or (when asked and possible) indices into a dictionary.
struct DecodedColumn {
  bool dictionary = false;
  Vec<uint8_t> values;       //!< out_width bytes a row; in dictionary mode, the dictionary's values
  int64_t dictionary_length = 0;
  Vec<int32_t> indices;      //!< dictionary mode: one a row (0 under a null)
  Vec<uint8_t> validity;     //!< empty: no nulls
  int64_t null_count = 0;
  int64_t length = 0;
};

/// Decodes `pages` (dictionary pages first in each chunk, as written) as `req` asks.
Status DecodeFixedColumn(const std::vector<Page>& pages, const DecodeRequest& req, DecodedColumn* out);

/// Decodes `count` values of Parquet's RLE / bit-packed hybrid at `bit_width` into `out`;
/// `*consumed` gets the bytes read. Exposed for tests.
Status DecodeRleHybrid(const uint8_t* data, int64_t size, int bit_width, int64_t count, uint32_t* out,
                       int64_t* consumed);

}  // namespace cylon::parquet
