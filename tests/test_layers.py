"""The import rules of ARCHITECTURE.md: no Telegram framework outside bot/, layers point down."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = {"telegram", "aiogram"}
# Which of our packages each layer may import.
ALLOWED = {
    "domain": {"domain"},
    "handlers": {"handlers", "domain"},
    "scheduler": {"scheduler", "handlers", "domain"},
    "bot": {"bot", "handlers", "domain", "scheduler"},
}


CHINESE = re.compile("[\u4e00-\u9fff]")


def _chinese_texts(path: Path) -> list[str]:
    """The string constants of a module, docstrings left out, that hold Chinese words."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [
        f"{path.name}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and CHINESE.search(node.value)
        and id(node) not in docstrings
    ]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    files = list((ROOT / layer).rglob("*.py"))
    assert files
    for path in files:
        imported = _imports(path)
        ours = imported & set(ALLOWED)
        assert ours <= ALLOWED[layer], f"{path.relative_to(ROOT)} imports {ours - ALLOWED[layer]}"
        if layer != "bot":
            assert not imported & FRAMEWORKS, f"{path.relative_to(ROOT)} imports a framework"


def _reaches_persistence(path: Path, root: Path = ROOT) -> bool:
    return any(
        _within(name, "domain.persistence") or _within(name, "sqlalchemy")
        for name in _full_imports(path, root)
    )


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_domain_rules_and_repository_protocols_do_not_import_persistence() -> None:
    paths = [*(ROOT / "domain").glob("*.py"), *(ROOT / "domain" / "repositories").glob("*.py")]
    assert len(paths) > 20
    for path in paths:
        assert not _reaches_persistence(path), path.relative_to(ROOT)


def test_no_service_imports_persistence_or_sqlalchemy() -> None:
    """Every service, a new one included, sees the unit of work only through the protocols of
    `domain/repositories/`: its repositories, views, records and domain exceptions."""
    paths = sorted((ROOT / "domain" / "services").rglob("*.py"))
    assert len(paths) > 20
    reaching = [str(path.relative_to(ROOT)) for path in paths if _reaches_persistence(path)]
    assert reaching == []


@pytest.mark.parametrize(
    "source",
    [
        "from domain.persistence.unit_of_work import UnitOfWorkFactory\n",
        "import domain.persistence.tables\n",
        "from domain import persistence\n",
        "from ..persistence import tables\n",
        "from sqlalchemy.exc import IntegrityError\n",
        "def later() -> None:\n    from domain.persistence import tables\n",
    ],
)
def test_the_checker_sees_a_persistence_import(tmp_path: Path, source: str) -> None:
    package = tmp_path / "domain" / "services"
    package.mkdir(parents=True)
    sample = package / "sample.py"
    sample.write_text(source)
    assert _reaches_persistence(sample, root=tmp_path)


def test_the_checker_lets_repository_protocols_through(tmp_path: Path) -> None:
    package = tmp_path / "domain" / "services"
    package.mkdir(parents=True)
    sample = package / "sample.py"
    sample.write_text(
        "from domain.repositories.broadcasts import BroadcastView\n"
        "from domain import repositories\n"
        "from ..persistence_notes import x\n"
    )
    assert not _reaches_persistence(sample, root=tmp_path)


def _full_imports(path: Path, root: Path = ROOT) -> set[str]:
    """Every module the file imports, by its full name: `from a import b` counts as `a` and
    `a.b` (b may be a module), and a relative import is resolved from the file's package."""
    package = list(path.relative_to(root).parent.parts)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_the_checker_sees_a_framework_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from aiogram import Bot\nimport telegram.ext\n")
    assert _imports(sample) >= FRAMEWORKS


def test_no_service_writes_a_text_of_its_own() -> None:
    """What a customer or staff member reads is in the handlers' catalogues, in both languages:
    a service names nothing in Chinese (or English) itself."""
    paths = sorted((ROOT / "domain" / "services").rglob("*.py"))
    assert [text for path in paths for text in _chinese_texts(path)] == []


def test_the_text_checker_sees_a_label_but_not_a_docstring(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'def top_up() -> dict[str, str]:\n    """钱包"""\n    return {"name": "钱包充值"}\n'
    )
    assert _chinese_texts(sample) == ["sample.py:3"]


def _dialect_imports(path: Path) -> bool:
    """Whether a module imports a database's own SQL constructs (`sqlalchemy.dialects`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(alias.name.startswith("sqlalchemy.dialects") for alias in node.names):
                return True
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "sqlalchemy.dialects"
        ):
            return True
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module == "sqlalchemy"
            and any(alias.name == "dialects" for alias in node.names)
        ):
            return True
    return False


def _dialect_names(path: Path) -> set[str]:
    """The names a module takes from `sqlalchemy.dialects` and its modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("sqlalchemy.dialects")
        for alias in node.names
    }


def test_the_statement_the_databases_spell_differently_is_built_in_one_place() -> None:
    """`INSERT ... ON CONFLICT` is the one statement SQLite and PostgreSQL spell with their own
    constructs: it is built in `domain/persistence/core.py` only (`OnConflict`,
    `insert_on_conflict`); every other module runs the same statements on both (migrations
    aside). The SQLite connection's dialect (`sqlite_dialect.py`, which leaves out a commit or
    rollback with no transaction open and runs a statement in one hand-off) builds no statement:
    it takes the driver's dialect and execution context classes and the registry, nothing
    else."""
    persistence = ROOT / "domain" / "persistence"
    paths = [
        path
        for path in sorted((ROOT / "domain").rglob("*.py"))
        if (persistence / "migrations") not in path.parents
    ]
    spelling = [str(path.relative_to(ROOT)) for path in paths if _dialect_imports(path)]
    assert spelling == ["domain/persistence/core.py", "domain/persistence/sqlite_dialect.py"]
    assert _dialect_names(persistence / "sqlite_dialect.py") == {
        "registry",
        "SQLiteDialect_aiosqlite",
        "SQLiteExecutionContext_aiosqlite",
    }


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy.dialects.postgresql import insert\n",
        "from sqlalchemy.dialects import sqlite\n",
        "import sqlalchemy.dialects.postgresql\n",
        "from sqlalchemy import dialects\n",
    ],
)
def test_the_checker_sees_a_dialect_import(tmp_path: Path, source: str) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(source)
    assert _dialect_imports(sample)
