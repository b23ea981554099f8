// Runs every registered C++ core test (or those whose name contains argv[1]).
#include <cstdio>
#include <cstring>

#include "check.hpp"

int main(int argc, char** argv) {
    const char* filter = argc > 1 ? argv[1] : nullptr;
    int run = 0;
    for (const auto& t : neon_test::registry()) {
        if (filter && !std::strstr(t.name, filter)) continue;
        const long before = neon_test::counters().failures;
        try {
            t.fn();
        } catch (const std::exception& e) {
            neon_test::record(false, __FILE__, __LINE__, std::string(t.name) + " threw: " + e.what());
        }
        ++run;
        std::printf("%-60s %s\n", t.name, neon_test::counters().failures == before ? "ok" : "FAILED");
    }
    const auto& c = neon_test::counters();
    std::printf("%d tests, %ld checks, %ld failures\n", run, c.checks, c.failures);
    return c.failures == 0 && run > 0 ? 0 : 1;
}
