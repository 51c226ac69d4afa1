"""The package's shape, checked from its source with `ast` (nothing is imported, so this is fast):
one-directional imports down the pipeline, no cycles, a torch-free `--help`, small modules, a
short root, docstrings on every folder, unique module names, and tests/ mirroring the folders.
(That the scripts' `--help` leaves torch unloaded is run for real in tests/cli/test_startup.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lang_sam_tracker"
NAME = PACKAGE.name

# The stages, lowest first: a module may import its own stage and the ones below it, never one above.
# `settings` gathers every stage's own config dataclass (DetectorConfig, IdentityConfig, ...) into
# RunConfig, so it sits above the stages it gathers and below what runs them.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "argtypes", "shard"),
    ("video", "frames"),
    ("detectors",),
    ("identity",),
    ("segmenters",),
    ("results",),
    ("render",),
    ("export", "evaluate", "report"),
    ("settings",),
    ("tracker",),
    ("batch",),
    ("cluster",),
    ("cli",),
    ("api",),  # the Python API reuses the command line's flags and checks
    ("testing",),  # test helpers may import anything below them
]
STAGE = {name: level for level, names in enumerate(LAYERS) for name in names}

MAX_LINES = 420
# Modules allowed past MAX_LINES while a split is in flight (none now).
KNOWN_LONG: set[str] = set()
# Folders whose tests live elsewhere (none now).
KNOWN_UNMIRRORED: set[str] = set()
MAX_ROOT_MODULES = 8
# Basenames that mean the same thing wherever they appear.
SHARED_BASENAMES = {"__init__", "__main__", "cli", "settings", "base"}  # base: a stage's interface (Detector, Segmenter)
# Modules on the scripts' --help path: they must not reach model code at import time.
HELP_PATH = ("cli.parser", "cli", "batch")
MODEL_CODE = ("detectors.hf", "detectors.groundingdino_original", "segmenters", "tracker", "frames")


def _modules() -> dict[str, Path]:
    """Dotted name (relative to the package, '' for its __init__) -> file."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(module: str, is_package: bool, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The package-relative modules an import statement names (only this package's)."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == NAME or alias.name.startswith(NAME + "."):
                names.append(alias.name[len(NAME) + 1 :])
        return names
    if node.level:
        base = module.split(".") if module else []
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        target = ".".join(base + ([node.module] if node.module else []))
    elif node.module and (node.module == NAME or node.module.startswith(NAME + ".")):
        target = node.module[len(NAME) + 1 :]
    else:
        return names
    for alias in node.names:  # `from .x import y` may name the submodule x.y
        sub = f"{target}.{alias.name}" if target else alias.name
        names.append(sub if sub in MODULES else target)
    return names


def _imports(module: str) -> list[tuple[str, bool, int]]:
    """(imported module, at module level?, line) for every import of this package in `module`."""
    path = MODULES[module]
    tree = ast.parse(path.read_text("utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((t, top, child.lineno) for t in _resolve(module, is_package, child))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                continue  # annotations only: never executed
            else:
                visit(child, top)

    visit(tree, True)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


IMPORTS = {m: _imports(m) for m in MODULES}


def _stage(module: str) -> int | None:
    return STAGE.get(module.split(".")[0]) if module else None


def test_every_module_has_a_stage():
    assert sorted({m.split(".")[0] for m in MODULES if m and _stage(m) is None}) == []


def test_no_import_runs_up_the_pipeline():
    upward = [
        f"{m} ({MODULES[m].relative_to(ROOT)}:{line}) imports {t}"
        for m, imports in IMPORTS.items()
        for t, _top, line in imports
        if m and t and _stage(t) is not None and _stage(t) > _stage(m)
    ]
    assert upward == []


def test_no_import_cycle_among_module_level_imports():
    graph = {m: {t for t, top, _ in IMPORTS[m] if top and t != m} for m in MODULES}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                walk(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [])
    assert cycles == [], " | ".join(" -> ".join(n or NAME for n in c) for c in cycles)


def _reachable_at_import(start: str) -> set[str]:
    """Modules loaded by importing `start`: its module-level imports, and its parent packages'."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        m = todo.pop()
        if m in seen or m not in MODULES:
            continue
        seen.add(m)
        parts = m.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parents run first
        todo.extend(t for t, top, _ in IMPORTS[m] if top)
    return seen


def test_the_help_path_reaches_no_model_code():
    reached = set()
    for start in HELP_PATH:
        reached |= _reachable_at_import(start)
    model = sorted(m for m in reached if any(m == c or m.startswith(c + ".") for c in MODEL_CODE))
    assert model == []


def test_no_module_is_too_long():
    long = sorted(
        f"{p.relative_to(PACKAGE)}: {n} lines"
        for p in MODULES.values()
        if "testing" not in p.relative_to(PACKAGE).parts
        and str(p.relative_to(PACKAGE)) not in KNOWN_LONG
        and (n := len(p.read_text("utf-8").splitlines())) > MAX_LINES
    )
    assert long == []


def test_the_known_long_modules_are_still_long():
    """Drop an entry from KNOWN_LONG as soon as its split lands."""
    assert all(len((PACKAGE / p).read_text("utf-8").splitlines()) > MAX_LINES for p in KNOWN_LONG)


def test_the_root_holds_a_handful_of_modules():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, root


def test_every_package_folder_has_a_docstring():
    missing = [
        str(p.parent.relative_to(ROOT))
        for p in PACKAGE.rglob("__init__.py")
        if not ast.get_docstring(ast.parse(p.read_text("utf-8")))
    ]
    assert missing == []


def test_no_two_modules_share_a_name():
    by_name: dict[str, list[str]] = {}
    for path in MODULES.values():
        by_name.setdefault(path.stem, []).append(str(path.relative_to(PACKAGE)))
    shared = {n: ps for n, ps in by_name.items() if len(ps) > 1 and n not in SHARED_BASENAMES}
    assert shared == {}


def test_tests_mirror_the_package_folders():
    folders = {p.parent.relative_to(PACKAGE) for p in PACKAGE.rglob("__init__.py")} - {Path(".")}
    missing = sorted(str(f) for f in folders if not (ROOT / "tests" / f).is_dir() and str(f) not in KNOWN_UNMIRRORED)
    assert missing == []
