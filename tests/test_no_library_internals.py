"""No code of ours touches a private attribute (`_x`) of a library: a library's internals change
in any release, and the bot must keep working on every version `pyproject.toml` allows.

A private name may be read off an object (other than `self` or `cls`) only where the project
itself defines that name and none of the libraries does: a name both define could be either
(`self._bot._post` reaches into python-telegram-bot even though a service of ours has a `_post`).
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "domain", "scheduler", "tests")
LIBRARIES = ("sqlalchemy", "asyncpg", "aiosqlite", "aiogram", "telegram", "apscheduler")


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def project_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def defined_names(tree: ast.AST) -> set[str]:
    """Private names a module of ours defines: functions, classes, module and class
    variables, attributes set on an object, and keyword parameters."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.alias) and node.asname:
            names.add(node.asname)
    return {name for name in names if is_private(name)}


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


@cache
def library_names() -> frozenset[str]:
    """Every private name the libraries define (functions, classes, attributes they set)."""
    names: set[str] = set()
    for library in LIBRARIES:
        package = importlib.import_module(library).__file__
        assert package is not None
        for path in Path(package).parent.rglob("*.py"):
            names |= defined_names(ast.parse(path.read_bytes()))
    return frozenset(names)


def internals_used(
    tree: ast.AST, own: set[str], library_aliases: set[str], theirs: frozenset[str]
) -> Iterator[str]:
    """Each private attribute of something not ours that `tree` touches, as `line: name`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            root = _root_name(node.value)
            if root in ("self", "cls") and isinstance(node.value, ast.Name):
                continue  # an object's own attribute
            if root in library_aliases or node.attr not in own or node.attr in theirs:
                yield f"{node.lineno}: .{node.attr}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and is_private(node.args[1].value)
            and node.args[1].value not in own
        ):
            yield f"{node.lineno}: {node.func.id}(…, {node.args[1].value!r})"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in LIBRARIES:
            module = node.module or ""
            for alias in node.names:
                if is_private(alias.name) or any(is_private(p) for p in module.split(".")):
                    yield f"{node.lineno}: from {module} import {alias.name}"


def library_aliases(tree: ast.AST) -> set[str]:
    """Names under which a module imports one of the libraries (`import sqlalchemy as sa`)."""
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    aliases.add(alias.asname or alias.name.split(".")[0])
    return aliases


def scan(sources: Iterable[tuple[str, str]], theirs: frozenset[str] = frozenset()) -> list[str]:
    """`file:line: name` for each library internal that the sources touch (`theirs`: the
    libraries' own private names)."""
    trees = [(name, ast.parse(text)) for name, text in sources]
    own: set[str] = set()
    for _, tree in trees:
        own |= defined_names(tree)
    return [
        f"{name}:{found}"
        for name, tree in trees
        for found in sorted(
            internals_used(tree, own, library_aliases(tree), theirs),
            key=lambda found: int(found.split(":")[0]),
        )
    ]


def test_no_code_of_ours_touches_a_library_internal() -> None:
    sources = [(str(path.relative_to(ROOT)), path.read_text()) for path in project_files()]
    assert scan(sources, library_names()) == []


def test_the_scan_finds_a_planted_internal() -> None:
    ours = (
        "ours.py",
        "class Unit:\n"
        "    def __init__(self):\n"
        "        self._session = None\n"
        "    def close(self, other):\n"
        "        return other._session, self._session\n",
    )
    planted = (
        "planted.py",
        "import sqlalchemy\n"
        "from sqlalchemy.util import _collections\n"
        "def commit(adapter, engine):\n"
        "    adapter._call_and_discard(adapter._transaction.commit)\n"
        "    getattr(engine, '_adapter')\n"
        "    return sqlalchemy.util._session\n",
    )
    sender = (
        "sender.py",
        "class Sender:\n"
        "    def __init__(self, bot):\n"
        "        self._bot = bot\n"
        "    async def send(self):\n"
        "        return await self._bot._post('sendMessage', {})\n"
        "    def _post(self):\n"
        "        return None\n",
    )
    assert scan([ours]) == []
    assert scan([sender]) == []  # `_post` is ours too: only the libraries' names tell
    assert scan([sender], library_names()) == ["sender.py:5: ._post"]
    assert scan([ours, planted]) == [
        "planted.py:2: from sqlalchemy.util import _collections",
        "planted.py:4: ._call_and_discard",
        "planted.py:4: ._transaction",
        "planted.py:5: getattr(…, '_adapter')",
        "planted.py:6: ._session",
    ]
