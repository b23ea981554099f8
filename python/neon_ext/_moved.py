"""The module paths from before the package was split into subpackages.

``import neon_ext.kmeans`` or ``from neon_ext.evaluate import compare`` (and
pickles that name a class by its old module) keep working: a meta-path finder
answers each old name with the module now holding its code, the same module
object, so monkeypatching through either name patches both. Nothing is
imported until an old name is asked for. docs/architecture.md has the map.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# Old module path (relative to neon_ext) -> where it lives now.
MOVED = {
    "kmeans": "models.kmeans",
    "kernel_kmeans": "models.kernel_kmeans",
    "competitors": "models.competitors",
    "kmeans_estimator": "cluster.kmeans",
    "kernel_kmeans_estimator": "cluster.kernel_kmeans",
    "evaluate": "evaluation.removal",
    "baselines": "evaluation.baselines",
    "persistence": "io.persistence",
    "demo": "cli.demo",
}
# Not listed: ``neon_ext.neuralize`` is the function (the attribute would be
# replaced by a module on import), and the private modules (_neuralized,
# _estimator, _model_ops, _fitting, _datafiles, _atomic) have no old path to keep.


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        # The existing module itself: importlib keeps its __name__, __file__
        # and __loader__ (it fills only missing ones) but replaces __spec__,
        # which exec_module puts back.
        module = importlib.import_module(self.target)
        self.spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self.spec


class _MovedFinder(importlib.abc.MetaPathFinder):
    def __init__(self, package: str):
        self.names = {f"{package}.{old}": f"{package}.{new}" for old, new in MOVED.items()}

    def find_spec(self, fullname, path=None, target=None):
        new = self.names.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install(package: str) -> None:
    """Answer the old module paths under ``package`` (idempotent)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder(package))


def attribute(package: str, name: str):
    """``neon_ext.<old name>`` as an attribute (module ``__getattr__``)."""
    new = MOVED.get(name)
    if new is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return importlib.import_module(f"{package}.{new}")
