// A minimal parallel-for over row ranges: the kernel's only threading.
// Threads = min(hardware threads, CYLON_NUM_THREADS env, rows / grain).
#pragma once
#include <cstdint>
#include <functional>

namespace cylon {

/// Number of worker threads the kernel may use.
int KernelThreads();

/// Runs fn(begin, end) over [0, n) split into contiguous chunks of at least
/// `grain` rows, one chunk per thread; returns when all are done.
void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

/// Like ParallelFor but fn also receives the chunk index (0..chunks-1);
/// returns the number of chunks used (<= KernelThreads()).
int ParallelChunks(int64_t n, int64_t grain, const std::function<void(int, int64_t, int64_t)>& fn);

}  // namespace cylon

namespace cylon {

/// Runs fn(task) for task in [0, num_tasks) on the kernel's threads, handing
/// tasks out dynamically (uneven partitions balance themselves).
void ParallelTasks(int64_t num_tasks, const std::function<void(int64_t)>& fn);

}  // namespace cylon
