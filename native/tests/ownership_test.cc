// Who releases what: imported arrays are released exactly once, by their
// ImportedColumn; a gathered view array owns (and releases) its input;
// exported results free themselves once.
#include <cstdlib>

#include "check.h"
#include "column.h"
#include "export.h"
#include "gather.h"
#include "views.h"

using namespace cylon;

TEST_CASE(import_moves_and_releases_once) {
  test::TestArray t = test::Int64s({1, 2, 3});
  ArrowSchema s;
  ArrowArray a;
  t.Export(&s, &a);
  {
    ImportedColumn col;
    CHECK(ImportColumn(&s, &a, "x", &col).ok());
    CHECK(s.release == nullptr);  // moved out: the producer's capsule deleter sees released structs
    CHECK(a.release == nullptr);
    CHECK_EQ(col.view.length, 3);
    CHECK_EQ(static_cast<int64_t>(col.view.int_bits(2)), 3);
    CHECK_EQ(t.releases, 0);
  }
  CHECK_EQ(t.releases, 1);
  CHECK_EQ(t.schema_releases, 1);
}

TEST_CASE(failed_import_still_releases_once) {
  test::TestArray t = test::Int64s({1});
  t.format = "+l";  // a list: not a kernel type
  ArrowSchema s;
  ArrowArray a;
  t.Export(&s, &a);
  {
    ImportedColumn col;
    const Status st = ImportColumn(&s, &a, "bad", &col);
    CHECK(!st.ok());
    CHECK(st.message().find("'bad'") != std::string::npos);
  }
  CHECK_EQ(t.releases, 1);
}

namespace {

// Gathers src at idx; src's structs go into the result (the test keeps its buffers).
Status Gather(test::TestArray& src, test::TestArray& idx, ArrowSchema* out_s, ArrowArray* out_a) {
  ArrowSchema ss, is;
  ArrowArray sa, ia;
  src.Export(&ss, &sa);
  idx.Export(&is, &ia);
  ImportedColumn s_col, i_col;
  CHECK(ImportColumn(&ss, &sa, "s", &s_col).ok());
  CHECK(ImportColumn(&is, &ia, "i", &i_col).ok());
  return GatherViews(std::move(s_col), i_col.view, out_s, out_a);
}

}  // namespace

TEST_CASE(gathered_views_own_their_input) {
  test::TestArray src = test::StringViews({"short", "a value longer than twelve", "", "another long string!"}, {2});
  test::TestArray idx = test::Int64s({3, 0, 2, 1, 0}, {4});
  ArrowSchema out_s;
  ArrowArray out_a;
  CHECK(Gather(src, idx, &out_s, &out_a).ok());
  CHECK_EQ(src.releases, 0);  // the result keeps the characters alive
  CHECK_EQ(out_a.length, 5);
  CHECK_EQ(out_a.null_count, 2);  // a null value (row 2) and a null index
  {
    ImportedColumn result;
    CHECK(ImportColumn(&out_s, &out_a, "out", &result).ok());
    const Column& c = result.view;
    CHECK(c.bytes(0) == "another long string!");
    CHECK(c.bytes(1) == "short");
    CHECK(!c.is_valid(2));
    CHECK(c.bytes(3) == "a value longer than twelve");
    CHECK(!c.is_valid(4));
  }
  CHECK_EQ(src.releases, 1);  // released with the result, exactly once
  CHECK_EQ(src.schema_releases, 1);
}

TEST_CASE(gather_rejects_out_of_bounds_indices) {
  test::TestArray src = test::StringViews({"x"});
  test::TestArray idx = test::Int64s({1});
  ArrowSchema out_s;
  ArrowArray out_a;
  const Status st = Gather(src, idx, &out_s, &out_a);
  CHECK_EQ(src.releases, 1);  // the failed gather released its input
  CHECK(!st.ok());
  CHECK(st.message().find("out of bounds") != std::string::npos);
}

TEST_CASE(exported_columns_release_once_and_guard_a_second_call) {
  OutputColumn<int64_t> col;
  col.values.assign(4, 7);
  col.set_null(1);
  ArrowSchema s;
  ArrowArray a;
  ExportColumn(std::move(col), &s, &a);
  CHECK_EQ(a.null_count, 1);
  CHECK(a.buffers[0] != nullptr);
  a.release(&a);
  CHECK(a.release == nullptr);
  s.release(&s);
  CHECK(s.release == nullptr);
  OutputColumn<__int128> dec;
  dec.values.assign(2, 0);
  ExportColumnAs(std::move(dec), "d:38,2", &s, &a);
  CHECK(std::string(s.format) == "d:38,2");
  a.release(&a);
  s.release(&s);
  CHECK(a.release == nullptr && s.release == nullptr);
}

int main() { return test::RunAll(); }
