#include "hash_join.h"

#include <algorithm>

#include "key_codes.h"
#include "key_table.h"
#include "radix_partition.h"
#include <atomic>
#include "parallel.h"

namespace cylon {

Status ParseJoinType(const std::string& how, JoinType* out) {
  if (how == "inner") *out = JoinType::kInner;
  else if (how == "left") *out = JoinType::kLeft;
  else if (how == "right") *out = JoinType::kRight;
  else if (how == "outer" || how == "full") *out = JoinType::kOuter;
  else if (how == "semi") *out = JoinType::kSemi;
  else if (how == "anti") *out = JoinType::kAnti;
  else return Status::Invalid("join type must be one of inner, left, right, outer, semi, anti; found '" + how + "'");
  return Status::OK();
}

namespace {

// Build-side rows grouped by key: group g's rows are rows[offsets[g]..offsets[g+1]).
// When every group has one row (unique build keys) the CSR is skipped and
// first_row is the only row of each group.
struct BuildGroups {
  bool unique = true;
  Vec<int64_t> offsets;
  Vec<int64_t> rows;
};

void GroupBuildRows(const KeyTable& table, int64_t build_rows, BuildGroups* out) {
  const int64_t groups = table.num_groups();
  const auto& gid = table.group_of_row();
  int64_t keyed_rows = 0;
  for (int64_t i = 0; i < build_rows; ++i) keyed_rows += gid[i] >= 0;
  out->unique = keyed_rows == groups;
  if (out->unique) return;
  out->offsets.assign(static_cast<size_t>(groups) + 1, 0);
  for (int64_t i = 0; i < build_rows; ++i) {
    if (gid[i] >= 0) ++out->offsets[gid[i] + 1];
  }
  for (int64_t g = 0; g < groups; ++g) out->offsets[g + 1] += out->offsets[g];
  out->rows.resize(static_cast<size_t>(keyed_rows));
  Vec<int64_t> cursor(out->offsets.begin(), out->offsets.end() - 1);
  for (int64_t i = 0; i < build_rows; ++i) {
    if (gid[i] >= 0) out->rows[cursor[gid[i]]++] = i;
  }
}

// Probe-side emission shared by every join type. `probe_out`/`build_out` receive
// the indices of the probe and build sides respectively.
void Emit(const KeyTable& table, const BuildGroups& groups, const Vec<int64_t>& match,
          int64_t probe_rows, int64_t build_rows, bool keep_unmatched_probe, bool keep_unmatched_build,
          OutputColumn<int64_t>* probe_out, OutputColumn<int64_t>* build_out) {
  auto& pv = probe_out->values;
  auto& bv = build_out->values;
  pv.reserve(static_cast<size_t>(probe_rows));
  bv.reserve(static_cast<size_t>(probe_rows));
  Vec<int64_t> null_probe_rows, null_build_rows;  // output positions to null out
  Vec<uint8_t> build_matched;
  if (keep_unmatched_build) build_matched.assign(static_cast<size_t>(table.num_groups()), 0);
  const auto& first = table.first_row();
  for (int64_t i = 0; i < probe_rows; ++i) {
    const int64_t g = match[i];
    if (g < 0) {
      if (keep_unmatched_probe) {
        null_build_rows.push_back(static_cast<int64_t>(pv.size()));
        pv.push_back(i);
        bv.push_back(0);
      }
      continue;
    }
    if (keep_unmatched_build) build_matched[g] = 1;
    if (groups.unique) {
      pv.push_back(i);
      bv.push_back(first[g]);
    } else {
      for (int64_t k = groups.offsets[g]; k < groups.offsets[g + 1]; ++k) {
        pv.push_back(i);
        bv.push_back(groups.rows[k]);
      }
    }
  }
  if (keep_unmatched_build) {
    const auto& gid = table.group_of_row();
    for (int64_t r = 0; r < build_rows; ++r) {
      if (gid[r] >= 0 && build_matched[gid[r]]) continue;
      null_probe_rows.push_back(static_cast<int64_t>(pv.size()));
      pv.push_back(0);
      bv.push_back(r);
    }
  }
  for (int64_t pos : null_build_rows) build_out->set_null(pos);
  for (int64_t pos : null_probe_rows) probe_out->set_null(pos);
}

// Matches of each probe row in a partitioned join.
// unique (every build key once, the common dimension-table case): start[i] is
// the matching build row or -1, nothing else is stored. Otherwise build rows
// grouped[start[i] .. start[i] + size[i]) match (size 0: none); a single match
// is still stored as the row itself, so emission chases no pointer.
struct RadixMatches {
  bool unique = true;
  Vec<int64_t> start;
  Vec<uint32_t> size;
  Vec<int64_t> grouped;  //!< build rows by key, ascending within a key
};

// Build sides below this many rows probe one table (at most ~16 MiB: 0.7-loaded, 16-byte
// slots, within this class of machine's L3) with prefetching instead of scattering both
// sides first: the probe side's scatter costs more than the cache misses it saves
// (TPC-H Q5: 3M probes into 228k keys, one thread: 100 -> 60 ms). Past it the
// partitioned join wins (1M x 1M: 37 against 42 ms).
constexpr int64_t kMinRadixBuildRows = int64_t{1} << 19;

// Partitioned join of a single fixed-width key: both sides are radix-scattered
// once into cache-sized partitions, then each partition is built and probed
// while its table is in L2. First pass assumes unique build keys; the first
// duplicate switches every partition to a CSR of key groups (many-to-many).
bool RadixJoin(const Column& probe, int64_t probe_rows, const Column& build, int64_t build_rows,
               RadixMatches* out) {
  constexpr int64_t kMaxRows = int64_t{1} << 32;
  if (probe_rows >= kMaxRows || build_rows >= kMaxRows || build_rows < kMinRadixBuildRows) return false;
  const int bits = RadixBits(build_rows);
  RadixPartitions b, p;
  RadixScatter(build, build_rows, bits, &b);
  RadixScatter(probe, probe_rows, bits, &p);
  out->start.resize(static_cast<size_t>(probe_rows));
  int64_t* start = out->start.data();
  ParallelFor(probe_rows, 1 << 16, [&](int64_t lo, int64_t hi) { std::fill(start + lo, start + hi, -1); });

  std::atomic<bool> duplicate{false};
  ParallelTasks(b.num_partitions(), [&](int64_t q) {
    if (duplicate.load(std::memory_order_relaxed)) return;
    thread_local PartitionTable table;
    table.Reset(b.offsets[q + 1] - b.offsets[q]);
    for (int64_t k = b.offsets[q]; k < b.offsets[q + 1]; ++k) {
      const uint64_t code = b.codes[k];
      if (table.Insert(code, CodeHash(code), b.rows[k]) >= 0) {
        duplicate.store(true, std::memory_order_relaxed);
        return;
      }
    }
    for (int64_t k = p.offsets[q]; k < p.offsets[q + 1]; ++k) {
      const uint64_t code = p.codes[k];
      const int64_t r = table.Find(code, CodeHash(code));
      if (r >= 0) start[p.rows[k]] = r;
    }
  });
  if (!duplicate.load()) return true;

  out->unique = false;
  out->grouped.resize(b.codes.size());
  out->size.resize(static_cast<size_t>(probe_rows));
  uint32_t* size = out->size.data();
  ParallelFor(probe_rows, 1 << 16, [&](int64_t lo, int64_t hi) { std::fill(size + lo, size + hi, 0u); });
  ParallelTasks(b.num_partitions(), [&](int64_t q) {
    thread_local PartitionTable table;
    thread_local Vec<uint32_t> local;     // local group of each build entry
    thread_local Vec<int64_t> group_end;  // CSR: end offset of each local group (after the fill)
    const int64_t begin = b.offsets[q], end = b.offsets[q + 1], n = end - begin;
    table.Reset(n);
    local.resize(static_cast<size_t>(n));
    group_end.assign(static_cast<size_t>(n) + 1, 0);
    int64_t groups = 0;
    for (int64_t k = 0; k < n; ++k) {
      const uint64_t code = b.codes[begin + k];
      int64_t g = table.Insert(code, CodeHash(code), groups);
      if (g < 0) g = groups++;
      local[k] = static_cast<uint32_t>(g);
      ++group_end[g + 1];
    }
    for (int64_t g = 0; g < groups; ++g) group_end[g + 1] += group_end[g];
    // group_end[g] starts as group g's start and is advanced past each of its
    // rows, so afterwards it is the group's end and group g-1's end its start.
    for (int64_t k = 0; k < n; ++k) out->grouped[begin + group_end[local[k]]++] = b.rows[begin + k];
    for (int64_t k = p.offsets[q]; k < p.offsets[q + 1]; ++k) {
      const uint64_t code = p.codes[k];
      const int64_t g = table.Find(code, CodeHash(code));
      if (g < 0) continue;
      const int64_t lo = g == 0 ? 0 : group_end[g - 1];
      const int64_t count = group_end[g] - lo;
      start[p.rows[k]] = count == 1 ? out->grouped[begin + lo] : begin + lo;
      size[p.rows[k]] = static_cast<uint32_t>(count);
    }
  });
  return true;
}

// Output from partitioned matches, in probe order; chunk-parallel: each thread
// counts its rows' output, then writes its slice.
void EmitFromMatches(const RadixMatches& m, JoinType type, OutputColumn<int64_t>* probe_out,
                     OutputColumn<int64_t>* build_out, bool* probe_identity) {
  *probe_identity = false;
  const int64_t n = static_cast<int64_t>(m.start.size());
  auto matches = [&m](int64_t i) -> int64_t { return m.unique ? (m.start[i] >= 0) : m.size[i]; };
  if (type == JoinType::kSemi || type == JoinType::kAnti) {
    const bool want = type == JoinType::kSemi;
    for (int64_t i = 0; i < n; ++i) {
      if ((matches(i) > 0) == want) probe_out->values.push_back(i);
    }
    return;
  }
  const bool keep_unmatched = type != JoinType::kInner;
  std::vector<int64_t> counts(64, 0);
  std::vector<uint8_t> several(64, 0);  // a chunk has a row with more than one match
  const int chunks = ParallelChunks(n, 1 << 16, [&](int c, int64_t lo, int64_t hi) {
    int64_t k = 0;
    bool many = false;
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t s = matches(i);
      k += s ? s : keep_unmatched;
      many |= s > 1;
    }
    counts[c] = k;
    several[c] = many;
  });
  std::vector<int64_t> begin(chunks + 1, 0);
  for (int c = 0; c < chunks; ++c) begin[c + 1] = begin[c] + counts[c];
  // One output row per probe row, in order: the probe indices are 0..n-1, not written.
  *probe_identity = begin[chunks] == n && std::none_of(several.begin(), several.begin() + chunks,
                                                       [](uint8_t many) { return many; });
  if (!*probe_identity) probe_out->values.resize(static_cast<size_t>(begin[chunks]));
  build_out->values.resize(static_cast<size_t>(begin[chunks]));
  int64_t* pv = *probe_identity ? nullptr : probe_out->values.data();
  int64_t* bv = build_out->values.data();
  std::vector<std::vector<int64_t>> unmatched(chunks);
  ParallelChunks(n, 1 << 16, [&](int c, int64_t lo, int64_t hi) {
    int64_t pos = begin[c];
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t s = matches(i);
      if (s == 0) {
        if (!keep_unmatched) continue;
        unmatched[c].push_back(pos);
        if (pv) pv[pos] = i;
        bv[pos++] = 0;
      } else if (s == 1) {
        if (pv) pv[pos] = i;
        bv[pos++] = m.start[i];
      } else {
        const int64_t* rows = m.grouped.data() + m.start[i];
        for (int64_t k = 0; k < s; ++k) {
          pv[pos] = i;
          bv[pos++] = rows[k];
        }
      }
    }
  });
  for (const auto& positions : unmatched) {
    for (int64_t pos : positions) build_out->set_null(pos);
  }
}

