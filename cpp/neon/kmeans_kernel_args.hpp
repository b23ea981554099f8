// Plain data handed from FusedEvaluator (kmeans.hpp) to the fused row kernel
// (kmeans_kernel.hpp), which is compiled once per instruction set.
//
// Only aggregates live here, no functions: this header is included by the
// translation units built with -mavx2/-mavx512f, and any inline function
// they shared with the portable code could be merged by the linker into the
// wrong instruction set (see kmeans_kernel.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace neon {

// The model in the layout the kernel reads, in compute precision S.  Row
// lengths are padded with zeros to Dp >= D and Kp >= K, multiples of 64
// bytes, so every inner loop runs over whole vectors.
template <class S>
struct KMeansModelView {
    std::ptrdiff_t K = 0, D = 0, Kp = 0, Dp = 0;
    const S* PP = nullptr;          // K x 2 Dp: [P_k | P_k * P_k], P centred on `center`
    const S* const* rows = nullptr; // K: PP + k * 2 Dp
    const S* PT = nullptr;          // Dp x Kp: P transposed (distance product)
    const S* sq_norm = nullptr;     // Kp: ||P_k||^2
    const S* center = nullptr;      // Dp: subtracted from every input row
    const double* center64 = nullptr;  // D: the same centre in float64 (exact tie settling)
    const double* e_pad = nullptr;  // Kp: 0 for k < K, +inf for the padding entries
    const double* raw = nullptr;    // K x D: the float64 centroids (exact tie settling)
    const double* raw_t = nullptr;  // D rows of Kp: the same transposed, padding 0
    std::ptrdiff_t raw_t_stride = 0;  // between rows of raw_t (>= Kp)
    const std::ptrdiff_t* representative = nullptr;  // K: lowest index of an identical centroid
    bool has_duplicates = false;
    double max_norm = 0.0;          // max ||P_k|| (tie tolerance)
    double eps = 0.0;               // absolute stabilizer of the midpoint rule
};

// One call's rows and outputs.  Row r of X starts at X + r * row_stride;
// outputs are indexed by the same r.  Null outputs are not written.
template <class T>
struct KMeansJob {
    const T* X = nullptr;
    std::ptrdiff_t n_rows = 0;  // rows of X (the kernel reads ahead of its range only below this)
    std::ptrdiff_t row_stride = 0, col_stride = 1;
    const std::int64_t* target_per_row = nullptr;  // or null
    std::int64_t target_fixed = -1;                // >= 0: this cluster for every row
    double beta = 1.0;
    std::int64_t* assigned = nullptr;   // N
    T* logit = nullptr;                 // N
    T* logits_all = nullptr;            // N x K
    T* relevance = nullptr;             // N x D rows, relevance_stride apart
    std::ptrdiff_t relevance_stride = 0;
    // Write the relevance past the caches (non-temporal stores): only when
    // relevance_stride is the row length and the output aligned to T.
    bool stream_relevance = false;
    double* coefficients = nullptr;     // N x K: the midpoint-rule coefficients a_k (a_c = -sum), for affine.hpp
};

// What went wrong in a range of rows: the first offending row, or -1.
struct KMeansRowStatus {
    std::ptrdiff_t first_bad_input = -1;
    std::ptrdiff_t first_bad_target = -1;
    std::ptrdiff_t first_too_far = -1;          // distances beyond float64
    std::ptrdiff_t first_unrepresentable = -1;  // a logit or relevance beyond T (or NaN: eps = 0)
};

// Rows per pass through the pipeline: their centred copy, distances and
// coefficients stay in L1 for D of a few hundred at most.
constexpr std::ptrdiff_t kKMeansSubBlockRows = 32;

// Relevance outputs of at least this many bytes are streamed past the
// caches (KMeansJob::stream_relevance): beyond a core's L2, and the
// Python layer hands the kernel 16 MiB of float32 output per call or less.
constexpr double kStreamRelevanceBytes = 4.0 * (1 << 20);

// Rows per group of the vectorized per-row stage: at most one 64-byte
// vector of float64.
constexpr std::ptrdiff_t kKMeansMaxLanes = 8;

// Per-thread scratch of the kernel, allocated once per call by the caller
// (KMeansScratch in kmeans.hpp): Z: kKMeansSubBlockRows x Dp, E:
// kKMeansSubBlockRows x Kp, z_sq: kKMeansSubBlockRows, eT, wT, aT, aT_s:
// Kp x kKMeansMaxLanes, e_row, a_row, k_row, active_a, active_rows: Kp,
// Rg: kKMeansMaxLanes x Dp.
template <class S>
struct KMeansScratchView {
    S* Z = nullptr;
    S* E = nullptr;
    double* z_sq = nullptr;
    double* eT = nullptr;
    double* wT = nullptr;
    double* aT = nullptr;
    S* aT_s = nullptr;
    double* e_row = nullptr;
    double* a_row = nullptr;
    double* k_row = nullptr;  // cluster indices (exact in float64)
    S* active_a = nullptr;
    S* Rg = nullptr;  // kKMeansMaxLanes x Dp: a group's relevance rows, before they are written out
    const S** active_rows = nullptr;
};

// The kernels of one instruction set: float32 input in float32, float64 in
// float64, and float32 input in float64 (when the model overflows float32).
struct KMeansKernelTable {
    void (*f32)(const KMeansModelView<float>&, const KMeansJob<float>&, std::ptrdiff_t, std::ptrdiff_t,
                const KMeansScratchView<float>&, KMeansRowStatus&) = nullptr;
    void (*f64)(const KMeansModelView<double>&, const KMeansJob<double>&, std::ptrdiff_t, std::ptrdiff_t,
                const KMeansScratchView<double>&, KMeansRowStatus&) = nullptr;
    void (*f32_in_f64)(const KMeansModelView<double>&, const KMeansJob<float>&, std::ptrdiff_t, std::ptrdiff_t,
                       const KMeansScratchView<double>&, KMeansRowStatus&) = nullptr;
};

}  // namespace neon
