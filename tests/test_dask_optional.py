"""dask stays optional: ``import neon_ext`` loads none of it, and without it
``import neon_ext.dask`` says what to install."""

from __future__ import annotations

import os
import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def test_import_neon_ext_imports_no_dask():
    out = _run(
        "import sys, neon_ext\nprint(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_neon_ext_dask_without_dask_says_what_to_install():
    out = _run(
        "import sys\nsys.modules['dask'] = None\n"
        "try:\n    import neon_ext.dask\nexcept ImportError as e:\n    print(e)\n"
    )
    assert out.returncode == 0, out.stderr
    assert "pip install 'neon-ext[dask]'" in out.stdout
