// Move-only owners of Arrow C structs (after nanoarrow's hpp/unique.hpp).
// "Released" means release == nullptr; a move is a memcpy that marks the source released.
#pragma once
#include <cstring>
#include <utility>

#include "arrow_c_data.h"

namespace cylon {

template <typename T>
class Unique {
 public:
  Unique() { std::memset(&data_, 0, sizeof(T)); }
  /// Takes ownership of *src; src is left released.
  explicit Unique(T* src) {
    std::memcpy(&data_, src, sizeof(T));
    src->release = nullptr;
  }
  Unique(Unique&& other) noexcept : Unique(&other.data_) {}
  Unique& operator=(Unique&& other) noexcept {
    if (this != &other) {
      reset();
      std::memcpy(&data_, &other.data_, sizeof(T));
      other.data_.release = nullptr;
    }
    return *this;
  }
  Unique(const Unique&) = delete;
  Unique& operator=(const Unique&) = delete;
  ~Unique() { reset(); }

  void reset() {
    if (data_.release != nullptr) data_.release(&data_);
    data_.release = nullptr;
  }
  /// Moves the struct out to dst (which must be released); this is left released.
  void move_to(T* dst) {
    std::memcpy(dst, &data_, sizeof(T));
    data_.release = nullptr;
  }
  T* get() { return &data_; }
  const T* get() const { return &data_; }
  T* operator->() { return &data_; }
  const T* operator->() const { return &data_; }

 private:
  T data_;
};

using UniqueSchema = Unique<ArrowSchema>;
using UniqueArray = Unique<ArrowArray>;

}  // namespace cylon
