// neon_bench: times the pure C++ k-means NEON kernels (no Python) over a
// grid of N x D x K, both dtypes, instruction sets and thread counts, next
// to a streaming floor (read X, write R: what any explanation must at least
// do) measured in the same process.  Also checks every instruction set
// against the portable kernels and checks conservation, so a fast wrong
// kernel cannot go unnoticed.
//
//   neon_bench [--n 1000000] [--d 64] [--k 16] [--threads 1,2] [--isa auto]
//              [--dtype float32,float64] [--reps 7] [--beta 0 (heuristic)]
//              [--clock wall|cpu]
//
// Lists are comma separated; --isa takes auto, portable, avx2, avx512 or
// all (every one this CPU runs).  Output: one line per configuration with
// the median, min and max seconds over --reps timed runs after one warm-up,
// ns per row, and the ratio to the streaming floor of the same size.
// --clock cpu reports the CPU time of the whole process instead of wall
// time: on a machine shared with other jobs, the 1-thread CPU time is what
// the kernel costs, while wall time also counts waiting for a core.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "neon/isa.hpp"
#include "neon/prototype_core.hpp"

namespace {

using neon::Index;

struct Options {
    std::vector<long> n{1000000}, d{64}, k{16}, threads{1, 2};
    std::vector<std::string> isa{"auto"}, dtype{"float32", "float64"};
    int reps = 7;
    double beta = 0.0;  // 0: the paper's heuristic 1 / mean logit
    bool cpu_clock = false;
};

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty()) out.push_back(item);
    return out;
}

std::vector<long> split_long(const std::string& s) {
    std::vector<long> out;
    for (const auto& item : split(s)) out.push_back(static_cast<long>(std::stod(item)));  // accepts 1e6
    return out;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::puts(
                "neon_bench [--n LIST] [--d LIST] [--k LIST] [--threads LIST] [--isa LIST|all]\n"
                "           [--dtype float32,float64] [--reps R] [--beta B (0: heuristic)] [--clock wall|cpu]");
            std::exit(0);
        }
        if (i + 1 >= argc) throw std::invalid_argument("missing value after " + a);
        const std::string v = argv[++i];
        if (a == "--n")
            o.n = split_long(v);
        else if (a == "--d")
            o.d = split_long(v);
        else if (a == "--k")
            o.k = split_long(v);
        else if (a == "--threads")
            o.threads = split_long(v);
        else if (a == "--isa")
            o.isa = split(v);
        else if (a == "--dtype")
            o.dtype = split(v);
        else if (a == "--reps")
            o.reps = std::max(1, std::stoi(v));
        else if (a == "--beta")
            o.beta = std::stod(v);
        else if (a == "--clock")
            o.cpu_clock = v == "cpu";
        else
            throw std::invalid_argument("unknown option " + a);
    }
    if (o.isa.size() == 1 && o.isa[0] == "all") {
        o.isa.clear();
        for (auto isa : {neon::Isa::portable, neon::Isa::avx2, neon::Isa::avx512})
            if (neon::isa_supported(isa)) o.isa.push_back(neon::isa_name(isa));
    }
    return o;
}

struct Stats {
    double median, min, max;
};

bool g_cpu_clock = false;

double now() {
    if (g_cpu_clock) return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;  // process CPU time
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class F>
Stats time_it(F&& f, int reps) {
    f();  // warm-up: page faults, caches, thread pool
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
        const double t0 = now();
        f();
        t.push_back(now() - t0);
    }
    std::sort(t.begin(), t.end());
    return {t[t.size() / 2], t.front(), t.back()};
}

// Gaussian blobs: K centres with spread 3 per coordinate, unit noise.
void blobs(long N, long D, long K, std::vector<double>& X, std::vector<double>& C) {
    std::mt19937_64 rng(42);
    std::normal_distribution<double> normal;
    C.resize(static_cast<size_t>(K * D));
    for (auto& c : C) c = 3.0 * normal(rng);
    X.resize(static_cast<size_t>(N * D));
    std::uniform_int_distribution<long> pick(0, K - 1);
    for (long r = 0; r < N; ++r) {
        const long k = pick(rng);
        for (long i = 0; i < D; ++i) X[r * D + i] = C[k * D + i] + normal(rng);
    }
}

