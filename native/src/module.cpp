// nanobind module: the thin binding layer. Arrow data arrives as PyCapsules
// (__arrow_c_array__) and is moved into owned structs while the GIL is held;
// compute runs with the GIL released; results leave as owning capsules.
// Status is translated into the Python exception CylonError here, once.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "aggregate.h"
#include "column.h"
#include "decimal_arith.h"
#include "export.h"
#include "gather.h"
#include "hash_join.h"
#include "group_ids.h"
#include "key_table.h"
#include "parallel.h"
#include "parquet_decode.h"
#include "partition.h"
#include "row_hash.h"
#include "sort.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

struct CylonError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void ThrowIfError(const cylon::Status& st) {
  if (!st.ok()) throw CylonError(st.message());
}

template <typename T>
T* CapsulePointer(const nb::handle& cap, const char* name) {
  void* p = PyCapsule_GetPointer(cap.ptr(), name);
  if (p == nullptr) {
    PyErr_Clear();
    throw nb::type_error((std::string("expected a PyCapsule named '") + name + "'").c_str());
  }
  return static_cast<T*>(p);
}

// A list of (name, schema capsule, array capsule) tuples -> owned columns.
struct ImportedColumns {
  std::vector<std::unique_ptr<cylon::ImportedColumn>> owned;
  cylon::Columns views;
  int64_t rows() const { return views.empty() ? 0 : views[0]->length; }
};

ImportedColumns ImportAll(const nb::list& columns) {
  ImportedColumns out;
  for (nb::handle item : columns) {
    nb::tuple t = nb::cast<nb::tuple>(item);
    if (t.size() != 3) throw nb::value_error("each column must be (name, schema capsule, array capsule)");
    const std::string name = nb::cast<std::string>(t[0]);
    auto* schema = CapsulePointer<ArrowSchema>(t[1], "arrow_schema");
    auto* array = CapsulePointer<ArrowArray>(t[2], "arrow_array");
    if (schema->release == nullptr || array->release == nullptr) {
      throw nb::value_error(("column '" + name + "': capsule was already consumed").c_str());
    }
    auto col = std::make_unique<cylon::ImportedColumn>();
    ThrowIfError(cylon::ImportColumn(schema, array, name, col.get()));
    out.views.push_back(&col->view);
    out.owned.push_back(std::move(col));
  }
  for (const cylon::Column* c : out.views) {
    if (c->length != out.rows()) {
      throw CylonError("column '" + c->name + "' has " + std::to_string(c->length) +
                       " rows, expected " + std::to_string(out.rows()));
    }
  }
  return out;
}

cylon::ImportedColumn ImportOne(const nb::tuple& t) {
  nb::list l;
  l.append(t);
  ImportedColumns cols = ImportAll(l);
  cylon::ImportedColumn out = std::move(*cols.owned[0]);
  return out;
}

void SchemaCapsuleDeleter(PyObject* cap) noexcept {
  auto* s = static_cast<ArrowSchema*>(PyCapsule_GetPointer(cap, "arrow_schema"));
  if (s == nullptr) { PyErr_Clear(); return; }
  if (s->release != nullptr) s->release(s);  // not moved out by the consumer
  std::free(s);
}

void ArrayCapsuleDeleter(PyObject* cap) noexcept {
  auto* a = static_cast<ArrowArray*>(PyCapsule_GetPointer(cap, "arrow_array"));
  if (a == nullptr) { PyErr_Clear(); return; }
  if (a->release != nullptr) a->release(a);
  std::free(a);
}

template <typename T>
nb::tuple ToCapsules(cylon::OutputColumn<T>&& col) {
  auto* s = static_cast<ArrowSchema*>(std::malloc(sizeof(ArrowSchema)));
  auto* a = static_cast<ArrowArray*>(std::malloc(sizeof(ArrowArray)));
  cylon::ExportColumn(std::move(col), s, a);
  nb::object sc = nb::steal(PyCapsule_New(s, "arrow_schema", SchemaCapsuleDeleter));
  nb::object ac = nb::steal(PyCapsule_New(a, "arrow_array", ArrayCapsuleDeleter));
  return nb::make_tuple(sc, ac);
}

