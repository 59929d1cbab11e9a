"""The shape of the code, checked: one-way imports, no cycles, no private names across
packages, small modules. Each rule is what `docs/architecture.md` draws; a change that
breaks one fails here with the offending module named.
"""

from __future__ import annotations

import ast
import fnmatch
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("orchestrator", "workers", "sigopt_service")
MAX_MODULE_LINES = 400

#: Which top-level packages each one may import (the arrows of the architecture).
ALLOWED_TOP = {
    "workers": {"workers"},
    "sigopt_service": {"sigopt_service"},
    "orchestrator": {"orchestrator", "workers", "sigopt_service"},
}
#: Inside the service, layers import downwards only: http -> usecases -> engine, store.
SERVICE_LAYERS_FORBIDDEN = {
    "sigopt_service.store": (
        "sigopt_service.http",
        "sigopt_service.usecases",
        "sigopt_service.engine",
    ),
    "sigopt_service.engine": ("sigopt_service.http", "sigopt_service.usecases"),
    "sigopt_service.validation": ("sigopt_service.http", "sigopt_service.usecases"),
    "sigopt_service.usecases": ("sigopt_service.http",),
    # Handlers reach the engine and the store's writes only through the use cases.
    "sigopt_service.http": ("sigopt_service.engine",),
}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    module: str  # dotted module imported from
    names: tuple[str, ...]  # names taken from it (empty for `import x`)
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:` (type-only imports run never).
    Imports inside functions count: a lazy import that breaks a cycle is a cycle."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not _is_type_checking_block(child):
                stack.append(child)


def _imports(name: str, path: Path) -> list[Import]:
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out = []
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [Import(name, alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            out.append(Import(name, module, tuple(a.name for a in node.names), node.lineno))
    return out


MODULES = _modules()
#: Tests, benchmarks and examples are held to the same size, though not to the import rules.
OTHER_MODULES = sorted(
    str(path.relative_to(REPO))
    for folder in ("tests", "benchmarks", "examples")
    for path in (REPO / folder).rglob("*.py")
)
IMPORTS = [i for name, path in MODULES.items() for i in _imports(name, path)]


def _internal(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def _resolve(imp: Import) -> list[str]:
    """The project modules an import loads: `from pkg import mod` loads `pkg.mod` too."""
    targets = [imp.module] if imp.module in MODULES else []
    targets += [f"{imp.module}.{n}" for n in imp.names if f"{imp.module}.{n}" in MODULES]
    return targets


def _owner(dotted: str) -> str:
    """The package that owns a private module or name: its parent."""
    return dotted.rpartition(".")[0]


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


class TestArchitecture:
    def test_the_packages_are_found(self) -> None:
        """The checks below are not vacuous: they read every package's modules."""
        assert {m.split(".")[0] for m in MODULES} == set(PACKAGES)
        assert len(IMPORTS) > 100

    def test_only_the_three_packages_are_installed(self) -> None:
        """`pip install .` puts no top-level `examples`, `benchmarks`, `tests` or `service`
        on users' sys.path: pyproject's include patterns (fnmatch on dotted names, as
        setuptools applies them) select exactly the three packages from the repo's."""
        pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
        include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
        top_level = [p.name for p in REPO.iterdir() if (p / "__init__.py").is_file()]
        assert {"examples", "benchmarks", "tests"} <= set(top_level)  # not vacuous
        selected = {n for n in top_level if any(fnmatch.fnmatchcase(n, pat) for pat in include)}
        assert selected == set(PACKAGES)

    @pytest.mark.parametrize("name", sorted(MODULES))
    def test_module_is_small(self, name: str) -> None:
        """No module past 400 lines: one job each."""
        lines = len(MODULES[name].read_text().splitlines())
        assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines"

    @pytest.mark.parametrize("path", OTHER_MODULES)
    def test_test_and_benchmark_module_is_small(self, path: str) -> None:
        """No test, benchmark or example module past 400 lines either."""
        lines = len((REPO / path).read_text().splitlines())
        assert lines <= MAX_MODULE_LINES, f"{path} has {lines} lines"

    def test_imports_point_one_way(self) -> None:
        """workers and the service import neither each other nor the orchestrator."""
        wrong = [
            f"{i.importer}:{i.line} imports {i.module}"
            for i in IMPORTS
            if _internal(i.module)
            and i.module.split(".")[0] not in ALLOWED_TOP[i.importer.split(".")[0]]
        ]
        assert wrong == []

    def test_service_layers_import_downwards(self) -> None:
        """store, engine and validation know nothing of the use cases or of HTTP."""
        wrong = [
            f"{i.importer}:{i.line} imports {i.module}"
            for i in IMPORTS
            for layer, forbidden in SERVICE_LAYERS_FORBIDDEN.items()
            if _inside(i.importer, layer) and any(_inside(i.module, f) for f in forbidden)
        ]
        assert wrong == []

    def test_no_private_name_crosses_its_package(self) -> None:
        """`_x` (a name or a module) is imported only inside the package that holds it."""
        wrong = []
        for i in IMPORTS:
            if not _internal(i.module):
                continue
            parts = i.module.split(".")
            for k, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    owner = ".".join(parts[:k])
                    if not _inside(i.importer, owner):
                        wrong.append(f"{i.importer}:{i.line} imports module {i.module}")
            for name in i.names:
                if name.startswith("_") and not name.startswith("__"):
                    full = f"{i.module}.{name}"
                    owner = i.module if i.module in MODULES and full in MODULES else _owner(full)
                    if not _inside(i.importer, owner):
                        wrong.append(f"{i.importer}:{i.line} imports {name} from {i.module}")
        assert wrong == []

    def test_no_import_cycles(self) -> None:
        """Importing any module never comes back to itself (lazy imports included)."""
        graph: dict[str, set[str]] = {name: set() for name in MODULES}
        for i in IMPORTS:
            for target in _resolve(i):
                if target != i.importer:
                    graph[i.importer].add(target)
        # A package's __init__ importing its own submodules is how packages work; the
        # submodule importing back from the package __init__ is the cycle we look for.
        cycles = _cycles(graph)
        assert cycles == []

    def test_a_cycle_would_be_found(self) -> None:
        """The cycle finder itself finds a planted two-module cycle and a longer one."""
        assert _cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
        assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
        assert _cycles({"a": {"b"}, "b": set()}) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)
