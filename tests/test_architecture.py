"""The shape of harness/, checked from its source with `ast` (nothing is imported):

- the import graph (module-level AND function-level imports; `if TYPE_CHECKING:` blocks left out) has no cycle;
- no module imports from a higher floor (FLOORS below: every harness module has a floor);
- no module imports `harness` (the package) itself;
- outside harness/child/ nothing imports torch, transformers, peft or trl at module level;
- harness/child/ imports nothing from harness.sweep, harness.report or harness.cli;
- no module is over 400 lines;
- outside harness/backends/ no code names a backend (string constants and identifiers; comments and
  docstrings may).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "harness"

# A module may import only from its own floor or lower ones. A package's entry covers every module in it; the top
# package `harness` (its __init__) covers only itself. Add a new module here, on the floor of what it imports.
FLOORS: dict[str, int] = {
    # 0 base: no harness imports above it
    "harness.errors": 0,
    "harness.atomic": 0,
    "harness.fmt": 0,
    "harness.phases": 0,
    "harness.dtypes": 0,
    "harness.torch_arch": 0,
    "harness.project": 0,
    "harness.nvml": 0,
    "harness.faults": 0,
    "harness.adapters": 0,
    "harness.versions": 0,
    "harness.labels": 0,  # the one run label
    "harness.validation": 0,  # YAML reading and one-line validation errors
    "harness.gpu_prices": 0,  # the price file's schema and its fits table (--emulate's GPUs)
    "harness.quality_weights": 0,  # the composite's weights, checked when a spec loads
    # 1
    "harness.backends": 1,
    "harness.setting_axes": 1,
    "harness.child_env": 1,  # a run child's command line and environment (each backend's variables)
    "harness.caches": 1,  # compile caches shared across a sweep (each backend's own)
    # 2
    "harness.config": 2,
    "harness.result": 2,
    # 3
    "harness.data": 3,
    "harness.weights": 3,
    "harness.model_probe": 3,
    "harness.model_spec": 3,
    "harness.memory": 3,
    "harness.quality": 3,
    "harness.keys": 3,
    "harness.results_folder": 3,  # the one reader of a results folder's run files, for the sweep and the report
    # 4: one preflight (data, weights, capability) for bench, sweep, run and the child
    "harness.preflight": 4,
    # 5: the run child, the only side that imports torch (inside functions)
    "harness.child": 5,
    # 6
    "harness.report": 6,
    # 7: never imports torch; may use the report's pure helpers
    "harness.sweep": 7,
    # 8 top
    "harness.cli": 8,
    "harness.api": 8,
    "harness.flags": 8,
    "harness.overrides": 8,
    "harness.selfbench": 8,
    "harness.__main__": 8,
    "harness": 8,
}

HEAVY = ("torch", "transformers", "peft", "trl")  # the child's libraries: the parent never loads them at import
CHILD_MUST_NOT_IMPORT = ("harness.sweep", "harness.report", "harness.cli")
MAX_LINES = 400
BACKEND_NAMES = ("unsloth", "liger")
# Names in stored files, which keep their spelling: a candidates.yaml field and two result-schema fields.
STORED_FIELD_NAMES = {"unsloth_native", "unsloth_path", "unsloth_env"}


@dataclass(frozen=True)
class Import:
    target: str  # the dotted name as written (resolved against the importer's package when relative)
    names: tuple[str, ...]  # what `from target import ...` takes; () for `import target`
    module_level: bool
    line: int


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: int

    @property
    def rel(self) -> str:
        return str(self.path.relative_to(HARNESS.parent))


def _modules() -> dict[str, Module]:
    out: dict[str, Module] = {}
    for p in sorted(HARNESS.rglob("*.py")):
        parts = list(p.relative_to(HARNESS.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        text = p.read_text(encoding="utf-8")
        out[".".join(parts)] = Module(".".join(parts), p, ast.parse(text, str(p)), len(text.splitlines()))
    return out


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(mod: Module) -> Iterator[Import]:
    package = mod.name if mod.path.name == "__init__.py" else mod.name.rpartition(".")[0]

    def visit(node: ast.AST, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue  # only for the type checker: never runs
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for a in child.names:
                    yield Import(a.name, (), not in_function, child.lineno)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - child.level + 1]
                    base = ".".join(parts + ([child.module] if child.module else []))
                yield Import(base, tuple(a.name for a in child.names), not in_function, child.lineno)
            yield from visit(child, inner)

    yield from visit(mod.tree, False)


def _resolve(name: str) -> str | None:
    """The harness module a dotted name lands in (its longest prefix that is a module), or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    module_level: bool


def _edges() -> list[Edge]:
    out: list[Edge] = []
    for mod in MODULES.values():
        for imp in _imports(mod):
            # `from harness.x import y`: y is a module when harness.x.y is one, else a name in harness.x
            targets = [f"{imp.target}.{n}" if f"{imp.target}.{n}" in MODULES else imp.target for n in imp.names]
            for t in dict.fromkeys(_resolve(t) for t in (targets or [imp.target])):
                if t is not None and t != mod.name:
                    out.append(Edge(mod.name, t, imp.line, imp.module_level))
    return out


EDGES = _edges()