template <typename T, typename V>
nb::tuple ToCapsulesAs(cylon::OutputColumn<T, V>&& col, const std::string& format) {
  auto* s = static_cast<ArrowSchema*>(std::malloc(sizeof(ArrowSchema)));
  auto* a = static_cast<ArrowArray*>(std::malloc(sizeof(ArrowArray)));
  cylon::ExportColumnAs(std::move(col), format, s, a);
  nb::object sc = nb::steal(PyCapsule_New(s, "arrow_schema", SchemaCapsuleDeleter));
  nb::object ac = nb::steal(PyCapsule_New(a, "arrow_array", ArrayCapsuleDeleter));
  return nb::make_tuple(sc, ac);
}

// Fixed-width values held in bytes (and an optional validity bitmap) as owning capsules.
nb::tuple FixedBytesToCapsules(cylon::Vec<uint8_t>&& bytes, int64_t length, const std::string& format,
                               cylon::Vec<uint8_t>&& validity = {}, int64_t null_count = 0) {
  auto* s = static_cast<ArrowSchema*>(std::malloc(sizeof(ArrowSchema)));
  auto* a = static_cast<ArrowArray*>(std::malloc(sizeof(ArrowArray)));
  cylon::ExportFixedBytes(std::move(bytes), length, format, s, a, std::move(validity), null_count);
  return nb::make_tuple(nb::steal(PyCapsule_New(s, "arrow_schema", SchemaCapsuleDeleter)),
                        nb::steal(PyCapsule_New(a, "arrow_array", ArrayCapsuleDeleter)));
}

template <typename T>
nb::tuple VectorToCapsules(cylon::Vec<T>&& v) {
  cylon::OutputColumn<T> col;
  col.values = std::move(v);
  return ToCapsules(std::move(col));
}

cylon::Vec<uint8_t> Directions(const std::vector<bool>& ascending, size_t keys) {
  if (ascending.size() != keys) {
    throw nb::value_error(("expected " + std::to_string(keys) + " sort directions, found " +
                           std::to_string(ascending.size())).c_str());
  }
  return cylon::Vec<uint8_t>(ascending.begin(), ascending.end());
}

nb::tuple PermutationResult(cylon::Vec<int64_t>&& perm, cylon::Vec<int64_t>&& offsets) {
  return nb::make_tuple(VectorToCapsules(std::move(perm)), std::vector<int64_t>(offsets.begin(), offsets.end()));
}

// Group ids of `rows` rows; an empty ids array with one group stands for "every
// row in group 0" (a global aggregate), so no n-long array of zeros is built.
cylon::GroupIds GroupsOf(const cylon::ImportedColumn& ids, int64_t groups, int64_t rows) {
  const cylon::Column& c = ids.view;
  if (c.kind != cylon::Kind::kSigned || c.width != 8 || c.has_nulls()) {
    throw CylonError("group ids must be a non-null int64 array, found format '" + c.format + "'");
  }
  if (c.length == 0 && groups == 1) return cylon::GroupIds{nullptr, rows, 1};
  return cylon::GroupIds{reinterpret_cast<const int64_t*>(c.data) + c.offset, c.length, groups};
}

}  // namespace

