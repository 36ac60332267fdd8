"""Run a function right after a module has finished importing, in whichever process imports it.

verl loads its plugins while ``verl/__init__`` is still executing, before the modules that our
extensions register into (the V1 trainer registry) or guard (two multimodal functions) exist. A
``sys.meta_path`` finder (PEP 451) lets the normal finders locate such a module and wraps its
loader, so that once the module's code has run, the callbacks waiting for it run on it. The finder
steps aside for every other module; a callback's failure is logged, never raised into the import.
"""

from __future__ import annotations

import importlib.abc
import logging
import sys
from collections.abc import Callable
from types import ModuleType

logger = logging.getLogger(__name__)

Callback = Callable[[ModuleType], None]

#: Module name → callbacks waiting for that module to finish importing.
_WAITING: dict[str, list[Callback]] = {}


def _run(callbacks: list[Callback], module: ModuleType) -> None:
    for callback in callbacks:
        try:
            callback(module)
        except Exception as exc:  # an extension must never break verl's own imports
            logger.warning("fadtq: %s after importing %s failed: %r",
                           getattr(callback, "__qualname__", callback), module.__name__, exc)


class _LoaderThenCallbacks(importlib.abc.Loader):
    """Delegates to the real loader; runs the waiting callbacks once the module's code has run."""

    def __init__(self, loader, name: str):
        self._loader = loader
        self._name = name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _run(_WAITING.pop(self._name, []), module)

    def __getattr__(self, name):  # get_code, get_source, get_resource_reader, is_package, …
        return getattr(self._loader, name)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in _WAITING:
            return None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _LoaderThenCallbacks(spec.loader, fullname)
                return spec
        return None


_FINDER = _PostImportFinder()


def is_initialising(module: ModuleType) -> bool:
    """True while the module's own code is still executing (importlib marks its spec)."""
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def call_after_import(module_name: str, callback: Callback) -> None:
    """``callback(module)`` once ``module_name`` is fully imported: now if it is, else right after its import.

    A module caught half-way through its own import (a callback registered from code it imports) cannot
    be hooked any more; that is logged and the callback is dropped.
    """
    module = sys.modules.get(module_name)
    if module is not None:
        if is_initialising(module):
            logger.warning("fadtq: %s is still importing; %s not run", module_name,
                           getattr(callback, "__qualname__", callback))
        else:
            _run([callback], module)
        return
    _WAITING.setdefault(module_name, []).append(callback)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