// Inner or left join against unique build keys: at most one match per probe row,
// so each thread counts its chunk's output, then writes its slice. A left join
// (keep_unmatched) keeps every probe row, its build index null when it matched none.
void EmitUnique(const Vec<int64_t>* first_row, const Vec<int64_t>& match, bool keep_unmatched,
                OutputColumn<int64_t>* probe_out, OutputColumn<int64_t>* build_out, bool* probe_identity) {
  const int64_t n = static_cast<int64_t>(match.size());
  Vec<int64_t> counts(64, 0);
  const int chunks = ParallelChunks(n, 1 << 16, [&](int c, int64_t b, int64_t e) {
    int64_t k = 0;
    for (int64_t i = b; i < e; ++i) k += keep_unmatched || match[i] >= 0;
    counts[c] = k;
  });
  Vec<int64_t> start(chunks + 1, 0);
  for (int c = 0; c < chunks; ++c) start[c + 1] = start[c] + counts[c];
  *probe_identity = start[chunks] == n;  // every probe row once, in order: 0..n-1, not written
  if (!*probe_identity) probe_out->values.resize(static_cast<size_t>(start[chunks]));
  build_out->values.resize(static_cast<size_t>(start[chunks]));
  int64_t* pv = *probe_identity ? nullptr : probe_out->values.data();
  int64_t* bv = build_out->values.data();
  std::vector<std::vector<int64_t>> unmatched(chunks);
  ParallelChunks(n, 1 << 16, [&](int c, int64_t b, int64_t e) {
    int64_t pos = start[c];
    for (int64_t i = b; i < e; ++i) {
      const int64_t g = match[i];
      if (g < 0) {
        if (!keep_unmatched) continue;
        unmatched[c].push_back(pos);
      }
      if (pv) pv[pos] = i;
      bv[pos] = g < 0 ? 0 : (*first_row)[g];
      ++pos;
    }
  });
  for (const auto& positions : unmatched) {
    for (int64_t pos : positions) build_out->set_null(pos);
  }
}

