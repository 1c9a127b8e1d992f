"""The rules of the house, checked on the source: small modules, a core without Dagster, no
private Dagster import, no import cycle, each asset in the folder of its group, and the
methods cited from the project's own docs/METHODS.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("embaug_core", "embaug_pipeline")
MAX_LINES = 270


def modules() -> dict[str, Path]:
    """Every module of the two packages by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path) -> list[str]:
    """Every module an import statement of `path` names (inside functions too)."""
    named = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            named += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            named.append(node.module)
            named += [f"{node.module}.{alias.name}" for alias in node.names]
    return named


def test_no_module_is_over_the_line_limit():
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_the_core_never_imports_dagster_and_nothing_imports_dagster_privately():
    for name, path in modules().items():
        named = imports(path)
        if name.startswith("embaug_core"):
            assert not [m for m in named if m.split(".")[0] == "dagster"], name
        assert not [m for m in named if m.startswith("dagster._")], name
        assert "dagster._" not in path.read_text(), name


def test_no_import_cycle():
    """Module-level imports between the project's modules form no cycle (a package's
    `__init__` importing its own modules is not one)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text())
        edges = set()
        for node in tree.body:  # module level only: lazy imports inside functions run later
            if isinstance(node, ast.ImportFrom) and node.module in known:
                edges.add(node.module)
                edges |= {f"{node.module}.{a.name}" for a in node.names} & set(known)
            elif isinstance(node, ast.Import):
                edges |= {a.name for a in node.names} & set(known)
        graph[name] = {e for e in edges if not name.startswith(e + ".") and e != name}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                cycle = [*trail[trail.index(child) :], child] if child in trail else [node, child]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if child not in state:
                visit(child, [*trail, child])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_each_asset_lives_in_the_folder_of_its_group():
    from embaug_pipeline import definitions

    for asset in definitions.load().assets:
        for key in asset.keys:
            group = asset.group_names_by_key[key]
            source = Path(asset.op.compute_fn.decorated_fn.__code__.co_filename)
            folder = source.relative_to(ROOT / "embaug_pipeline" / "defs").parts[0]
            assert folder == group, f"{key.to_user_string()}: group {group}, in defs/{folder}"


def test_the_methods_are_cited_from_the_projects_own_docs():
    """No code points at a file outside the repository for what a method computes, and every
    section cited exists in docs/METHODS.md."""
    methods = (ROOT / "docs" / "METHODS.md").read_text()
    sections = set(re.findall(r"^## (\d+)\.", methods, flags=re.MULTILINE))
    for package in (*PACKAGES, "tests", "benchmarks"):
        for path in (ROOT / package).rglob("*.py"):
            if path == Path(__file__):
                continue
            text = path.read_text()
            assert "shared/METHODS" not in text, path
            assert not re.search(r"(?<!docs/)METHODS\.md", text), path
            for cited in re.findall(r"docs/METHODS\.md (?:section |§)?(\d+)", text):
                assert cited in sections, f"{path}: section {cited} is not in docs/METHODS.md"


def test_architecture_names_only_paths_that_exist():
    page = (ROOT / "ARCHITECTURE.md").read_text()
    cited = set(re.findall(r"`((?:embaug_core|embaug_pipeline|tests|docs)/[\w/.]*)`", page))
    assert cited, "ARCHITECTURE.md cites no path"
    missing = sorted(path for path in cited if not (ROOT / path).exists())
    assert not missing, f"ARCHITECTURE.md cites paths that do not exist: {missing}"
    for folder in sorted(p for p in (ROOT / "embaug_core").iterdir() if p.is_dir()):
        if (folder / "__init__.py").exists():
            assert f"embaug_core/{folder.name}/" in page, f"ARCHITECTURE.md omits {folder.name}/"
