"""Reuse of unchanged work, defined once. A result (a trial's label sets, a trained model, the
production model, the report) is made from inputs and code; its fingerprint hashes both, and is
kept where the result lives: a row of the store for what lives in DuckDB
(`Store.made_from`), a tag of the MLflow run for what lives in MLflow
(`tracking.reuse.find_run`). A request whose fingerprint was kept finds the result instead of
making it again.

The code counted is what the result depends on: the modules it is made by and every embaug
module they import, as parsed source without docstrings, so a docstring, a comment or an edit
of an unrelated stage changes nothing.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PACKAGE = "embaug_core"


def fingerprint(code: Iterable[str], **inputs: object) -> str:
    """One fingerprint of everything a result is made from: `inputs` (as sorted JSON) and the
    source of the `code` modules with all they import from embaug_core."""
    parts = {"inputs": inputs, "code": code_sha256(*code)}
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def code_sha256(*modules: str) -> str:
    """A hash of the code of `modules` and of every embaug_core module they import (directly
    or not), keyed by module name, docstrings left out."""
    digest = hashlib.sha256()
    for name in sorted(dependencies(*modules)):
        digest.update(name.encode())
        digest.update(_source_sha256(name).encode())
    return digest.hexdigest()


def dependencies(*modules: str) -> set[str]:
    """`modules` and every embaug_core module they import, transitively."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imports(name))
    return seen


#: The folder embaug_core lives in (modules are found by name there, nothing is imported).
SOURCES = Path(__file__).resolve().parents[2]


def _file(name: str) -> Path | None:
    """The file of an embaug_core module or package, or None."""
    base = SOURCES.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _path(name: str) -> Path:
    found = _file(name)
    if found is None:
        raise ModuleNotFoundError(f"no module {name} under {SOURCES}")
    return found


@cache
def _tree(name: str) -> ast.Module:
    return ast.parse(_path(name).read_text(encoding="utf-8"))


@cache
def _imports(name: str) -> tuple[str, ...]:
    """The embaug_core modules `name` imports (a package's `from pkg import module` counts
    the module)."""
    found = set()
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
            found.add(node.module)
            found.update(
                f"{node.module}.{a.name}"
                for a in node.names
                if _file(f"{node.module}.{a.name}") is not None
            )
    return tuple(sorted(found))


@cache
def _source_sha256(name: str) -> str:
    """The module's code as parsed, without docstrings: layout, comments and documentation
    do not count."""
    tree = _tree(name)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()
