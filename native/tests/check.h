// A minimal test harness: CHECK records a failure with file:line and goes on;
// main returns non-zero when any check failed (ctest reads the exit code).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "arrow_c_data.h"
#include "column.h"

namespace test {

inline int& failures() {
  static int n = 0;
  return n;
}

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++test::failures();                                                        \
    }                                                                            \
  } while (0)

#define CHECK_EQ(a, b)                                                                          \
  do {                                                                                          \
    const auto va = (a);                                                                        \
    const auto vb = (b);                                                                        \
    if (!(va == vb)) {                                                                          \
      std::fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%s vs %s)\n", __FILE__, __LINE__, #a, #b, \
                   std::to_string(va).c_str(), std::to_string(vb).c_str());                     \
      ++test::failures();                                                                       \
    }                                                                                           \
  } while (0)

struct Case {
  const char* name;
  std::function<void()> fn;
};

inline std::vector<Case>& cases() {
  static std::vector<Case> c;
  return c;
}

struct Register {
  Register(const char* name, std::function<void()> fn) { cases().push_back({name, std::move(fn)}); }
};

#define TEST_CASE(name) \
  static void name();   \
  static test::Register reg_##name(#name, name); \
  static void name()

inline int RunAll() {
  for (const Case& c : cases()) {
    const int before = failures();
    c.fn();
    std::fprintf(stderr, "%s %s\n", failures() == before ? "ok  " : "FAIL", c.name);
  }
  return failures() == 0 ? 0 : 1;
}

/// An Arrow array built by a test: its buffers live in this struct; release
/// counts how often it ran (the ownership tests assert exactly once).
struct TestArray {
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<const void*> pointers;
  std::string format;
  int64_t length = 0;
  int64_t null_count = 0;
  int releases = 0;
  int schema_releases = 0;

  static void Release(ArrowArray* a) {
    static_cast<TestArray*>(a->private_data)->releases++;
    a->release = nullptr;
  }
  static void ReleaseSchema(ArrowSchema* s) {
    static_cast<TestArray*>(s->private_data)->schema_releases++;
    s->release = nullptr;
  }
  /// Fills the C structs (borrowing this object's buffers).
  void Export(ArrowSchema* s, ArrowArray* a) {
    pointers.clear();
    for (auto& b : buffers) pointers.push_back(b.empty() ? nullptr : b.data());
    std::memset(s, 0, sizeof(*s));
    std::memset(a, 0, sizeof(*a));
    s->format = format.c_str();
    s->name = "";
    s->flags = ARROW_FLAG_NULLABLE;
    s->private_data = this;
    s->release = &ReleaseSchema;
    a->length = length;
    a->null_count = null_count;
    a->n_buffers = static_cast<int64_t>(pointers.size());
    a->buffers = pointers.data();
    a->private_data = this;
    a->release = &Release;
  }
};

template <typename T>
std::vector<uint8_t> Bytes(const std::vector<T>& v) {
  std::vector<uint8_t> out(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

/// Validity bitmap with the given rows null.
inline std::vector<uint8_t> Validity(int64_t n, const std::vector<int64_t>& nulls) {
  std::vector<uint8_t> bits(static_cast<size_t>((n + 7) / 8), 0xff);
  for (int64_t i : nulls) bits[i >> 3] &= static_cast<uint8_t>(~(1u << (i & 7)));
  return bits;
}

/// An int64 array (format "l").
inline TestArray Int64s(const std::vector<int64_t>& v, const std::vector<int64_t>& nulls = {}) {
  TestArray t;
  t.format = "l";
  t.length = static_cast<int64_t>(v.size());
  t.null_count = static_cast<int64_t>(nulls.size());
  t.buffers = {nulls.empty() ? std::vector<uint8_t>{} : Validity(t.length, nulls), Bytes(v)};
  return t;
}

/// A test array imported as the kernel imports capsules (the column owns the structs).
struct Imported {
  TestArray t;
  ArrowSchema s;
  ArrowArray a;
  cylon::ImportedColumn col;
  explicit Imported(TestArray arr, const char* name = "k") : t(std::move(arr)) {
    t.Export(&s, &a);
    CHECK(cylon::ImportColumn(&s, &a, name, &col).ok());
  }
};

}  // namespace test
