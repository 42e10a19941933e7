"""The first-party import graph has no cycles and no upward imports.

The packages form layers, lowest first, as the code uses them:

1. `common` (lambdas/common): recipes, schemas, clients, names; imports no other first-party package.
2. `dataprep`: the SQL and its local runner; imports `common`.
3. `evaluation`: report queries and figures; imports `dataprep` and `common`.
4. `serving`: the serving API and its read model; imports `evaluation` and below.
5. `ingest` and `pipeline`: the Lambda code; neither imports the other. Inside `pipeline`, the handler modules
   (`ENTRY_MODULES`) import the steps, the steps (`pipeline.steps.*`) import the rest of `pipeline`, and the
   rest of `pipeline` never imports a step.
6. `stacks`: the CDK app; it shares the Lambda core's schemas, recipes and names.
7. `tools`: the operators' tools; they run without CDK, so they may import only those `stacks` modules whose
   own imports never reach `aws_cdk`, `constructs` or `cdk_nag`.
8. `testkit`: the local stand-ins for AWS shared by the tests and the bench; may import every layer below.

Every import counts, also one inside a function (a deferred import only hides a circle from the interpreter),
except those under `if TYPE_CHECKING:`, which never run: they name types for mypy and cannot make a cycle or
load a layer at run time.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Folder that holds each first-party package, by how the package is imported (pyproject.toml: the Lambda asset
# root lambdas/ is installed beside the repository's own packages).
PACKAGE_ROOTS = {
    **dict.fromkeys(("stacks", "tools", "testkit"), "."),
    **dict.fromkeys(("common", "dataprep", "evaluation", "serving", "ingest", "pipeline"), "lambdas"),
}
# package -> the first-party packages it may import (besides itself)
MAY_IMPORT: dict[str, frozenset[str]] = {
    "common": frozenset(),
    "dataprep": frozenset({"common"}),
    "evaluation": frozenset({"common", "dataprep"}),
    "serving": frozenset({"common", "dataprep", "evaluation"}),
    "ingest": frozenset({"common"}),
    "pipeline": frozenset({"common", "dataprep", "evaluation", "serving"}),
    "stacks": frozenset({"common", "dataprep", "evaluation", "serving", "ingest", "pipeline"}),
    "tools": frozenset({"common", "dataprep", "evaluation", "serving", "ingest", "pipeline", "stacks"}),
    "testkit": frozenset({"common", "dataprep", "evaluation", "serving", "ingest", "pipeline", "stacks", "tools"}),
}
ENTRY_MODULES = frozenset({"pipeline.handlers", "pipeline.report_handler"})
STEPS = "pipeline.steps"
CDK_PACKAGES = frozenset({"aws_cdk", "constructs", "cdk_nag"})


def _module_name(package: str, path: Path) -> str:
    parts = path.relative_to(ROOT / PACKAGE_ROOTS[package]).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def first_party_modules() -> dict[str, Path]:
    return {
        _module_name(package, path): path
        for package, folder in PACKAGE_ROOTS.items()
        for path in sorted((ROOT / folder / package).rglob("*.py"))
    }


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(node: ast.AST, module: str, is_package: bool, at_import: bool) -> Iterator[str]:
    """Every module name an import statement under `node` loads, skipping `if TYPE_CHECKING:` blocks (and, if
    `at_import`, function bodies: what importing the module runs)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for orelse in child.orelse:
                yield from _imported_names(orelse, module, is_package, at_import)
            continue
        if at_import and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(child, ast.Import):
            yield from (alias.name for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:  # relative: resolved against the importing module's package
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - child.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            # `from pipeline import ledger` loads the module pipeline.ledger
            yield from (f"{base}.{alias.name}" for alias in child.names)
        yield from _imported_names(child, module, is_package, at_import)


@functools.cache
def imports_of(module: str, *, at_import: bool = False) -> frozenset[str]:
    """The first-party modules `module` imports, and the third-party top-level packages (e.g. `aws_cdk`); only
    those importing `module` loads if `at_import`."""
    path = first_party_modules()[module]
    known = first_party_modules()
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    for name in _imported_names(tree, module, path.name == "__init__.py", at_import):
        if name in known:
            if name != module:
                found.add(name)
        elif name.split(".")[0] not in PACKAGE_ROOTS:
            found.add(name.split(".")[0])
    # `from pipeline import ledger` also named the package pipeline: keep only the deepest first-party module
    return frozenset(name for name in found if not any(other.startswith(name + ".") for other in found))


def _package(module: str) -> str:
    return module.split(".")[0]


def import_cycles() -> list[list[str]]:
    """Each strongly connected group of two or more modules (Tarjan), as a sorted list of names."""
    modules = first_party_modules()
    graph = {module: sorted(name for name in imports_of(module) if name in modules) for module in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in graph:
        if module not in index:
            visit(module)
    return sorted(groups)


@functools.cache
def reaches_cdk(module: str) -> bool:
    """Whether importing `module` loads CDK, directly or through the first-party modules it imports (a function
    that imports CDK when called, e.g. one only a stack calls, does not load it)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in imports_of(current, at_import=True):
            if name in CDK_PACKAGES:
                return True
            if name in first_party_modules():
                todo.append(name)
    return False


def upward_imports() -> list[str]:
    """'importer -> imported: why' for every import that goes against the layers of the module docstring."""
    found = []
    for module in first_party_modules():
        package = _package(module)
        for name in sorted(imports_of(module)):
            if name not in first_party_modules():
                continue
            target = _package(name)
            if target != package and target not in MAY_IMPORT[package]:
                found.append(f"{module} -> {name}: {package} never imports {target}")
            elif package == "tools" and target == "stacks" and reaches_cdk(name):
                found.append(f"{module} -> {name}: tools import no stacks module that loads CDK")
            elif (
                (name.startswith(STEPS + ".") or name == STEPS)
                and not module.startswith(STEPS + ".")
                and module not in ENTRY_MODULES
            ):
                found.append(f"{module} -> {name}: only the handler modules import a step")
    return found


def test_the_graph_covers_every_package_and_resolves_from_imports_to_modules():
    """The checks below are only as good as the graph: each layer is found, and `from pipeline import ledger`
    is an import of the module pipeline.ledger."""
    assert {_package(module) for module in first_party_modules()} == set(MAY_IMPORT)
    assert "pipeline.ledger" in imports_of("pipeline.steps.begin")
    assert "aws_cdk" in imports_of("stacks.data_stack")
    assert not reaches_cdk("stacks.config")


def test_no_import_cycles_among_first_party_modules():
    assert import_cycles() == []


def test_no_upward_imports():
    assert upward_imports() == []
