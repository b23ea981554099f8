// The package version from pyproject.toml, passed in by CMake
// (CMakeLists.txt) to this file alone: a version bump recompiles these few
// lines, and module.cpp, having no definition of its own, is compiled
// together with the other binding files (CMakeLists.txt, unity groups).
#ifndef NEON_EXT_VERSION
#error "NEON_EXT_VERSION must be defined by the build (CMakeLists.txt reads pyproject.toml)"
#endif

namespace neon_bind {

const char* package_version() {
    return NEON_EXT_VERSION;
}

}  // namespace neon_bind
