#!/usr/bin/env bash
# Apply the code format: ruff format (Python, [tool.ruff] in pyproject.toml)
# and clang-format (C++, .clang-format) when it is installed
# (pip install clang-format). Run from any directory; rewrites files in place.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
"$python" -m ruff format python tests bench examples scripts
if command -v clang-format > /dev/null; then
    git ls-files -z '*.cpp' '*.hpp' | xargs -0 clang-format -i
else
    echo "clang-format not found: C++ left as is (pip install clang-format)" >&2
fi
