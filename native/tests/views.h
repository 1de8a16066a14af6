// Building string_view arrays in tests (Arrow's view layout, one variadic buffer).
#pragma once
#include <string>
#include <vector>

#include "check.h"

namespace test {

inline TestArray StringViews(const std::vector<std::string>& values, const std::vector<int64_t>& nulls = {}) {
  TestArray t;
  t.format = "vu";
  t.length = static_cast<int64_t>(values.size());
  t.null_count = static_cast<int64_t>(nulls.size());
  std::vector<uint8_t> views(values.size() * 16, 0), chars;
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string& s = values[i];
    const int32_t len = static_cast<int32_t>(s.size());
    uint8_t* v = views.data() + 16 * i;
    std::memcpy(v, &len, 4);
    if (len <= 12) {
      std::memcpy(v + 4, s.data(), s.size());
    } else {
      const int32_t buf = 0, off = static_cast<int32_t>(chars.size());
      std::memcpy(v + 4, s.data(), 4);
      std::memcpy(v + 8, &buf, 4);
      std::memcpy(v + 12, &off, 4);
      chars.insert(chars.end(), s.begin(), s.end());
    }
  }
  const std::vector<int64_t> sizes{static_cast<int64_t>(chars.size())};
  if (chars.empty()) chars.push_back(0);
  t.buffers = {nulls.empty() ? std::vector<uint8_t>{} : Validity(t.length, nulls), views, chars, Bytes(sizes)};
  return t;
}

}  // namespace test
