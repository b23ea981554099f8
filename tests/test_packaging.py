"""Release engineering: one version, the typed stub of _core, the sdist's file selection.

The wheel itself (contents, auditwheel, installing it and running the suite
from it) is checked by scripts/build_wheels.sh: building one takes minutes.
"""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import neon_ext as nx
from neon_ext import _core

PACKAGE_DIR = Path(nx.__file__).resolve().parent
# The checkout these tests belong to (CI installs the package from it and runs
# them there); absent when they run from a copy next to an installed wheel.
SOURCE_ROOT = Path(__file__).resolve().parent.parent
IS_CHECKOUT = all((SOURCE_ROOT / p).exists() for p in ("pyproject.toml", "CMakeLists.txt", "python/neon_ext"))
needs_source_tree = pytest.mark.skipif(not IS_CHECKOUT, reason="needs the source checkout (pyproject.toml, ...)")
# The package imported from that checkout's python/ (a build in the tree), or installed.
IN_TREE = IS_CHECKOUT and PACKAGE_DIR == SOURCE_ROOT / "python" / "neon_ext"

REGENERATE = "regenerate it with scripts/generate_stub.sh after building the changed bindings"


def _pyproject() -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml needs tomli before Python 3.11")
    return tomllib.loads((SOURCE_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


# --- One version -------------------------------------------------------------


def test_version_is_the_compiled_one():
    assert nx.__version__ == _core.__version__ == nx.build_info()["version"]


def test_version_matches_its_single_source():
    if IN_TREE:
        # The core compiled in this checkout must come from its pyproject.toml
        # (a stale _core*.so after a version bump fails here).
        assert nx.__version__ == _pyproject()["project"]["version"], (
            f"{_core.__file__} was built for version {nx.__version__}: rebuild it (docs/development.md)"
        )
    else:
        # Installed: the distribution that holds this very package.
        dist = importlib.metadata.distribution("neon-ext")
        assert Path(dist.locate_file("neon_ext/__init__.py")).resolve() == PACKAGE_DIR / "__init__.py"
        assert nx.__version__ == dist.version


# --- The _core.pyi stub ------------------------------------------------------


def _stub_names() -> dict[str, set[str] | None]:
    """Top-level names of _core.pyi; for a class, the set of its member names."""
    tree = ast.parse((PACKAGE_DIR / "_core.pyi").read_text(encoding="utf-8"))
    names: dict[str, set[str] | None] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names[node.name] = None
        elif isinstance(node, ast.ClassDef):
            members = set()
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    members.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members.add(item.target.id)
            names[node.name] = members
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = None
        elif isinstance(node, ast.Assign):
            names.update((t.id, None) for t in node.targets if isinstance(t, ast.Name))
    return names


def _public(names) -> set[str]:
    return {n for n in names if not n.startswith("_")}


def test_stub_is_shipped_beside_the_module():
    assert (PACKAGE_DIR / "_core.pyi").is_file(), f"python/neon_ext/_core.pyi is missing: {REGENERATE}"
    assert (PACKAGE_DIR / "py.typed").is_file()


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def test_stub_names_match_the_compiled_module():
    # Private functions too (the tests use some); of the dunders
    # only the version, which the stub types.
    stub = set(_stub_names()) - {"__all__"}
    module = {n for n in vars(_core) if not _is_dunder(n)} | {"__version__"}
    missing, extra = module - stub, stub - module
    assert not missing and not extra, (
        f"_core.pyi is out of date with {_core.__file__}: the module has {sorted(missing)} that the stub "
        f"lacks, the stub has {sorted(extra)} that the module lacks; {REGENERATE}"
    )


def test_stub_class_members_match_the_compiled_classes():
    for name, members in _stub_names().items():
        if members is None:
            continue
        cls = getattr(_core, name)
        actual = _public(vars(cls)) | ({"__init__"} if "__init__" in vars(cls) else set())
        stubbed = {m for m in members if not m.startswith("_")} | ({"__init__"} & members)
        assert stubbed == actual, (
            f"_core.{name}: the class has {sorted(actual - stubbed)} that the stub lacks, the stub has "
            f"{sorted(stubbed - actual)} that the class lacks; {REGENERATE}"
        )


# --- The sdist's file selection ----------------------------------------------

# A source tree after a local build, tests and a demo run: every artefact the
# sdist must leave out next to every kind of file it must carry. The sdist is
# made by scikit-build-core's own PEP 517 hook from the real pyproject.toml, so
# the test judges the real patterns under the real matcher, in about a second
# (no compiler: the sdist does not run CMake).
SDIST_KEEPS = [
    "pyproject.toml",
    "CMakeLists.txt",
    "README.md",
    "LICENSE",
    "cpp/neon/kmeans.hpp",
    "cpp/neon/isa/kmeans_avx2.cpp",
    "cpp/tests/main.cpp",
    "python/neon_ext/__init__.py",
    "python/neon_ext/_core.pyi",
    "python/neon_ext/py.typed",
    "python/neon_ext/bindings/module.cpp",
    "python/neon_ext/data/wine.csv",
    "python/neon_ext/data/WINE_ATTRIBUTION.txt",
    "tests/conftest.py",
    "bench/CMakeLists.txt",
    "docs/NEON_SPEC.md",
    "docs/figures/digits.png",
    "examples/digits_showcase.py",
    "scripts/build_wheels.sh",
]
SDIST_DROPS = [
    "build/cp311-cp311-linux_x86_64/CMakeFiles/_core.dir/python/neon_ext/bindings/bind_kmeans_fit.cpp.o",
    "build/cp311-cp311-linux_x86_64/_core.cpython-311-x86_64-linux-gnu.so",
    "build/dev/CMakeCache.txt",
    "cpp/build/a.o",
    "python/neon_ext/_core.cpython-311-x86_64-linux-gnu.so",
    "python/neon_ext/_core.cp311-win_amd64.pyd",
    "python/neon_ext/__pycache__/kmeans.cpython-311.pyc",
    "tests/__pycache__/conftest.cpython-311-pytest-8.0.0.pyc",
    ".pytest_cache/README.md",
    "tests/.pytest_cache/v/cache/nodeids",
    ".hypothesis/examples/0a/1b",
    ".mypy_cache/3.11/neon_ext/__init__.data.json",
    ".ruff_cache/CACHEDIR.TAG",
    "wheelhouse/neon_ext-0.1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
    "dist/neon_ext-0.1.0.tar.gz",
    "neon_ext.egg-info/PKG-INFO",
    "neon-ext-demo.png",
    ".venv/bin/python",
    ".git/HEAD",
]


def _sdist_members(root: Path, out: Path) -> tuple[list[str], str]:
    """Member paths (without the top folder) and PKG-INFO of the sdist of `root`."""
    pytest.importorskip("scikit_build_core", reason="the sdist check needs the build backend, scikit-build-core")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, scikit_build_core.build as b; print(b.build_sdist(sys.argv[1]))", str(out)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(out / proc.stdout.strip().splitlines()[-1]) as tar:
        names = [m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()]
        top = tar.getmembers()[0].name.split("/", 1)[0]
        pkg_info = tar.extractfile(f"{top}/PKG-INFO").read().decode()
    return names, pkg_info


@needs_source_tree
def test_sdist_patterns_keep_sources_and_drop_build_artefacts(tmp_path):
    root = tmp_path / "tree"
    for rel in SDIST_KEEPS + SDIST_DROPS:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x\n")
    (root / "pyproject.toml").write_bytes((SOURCE_ROOT / "pyproject.toml").read_bytes())
    (root / "README.md").write_text("# neon_ext\n", encoding="utf-8")
    (tmp_path / "out").mkdir()

    names, pkg_info = _sdist_members(root, tmp_path / "out")

    assert sorted(set(names) - {"PKG-INFO"}) == sorted(SDIST_KEEPS)
    assert "License-Expression: BSD-3-Clause AND CC-BY-4.0" in pkg_info
    assert "License-File: LICENSE" in pkg_info


@needs_source_tree
def test_sdist_of_this_checkout_holds_no_build_artefacts(tmp_path):
    # Whatever this checkout holds now (build/, _core*.so, caches, ...).
    names, _ = _sdist_members(SOURCE_ROOT, tmp_path)
    bad = [
        n
        for n in names
        if n.startswith(("build/", "wheelhouse/", "dist/"))
        or n.endswith((".o", ".so", ".pyd", ".pyc", ".whl"))
        or any(
            part in {".pytest_cache", ".hypothesis", "__pycache__", ".mypy_cache", ".ruff_cache"}
            for part in n.split("/")
        )
    ]
    assert not bad, bad
    assert {"LICENSE", "pyproject.toml", "python/neon_ext/_core.pyi", "python/neon_ext/__init__.py"} <= set(names)


# --- Tool versions -----------------------------------------------------------


@needs_source_tree
def test_pre_commit_runs_the_tool_versions_of_the_dependency_groups():
    # ruff's rules and format change between releases: the CI lint step (the
    # "lint" group) and pre-commit must judge alike. Likewise clang-format.
    proc = subprocess.run(
        [sys.executable, str(SOURCE_ROOT / "scripts" / "dependency_group.py"), "dev"],
        capture_output=True,
        text=True,
        check=True,
    )
    pins = dict(line.split("==") for line in proc.stdout.split() if "==" in line)
    config = (SOURCE_ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    for tool, repo in (("ruff", "astral-sh/ruff-pre-commit"), ("clang-format", "pre-commit/mirrors-clang-format")):
        rev = config.split(repo, 1)[1].split("rev:", 1)[1].split()[0]
        assert rev == f"v{pins[tool]}", f".pre-commit-config.yaml runs {tool} {rev}, the dev group pins {pins[tool]}"