// The probe side's output rows were every probe row once, in order, and not
// written: on the left that is said (left_identity); a right join's probe side is
// the right, whose indices are then written.
void MarkProbeIdentity(bool identity, bool swap, int64_t probe_rows, OutputColumn<int64_t>* probe_side,
                       JoinIndices* out) {
  out->left_identity = identity && !swap;
  if (identity && swap) {
    probe_side->values.resize(static_cast<size_t>(probe_rows));
    for (int64_t i = 0; i < probe_rows; ++i) probe_side->values[i] = i;
  }
}

// A semi / anti join that kept every left row (in order, as always): said as the
// identity, so the caller uses the left table as it is instead of gathering all of
// it (10M rows against a 1k-row build side that has every key: two 80 MB takes).
void MarkKeptIdentity(int64_t left_rows, JoinIndices* out) {
  if (static_cast<int64_t>(out->left.values.size()) != left_rows) return;
  out->left.values.clear();
  out->left.values.shrink_to_fit();
  out->left_identity = true;
}

// Semi / anti join whose left side is the smaller: the table holds the left keys and
// the right rows probe it, marking the left groups they hit, so the large side is
// only streamed, never built into a table (TPC-H Q4: 28k orders against 1.9M
// lineitem keys; DuckDB builds its semi/mark join on the smaller side the same way).
// Left rows in order: those whose key some right row has (semi), or has not (anti;
// a null key never matches unless nulls_equal).
Status SemiJoinOnLeftTable(const Columns& left_keys, int64_t left_rows, const Columns& right_keys, int64_t right_rows,
                           bool semi, bool nulls_equal, OutputColumn<int64_t>* out) {
  KeyTable table;
  CYLON_RETURN_NOT_OK(table.Build(left_keys, left_rows, nulls_equal));
  Vec<int64_t> match;
  table.Probe(right_keys, right_rows, &match);
  Vec<uint8_t> hit(static_cast<size_t>(table.num_groups()), 0);
  for (int64_t i = 0; i < right_rows; ++i) {
    if (match[i] >= 0) hit[match[i]] = 1;
  }
  const auto& gid = table.group_of_row();  // -1: a null key that groups with nothing
  for (int64_t r = 0; r < left_rows; ++r) {
    if ((gid[r] >= 0 && hit[gid[r]]) == semi) out->values.push_back(r);
  }
  return Status::OK();
}

}  // namespace

