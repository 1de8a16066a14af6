#include "buffer_pool.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

namespace cylon {
namespace {

// CYLON_BUFFER_CACHE_MB if set; else a quarter of the memory this process may
// use (a Lambda's configured memory, or the machine's), at most 2 GiB, so a
// small function never holds its memory idle in the cache.
size_t DefaultCapBytes() {
  if (const char* env = std::getenv("CYLON_BUFFER_CACHE_MB")) return static_cast<size_t>(std::atoll(env)) << 20;
  size_t total_mb = 0;
  if (const char* lambda_mb = std::getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")) {
    total_mb = static_cast<size_t>(std::atoll(lambda_mb));
  }
  if (total_mb == 0) {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) total_mb = static_cast<size_t>(pages) * static_cast<size_t>(page) >> 20;
  }
  const size_t quarter = total_mb ? total_mb / 4 : 2048;
  return std::min<size_t>(quarter, 2048) << 20;
}

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> blocks;  //!< size -> block
  size_t cached = 0;
  size_t cap = DefaultCapBytes();
};

Cache& TheCache() {
  static Cache* cache = new Cache();  // never destroyed: frees may run at interpreter exit
  return *cache;
}

// Pooled blocks are rounded up so a slightly larger request can reuse a block.
size_t RoundUp(size_t bytes) { return (bytes + kMinPooledBytes - 1) & ~(kMinPooledBytes - 1); }

}  // namespace

void* PoolAllocate(size_t bytes) {
  if (bytes < kMinPooledBytes) {
    void* p = std::malloc(bytes ? bytes : 1);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  const size_t size = RoundUp(bytes);
  {
    Cache& c = TheCache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.blocks.lower_bound(size);
    // Reuse a block at most twice the request, so small asks don't pin big blocks.
    if (it != c.blocks.end() && it->first <= 2 * size) {
      void* p = it->second;
      c.cached -= it->first;
      c.blocks.erase(it);
      // The block's true size is kept in a header word before the data.
      return p;
    }
  }
  // Header: the block size, so a reused larger block is filed under its real size.
  auto* raw = static_cast<size_t*>(std::aligned_alloc(64, size + 64));
  if (raw == nullptr) throw std::bad_alloc();
  raw[0] = size;
  return reinterpret_cast<char*>(raw) + 64;
}

void PoolFree(void* p, size_t bytes) noexcept {
  if (p == nullptr) return;
  if (bytes < kMinPooledBytes) {
    std::free(p);
    return;
  }
  auto* raw = reinterpret_cast<size_t*>(static_cast<char*>(p) - 64);
  const size_t size = raw[0];
  Cache& c = TheCache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.cached + size <= c.cap) {
      c.blocks.emplace(size, p);
      c.cached += size;
      return;
    }
  }
  std::free(raw);
}

size_t PoolCachedBytes() {
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.cached;
}

}  // namespace cylon
