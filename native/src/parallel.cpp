#include "parallel.h"

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <vector>

namespace cylon {

int KernelThreads() {
  static const int cores = [] {
    const int n = static_cast<int>(std::thread::hardware_concurrency());
    return std::min(n <= 0 ? 1 : n, 64);
  }();
  // Read on every call (once per operation, not per row): a resident warm worker runs one
  // job after another in the same process, each with its own share of the cores.
  int n = cores;
  if (const char* env = std::getenv("CYLON_NUM_THREADS")) {
    const int want = std::atoi(env);
    if (want > 0) n = std::min(n, want);
  }
  return n;
}

int ParallelChunks(int64_t n, int64_t grain, const std::function<void(int, int64_t, int64_t)>& fn) {
  int chunks = KernelThreads();
  if (grain < 1) grain = 1;
  chunks = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(chunks, n / grain)));
  if (chunks == 1) {
    fn(0, 0, n);
    return 1;
  }
  std::vector<std::thread> threads;
  threads.reserve(chunks - 1);
  const int64_t step = (n + chunks - 1) / chunks;
  for (int c = 1; c < chunks; ++c) {
    const int64_t b = std::min(n, c * step), e = std::min(n, (c + 1) * step);
    threads.emplace_back([&fn, c, b, e] { fn(c, b, e); });
  }
  fn(0, 0, std::min(n, step));
  for (auto& t : threads) t.join();
  return chunks;
}

void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  ParallelChunks(n, grain, [&fn](int, int64_t b, int64_t e) { fn(b, e); });
}

}  // namespace cylon

#include <atomic>

namespace cylon {

void ParallelTasks(int64_t num_tasks, const std::function<void(int64_t)>& fn) {
  const int threads = static_cast<int>(std::min<int64_t>(KernelThreads(), num_tasks));
  std::atomic<int64_t> next{0};
  auto run = [&] {
    for (int64_t t = next.fetch_add(1); t < num_tasks; t = next.fetch_add(1)) fn(t);
  };
  if (threads <= 1) {
    run();
    return;
  }
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back(run);
  run();
  for (auto& t : pool) t.join();
}

}  // namespace cylon
