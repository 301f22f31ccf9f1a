"""The layers run one way: `collector/` (ingest and storage) never imports `intent/` (the
product), and neither package imports the other inside a function to dodge a circle.

Every module is parsed, not imported, so an import in a function body or a module named in a
string (importlib, uvicorn's "module:attr", package resources) is found too."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A module path as a string: "intent", "intent.asgi", "intent.asgi:app".
MODULE_STRING = r"^{package}(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?$"
# Calls that load a module, or a package's files, named by a string.
IMPORTING = frozenset({"import_module", "__import__", "find_spec", "files", "PackageLoader"})


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def imports_of(tree: ast.AST, package: str) -> Iterator[tuple[int, str, bool]]:
    """(line, what, inside a function) for every reference to `package` as a module."""
    pattern = re.compile(MODULE_STRING.format(package=re.escape(package)))

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[int, str, bool]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if pattern.match(alias.name):
                    yield node.lineno, f"import {alias.name}", in_function
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and pattern.match(node.module):
                yield node.lineno, f"from {node.module} import ...", in_function
        elif isinstance(node, ast.Call) and _call_name(node) in IMPORTING:
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if isinstance(arg, ast.Constant) and pattern.match(str(arg.value)):
                    yield node.lineno, f"{_call_name(node)}({arg.value!r})", in_function
        elif (  # uvicorn's "module:attr"
            isinstance(node, ast.Constant)
            and ":" in str(node.value)
            and pattern.match(str(node.value))
        ):
            yield node.lineno, repr(node.value), in_function
        function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, in_function or function)

    yield from visit(tree, False)


def found(path: Path, package: str) -> list[tuple[int, str, bool]]:
    return list(imports_of(ast.parse(path.read_text("utf-8"), str(path)), package))


@pytest.mark.parametrize("path", modules("collector"), ids=lambda p: str(p.relative_to(ROOT)))
def test_collector_never_imports_intent(path: Path) -> None:
    assert found(path, "intent") == []


@pytest.mark.parametrize("path", modules("intent"), ids=lambda p: str(p.relative_to(ROOT)))
def test_intent_imports_collector_at_the_top_only(path: Path) -> None:
    assert [hit for hit in found(path, "collector") if hit[2]] == []


def test_the_check_finds_every_kind_of_import() -> None:
    source = """
import intent
import intent.store as s
from intent.cli import main
import logging, importlib
log = logging.getLogger("intent.collector")  # a logger's name: not an import
CONFIG = "intent.toml"  # a file name
def later():
    from intent import api
    importlib.import_module("intent.remote")
    run(app="intent.asgi:app")
    files("intent")
"""
    hits = list(imports_of(ast.parse(source), "intent"))
    assert [(line, inside) for line, _what, inside in hits] == [
        (2, False), (3, False), (4, False), (9, True), (10, True), (11, True), (12, True),
    ]  # fmt: skip
    assert list(imports_of(ast.parse("import intentional\nx = 'intent is'"), "intent")) == []
