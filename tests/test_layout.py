"""The package map a newcomer reads (docs/architecture.md), checked: no import cycle, no package importing up the
data flow (raw -> canonical -> features -> models -> bundle -> service/report), run-directory file names and mode
names written once.

The import graph is read from the source (AST). Imports under ``if TYPE_CHECKING:`` never run and are left out.
The package map counts late imports (inside a function) too: a late import is still a dependency. The module
cycle check counts import-time ones: a late import back into its own package is how a factory picks a backend
(``events.store`` opening ``events._duckdb``, whose classes derive from the store's).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path
from typing import get_args

import segrec
from segrec.modes import MODES
from segrec.run_dir import SEGMENTATION_FIGURES, RunFiles

SRC = Path(segrec.__file__).parent
#: Top-level modules every package may use: names (columns, run_dir, modes), errors, atomic writes, JSON.
FOUNDATION = {"columns", "exceptions", "run_dir", "modes", "_atomic", "_json", "_params"}
_DOWN = {
    "foundation": set(),
    "data": {"foundation"},
    "events": {"data"},
    "features": {"foundation"},
    "segment": {"features"},
    "recommend": {"features"},
    "evaluation": {"segment", "recommend"},
    "bundle": {"segment", "recommend"},
    "report": {"data", "evaluation"},
    "service": {"bundle", "events"},
    "engines": {"bundle", "report"},
    "pipeline": {"engines", "events"},
    "cli": {"pipeline", "service"},
}


def _below(package: str) -> set[str]:
    """Every package ``package`` may import: those it names in ``_DOWN`` and, transitively, theirs."""
    seen, todo = set(), list(_DOWN[package])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_DOWN[name])
    return seen | {"foundation"}


#: package -> the packages it may import (the newcomer's map; docs/architecture.md draws it).
ALLOWED = {package: _below(package) for package in _DOWN}


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()


def _imports(name: str, path: Path, is_package: bool) -> set[tuple[str, tuple[str, ...], bool]]:
    """(module, names, late) of every segrec import that runs: at import time, or late (inside a function)."""
    found: set[tuple[str, tuple[str, ...], bool]] = set()
    base = name.split(".") if is_package else name.split(".")[:-1]

    def visit(node: ast.AST, late: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom):
                module = (".".join(base[:len(base) - child.level + 1] + ([child.module] if child.module else []))
                          if child.level else child.module or "")
                if module.split(".")[0] == "segrec":
                    for alias in child.names:  # `from . import plots` imports a module
                        sub = f"{module}.{alias.name}"
                        found.add((sub, (), late) if sub in MODULES else (module, (alias.name,), late))
            elif isinstance(child, ast.Import):
                found.update((alias.name, (), late) for alias in child.names if alias.name.split(".")[0] == "segrec")
            visit(child, late or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


IMPORTS = {name: _imports(name, *where) for name, where in MODULES.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return "foundation" if len(parts) == 2 and parts[1] in FOUNDATION else parts[1]


def test_every_module_is_on_the_map() -> None:
    packages = {_package(m) for m in MODULES if m != "segrec"}
    assert packages <= set(ALLOWED), f"packages missing from the map: {packages - set(ALLOWED)}"


def test_no_import_cycle() -> None:
    """Tarjan's strongly connected components over the module graph; the root package is left out because it is
    always initialised first (submodules import only ``__version__`` from it: see the next test)."""
    graph = {m: sorted({target for target, _, late in IMPORTS[m]
                        if not late and target in MODULES and target not in (m, "segrec")})
             for m in MODULES if m != "segrec"}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:  # recursion depth is bounded by the number of modules (~150)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            connect(module)
    assert cycles == []


def test_modules_take_only_the_version_from_the_root_package() -> None:
    takes = {(m, names) for m, found in IMPORTS.items() for target, names, _ in found if target == "segrec"}
    assert {names for _, names in takes} <= {("__version__",)}, takes


def test_packages_import_only_down_the_flow() -> None:
    upward = sorted(f"{m} imports {target} ({_package(m)} -> {_package(target)})"
                    for m, found in IMPORTS.items() if m != "segrec"
                    for target, _, _ in found
                    if target in MODULES and target != "segrec" and _package(target) != _package(m)
                    and _package(target) not in ALLOWED[_package(m)])
    assert upward == []


def test_the_map_has_no_loop() -> None:
    for package in ALLOWED:
        assert package not in ALLOWED[package] or package == "foundation"


def test_every_module_imports() -> None:
    """Every module imports (the Spark engine's modules need pyspark: they are imported when it is installed)."""
    has_spark = importlib.util.find_spec("pyspark") is not None
    failed = {}
    for module in sorted(MODULES):
        if ".spark" in module and not has_spark:
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:  # report every module that fails, not the first
            failed[module] = repr(exc)
    assert failed == {}


def _constants(path: Path) -> list[tuple[int, str]]:
    """String constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def _literal_uses(names: set[str], allowed: tuple[str, ...]) -> list[str]:
    return sorted(f"{path.relative_to(SRC)}:{line} {value!r}" for path in SRC.rglob("*.py")
                  if not str(path.relative_to(SRC)).startswith(allowed)
                  for line, value in _constants(path) if value in names)


def test_run_directory_names_are_written_once() -> None:
    """Every writer and reader of a run directory names its files through :class:`RunFiles`.

    ``bundle/`` names the files inside a bundle (its own layout, which has a ``segments.parquet`` too);
    ``events/training.py`` exports the event store to a temporary ``events.parquet``, not a run directory.
    """
    names = {v for k, v in vars(RunFiles).items() if not k.startswith("_") and "." in v}
    names |= set(SEGMENTATION_FIGURES.values())
    assert _literal_uses(names, ("run_dir.py", "bundle/", "events/training.py")) == []


def test_mode_names_are_written_once() -> None:
    """The mode names live in :mod:`segrec.modes`; the API's ``Mode`` is that one."""
    from segrec.service import schemas

    assert get_args(schemas.Mode) == MODES
    assert _literal_uses({"buy-again"}, ("modes.py",)) == []
