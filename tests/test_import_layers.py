"""Imports inside ``fadtq/`` point downwards and form no cycle (docs/design.md, Layers).

The source is read with ``ast``, not imported, so the check needs no verl or GPU and sees imports inside
functions too.

- Layers are defined by module-name prefix (``fadtq.data`` covers everything under ``fadtq/data/``), so
  they survive merging or splitting modules; a module that matches no prefix fails the test until it is
  given a layer.
- Downwards: every import, at module level or inside a function, goes to the importer's layer or a lower
  one. A lazy import is still a dependency: it only defers it.
- Cycles: only among imports that run when a module is loaded (module level, class bodies included; not
  inside a function, not under ``if TYPE_CHECKING:``). Such a cycle breaks or half-initialises a module
  depending on which one is imported first. An import inside a function runs after both modules have
  loaded, which is the standard way to break such a cycle, so it may close a loop (e.g. a package's
  ``__init__`` importing a submodule that calls back into the package lazily).
"""

from __future__ import annotations

import ast
import graphlib
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "fadtq"

CORE, ADAPTER, ENTRY = "pure core", "adapter", "entry point"
RANK = {CORE: 0, ADAPTER: 1, ENTRY: 2}

#: A module belongs to the layer of the prefix it equals or lies under.
LAYER_PREFIXES: dict[str, tuple[str, ...]] = {
    CORE: ("fadtq.labels", "fadtq.rewards", "fadtq.advantage", "fadtq.data", "fadtq.eval.metrics"),
    ADAPTER: ("fadtq.judge", "fadtq.verl_ext", "fadtq.verl_plugin", "fadtq.backends", "fadtq.config_checks",
              "fadtq.eval.predictions", "fadtq.eval.runner", "fadtq.eval.report", "fadtq.offline", "fadtq.process_session"),
    ENTRY: ("fadtq.cli", "fadtq.__main__", "fadtq.commands", "fadtq.train", "fadtq.demo", "fadtq.demo_learn"),
}
#: Package ``__init__``s that run before a core module under them loads, so they must be core themselves.
CORE_PACKAGES = ("fadtq", "fadtq.eval")


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the most specific fadtq module the statement names
    line: int
    at_load: bool  # runs when the importer is loaded (module level, outside TYPE_CHECKING)


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``package_dir`` (a package is its ``__init__``)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(module: str, path: Path, known: set[str]) -> list[Import]:
    """The fadtq imports of one module, each resolved to a known module (relative imports included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def add(names: list[str], node: ast.stmt, at_load: bool) -> None:
        for name in names:
            while name and name not in known:  # ``from fadtq.x import CONSTANT`` names fadtq.x
                name = name.rpartition(".")[0]
            if name.startswith("fadtq"):
                found.append(Import(module, name, node.lineno, at_load))

    def visit(node: ast.AST, at_load: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                add([alias.name for alias in child.names], child, at_load)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                add([f"{base}.{alias.name}" for alias in child.names], child, at_load)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    visit(ast.Module(body=[statement], type_ignores=[]), False)
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]), at_load)
            else:
                visit(child, at_load)

    visit(ast.parse(path.read_text(), filename=str(path)), True)
    return found


def all_imports(package_dir: Path = PACKAGE_DIR) -> tuple[dict[str, Path], list[Import]]:
    modules = module_files(package_dir)
    return modules, [imp for name, path in modules.items() for imp in imports_of(name, path, set(modules))]


def layer_of(module: str) -> str | None:
    if module in CORE_PACKAGES:
        return CORE
    layers = [layer for layer, prefixes in LAYER_PREFIXES.items()
              if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)]
    return layers[0] if len(layers) == 1 else None


def unlayered(modules) -> list[str]:
    return sorted(module for module in modules if layer_of(module) is None)


def upward_imports(imports: list[Import], modules: dict[str, Path]) -> list[str]:
    """``file:line importer -> target (layer -> layer)`` for each import into a higher layer."""
    found = []
    for imp in imports:
        source, target = layer_of(imp.importer), layer_of(imp.target)
        if source and target and RANK[target] > RANK[source]:
            where = modules[imp.importer].relative_to(modules["fadtq"].parents[1])
            kind = "" if imp.at_load else " (inside a function)"
            found.append(f"{where}:{imp.line} {imp.importer} -> {imp.target}{kind} ({source} -> {target})")
    return found


def load_time_cycle(imports: list[Import]) -> list[str] | None:
    """One cycle among the imports that run at load time, or None. Importing ``fadtq.a.b`` also runs
    ``fadtq.a``'s ``__init__``, so each import also points at the target's packages (except the
    importer's own, which are already loading)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.at_load:
            continue
        own = {imp.importer.rsplit(".", n)[0] for n in range(imp.importer.count(".") + 1)}
        parts = imp.target.split(".")
        for end in range(1, len(parts) + 1):
            node = ".".join(parts[:end])
            if node not in own:
                graph.setdefault(imp.importer, set()).add(node)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


# --- the checks on fadtq/ ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fadtq_imports():
    return all_imports()


def test_the_walker_sees_fadtq_imports(fadtq_imports):
    modules, imports = fadtq_imports
    assert "fadtq.verl_plugin" in modules and "fadtq.advantage" in modules
    assert any(imp.at_load for imp in imports) and any(not imp.at_load for imp in imports)


def test_every_module_has_one_layer(fadtq_imports):
    modules, _ = fadtq_imports
    assert unlayered(modules) == [], "give each module a layer in LAYER_PREFIXES (docs/design.md, Layers)"


def test_imports_point_downwards(fadtq_imports):
    modules, imports = fadtq_imports
    upward = upward_imports(imports, modules)
    assert upward == [], "imports into a higher layer (docs/design.md, Layers):\n" + "\n".join(upward)


def test_no_import_cycle_at_load_time(fadtq_imports):
    _, imports = fadtq_imports
    cycle = load_time_cycle(imports)
    assert cycle is None, "module-level import cycle: " + " -> ".join(cycle or [])


# --- the checker itself finds what it should -----------------------------------------------------------
def _tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / "fadtq" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "fadtq"


def test_checker_reports_upward_imports_lazy_ones_included(tmp_path):
    package = _tree(tmp_path, {
        "__init__.py": "",
        "labels.py": "def f():\n    from fadtq.judge import client\n",  # core -> adapter, lazily
        "judge/__init__.py": "",
        "judge/client.py": "from fadtq.train import main\n",  # adapter -> entry point
        "train.py": "import fadtq.labels\nfrom . import judge\n\ndef main():\n    pass\n",  # downwards: fine
    })
    modules, imports = all_imports(package)
    upward = upward_imports(imports, modules)
    assert len(upward) == 2
    assert "fadtq/labels.py:2 fadtq.labels -> fadtq.judge.client (inside a function) (pure core -> adapter)" in upward
    assert "fadtq/judge/client.py:1 fadtq.judge.client -> fadtq.train (adapter -> entry point)" in upward


def test_checker_finds_load_time_cycles_but_not_lazy_ones(tmp_path):
    package = _tree(tmp_path, {
        "__init__.py": "",
        "data/__init__.py": "from fadtq.data.build import write\n",
        "data/build.py": "def write():\n    from fadtq.data import write\n",  # lazy: breaks the loop
        "data/rows.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fadtq.data.build import write\n",
    })
    assert load_time_cycle(all_imports(package)[1]) is None
    (package / "data" / "rows.py").write_text("from fadtq.labels import X\n")
    (package / "labels.py").write_text("from fadtq.data.rows import Y\n")  # rows -> labels -> rows
    cycle = load_time_cycle(all_imports(package)[1])
    assert cycle is not None and set(cycle) == {"fadtq.labels", "fadtq.data.rows"}
    (package / "labels.py").write_text("from fadtq.data.build import write\n")  # labels -> data/__init__ -> …
    (package / "data" / "build.py").write_text("import fadtq.labels\n")
    cycle = load_time_cycle(all_imports(package)[1])
    assert cycle is not None and "fadtq.labels" in cycle and "fadtq.data.build" in cycle


def test_a_module_without_a_layer_is_reported():
    assert unlayered(["fadtq.labels", "fadtq.process", "fadtq.data.split"]) == ["fadtq.process"]
