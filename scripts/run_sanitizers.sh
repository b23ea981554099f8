#!/usr/bin/env bash
# Builds the C++ core tests with AddressSanitizer + UndefinedBehaviorSanitizer
# and runs them through ctest; with --python, also builds the extension module
# (core, ISA kernels, bindings) with the sanitizers and runs the Python tests
# on it in this interpreter (libasan preloaded).  Any ASan/UBSan report fails
# the run; of the leaks LeakSanitizer lists at exit, those allocated from
# neon_ext._core fail it (the interpreter's own never-freed objects do not).
#
#   scripts/run_sanitizers.sh [--python] [build-dir]     (default build/sanitize)
#   PYTEST_ARGS="tests/test_fuzz.py -x" scripts/run_sanitizers.sh --python
#
# The default Python selection is the whole suite except the peak-RSS test
# (ASan's allocator quarantine inflates resident memory by design); tests
# that start child processes run them with the preloaded runtime but the
# uninstrumented installed module.  About 4 minutes on 2 cores.
#
# Needs: a C++17 compiler with libasan/libubsan (gcc or clang), cmake, and a
# Python with numpy, pybind11 and cmeel-eigen (for Eigen's headers).
set -euo pipefail

with_python=0
if [[ "${1:-}" == "--python" ]]; then with_python=1; shift; fi
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/sanitize}"
python="${PYTHON:-python}"
jobs="${JOBS:-2}"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

echo "== C++ core tests, -fsanitize=address,undefined ($build)"
cmake -S "$root" -B "$build" -DNEON_PYTHON=OFF -DNEON_TESTS=ON -DNEON_SANITIZE=ON -DNEON_WERROR=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPython_EXECUTABLE="$(command -v "$python")" >/dev/null
cmake --build "$build" -j "$jobs"
(cd "$build" && ctest --output-on-failure)

if [[ $with_python == 1 ]]; then
  echo "== Python tests on a sanitized extension module"
  pybuild="$build-python"
  cmake -S "$root" -B "$pybuild" -DNEON_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -Dpybind11_DIR="$("$python" -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v "$python")" >/dev/null
  cmake --build "$pybuild" -j "$jobs" --target _core
  # A copy of the package with the sanitized module in place of the installed one.
  pkg="$pybuild/pkg"
  rm -rf "$pkg" && mkdir -p "$pkg"
  cp -r "$root/python/neon_ext" "$pkg/"
  rm -f "$pkg"/neon_ext/_core*.so
  cp "$pybuild"/_core*.so "$pkg/neon_ext/"
  # The interpreter is not sanitized: preload the ASan runtime, and libstdc++
  # with it so that ASan's __cxa_throw interceptor finds the real one.
  preload="$("${CXX:-c++}" -print-file-name=libasan.so) $("${CXX:-c++}" -print-file-name=libstdc++.so)"
  # Leaks are reported to a log at exit; the interpreter never frees some of
  # its own objects, so only leaks allocated from our module count.
  log="$pybuild/asan.log"
  rm -f "$log".*
  # An editable install of neon_ext would shadow the copy: drop its finder.
  (cd "$root" && LD_PRELOAD="$preload" PYTHONMALLOC=malloc ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$log" \
     LSAN_OPTIONS="exitcode=0" "$python" - "$pkg" \
     ${PYTEST_ARGS:-tests --deselect tests/test_resources.py::test_memory_mapped_explain_keeps_peak_memory_bounded} <<'PY'
import sys
pkg, args = sys.argv[1], sys.argv[2:]
sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__name__.startswith("ScikitBuild")]
sys.path.insert(0, pkg)
import neon_ext, pytest
assert neon_ext.__file__.startswith(pkg), neon_ext.__file__
print("sanitized module:", neon_ext._core.__file__)
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-x", "-W", "ignore::DeprecationWarning", *args]))
PY
  ) || { cat "$log".* 2>/dev/null; exit 1; }
  "$python" - "$log" <<'PY'
import glob, re, sys
text = "".join(open(f).read() for f in glob.glob(sys.argv[1] + ".*"))
if re.search(r"ERROR: AddressSanitizer|runtime error", text):
    sys.exit(text)
leaks = [b for b in text.split("\n\n") if re.match(r"(Direct|Indirect) leak", b.strip())]
ours = [b for b in leaks if re.search(r"_core\.|neon::|neon_bind::", b)]
print(f"LeakSanitizer: {len(leaks)} leak reports at exit, {len(ours)} from neon_ext._core")
if ours:
    sys.exit("\n\n".join(ours))
PY
fi
echo "== sanitizers: clean"
