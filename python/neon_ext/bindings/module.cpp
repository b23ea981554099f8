// The private compiled module neon_ext._core: gathers the bindings of each
// area and reports how the core was built.
#include "binding.hpp"

#include <Eigen/Core>

#include "neon/cauchy_sums.hpp"
#include "neon/fit_dispatch.hpp"
#include "neon/isa.hpp"
#include "neon/kernel_rows.hpp"
#include "neon/parallel.hpp"

namespace neon_bind {
// The package version from pyproject.toml (version.cpp).
const char* package_version();
}  // namespace neon_bind

PYBIND11_MODULE(_core, m) {
    m.doc() = "Compiled NEON kernels (private; use the neon_ext package).";
    m.attr("__version__") = neon_bind::package_version();

    m.def(
        "build_info",
        [] {
            py::dict info;
            info["version"] = std::string(neon_bind::package_version());
            info["openmp"] = neon::built_with_openmp();
            info["openmp_default_threads"] = neon::default_thread_count();
            info["eigen_version"] = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) +
                                    "." + std::to_string(EIGEN_MINOR_VERSION);
            info["eigen_simd"] = std::string(Eigen::SimdInstructionSetsInUse());
#if defined(__clang__)
            info["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
            info["compiler"] = std::string("gcc ") + __VERSION__;
#else
            info["compiler"] = std::string("unknown");
#endif
            py::list kernel_isas;
            for (neon::Isa isa : {neon::Isa::portable, neon::Isa::avx2, neon::Isa::avx512})
                if (neon::isa_supported(isa)) kernel_isas.append(neon::isa_name(isa));
            info["kernel_isas"] = kernel_isas;
            info["kernel_isa"] = std::string(neon::isa_name(neon::best_isa()));
            // What each kernel family runs with, as its own table reports it.
            py::dict families;
            families["kmeans_explain"] = std::string(neon::isa_name(neon::best_isa()));
            families["kmeans_fit"] = std::string(neon::fit_kernels_for(neon::Isa::automatic).isa);
            families["kernel_kmeans_pair_sums"] = std::string(neon::pair_sums_kernels_for(neon::Isa::automatic).isa);
            families["kernel_kmeans_rows"] = std::string(neon::kernel_rows_kernels_for(neon::Isa::automatic).isa);
            info["kernel_families"] = families;
            return info;
        },
        "How the compiled core was built: package version, OpenMP, Eigen version and SIMD set, compiler, and the "
        "instruction sets of the kernels usable on this CPU (kernel_isas), chosen once for every kernel "
        "(kernel_isa; NEON_EXT_ISA forces one, and a bad value is a ValueError), and per kernel family "
        "(kernel_families).");

    m.def("default_thread_count", &neon::default_thread_count,
          "Threads an OpenMP region would use now (OMP_NUM_THREADS, threadpoolctl limits).");

    neon_bind::register_prototype_core(m);
    neon_bind::register_kernel_kmeans(m);
    neon_bind::register_kmeans_fit(m);
    neon_bind::register_affine(m);
}
