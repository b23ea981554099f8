#!/usr/bin/env bash
# The fast static checks (seconds): ruff lint, ruff format check, mypy on the
# package (through python/neon_ext/_core.pyi, so no build is needed).
#
#   scripts/lint.sh            # with the tools already installed
#   scripts/lint.sh --install  # first install the "lint" dependency group (CI)
#
# Fix what `ruff format --check` reports with scripts/format.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
if [[ "${1:-}" == "--install" ]]; then
    "$python" scripts/dependency_group.py lint | "$python" -m pip install -q -r /dev/stdin
fi
paths=(python tests bench examples scripts)
"$python" -m ruff check "${paths[@]}"
"$python" -m ruff format --check "${paths[@]}"
"$python" -m mypy