NB_MODULE(_ext, m) {
  m.doc() = "Cylon's C++ Arrow table kernel (Arrow C data interface in, index arrays out).";
  nb::exception<CylonError>(m, "CylonError", PyExc_ValueError);
  m.attr("ROW_HASH_SEED") = cylon::kRowHashSeed;

  m.def("pool_cached_bytes", &cylon::PoolCachedBytes, "Bytes held by the kernel's large-buffer cache.");
  m.def("num_threads", &cylon::KernelThreads, "Threads the kernel uses (CYLON_NUM_THREADS caps it).");

  m.def("row_hash", [](const nb::list& keys) {
    ImportedColumns cols = ImportAll(keys);
    cylon::Vec<uint64_t> h;
    {
      nb::gil_scoped_release release;
      cylon::HashRows(cols.views, cols.rows(), &h);
    }
    return VectorToCapsules(std::move(h));
  }, "keys"_a, "Row hash (uint64) of the key columns; the same in every process.");

  m.def("hash_partition", [](const nb::list& keys, int64_t num_partitions, const nb::list& scatter, bool want_perm) {
    ImportedColumns cols = ImportAll(keys);
    ImportedColumns moved = ImportAll(scatter);
    cylon::Vec<int64_t> perm, offsets;
    std::vector<cylon::Vec<uint8_t>> scattered;
    {
      nb::gil_scoped_release release;
      ThrowIfError(cylon::HashPartition(cols.views, cols.rows(), num_partitions, want_perm, moved.views, &perm,
                                        &offsets, &scattered));
    }
    nb::list columns;
    for (size_t k = 0; k < scattered.size(); ++k) {
      columns.append(FixedBytesToCapsules(std::move(scattered[k]), cols.rows(), moved.views[k]->format));
    }
    nb::object perm_out = want_perm ? nb::object(VectorToCapsules(std::move(perm))) : nb::none();
    return nb::make_tuple(perm_out, std::vector<int64_t>(offsets.begin(), offsets.end()), columns);
  }, "keys"_a, "num_partitions"_a, "scatter"_a, "want_perm"_a = true,
     "Hash partitioning: (permutation or None, offsets, scattered columns in partition order).");

  m.def("range_partition", [](const nb::list& keys, const nb::list& splitters, const std::vector<bool>& ascending) {
    ImportedColumns cols = ImportAll(keys);
    ImportedColumns split = ImportAll(splitters);
    auto dirs = Directions(ascending, cols.views.size());
    cylon::Vec<int64_t> perm, offsets;
    {
      nb::gil_scoped_release release;
      ThrowIfError(cylon::RangePartition(cols.views, cols.rows(), split.views, split.rows(), dirs, &perm, &offsets));
    }
    return PermutationResult(std::move(perm), std::move(offsets));
  }, "keys"_a, "splitters"_a, "ascending"_a, "Permutation grouping rows by range partition, and the offsets.");

  m.def("hash_join", [](const nb::list& left, const nb::list& right, const std::string& how, bool nulls_equal) {
    cylon::JoinType type;
    ThrowIfError(cylon::ParseJoinType(how, &type));
    ImportedColumns l = ImportAll(left);
    ImportedColumns r = ImportAll(right);
    cylon::JoinIndices idx;
    {
      nb::gil_scoped_release release;
      ThrowIfError(cylon::HashJoin(l.views, l.rows(), r.views, r.rows(), type, nulls_equal, &idx));
    }
    const bool one_sided = type == cylon::JoinType::kSemi || type == cylon::JoinType::kAnti;
    nb::object right_out = one_sided ? nb::none() : nb::object(ToCapsules(std::move(idx.right)));
    // None: every left row once, in order (nothing to gather on the left)
    nb::object left_out = idx.left_identity ? nb::none() : nb::object(ToCapsules(std::move(idx.left)));
    return nb::make_tuple(left_out, right_out);
  }, "left"_a, "right"_a, "how"_a, "nulls_equal"_a = false,
     "Matching (left, right) row indices; null index = no row on that side. Left is None when it would be every left row once, in order.");

  m.def("group_ids", [](const nb::list& keys, bool nulls_equal, bool ordered) {
    ImportedColumns cols = ImportAll(keys);
    cylon::Vec<int64_t> gids, first;
    {
      nb::gil_scoped_release release;
      ThrowIfError(cylon::GroupRows(cols.views, cols.rows(), nulls_equal, ordered, &gids, &first));
    }
    const int64_t groups = static_cast<int64_t>(first.size());
    return nb::make_tuple(VectorToCapsules(std::move(gids)), VectorToCapsules(std::move(first)), groups);
  }, "keys"_a, "nulls_equal"_a = true, "ordered"_a = true,
     "Dense group id per row, first row of each group, group count. ordered: groups numbered by "
     "first appearance; otherwise in any order (the partitioned path, faster for many groups).");

  m.def("argsort", [](const nb::list& keys, const std::vector<bool>& ascending) {
    ImportedColumns cols = ImportAll(keys);
    auto dirs = Directions(ascending, cols.views.size());
    cylon::Vec<int64_t> perm;
    {
      nb::gil_scoped_release release;
      ThrowIfError(cylon::ArgSort(cols.views, cols.rows(), dirs, &perm));
    }
    return VectorToCapsules(std::move(perm));
  }, "keys"_a, "ascending"_a, "Stable sort permutation (nulls last, NaN largest).");

  m.def("sort_values", [](const nb::tuple& column, bool ascending) {
    cylon::ImportedColumn col = ImportOne(column);
    cylon::Vec<uint8_t> bytes;
    {
      nb::gil_scoped_release release;
      ThrowIfError(cylon::SortValues(col.view, ascending, &bytes));
    }
    return FixedBytesToCapsules(std::move(bytes), col.view.length, col.view.format);
  }, "column"_a, "ascending"_a, "Sorted copy of a null-free integer-like column (no permutation).");

  m.def("merge_sorted", [](const nb::list& keys, const std::vector<int64_t>& run_offsets, const std::vector<bool>& ascending) {
    ImportedColumns cols = ImportAll(keys);
    auto dirs = Directions(ascending, cols.views.size());
    cylon::Vec<int64_t> perm;
    {
      nb::gil_scoped_release release;
      const cylon::Vec<int64_t> runs(run_offsets.begin(), run_offsets.end());
      ThrowIfError(cylon::MergeSorted(cols.views, runs, dirs, &perm));
    }
    return VectorToCapsules(std::move(perm));
  }, "keys"_a, "run_offsets"_a, "ascending"_a, "Permutation merging sorted runs.");

  m.def("aggregate", [](const nb::tuple& ids, int64_t groups, const std::string& op, const nb::tuple& value) {
    cylon::ImportedColumn gid_col = ImportOne(ids);
    cylon::ImportedColumn val = ImportOne(value);
    const cylon::GroupIds g = GroupsOf(gid_col, groups, val.view.length);
    const cylon::Column& v = val.view;
    nb::object result;
    if (op == "sum_signed") {
      cylon::OutputColumn<int64_t> out;
      { nb::gil_scoped_release r; ThrowIfError(cylon::SumSigned(g, v, &out)); }
      result = ToCapsules(std::move(out));
    } else if (op == "sum_unsigned") {
      cylon::OutputColumn<uint64_t> out;
      { nb::gil_scoped_release r; ThrowIfError(cylon::SumUnsigned(g, v, &out)); }
      result = ToCapsules(std::move(out));
    } else if (op == "sum_double") {
      cylon::OutputColumn<double> out;
      { nb::gil_scoped_release r; ThrowIfError(cylon::SumDouble(g, v, &out)); }
      result = ToCapsules(std::move(out));
    } else if (op == "count") {
      cylon::OutputColumn<int64_t> out;
      { nb::gil_scoped_release r; ThrowIfError(cylon::CountValid(g, v, &out)); }
      result = ToCapsules(std::move(out));
    } else if (op == "argmin" || op == "argmax") {
      cylon::OutputColumn<int64_t> out;
      { nb::gil_scoped_release r; ThrowIfError(cylon::ArgExtreme(g, v, op == "argmax", &out)); }
      result = ToCapsules(std::move(out));
    } else if (op == "argminmax") {
      cylon::OutputColumn<int64_t> lo, hi;
      { nb::gil_scoped_release r; ThrowIfError(cylon::ArgMinMax(g, v, &lo, &hi)); }
      result = nb::make_tuple(ToCapsules(std::move(lo)), ToCapsules(std::move(hi)));
    } else if (op == "sum_decimal" || op == "sum_decimal_state") {
      cylon::OutputColumn<__int128> out;
      { nb::gil_scoped_release r; ThrowIfError(cylon::SumDecimal(g, v, &out, op == "sum_decimal_state")); }
      result = ToCapsulesAs(std::move(out), "d:38," + std::to_string(v.scale));
    } else if (op == "first_valid_row") {
      cylon::OutputColumn<int64_t> out;
      { nb::gil_scoped_release r; ThrowIfError(cylon::FirstValidRow(g, v, &out)); }
      result = ToCapsules(std::move(out));
    } else if (op == "first_row" || op == "last_row") {
      cylon::OutputColumn<int64_t> out;
      { nb::gil_scoped_release r; ThrowIfError(cylon::FirstLastRow(g, op == "last_row", &out)); }
      result = ToCapsules(std::move(out));
    } else if (op == "moments") {
      cylon::OutputColumn<int64_t> n;
      cylon::OutputColumn<double> mean, m2;
      { nb::gil_scoped_release r; ThrowIfError(cylon::Moments(g, v, &n, &mean, &m2)); }
      result = nb::make_tuple(ToCapsules(std::move(n)), ToCapsules(std::move(mean)), ToCapsules(std::move(m2)));
    } else if (op == "count_distinct") {
      cylon::OutputColumn<int64_t> out;
      cylon::Vec<int64_t> rows;
      { nb::gil_scoped_release r; ThrowIfError(cylon::CountDistinct(g, v, &out, &rows)); }
      result = nb::make_tuple(ToCapsules(std::move(out)), VectorToCapsules(std::move(rows)));
    } else {
      throw CylonError("unknown aggregate op '" + op + "'");
    }
    return result;
  }, "group_ids"_a, "num_groups"_a, "op"_a, "value"_a,
     "One aggregate over dense group ids: sum_signed|sum_unsigned|sum_double|sum_decimal|sum_decimal_state|count|argmin|argmax|argminmax|"
     "first_row|last_row|first_valid_row|moments|count_distinct.");

  m.def("decimal_mean", [](const nb::tuple& sum, const nb::tuple& count, int scale) {
    cylon::ImportedColumn s = ImportOne(sum), c = ImportOne(count);
    cylon::OutputColumn<double> out;
    { nb::gil_scoped_release r; ThrowIfError(cylon::DecimalMean(s.view, c.view, scale, &out)); }
    return ToCapsules(std::move(out));
  }, "sum"_a, "count"_a, "scale"_a, "avg of a decimal from its exact decimal128 sum and count, as DuckDB rounds it.");

  m.def("decimal_arith", [](const std::string& op, const nb::tuple& a, const nb::tuple& b, int precision,
                            int scale) {
    const cylon::DecimalOp kind = op == "add" ? cylon::DecimalOp::kAdd
                                  : op == "sub" ? cylon::DecimalOp::kSub
                                  : op == "mul" ? cylon::DecimalOp::kMul
                                                : throw nb::value_error(("decimal_arith op must be add|sub|mul, found '" +
                                                                         op + "'").c_str());
    cylon::ImportedColumn x = ImportOne(a), y = ImportOne(b);
    cylon::DecimalColumn out;
    { nb::gil_scoped_release r; ThrowIfError(cylon::DecimalArith(kind, x.view, y.view, precision, scale, &out)); }
    return ToCapsulesAs(std::move(out), "d:" + std::to_string(precision) + "," + std::to_string(scale));
  }, "op"_a, "a"_a, "b"_a, "precision"_a, "scale"_a,
     "Exact a add|sub|mul b of decimal128 arrays (a length-1 side broadcasts) as decimal128(precision, scale); "
     "overflow is an error.");

  m.def("gather_views", [](const nb::tuple& column, const nb::tuple& indices) {
    cylon::ImportedColumn src = ImportOne(column);
    cylon::ImportedColumn idx = ImportOne(indices);
    auto* s = static_cast<ArrowSchema*>(std::malloc(sizeof(ArrowSchema)));
    auto* a = static_cast<ArrowArray*>(std::malloc(sizeof(ArrowArray)));
    cylon::Status st;
    {
      nb::gil_scoped_release r;
      st = cylon::GatherViews(std::move(src), idx.view, s, a);
    }
    if (!st.ok()) {
      std::free(s);
      std::free(a);
      ThrowIfError(st);
    }
    return nb::make_tuple(nb::steal(PyCapsule_New(s, "arrow_schema", SchemaCapsuleDeleter)),
                          nb::steal(PyCapsule_New(a, "arrow_array", ArrayCapsuleDeleter)));
  }, "column"_a, "indices"_a, "Rows of a string_view/binary_view array at int64 indices (null index: null row).");

  m.def("mask_at_indices", [](const nb::tuple& indices, const nb::bytes& answers, bool on_null) {
    cylon::ImportedColumn idx = ImportOne(indices);
    cylon::Vec<uint8_t> bits;
    const auto* a = reinterpret_cast<const uint8_t*>(answers.c_str());
    const int64_t na = static_cast<int64_t>(answers.size());
    { nb::gil_scoped_release r; ThrowIfError(cylon::MaskAtIndices(idx.view, a, na, on_null, &bits)); }
    return FixedBytesToCapsules(std::move(bits), idx.view.length, "b");
  }, "indices"_a, "answers"_a, "on_null"_a,
     "A boolean per row: answers[index] (one byte, 0 or 1, per dictionary value), on_null for a null index.");

  m.def("parquet_page_headers", [](uintptr_t address, int64_t size) {
    std::vector<cylon::parquet::PageHeader> headers;
    ThrowIfError(cylon::parquet::ReadPageHeaders(reinterpret_cast<const uint8_t*>(address), size, &headers));
    nb::list out;
    for (const auto& h : headers) {
      out.append(nb::make_tuple(h.kind, h.header_bytes, h.compressed_size, h.uncompressed_size, h.num_values,
                                h.encoding, h.def_encoding, h.num_nulls, h.def_bytes, h.rep_bytes, h.compressed));
    }
    return out;
  }, "address"_a, "size"_a,
     "Headers of the pages of one Parquet column chunk laid out at address: (kind, header_bytes, compressed_size, "
     "uncompressed_size, num_values, encoding, def_encoding, num_nulls, def_bytes, rep_bytes, compressed).");

  m.def("parquet_decode", [](const nb::list& pages, int64_t num_rows, int width, int out_width, int max_def,
                             bool as_dictionary, const nb::object& positions, const std::string& format) {
    std::vector<cylon::parquet::Page> parsed;
    for (nb::handle item : pages) {
      nb::tuple t = nb::cast<nb::tuple>(item);
      if (t.size() != 9) throw nb::value_error("each page must be (kind, encoding, def_encoding, num_values, "
                                               "levels_address, levels_size, body_address, body_size, v2)");
      cylon::parquet::Page p;
      p.kind = nb::cast<int32_t>(t[0]);
      p.encoding = nb::cast<int32_t>(t[1]);
      p.def_encoding = nb::cast<int32_t>(t[2]);
      p.num_values = nb::cast<int32_t>(t[3]);
      p.levels = reinterpret_cast<const uint8_t*>(nb::cast<uintptr_t>(t[4]));
      p.levels_size = nb::cast<int64_t>(t[5]);
      p.body = reinterpret_cast<const uint8_t*>(nb::cast<uintptr_t>(t[6]));
      p.body_size = nb::cast<int64_t>(t[7]);
      p.v2 = nb::cast<bool>(t[8]);
      parsed.push_back(p);
    }
    cylon::ImportedColumn pos;
    cylon::parquet::DecodeRequest req;
    req.width = width;
    req.out_width = out_width;
    req.max_def = max_def;
    req.as_dictionary = as_dictionary;
    req.num_rows = num_rows;
    if (!positions.is_none()) {
      pos = ImportOne(nb::cast<nb::tuple>(positions));
      const cylon::Column& c = pos.view;
      if (c.kind != cylon::Kind::kSigned || c.width != 8 || c.has_nulls()) {
        throw CylonError("positions must be a non-null int64 array, found format '" + c.format + "'");
      }
      req.positions = reinterpret_cast<const int64_t*>(c.data) + c.offset;
      req.num_positions = c.length;
    }
    cylon::parquet::DecodedColumn col;
    { nb::gil_scoped_release r; ThrowIfError(cylon::parquet::DecodeFixedColumn(parsed, req, &col)); }
    if (!col.dictionary) {
      nb::tuple values = FixedBytesToCapsules(std::move(col.values), col.length, format, std::move(col.validity),
                                              col.null_count);
      return nb::make_tuple(values[0], values[1], nb::none());
    }
    nb::tuple dictionary = FixedBytesToCapsules(std::move(col.values), col.dictionary_length, format);
    cylon::OutputColumn<int32_t> idx;
    idx.values = std::move(col.indices);
    idx.validity = std::move(col.validity);
    idx.null_count = col.null_count;
    nb::tuple indices = ToCapsules(std::move(idx));
    return nb::make_tuple(indices[0], indices[1], dictionary);
  }, "pages"_a, "num_rows"_a, "width"_a, "out_width"_a, "max_def"_a, "as_dictionary"_a, "positions"_a.none(),
     "format"_a,
     "Decode decompressed pages of a flat fixed-width Parquet column: (schema, array, None) of the rows at positions "
     "(None: every row) in the Arrow format given; or, with as_dictionary and every data page dictionary-encoded, "
     "(indices schema, indices array, (dictionary schema, dictionary array)) with int32 indices.");

  m.def("merge_moments", [](const nb::tuple& ids, int64_t groups, const nb::tuple& count,
                            const nb::tuple& mean, const nb::tuple& m2) {
    cylon::ImportedColumn gid_col = ImportOne(ids);
    cylon::ImportedColumn c = ImportOne(count), mu = ImportOne(mean), q = ImportOne(m2);
    const cylon::GroupIds g = GroupsOf(gid_col, groups, c.view.length);
    cylon::OutputColumn<int64_t> n;
    cylon::OutputColumn<double> mo, m2o;
    { nb::gil_scoped_release r; ThrowIfError(cylon::MergeMoments(g, c.view, mu.view, q.view, &n, &mo, &m2o)); }
    return nb::make_tuple(ToCapsules(std::move(n)), ToCapsules(std::move(mo)), ToCapsules(std::move(m2o)));
  }, "group_ids"_a, "num_groups"_a, "count"_a, "mean"_a, "m2"_a,
     "Merge (count, mean, M2) states per group (Chan et al.).");
}
