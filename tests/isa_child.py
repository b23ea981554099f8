"""Test code run in a child process under a given NEON_EXT_ISA.

The core reads NEON_EXT_ISA once per process (isa.hpp), so every setting a
test compares needs a process of its own. The child finds this checkout's
package first and prints one JSON value as its last line of output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import neon_ext as nx


def run_with_isa_setting(value, code, *args, timeout=120):
    """Runs `code` (python -c) with NEON_EXT_ISA=value and the string `args`;
    returns the JSON value the child printed last."""
    env = dict(os.environ, NEON_EXT_ISA=value)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(nx.__file__).parents[1]), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])
