// A fixed-size array aligned to a cache line (64 bytes), zero-initialised:
// model tables and per-thread scratch of the row kernels, so that rows padded
// to 64 bytes start on a cache line and vector loads never split one.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

namespace neon {

template <class S>
class AlignedArray {
    static_assert(std::is_trivially_copyable<S>::value, "AlignedArray holds plain numbers");

public:
    static constexpr std::size_t kAlignment = 64;

    AlignedArray() = default;
    explicit AlignedArray(std::ptrdiff_t n) : size_(n > 0 ? n : 0) {
        if (size_ > 0) {
            data_.reset(static_cast<S*>(::operator new[](bytes(), std::align_val_t(kAlignment))));
            std::memset(static_cast<void*>(data_.get()), 0, bytes());
        }
    }

    S* data() { return data_.get(); }
    const S* data() const { return data_.get(); }
    std::ptrdiff_t size() const { return size_; }
    S& operator[](std::ptrdiff_t i) { return data_.get()[i]; }
    const S& operator[](std::ptrdiff_t i) const { return data_.get()[i]; }

private:
    struct Free {
        void operator()(S* p) const { ::operator delete[](static_cast<void*>(p), std::align_val_t(kAlignment)); }
    };
    std::size_t bytes() const { return static_cast<std::size_t>(size_) * sizeof(S); }

    std::unique_ptr<S[], Free> data_;
    std::ptrdiff_t size_ = 0;
};

// n rounded up to a whole number of 64-byte lines of S.
template <class S>
constexpr std::ptrdiff_t padded_to_line(std::ptrdiff_t n) {
    constexpr std::ptrdiff_t per_line = static_cast<std::ptrdiff_t>(AlignedArray<S>::kAlignment / sizeof(S));
    return (n + per_line - 1) / per_line * per_line;
}

}  // namespace neon
