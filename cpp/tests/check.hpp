// A minimal test harness for the C++ core: checks that survive NDEBUG,
// report file:line and keep going, and a registry of named tests run by
// main.cpp.  No dependency, so the sanitizer build needs nothing installed.
#pragma once

#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace neon_test {

struct Test {
    const char* name;
    void (*fn)();
};

inline std::vector<Test>& registry() {
    static std::vector<Test> tests;
    return tests;
}

struct Counters {
    long checks = 0;
    long failures = 0;
};

inline Counters& counters() {
    static Counters c;
    return c;
}

inline bool record(bool ok, const char* file, int line, const std::string& what) {
    ++counters().checks;
    if (!ok) {
        ++counters().failures;
        std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what.c_str());
    }
    return ok;
}

// |a - b| <= atol + rtol |b|; NaN never passes.
inline bool close(double a, double b, double rtol, double atol) {
    return std::abs(a - b) <= atol + rtol * std::abs(b);
}

}  // namespace neon_test

#define NEON_TEST(name)                                                                           \
    static void name();                                                                           \
    static const bool name##_registered = (neon_test::registry().push_back({#name, name}), true); \
    static void name()

#define NEON_CHECK(cond) neon_test::record(static_cast<bool>(cond), __FILE__, __LINE__, #cond)

#define NEON_CHECK_CLOSE(a, b, rtol, atol)                                                                \
    do {                                                                                                  \
        const double neon_a_ = (a), neon_b_ = (b);                                                        \
        neon_test::record(                                                                                \
            neon_test::close(neon_a_, neon_b_, (rtol), (atol)), __FILE__, __LINE__,                       \
            std::string(#a " ~= " #b ": ") + std::to_string(neon_a_) + " vs " + std::to_string(neon_b_)); \
    } while (0)

// `expr` must throw `Exc` whose what() contains `text`.
#define NEON_CHECK_THROWS(expr, Exc, text)                                                                   \
    do {                                                                                                     \
        std::string neon_got_ = "no exception";                                                              \
        bool neon_ok_ = false;                                                                               \
        try {                                                                                                \
            expr;                                                                                            \
        } catch (const Exc& e) {                                                                             \
            neon_got_ = e.what();                                                                            \
            neon_ok_ = neon_got_.find(text) != std::string::npos;                                            \
        } catch (const std::exception& e) {                                                                  \
            neon_got_ = std::string("another exception: ") + e.what();                                       \
        }                                                                                                    \
        neon_test::record(neon_ok_, __FILE__, __LINE__,                                                      \
                          std::string(#expr " throws " #Exc " with \"") + (text) + "\"; got: " + neon_got_); \
    } while (0)
