"""``python -m neon_ext``: the ``neon-ext`` command line; without arguments, the demo."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
