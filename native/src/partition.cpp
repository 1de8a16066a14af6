#include "partition.h"

#include <algorithm>

#include "parallel.h"
#include "row_compare.h"
#include "row_hash.h"

namespace cylon {

namespace {

// Chunk c's first output position of each partition (stable chunked scatter).
struct ScatterPlan {
  int chunks = 1;
  int64_t grain = 1 << 16;
  Vec<Vec<int64_t>> start;
};

void PlanScatter(const Vec<uint32_t>& pids, uint32_t parts, ScatterPlan* plan, Vec<int64_t>* offsets) {
  const int64_t n = static_cast<int64_t>(pids.size());
  plan->start.assign(KernelThreads(), Vec<int64_t>(parts, 0));
  plan->chunks = ParallelChunks(n, plan->grain, [&](int c, int64_t b, int64_t e) {
    auto& h = plan->start[c];
    for (int64_t i = b; i < e; ++i) ++h[pids[i]];
  });
  offsets->assign(static_cast<size_t>(parts) + 1, 0);
  int64_t running = 0;
  for (uint32_t p = 0; p < parts; ++p) {
    (*offsets)[p] = running;
    for (int c = 0; c < plan->chunks; ++c) {
      const int64_t cnt = plan->start[c][p];
      plan->start[c][p] = running;
      running += cnt;
    }
  }
  (*offsets)[parts] = running;
}

template <typename T, typename Value>
void Scatter(const Vec<uint32_t>& pids, const ScatterPlan& plan, T* out, Value value) {
  const int64_t n = static_cast<int64_t>(pids.size());
  ParallelChunks(n, plan.grain, [&](int c, int64_t b, int64_t e) {
    Vec<int64_t> cur = plan.start[c];
    for (int64_t i = b; i < e; ++i) out[cur[pids[i]]++] = value(i);
  });
}

template <typename T>
void ScatterColumn(const Vec<uint32_t>& pids, const ScatterPlan& plan, const Column& col, Vec<uint8_t>* out) {
  out->resize(pids.size() * sizeof(T));
  const T* src = reinterpret_cast<const T*>(col.data) + col.offset;
  Scatter(pids, plan, reinterpret_cast<T*>(out->data()), [src](int64_t i) { return src[i]; });
}

// Values of decimal128/256 columns moved as wholes.
struct Bytes16 { uint64_t w[2]; };
struct Bytes32 { uint64_t w[4]; };

}  // namespace

void PartitionByIds(const Vec<uint32_t>& pids, uint32_t num_partitions,
                    Vec<int64_t>* perm, Vec<int64_t>* offsets) {
  ScatterPlan plan;
  PlanScatter(pids, num_partitions, &plan, offsets);
  perm->resize(pids.size());
  Scatter(pids, plan, perm->data(), [](int64_t i) { return i; });
}

Status HashPartition(const Columns& keys, int64_t num_rows, int64_t num_partitions, bool want_perm,
                     const Columns& scatter, Vec<int64_t>* perm, Vec<int64_t>* offsets,
                     std::vector<Vec<uint8_t>>* scattered) {
  if (num_partitions < 1 || num_partitions > (1 << 24)) {
    return Status::Invalid("num_partitions must be in [1, 16777216], found " + std::to_string(num_partitions));
  }
  for (const Column* c : scatter) {
    if (!c->is_fixed() || c->has_nulls() || c->length != num_rows) {
      return Status::Invalid("column '" + c->name + "' cannot be scattered (needs fixed width, no nulls)");
    }
  }
  Vec<uint64_t> hashes;
  HashRows(keys, num_rows, &hashes);
  Vec<uint32_t> pids(static_cast<size_t>(num_rows));
  const uint32_t np = static_cast<uint32_t>(num_partitions);
  ParallelFor(num_rows, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) pids[i] = PartitionOfHash(hashes[i], np);
  });
  hashes = Vec<uint64_t>();
  ScatterPlan plan;
  PlanScatter(pids, np, &plan, offsets);
  if (want_perm) {
    perm->resize(static_cast<size_t>(num_rows));
    Scatter(pids, plan, perm->data(), [](int64_t i) { return i; });  // as PartitionByIds, sharing the plan
  }
  scattered->resize(scatter.size());
  for (size_t k = 0; k < scatter.size(); ++k) {
    switch (scatter[k]->width) {
      case 1: ScatterColumn<uint8_t>(pids, plan, *scatter[k], &(*scattered)[k]); break;
      case 2: ScatterColumn<uint16_t>(pids, plan, *scatter[k], &(*scattered)[k]); break;
      case 4: ScatterColumn<uint32_t>(pids, plan, *scatter[k], &(*scattered)[k]); break;
      case 16: ScatterColumn<Bytes16>(pids, plan, *scatter[k], &(*scattered)[k]); break;
      case 32: ScatterColumn<Bytes32>(pids, plan, *scatter[k], &(*scattered)[k]); break;
      default: ScatterColumn<uint64_t>(pids, plan, *scatter[k], &(*scattered)[k]); break;
    }
  }
  return Status::OK();
}

Status RangePartition(const Columns& keys, int64_t num_rows, const Columns& splitters,
                      int64_t num_splitters, const Vec<uint8_t>& ascending,
                      Vec<int64_t>* perm, Vec<int64_t>* offsets) {
  CYLON_RETURN_NOT_OK(CheckComparable(keys, splitters));
  Vec<uint32_t> pids(static_cast<size_t>(num_rows));
  ParallelFor(num_rows, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      // First splitter s with row <= splitter[s]: lower bound on "splitter < row".
      int64_t lo = 0, hi = num_splitters;
      while (lo < hi) {
        const int64_t mid = (lo + hi) / 2;
        if (CompareRows(splitters, mid, keys, i, ascending) < 0) {
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      pids[i] = static_cast<uint32_t>(lo);
    }
  });
  PartitionByIds(pids, static_cast<uint32_t>(num_splitters + 1), perm, offsets);
  return Status::OK();
}

}  // namespace cylon
