"""The torch extra stays optional: importing neon_ext never imports PyTorch or
zennit, and neon_ext.torch without them says what to install. Runs with or
without torch installed (each check in a fresh interpreter)."""

import subprocess
import sys

import pytest


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)


def test_import_neon_ext_does_not_import_torch():
    done = run_python(
        "import sys, neon_ext\n"
        "heavy = sorted(m for m in ('torch', 'zennit', 'torchvision') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("missing", ["torch", "zennit"])
def test_neon_ext_torch_without_the_extra_says_what_to_install(missing):
    # sys.modules[name] = None makes `import name` raise ImportError, as if absent.
    done = run_python(
        f"import sys\nsys.modules[{missing!r}] = None\n"
        "try:\n    import neon_ext.torch\nexcept ImportError as exc:\n    print('ImportError:', exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "ImportError: neon_ext.torch needs PyTorch and zennit" in done.stdout
    assert "pip install 'neon-ext[torch]'" in done.stdout