template <class T>
void run_dtype(const Options& o, const char* dtype, long N, long D, long K, const std::vector<double>& X64,
               const neon::PrototypeCore& core) {
    std::vector<T> X(X64.begin(), X64.end()), R(X.size()), logit(N);
    std::vector<std::int64_t> assigned(N);
    neon::RowsView<T> view{X.data(), N, D, D, 1};

    double beta = o.beta;
    if (!(beta > 0.0)) {  // the paper's heuristic on this data
        neon::ModelOutputs<T> lo;
        lo.logit = logit.data();
        core.evaluate(view, neon::TargetSpec{}, 1.0, lo, 0);
        double mean = 0.0;
        for (T f : logit) mean += static_cast<double>(f);
        beta = 1.0 / (mean / static_cast<double>(N));
    }

    // Streaming floor: read X, write R, with the same threads.
    for (long th : o.threads) {
        const Stats floor = time_it(
            [&] {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(th))
#endif
                for (long r = 0; r < N; ++r)
                    for (long i = 0; i < D; ++i) R[r * D + i] = X[r * D + i] * T(1);
            },
            o.reps);
        std::printf("%-8s %-8s %2ld %9ld %5ld %4ld  %9.4f %9.4f %9.4f %8.1f %7.2f\n", dtype, "floor", th, N, D, K,
                    floor.median, floor.min, floor.max, 1e9 * floor.median / N, 1.0);

        std::vector<T> reference;
        for (const auto& isa_name : o.isa) {
            const neon::Isa isa = neon::parse_isa(isa_name);
            if (!neon::isa_supported(isa == neon::Isa::automatic ? neon::best_isa() : isa)) continue;
            neon::ModelOutputs<T> out;
            out.assigned = assigned.data();
            out.logit = logit.data();
            out.relevance = neon::RowsOut<T>{R.data(), D};
            const Stats s = time_it(
                [&] { core.evaluate(view, neon::TargetSpec{}, beta, out, static_cast<int>(th), 0, nullptr, isa); },
                o.reps);
            // Conservation and agreement with the first instruction set run.
            double worst_gap = 0.0, worst_diff = 0.0, scale = 0.0;
            for (long r = 0; r < N; ++r) {
                double sum = 0.0, abs_sum = 0.0;
                for (long i = 0; i < D; ++i) {
                    sum += static_cast<double>(R[r * D + i]);
                    abs_sum += std::fabs(static_cast<double>(R[r * D + i]));
                }
                worst_gap =
                    std::max(worst_gap, std::fabs(sum - static_cast<double>(logit[r])) / std::max(abs_sum, 1e-300));
            }
            if (reference.empty()) {
                reference = R;
            } else {
                for (size_t j = 0; j < R.size(); ++j) {
                    worst_diff =
                        std::max(worst_diff, std::fabs(static_cast<double>(R[j]) - static_cast<double>(reference[j])));
                    scale = std::max(scale, std::fabs(static_cast<double>(reference[j])));
                }
                worst_diff /= std::max(scale, 1e-300);
            }
            const char* shown = isa == neon::Isa::automatic ? neon::isa_name(neon::best_isa()) : isa_name.c_str();
            std::printf(
                "%-8s %-8s %2ld %9ld %5ld %4ld  %9.4f %9.4f %9.4f %8.1f %7.2f  conservation %.1e  vs first isa %.1e\n",
                dtype, shown, th, N, D, K, s.median, s.min, s.max, 1e9 * s.median / N, s.median / floor.median,
                worst_gap, worst_diff);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const Options o = parse(argc, argv);
        g_cpu_clock = o.cpu_clock;
        std::printf(
            "# neon_bench: best isa %s, openmp %d (default threads %d), %d timed runs after a warm-up, %s time\n",
            neon::isa_name(neon::best_isa()), neon::built_with_openmp() ? 1 : 0, neon::default_thread_count(), o.reps,
            o.cpu_clock ? "process CPU" : "wall");
        std::printf("%-8s %-8s %2s %9s %5s %4s  %9s %9s %9s %8s %7s\n", "dtype", "kernel", "th", "N", "D", "K",
                    "median_s", "min_s", "max_s", "ns/row", "/floor");
        for (long N : o.n)
            for (long D : o.d)
                for (long K : o.k) {
                    std::vector<double> X, C;
                    blobs(N, D, K, X, C);
                    const neon::PrototypeCore core(C.data(), K, D, 1e-12);
                    for (const auto& dt : o.dtype) {
                        if (dt == "float32")
                            run_dtype<float>(o, "float32", N, D, K, X, core);
                        else if (dt == "float64")
                            run_dtype<double>(o, "float64", N, D, K, X, core);
                        else
                            throw std::invalid_argument("unknown dtype " + dt);
                    }
                }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "neon_bench: %s\n", e.what());
        return 2;
    }
    return 0;
}