Status HashJoin(const Columns& left_keys, int64_t left_rows, const Columns& right_keys,
                int64_t right_rows, JoinType type, bool nulls_equal, JoinIndices* out) {
  CYLON_RETURN_NOT_OK(CheckComparable(left_keys, right_keys));
  if (left_keys.size() > 1) {
    // Several null-free integer keys whose ranges pack into one 64-bit code:
    // join on the codes (the single-key radix and inline paths then apply).
    bool nulls = false;
    for (const Column* c : left_keys) nulls = nulls || c->has_nulls();
    for (const Column* c : right_keys) nulls = nulls || c->has_nulls();
    const KeyPacking plan = nulls ? KeyPacking{} : PlanKeyPacking(left_keys, left_rows, right_keys, right_rows);
    if (plan.packable) {
      Vec<uint64_t> left_codes(static_cast<size_t>(left_rows)), right_codes(static_cast<size_t>(right_rows));
      PackKeys(left_keys, left_rows, plan, left_codes.data());
      PackKeys(right_keys, right_rows, plan, right_codes.data());
      const Column l = CodeColumn(left_codes), r = CodeColumn(right_codes);
      return HashJoin(Columns{&l}, left_rows, Columns{&r}, right_rows, type, nulls_equal, out);
    }
  }
  if ((type == JoinType::kSemi || type == JoinType::kAnti) && left_rows < right_rows) {
    CYLON_RETURN_NOT_OK(SemiJoinOnLeftTable(left_keys, left_rows, right_keys, right_rows, type == JoinType::kSemi,
                                            nulls_equal, &out->left));
    MarkKeptIdentity(left_rows, out);
    return Status::OK();
  }
  // A right join is a left join with the sides swapped.
  const bool swap = type == JoinType::kRight;
  const Columns& probe_keys = swap ? right_keys : left_keys;
  const Columns& build_keys = swap ? left_keys : right_keys;
  const int64_t probe_rows = swap ? right_rows : left_rows;
  const int64_t build_rows = swap ? left_rows : right_rows;

  OutputColumn<int64_t>* probe_side = swap ? &out->right : &out->left;
  OutputColumn<int64_t>* build_side = swap ? &out->left : &out->right;
  if (probe_keys.size() == 1 && probe_keys[0]->has_int_code() && !nulls_equal && type != JoinType::kOuter) {
    RadixMatches matches;
    if (RadixJoin(*probe_keys[0], probe_rows, *build_keys[0], build_rows, &matches)) {
      bool identity;  // never for semi/anti
      EmitFromMatches(matches, swap ? JoinType::kLeft : type, probe_side, build_side, &identity);
      MarkProbeIdentity(identity, swap, probe_rows, probe_side, out);
      return Status::OK();
    }
  }

  KeyTable table;
  CYLON_RETURN_NOT_OK(table.Build(build_keys, build_rows, nulls_equal));
  Vec<int64_t> match;
  table.Probe(probe_keys, probe_rows, &match);

  if (type == JoinType::kSemi || type == JoinType::kAnti) {
    const bool want = type == JoinType::kSemi;
    auto& lv = out->left.values;
    for (int64_t i = 0; i < probe_rows; ++i) {
      if ((match[i] >= 0) == want) lv.push_back(i);
    }
    MarkKeptIdentity(probe_rows, out);
    return Status::OK();
  }
  BuildGroups groups;
  GroupBuildRows(table, build_rows, &groups);
  const bool keep_probe = type != JoinType::kInner;
  const bool keep_build = type == JoinType::kOuter;
  OutputColumn<int64_t>* probe_out = swap ? &out->right : &out->left;
  OutputColumn<int64_t>* build_out = swap ? &out->left : &out->right;
  if (groups.unique && !keep_build) {
    bool identity;
    EmitUnique(&table.first_row(), match, keep_probe, probe_out, build_out, &identity);
    MarkProbeIdentity(identity, swap, probe_rows, probe_out, out);
    return Status::OK();
  }
  Emit(table, groups, match, probe_rows, build_rows, keep_probe, keep_build, probe_out, build_out);
  return Status::OK();
}

}  // namespace cylon
