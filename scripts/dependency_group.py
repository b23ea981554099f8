"""Print the requirements of a PEP 735 dependency group of pyproject.toml, one per line.

    python3 scripts/dependency_group.py lint | python3 -m pip install -r /dev/stdin

pip >= 25.1 does the same with ``pip install --group lint``; this script serves
older pips (CI images, this project's machines), without building the package
the way installing an extra (``pip install ".[lint]"``) would.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9/3.10
    try:
        import tomli as tomllib
    except ImportError:
        raise SystemExit("scripts/dependency_group.py needs Python >= 3.11 or the tomli package") from None


def requirements(groups: dict, name: str, seen: tuple[str, ...] = ()) -> list[str]:
    """The group's requirements, with ``{include-group = ...}`` entries expanded."""
    if name in seen:
        raise SystemExit(f"dependency group {name!r} includes itself: {' -> '.join((*seen, name))}")
    if name not in groups:
        raise SystemExit(f"no dependency group {name!r} in pyproject.toml (have: {', '.join(groups)})")
    out: list[str] = []
    for item in groups[name]:
        if isinstance(item, dict):
            out += requirements(groups, item["include-group"], (*seen, name))
        else:
            out.append(item)
    return out


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit(__doc__)
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    groups = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("dependency-groups", {})
    print("\n".join(dict.fromkeys(requirements(groups, argv[0]))))


if __name__ == "__main__":
    main(sys.argv[1:])
