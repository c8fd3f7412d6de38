"""On SQLite a statement is one call to aiosqlite's thread, and one more to take the rows it
returns: each such call is a hand-off to the driver's thread and back, tens of microseconds of
CPU. What the statements return and change is what SQLAlchemy's own cursor gives."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text

from domain.errors import RecordConflict
from domain.persistence.database import create_engine
from domain.persistence.unit_of_work import UnitOfWorkFactory

# The driver's calls that run on its thread (each a hand-off) a statement could make.
HANDED_OFF = (
    (aiosqlite.Connection, ("cursor", "execute", "executemany", "execute_fetchall")),
    (aiosqlite.Cursor, ("execute", "executemany", "fetchone", "fetchmany", "fetchall", "close")),
)


@pytest.fixture
def driver_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    calls: Counter[str] = Counter()
    for owner, names in HANDED_OFF:
        for name in names:
            original = getattr(owner, name)

            def counted(*args: Any, _original: Any = original, _name: str = name, **kw: Any) -> Any:
                calls[_name] += 1
                return _original(*args, **kw)

            monkeypatch.setattr(owner, name, counted)
    yield calls


async def test_a_statement_is_one_call_to_the_driver_and_one_more_for_its_rows(
    tmp_path: Path, driver_calls: Counter[str]
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}")
    factory = UnitOfWorkFactory(engine)
    try:
        async with factory() as work:
            core = await work.core()
            await core.run(text("CREATE TABLE entries (id INTEGER PRIMARY KEY, n INTEGER UNIQUE)"))
            await work.commit()
        driver_calls.clear()

        async with factory() as work:
            core = await work.core()
            assert await core.run(text("INSERT INTO entries (n) VALUES (1), (2), (3)")) == 3
            # The transaction's BEGIN IMMEDIATE (one call), then the statement's one.
            assert driver_calls == {"execute_fetchall": 1, "execute": 1}
            del driver_calls["execute_fetchall"]
            rows = await core.rows(text("SELECT n FROM entries ORDER BY n"))
            assert [row.n for row in rows] == [1, 2, 3]
            assert await core.value(text("SELECT n FROM entries WHERE n > 5")) is None
            assert driver_calls == {"execute": 3, "fetchall": 2}
            taken = await core.rows(text("UPDATE entries SET n = n + 10 WHERE n < 3 RETURNING n"))
            assert sorted(row.n for row in taken) == [11, 12]
            assert await core.run(text("DELETE FROM entries WHERE n > 100")) == 0
            assert driver_calls == {"execute": 5, "fetchall": 3}
            with pytest.raises(RecordConflict):
                await core.run(text("INSERT INTO entries (n) VALUES (3)"))
            await work.commit()

        async with factory.read() as work:
            core = await work.core()
            kept = await core.rows(text("SELECT n FROM entries ORDER BY n"))
            assert [row.n for row in kept] == [3, 11, 12]
    finally:
        await engine.dispose()
