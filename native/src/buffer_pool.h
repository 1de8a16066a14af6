// A process-wide cache of large buffers, and the allocator the kernel's vectors use.
//
// Why: on this class of machine (and in a Lambda's microVM) first-touch page
// faults cost about 1 s per GB, more than the join itself; glibc returns every
// block over 32 MB to the OS on free, so each kernel call paid them again.
// Blocks of at least kMinPooledBytes are kept after free (up to a cap:
// CYLON_BUFFER_CACHE_MB, else a quarter of the process's memory — the Lambda's
// configured size or the machine's — at most 2 GiB) and handed out again.
#pragma once
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace cylon {

constexpr size_t kMinPooledBytes = size_t{1} << 20;

void* PoolAllocate(size_t bytes);
void PoolFree(void* p, size_t bytes) noexcept;
/// Bytes currently held in the cache (for tests and benchmarks).
size_t PoolCachedBytes();

template <typename T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() noexcept = default;
  template <typename U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(PoolAllocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { PoolFree(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const PoolAllocator<U>&) const noexcept { return true; }
  template <typename U>
  bool operator!=(const PoolAllocator<U>&) const noexcept { return false; }
};

/// The kernel's vector: std::vector over the buffer pool.
template <typename T>
using Vec = std::vector<T, PoolAllocator<T>>;

/// PoolAllocator whose sized construction and resize leave trivial values
/// uninitialised (default- rather than value-initialised): for scratch arrays whose
/// every element is written before it is read. Zero-filling them first was ~10% of
/// grouping 1M int64 rows in 100k groups (~32 MB of memset per call).
template <typename T>
struct UninitPoolAllocator : PoolAllocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitPoolAllocator<U>;
  };
  UninitPoolAllocator() noexcept = default;
  template <typename U>
  UninitPoolAllocator(const UninitPoolAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

/// A scratch vector: Vec without the zero-fill (see UninitPoolAllocator).
template <typename T>
using ScratchVec = std::vector<T, UninitPoolAllocator<T>>;

}  // namespace cylon
