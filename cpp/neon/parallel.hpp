// Row-block parallelism shared by every kernel.
//
// Work is cut into fixed blocks of rows whose boundaries depend only on the
// problem size, never on the thread count; each block is computed by exactly
// one thread with the same instructions, and writes only its own rows (or its
// own partial sums, added in block order by the caller).  That is what makes
// results bitwise identical for any number of threads, and for any
// assignment of blocks to threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <stdexcept>
#include <utility>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace neon {

using Index = std::ptrdiff_t;

inline bool built_with_openmp() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

// Threads OpenMP would use for a parallel region started now (honours
// OMP_NUM_THREADS and omp_set_num_threads, hence threadpoolctl limits).
inline int default_thread_count() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// n_threads <= 0 means "the OpenMP default"; never more threads than blocks.
inline int resolve_thread_count(int n_threads, Index n_blocks) {
    int n = n_threads > 0 ? n_threads : default_thread_count();
    if (!built_with_openmp()) n = 1;
    if (n_blocks < n) n = static_cast<int>(std::max<Index>(n_blocks, 1));
    return std::max(n, 1);
}

inline Index block_count(Index n_rows, Index block_rows) {
    return (n_rows + block_rows - 1) / block_rows;
}

// Thrown by for_each_block when the interrupt poll asked it to stop.
class Interrupted : public std::runtime_error {
public:
    Interrupted() : std::runtime_error("interrupted") {}
};

// The interrupt poll of the calling thread: a function asked, between blocks
// and at most every 50 ms, whether to stop (the Python bindings check for
// Ctrl-C there, with the GIL).  Set for a scope with InterruptPollScope; the
// core itself knows nothing of Python.
inline std::function<bool()>*& current_interrupt_poll() {
    thread_local std::function<bool()>* poll = nullptr;
    return poll;
}

class InterruptPollScope {
public:
    explicit InterruptPollScope(std::function<bool()> poll)
        : poll_(std::move(poll)), previous_(current_interrupt_poll()) {
        current_interrupt_poll() = &poll_;
    }
    ~InterruptPollScope() { current_interrupt_poll() = previous_; }
    InterruptPollScope(const InterruptPollScope&) = delete;
    InterruptPollScope& operator=(const InterruptPollScope&) = delete;

private:
    std::function<bool()> poll_;
    std::function<bool()>* previous_;
};

// What interrupt_point needs about the block loop it runs in (set per
// thread, per block, by for_each_block).
struct BlockLoopContext {
    std::function<bool()>* poll = nullptr;  // the interrupt poll; on the calling thread only
    std::chrono::steady_clock::time_point* last_poll = nullptr;
    const std::atomic<bool>* failed = nullptr;  // another block failed or was interrupted
};

inline BlockLoopContext*& current_block_loop() {
    thread_local BlockLoopContext* context = nullptr;
    return context;
}

// For work inside one block that can run long (a kernel k-means row with
// tens of thousands of support vectors takes up to seconds): on the calling
// thread it asks the interrupt poll, at most every 50 ms; on every thread it
// stops once another block has failed.  Throws Interrupted then (caught and
// rethrown by for_each_block, which keeps the first error).  Does nothing
// outside for_each_block.  Results of completed calls do not depend on it.
inline void interrupt_point() {
    BlockLoopContext* context = current_block_loop();
    if (!context) return;
    if (context->failed->load(std::memory_order_relaxed)) throw Interrupted();
    if (!context->poll) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - *context->last_poll < std::chrono::milliseconds(50)) return;
    *context->last_poll = now;
    if ((*context->poll)()) throw Interrupted();
}

// Sets the block loop context of this thread for a scope.
class BlockLoopScope {
public:
    explicit BlockLoopScope(BlockLoopContext* context) : previous_(current_block_loop()) {
        current_block_loop() = context;
    }
    ~BlockLoopScope() { current_block_loop() = previous_; }
    BlockLoopScope(const BlockLoopScope&) = delete;
    BlockLoopScope& operator=(const BlockLoopScope&) = delete;

private:
    BlockLoopContext* previous_;
};

// Calls body(block, thread) for block = 0..n_blocks-1 on n_threads threads
// (already resolved), handing the blocks out one at a time in order as
// threads become free.  Blocks differ in cost (kernel k-means rows near
// several clusters take longer, a memory-bound block waits on other cores'
// traffic); with a static split the thread whose half was cheaper waited at
// the closing barrier of every call, spinning (OpenMP's default wait policy,
// counted as CPU time): kernel k-means explain used 15-22% more CPU at 2
// threads than at 1 and scaled 1.60-1.70x; handed out one by one (a thread
// waits at most for one block) it scales 1.78-2.17x (bench/README.md).
// `thread` indexes per-thread scratch only; no result depends on it.
//
// Exceptions must not cross an OpenMP region boundary, so the first one is
// caught inside, the remaining blocks are skipped, and it is rethrown on the
// calling thread.  With an interrupt poll set on the calling thread, that
// thread (OpenMP thread 0) asks it between its blocks (and inside them at
// interrupt_point); a yes skips the remaining blocks and throws Interrupted.
// Results of completed calls do not depend on it.
template <class Body>
void for_each_block(Index n_blocks, int n_threads, Body&& body) {
    std::exception_ptr error = nullptr;
    std::atomic<bool> failed{false};
    std::function<bool()>* const poll = current_interrupt_poll();
    using Clock = std::chrono::steady_clock;
    Clock::time_point last_poll = Clock::now();
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
#endif
    for (Index b = 0; b < n_blocks; ++b) {
        if (failed.load(std::memory_order_relaxed)) continue;
        try {
#ifdef _OPENMP
            const int tid = omp_get_thread_num();
#else
            const int tid = 0;
#endif
            BlockLoopContext context{tid == 0 ? poll : nullptr, &last_poll, &failed};
            const BlockLoopScope scope(&context);
            body(b, tid);
            if (poll && tid == 0 && Clock::now() - last_poll >= std::chrono::milliseconds(50)) {
                last_poll = Clock::now();
                if ((*poll)()) throw Interrupted();
            }
        } catch (...) {
#ifdef _OPENMP
#pragma omp critical(neon_for_each_block_error)
#endif
            {
                if (!error) error = std::current_exception();
            }
            failed.store(true, std::memory_order_relaxed);
        }
    }
    (void)n_threads;
    if (error) std::rethrow_exception(error);
}

// Records the smallest row index at which something was wrong, from any
// thread, so the error message names the same row whatever the schedule.
class FirstBadRow {
public:
    explicit FirstBadRow(Index none) : none_(none), row_(none) {}
    void report(Index row) {
        Index seen = row_.load(std::memory_order_relaxed);
        while (row < seen && !row_.compare_exchange_weak(seen, row)) {
        }
    }
    bool any() const { return row_.load() != none_; }
    Index row() const { return row_.load(); }

private:
    Index none_;
    std::atomic<Index> row_;
};

}  // namespace neon
