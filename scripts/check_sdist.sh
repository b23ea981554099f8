#!/usr/bin/env bash
# Builds the sdist of this checkout (python -m build --sdist), checks that it
# holds no build outputs or caches, then installs it from source into a fresh
# virtual environment (an isolated build, as a user's `pip install neon-ext`
# without a matching wheel would) and runs `neon-ext demo` there, outside the
# source tree. The sdist is left in dist/. A few minutes: it compiles the core.
#
#   scripts/check_sdist.sh               # build, check, install, demo
#   scripts/check_sdist.sh --no-install  # build and check only (seconds)
#
# tests/test_packaging.py checks the same file selection in a second, on a
# fake tree and on the checkout, without installing.
set -euo pipefail
install=1
if [[ "${1:-}" == "--no-install" ]]; then install=0; fi
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/neon_ext_sdist.XXXXXX")"
trap 'rm -rf "$work"' EXIT

"$python" -m build --sdist --outdir "$root/dist" "$root"
version="$("$python" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$root/pyproject.toml")"
sdist="$root/dist/neon_ext-$version.tar.gz"
"$python" - "$sdist" <<'PY'
import sys
import tarfile

with tarfile.open(sys.argv[1]) as tar:
    names = [m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()]
bad = [n for n in names
       if n.startswith(("build/", "dist/", "wheelhouse/")) or n.endswith((".o", ".so", ".pyd", ".pyc", ".whl"))
       or {".pytest_cache", ".hypothesis", "__pycache__", ".mypy_cache", ".ruff_cache"} & set(n.split("/"))]
missing = {"LICENSE", "pyproject.toml", "CMakeLists.txt", "python/neon_ext/_core.pyi"} - set(names)
if bad or missing:
    sys.exit(f"sdist check failed: build outputs or caches {bad}, missing {sorted(missing)}")
print(f"{sys.argv[1]}: {len(names)} files, no build outputs or caches")
PY

if [[ "$install" == 1 ]]; then
    "$python" -m venv "$work/venv"
    start=$SECONDS
    "$work/venv/bin/python" -m pip install -q "$sdist"
    echo "pip install of the sdist (compiles the core): $((SECONDS - start)) s"
    cd "$work"
    "$work/venv/bin/neon-ext" demo | head -n 3
    "$work/venv/bin/python" -c 'import neon_ext as nx; print(nx.__file__, nx.__version__, nx.build_info()["kernel_isa"])'
fi
