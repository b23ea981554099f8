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
# Every check runs, so one report lists all that is wrong; the exit status says if any failed.
failed=()
"$python" -m ruff check "${paths[@]}" || failed+=("ruff check")
"$python" -m ruff format --check "${paths[@]}" || failed+=("ruff format --check (fix: scripts/format.sh)")
"$python" -m mypy || failed+=("mypy")
if (( ${#failed[@]} )); then
    printf 'lint failed: %s\n' "${failed[@]}" >&2
    exit 1
fi