def floor_of(module: str) -> int | None:
    """Its own entry, else its closest package's; the top package's entry covers only the top package."""
    name = module
    while name:
        if name in FLOORS and (name != "harness" or module == "harness"):
            return FLOORS[name]
        name = name.rpartition(".")[0]
    return None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_every_module_has_a_floor() -> None:
    missing = [m for m in MODULES if floor_of(m) is None]
    assert not missing, (
        f"modules without a floor: {missing}; add each to FLOORS in tests/test_architecture.py, on the lowest "
        "floor that holds everything it imports (and say so in ARCHITECTURE.md)"
    )


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for e in EDGES:
        graph[e.source].add(e.target)
    cycles = _cycles(graph)
    detail = [
        [
            f"{e.source} -> {e.target} ({MODULES[e.source].rel}:{e.line})"
            for e in EDGES
            if {e.source, e.target} <= set(c)
        ]
        for c in cycles
    ]
    assert not cycles, f"import cycles (function-level imports count too): {detail}"


def test_no_import_from_a_higher_floor() -> None:
    up = []
    for e in EDGES:
        src, dst = floor_of(e.source), floor_of(e.target)
        if src is not None and dst is not None and dst > src:
            up.append(f"{MODULES[e.source].rel}:{e.line}: {e.source} (floor {src}) imports {e.target} (floor {dst})")
    assert not up, "imports running back up the floors:\n" + "\n".join(up)


def test_nothing_imports_the_top_package() -> None:
    found = [f"{MODULES[e.source].rel}:{e.line}" for e in EDGES if e.target == "harness"]
    assert not found, (
        f"imports of `harness` itself (the top package, which loads the API): {found}; import the module that "
        "holds the name (e.g. harness.versions)"
    )


def test_the_parent_side_never_imports_the_libraries_at_module_level() -> None:
    found = []
    for mod in MODULES.values():
        if mod.name == "harness.child" or mod.name.startswith("harness.child."):
            continue
        for imp in _imports(mod):
            if imp.module_level and imp.target.split(".")[0] in HEAVY:
                found.append(f"{mod.rel}:{imp.line}: {imp.target}")
    assert not found, f"module-level imports of {', '.join(HEAVY)} outside harness/child/: {found}"


def test_the_child_imports_nothing_from_sweep_report_or_cli() -> None:
    found = [
        f"{MODULES[e.source].rel}:{e.line}: {e.target}"
        for e in EDGES
        if e.source.startswith("harness.child")
        and e.source.split(".")[:2] == ["harness", "child"]
        and any(e.target == p or e.target.startswith(p + ".") for p in CHILD_MUST_NOT_IMPORT)
    ]
    assert not found, f"harness/child/ imports from {', '.join(CHILD_MUST_NOT_IMPORT)}: {found}"


def test_no_module_over_400_lines() -> None:
    big = {m.rel: m.lines for m in MODULES.values() if m.lines > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines (split each by job): {big}"


def _docstring_nodes(tree: ast.Module) -> set[int]:
    """ids of the string expressions that are documentation: docstrings and other bare strings."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def _names_in_code(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, text) of every string constant that is not documentation, and every identifier."""
    docs = _docstring_nodes(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield line, node.value
        elif isinstance(node, ast.Name):
            yield line, node.id
        elif isinstance(node, ast.Attribute):
            yield line, node.attr
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield line, node.name
        elif isinstance(node, (ast.arg, ast.keyword)) and node.arg:
            yield line, node.arg
        elif isinstance(node, ast.alias):
            yield line, node.name
            if node.asname:
                yield line, node.asname
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield line, node.module


def test_no_backend_is_named_outside_backends() -> None:
    found = []
    for mod in MODULES.values():
        if mod.name == "harness.backends" or mod.name.startswith("harness.backends."):
            continue
        for line, text in _names_in_code(mod.tree):
            hit = [b for b in BACKEND_NAMES if b in text.lower()] if text not in STORED_FIELD_NAMES else []
            if hit:
                found.append(f"{mod.rel}:{line}: {text[:60]!r}")
    assert not found, "backend names in code outside harness/backends/ (a backend class carries its facts):\n" + (
        "\n".join(sorted(set(found)))
    )


# ---------------------------------------------------------------- the checks check what they say


def _module(source: str, name: str = "harness.example") -> Module:
    return Module(name, HARNESS / "example.py", ast.parse(source), len(source.splitlines()))


def test_imports_inside_functions_count_and_type_checking_blocks_do_not() -> None:
    mod = _module(
        "from typing import TYPE_CHECKING\nimport torch.nn\nif TYPE_CHECKING:\n    from harness import api\n"
        "def f():\n    from harness.weights import hub\nclass C:\n    import peft\n"
    )
    got = {(i.target, i.module_level) for i in _imports(mod)}
    assert got == {("typing", True), ("torch.nn", True), ("harness.weights", False), ("peft", True)}


def test_relative_imports_resolve_against_the_package() -> None:
    mod = Module("harness.weights.hub", HARNESS / "weights" / "hub.py", ast.parse("from .cache import x\n"), 1)
    assert [i.target for i in _imports(mod)] == ["harness.weights.cache"]


def test_floors_cover_packages_but_not_everything_under_the_top() -> None:
    assert floor_of("harness.weights.hub") == 3 and floor_of("harness.report.sections.selfbench") == 6
    assert floor_of("harness") == 8
    assert floor_of("harness.something_new") is None


def test_a_cycle_through_a_function_level_import_is_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(
    "source, named",
    [
        ('"""Unsloth and liger in a docstring."""\n# unsloth in a comment\nx = 1\n', False),
        ('x = "unsloth"\n', True),
        ('x = f"{y} needs Liger"\n', True),
        ("unsloth_compile = 1\n", True),
        ("def f(use_liger=False):\n    '''liger'''\n", True),
        ("from harness.backends.unsloth import X\n", True),
    ],
)
def test_backend_names_are_found_in_code_only(source: str, named: bool) -> None:
    texts = [t for _, t in _names_in_code(ast.parse(source))]
    assert any(b in t.lower() for t in texts for b in BACKEND_NAMES) == named
